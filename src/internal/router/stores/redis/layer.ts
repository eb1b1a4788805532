/**
 * The Redis backends of the router's stores, each wrapped in the fail-open decorator (`../failOpen.ts`) over a memory
 * store of its own.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Router from "../../../../Router.js"
import type * as Store from "../../../../Store.js"
import * as FailOpen from "../failOpen.js"
import * as Memory from "../memory.js"
import { AffinityStore, BreakerStore, LearnedLimitStore } from "../tags.js"
import * as Pins from "./affinity.js"
import * as Breakers from "./breaker.js"
import * as Learned from "./learned.js"

/** Breakers kept in `store`, each instance on its own breakers while it is unavailable. */
export const breakerStore = (store: Store.Store): Router.BreakerStore["Service"] =>
  FailOpen.breakerStore((options) => Breakers.make(store.connection, options), Memory.breakerStore())

/** Pins kept in `store`, each instance on its own pins while it is unavailable. */
export const affinityStore = (store: Store.Store): Router.AffinityStore["Service"] =>
  FailOpen.affinityStore((options) => Pins.make(store.connection, options), Memory.affinityStore())

/** Stream samples kept in `store`, each instance on its own samples while it is unavailable. */
export const learnedLimitStore = (store: Store.Store): Router.LearnedLimitStore["Service"] =>
  FailOpen.learnedLimitStore((options) => Learned.make(store.connection, options), Memory.learnedLimitStore())

/** The three stores in `store`'s Redis, as a layer (`Router.layerStoreRedis`). */
export const layer = (store: Store.Store): Layer.Layer<BreakerStore | AffinityStore | LearnedLimitStore> =>
  Layer.effectContext(Effect.sync(() =>
    Context.make(BreakerStore, breakerStore(store)).pipe(
      Context.add(AffinityStore, affinityStore(store)),
      Context.add(LearnedLimitStore, learnedLimitStore(store))
    )
  ))
