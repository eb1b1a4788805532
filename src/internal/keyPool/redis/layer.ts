/**
 * The Redis backend of `KeyPool.LeaseStore`: a pool's leases are a lease group (`leases.ts`), the loads of its
 * keys without a cap the published counts beside it (`published.ts`), both under its key. Under
 * `onUnavailable: "fail-open"` it is wrapped in the fail-open decorator (`../failOpen.ts`).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as KeyPool from "../../../KeyPool.js"
import type * as Store from "../../../Store.js"
import { failOpen } from "../failOpen.js"
import { LeaseStore } from "../leaseStore.js"
import * as Memory from "../memory.js"
import * as Leases from "./leases.js"
import * as Published from "./published.js"

/** A `LeaseStore` kept in `store`; under its `onUnavailable: "fail-open"`, falling back on its share in memory. */
export const leaseStore = (store: Store.Store): KeyPool.LeaseStore["Service"] => {
  const { connection } = store
  const shared: KeyPool.LeaseStore["Service"] = {
    leases: ({ candidates, key, slowStartMillis }) => Leases.group(connection, key, candidates, slowStartMillis),
    loads: ({ ids, key }) => Effect.sync(() => Published.make(connection, key, ids))
  }
  return connection.onUnavailable === "fail-open"
    ? failOpen(shared, () => Memory.leaseStore(connection.scope), connection.instances)
    : shared
}

/** The store in `store`'s Redis, as a layer (`KeyPool.layerStoreRedis`). */
export const layer = (store: Store.Store): Layer.Layer<LeaseStore> => Layer.sync(LeaseStore, () => leaseStore(store))
