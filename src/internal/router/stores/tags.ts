/** The router's store tags, here so the router's internals can read them. */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Router from "../../../Router.js"

/** `Router.BreakerStore`. */
export class BreakerStore extends Context.Service<BreakerStore, {
  readonly breaker: (options: Router.BreakerOptions) => Effect.Effect<Router.Breaker>
  /** Whether other processes write the store: its routers then refresh their mirrors from it. */
  readonly shared: boolean
}>()("effect-llm-router/Router/BreakerStore") {}

/** `Router.AffinityStore`. */
export class AffinityStore extends Context.Service<AffinityStore, {
  readonly pins: (options: Router.PinsOptions) => Effect.Effect<Router.Pins>
}>()("effect-llm-router/Router/AffinityStore") {}

/** `Router.LearnedLimitStore`. */
export class LearnedLimitStore extends Context.Service<LearnedLimitStore, {
  readonly samples: (options: Router.SamplesOptions) => Effect.Effect<Router.Samples>
  /** Whether other processes write the store: its routers then read their limits from it again and again. */
  readonly shared: boolean
}>()("effect-llm-router/Router/LearnedLimitStore") {}
