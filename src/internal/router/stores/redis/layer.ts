/**
 * The Redis backends of the router's stores, each failing open over a memory store of its own (the shared part is
 * `persistence/failOpen.ts`). A breaker, a learned limit or a pin only spares a failing deployment, a silent stream or
 * a cold cache, never a limit that must hold, so the router's stores fail open whatever the store's `onUnavailable`:
 * each instance keeps its own in memory until a step succeeds on the shared store again. The store's connection logs
 * the outage once.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Store from "../../../../Store.js"
import { eachOrLocal, type Shared, type Step } from "../../../persistence/failOpen.js"
import * as Memory from "../memory.js"
import { AffinityStore, BreakerStore, LearnedLimitStore } from "../tags.js"
import * as Pins from "./affinity.js"
import * as Breakers from "./breaker.js"
import * as Learned from "./learned.js"

/** The three stores in `store`'s Redis, each instance on its own while it is unavailable (`Router.layerStoreRedis`). */
export const layer = (store: Store.Store): Layer.Layer<BreakerStore | AffinityStore | LearnedLimitStore> =>
  Layer.effectContext(Effect.sync(() => {
    // What `options` asks of Redis (`make`), falling back on what it asks of `local`.
    const failingOpen = <O, L extends { readonly [K in keyof L]: Step }>(
      make: (connection: Store.Store["connection"], options: O) => Shared<L>,
      local: (options: O) => Effect.Effect<L>
    ) =>
    (options: O) => Effect.map(local(options), (kept) => eachOrLocal(make(store.connection, options), kept))
    return Context.make(BreakerStore, {
      breaker: failingOpen(Breakers.make, Memory.breakerStore().breaker),
      shared: true
    }).pipe(
      Context.add(AffinityStore, { pins: failingOpen(Pins.make, Memory.affinityStore().pins) }),
      Context.add(LearnedLimitStore, {
        samples: failingOpen(Learned.make, Memory.learnedLimitStore().samples),
        shared: true
      })
    )
  }))
