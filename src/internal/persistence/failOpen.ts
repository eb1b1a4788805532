/**
 * Fail-open, the part every store's decorator shares: a step goes to the shared store and, while that fails with
 * `StoreUnavailableError`, to a local store; and a local store's part of a limit shared by `instances` instances.
 * Each concept's decorator (`rateLimiter/failOpen.ts`, ...) says which steps and which limits.
 *
 * A limit that is used up (a budget's spend, a bucket's tokens) is never renewed by an outage: its local state is
 * begun at the outage's first step from what the shared store last said was left (`outage`), and an instance's share
 * is a share of that remainder (`shareOfRemainder`), not of the limit. A limit the instance never read there (it
 * started during the outage) is given nothing at once: a bucket starts empty and refills at its share of the rate, a
 * budget answers as the store would have, unavailable, until the shared store answers.
 */
import * as Effect from "effect/Effect"
import type { StoreUnavailableError } from "./unavailable.js"

/** `shared`, or `local` when the shared store is unavailable. */
export const orLocal = <A, E = StoreUnavailableError>(
  shared: Effect.Effect<A, StoreUnavailableError>,
  local: Effect.Effect<A, E>
): Effect.Effect<A, E> => Effect.catchTag(shared, "StoreUnavailableError", () => local)

/** One instance's part of an amount shared by `instances` (a refill rate, a spend limit). */
export const shareOf = (amount: number, instances: number): number => amount / instances

/**
 * One instance's part of what is left of `limit` once `gone` of it is used (a budget's committed spend, a bucket's
 * tokens taken): never below zero, whatever `gone` is.
 */
export const shareOfRemainder = (limit: number, gone: number, instances: number): number =>
  shareOf(Math.max(0, limit - gone), instances)

/** One instance's part of a count shared by `instances` (a concurrency cap): whole, and never below one. */
export const countShareOf = (count: number, instances: number): number => Math.max(1, Math.floor(count / instances))

/** Fail-open over a local state that lives as long as one outage (`outage`). */
export interface Outage<L> {
  /**
   * `shared`, whose success ends an outage; while it fails with `StoreUnavailableError`, `local` over the outage's
   * state, begun at its first step.
   */
  readonly orLocal: <A, E>(
    shared: Effect.Effect<A, StoreUnavailableError>,
    local: (state: L, unavailable: StoreUnavailableError) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E>
}

/**
 * Outages of a shared store, each with a local state `begin` makes at its first step (from the last known state of
 * the shared store, so nothing used up there is given again), kept until a step succeeds on the shared store.
 */
export const outage = <L>(begin: Effect.Effect<L>): Outage<L> => {
  // The current outage's state; none while the shared store answers.
  let current: { readonly state: L } | undefined
  const ended = <A>(value: A): A => {
    current = undefined
    return value
  }
  const during = <A, E>(
    local: (state: L, unavailable: StoreUnavailableError) => Effect.Effect<A, E>,
    unavailable: StoreUnavailableError
  ): Effect.Effect<A, E> =>
    current !== undefined ? local(current.state, unavailable) : Effect.flatMap(begin, (state) => {
      // Two first steps at once share the state the earlier one began.
      current ??= { state }
      return local(current.state, unavailable)
    })
  return {
    orLocal: <A, E>(
      shared: Effect.Effect<A, StoreUnavailableError>,
      local: (state: L, unavailable: StoreUnavailableError) => Effect.Effect<A, E>
    ) => Effect.catch(Effect.map(shared, ended), (unavailable) => during(local, unavailable))
  }
}
