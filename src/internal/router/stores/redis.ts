/**
 * The Redis backends of `Router.BreakerStore`, `Router.AffinityStore` and `Router.LearnedLimitStore`
 * (`store/breaker.ts`, `store/affinity.ts`, `store/learned.ts`), each wrapped in the fail-open decorator
 * (`failOpen.ts`) over a memory store of its own.
 */
import type * as Router from "../../../Router.js"
import type * as Store from "../../../Store.js"
import * as Pins from "../../store/affinity.js"
import * as Breakers from "../../store/breaker.js"
import * as Learned from "../../store/learned.js"
import * as FailOpen from "./failOpen.js"
import * as Memory from "./memory.js"

/** Breakers kept in `store`, each instance on its own breakers while it is unavailable. */
export const breakerStore = (store: Store.Store): Router.BreakerStore["Service"] =>
  FailOpen.breakerStore((options) => Breakers.make(store.connection, options), Memory.breakerStore())

/** Pins kept in `store`, each instance on its own pins while it is unavailable. */
export const affinityStore = (store: Store.Store): Router.AffinityStore["Service"] =>
  FailOpen.affinityStore((options) => Pins.make(store.connection, options), Memory.affinityStore())

/** Stream samples kept in `store`, each instance on its own samples while it is unavailable. */
export const learnedLimitStore = (store: Store.Store): Router.LearnedLimitStore["Service"] =>
  FailOpen.learnedLimitStore((options) => Learned.make(store.connection, options), Memory.learnedLimitStore())
