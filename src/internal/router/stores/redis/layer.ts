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
import type * as Router from "../../../../Router.js"
import type * as Store from "../../../../Store.js"
import { orLocal } from "../../../persistence/failOpen.js"
import * as Memory from "../memory.js"
import { AffinityStore, BreakerStore, LearnedLimitStore } from "../tags.js"
import * as Pins from "./affinity.js"
import * as Breakers from "./breaker.js"
import * as Learned from "./learned.js"

const breakerOf = (shared: Breakers.Breaker, local: Router.Breaker): Router.Breaker => ({
  send: orLocal(shared.send, local.send),
  success: orLocal(shared.success, local.success),
  failure: (probe) => orLocal(shared.failure(probe), local.failure(probe)),
  release: orLocal(shared.release, local.release),
  hold: (millis) => orLocal(shared.hold(millis), local.hold(millis)),
  peek: orLocal(shared.peek, local.peek)
})

const pinsOf = (shared: Pins.Pins, local: Router.Pins): Router.Pins => ({
  lookup: (session) => orLocal(shared.lookup(session), local.lookup(session)),
  pin: (session, pin) => orLocal(shared.pin(session, pin), local.pin(session, pin)),
  counts: orLocal(shared.counts, local.counts)
})

const samplesOf = (shared: Learned.RedisSamples, local: Router.Samples): Router.Samples => ({
  add: (phase, millis) => orLocal(shared.add(phase, millis), local.add(phase, millis)),
  peek: orLocal(shared.peek, local.peek)
})

/** The three stores in `store`'s Redis, each instance on its own while it is unavailable (`Router.layerStoreRedis`). */
export const layer = (store: Store.Store): Layer.Layer<BreakerStore | AffinityStore | LearnedLimitStore> =>
  Layer.effectContext(Effect.sync(() => {
    // What `options` asks of Redis (`make`), falling back on what it asks of `local`.
    const failingOpen = <O, S, L, A>(
      make: (connection: Store.Store["connection"], options: O) => S,
      local: (options: O) => Effect.Effect<L>,
      both: (shared: S, local: L) => A
    ) =>
    (options: O) => Effect.map(local(options), (kept) => both(make(store.connection, options), kept))
    return Context.make(BreakerStore, {
      breaker: failingOpen(Breakers.make, Memory.breakerStore().breaker, breakerOf),
      shared: true
    }).pipe(
      Context.add(AffinityStore, { pins: failingOpen(Pins.make, Memory.affinityStore().pins, pinsOf) }),
      Context.add(LearnedLimitStore, {
        samples: failingOpen(Learned.make, Memory.learnedLimitStore().samples, samplesOf),
        shared: true
      })
    )
  }))
