/**
 * Where a router keeps its breakers, learned limits and pins, chosen once when it is built: the provided
 * `Router.BreakerStore`, `Router.LearnedLimitStore` and `Router.AffinityStore`, else memory stores of the router's own.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Router from "../../../Router.js"
import * as Memory from "./memory.js"
import { AffinityStore, BreakerStore, LearnedLimitStore } from "./tags.js"

/** A router's stores and its key in them. */
export interface Chosen {
  readonly breakers: Router.BreakerStore["Service"]
  readonly learned: Router.LearnedLimitStore["Service"]
  readonly affinity: Router.AffinityStore["Service"]
  readonly key: string
  /**
   * Of its breakers and of its learned limits, whether the store is the router's own, which no other router writes:
   * its mirrors then need no refresh.
   */
  readonly own: { readonly breakers: boolean; readonly learned: boolean }
}

/** The stores of a router of `options` (checked). */
export const chosen = (options: Router.Options): Effect.Effect<Chosen> =>
  Effect.map(
    Effect.all([
      Effect.serviceOption(BreakerStore),
      Effect.serviceOption(LearnedLimitStore),
      Effect.serviceOption(AffinityStore)
    ]),
    ([breakers, learned, affinity]) => ({
      breakers: Option.getOrElse(breakers, Memory.breakerStore),
      learned: Option.getOrElse(learned, Memory.learnedLimitStore),
      affinity: Option.getOrElse(affinity, Memory.affinityStore),
      key: options.key ?? "router",
      own: { breakers: Option.isNone(breakers), learned: Option.isNone(learned) }
    })
  )
