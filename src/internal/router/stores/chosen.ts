/**
 * Where a router keeps its breakers, learned limits and pins, read once when it is built: the `Router.BreakerStore`,
 * `Router.LearnedLimitStore` and `Router.AffinityStore` it requires.
 */
import * as Effect from "effect/Effect"
import type * as Router from "../../../Router.js"
import { AffinityStore, BreakerStore, LearnedLimitStore } from "./tags.js"

/** A router's stores and its key in them. */
export interface Chosen {
  readonly breakers: Router.BreakerStore["Service"]
  readonly learned: Router.LearnedLimitStore["Service"]
  readonly affinity: Router.AffinityStore["Service"]
  readonly key: string
  /**
   * Of its breakers and of its learned limits, whether the store is this process's alone (`shared: false`): what
   * another router of the process writes there, this one reads at its next step, so its mirrors need no refresh.
   */
  readonly own: { readonly breakers: boolean; readonly learned: boolean }
}

/** The stores of a router of `options` (checked). */
export const chosen = (
  options: Router.Options
): Effect.Effect<Chosen, never, BreakerStore | LearnedLimitStore | AffinityStore> =>
  Effect.gen(function*() {
    const breakers = yield* BreakerStore
    const learned = yield* LearnedLimitStore
    return {
      breakers,
      learned,
      affinity: yield* AffinityStore,
      key: options.key ?? "router",
      own: { breakers: !breakers.shared, learned: !learned.shared }
    }
  })
