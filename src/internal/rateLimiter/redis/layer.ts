/**
 * The Redis backend of `RateLimiter`'s stores: a bucket is the bucket script's hash (`bucket.ts`), the slots a
 * lease group of one candidate (`keyPool/redis/leases.ts`), whose leases lapse when the instance holding them dies.
 * Under `onUnavailable: "fail-open"` both are wrapped in the fail-open decorator (`../failOpen.ts`).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RateLimiter from "../../../RateLimiter.js"
import type * as Store from "../../../Store.js"
import * as Leases from "../../keyPool/redis/leases.js"
import { failOpen } from "../failOpen.js"
import type { Stores } from "../limiter.js"
import * as Memory from "../memory.js"
import * as Bucket from "./bucket.js"

const bucketStore = (connection: Store.Connection): RateLimiter.BucketStore["Service"] => ({
  bucket: (options) => Effect.sync(() => Bucket.make(connection, options))
})

const slotStore = (connection: Store.Connection): RateLimiter.SlotStore["Service"] => ({
  slots: ({ key, limit }) =>
    Effect.map(
      Leases.group(connection, `${key}:limiter`, [{ id: "slots", weight: 1, maxConcurrency: limit }], 0),
      (group) => ({
        tryAcquire: Effect.map(group.pick, (picked) =>
          picked._tag === "Taken"
            ? Option.some(Effect.ignore(group.release(0, picked.lease, undefined)))
            : Option.none())
      })
    )
})

/** The stores kept in `store`; under its `onUnavailable: "fail-open"`, each falls back on its share in memory. */
export const stores = (store: Store.Store): Stores => {
  const { connection } = store
  const shared: Stores = { buckets: bucketStore(connection), slots: slotStore(connection) }
  return connection.onUnavailable === "fail-open"
    ? failOpen(shared, Memory.slotStore(), connection.instances)
    : shared
}
