/**
 * Fail-open, as a decorator over `RateLimiter`'s stores (the shared part is `persistence/failOpen.ts`): every step
 * goes to the shared store, and while that fails with `StoreUnavailableError`, to a local store holding
 * `1 / instances` of each limit; the next step that succeeds on the shared store is served there again. A slot is
 * given back where it was taken; tokens given back (a cancelled wait, a settled budget) go to the store serving at
 * that moment.
 */
import * as Effect from "effect/Effect"
import type * as RateLimiter from "../../RateLimiter.js"
import { countShareOf, orLocal, shareOf } from "../persistence/failOpen.js"
import type { Stores } from "./limiter.js"

const bucketOf = (shared: RateLimiter.Bucket, local: RateLimiter.Bucket): RateLimiter.Bucket => ({
  take: (amount) => orLocal(shared.take(amount), local.take(amount)),
  tryTake: (amount) => orLocal(shared.tryTake(amount), local.tryTake(amount)),
  give: (amount) => orLocal(shared.give(amount), local.give(amount)),
  charge: (amount) => orLocal(shared.charge(amount), local.charge(amount)),
  reset: orLocal(shared.reset, local.reset),
  peek: orLocal(shared.peek, local.peek)
})

/** `shared`, falling back on `local` with `1 / instances` of each limit while it is unavailable. */
export const failOpen = (shared: Stores, local: Stores, instances: number): Stores => ({
  buckets: {
    bucket: (options) =>
      Effect.zipWith(
        shared.buckets.bucket(options),
        local.buckets.bucket({
          ...options,
          capacity: shareOf(options.capacity, instances),
          refillRate: shareOf(options.refillRate, instances)
        }),
        bucketOf
      )
  },
  slots: {
    slots: (options) =>
      Effect.zipWith(
        shared.slots.slots(options),
        local.slots.slots({ ...options, limit: countShareOf(options.limit, instances) }),
        (sharedSlots, localSlots) => ({ tryAcquire: orLocal(sharedSlots.tryAcquire, localSlots.tryAcquire) })
      )
  }
})
