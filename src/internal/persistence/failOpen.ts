/**
 * Fail-open, shared by every store's decorator: a step goes to the shared store and, while that fails with
 * `StoreUnavailableError`, to a local store holding this instance's share of a limit (each concept's decorator says
 * which steps and limits). An outage never renews a used-up limit: local state begins from what the shared store last
 * said was left (`outage`), and the share is of that remainder (`shareOfRemainder`). A limit never read there (the
 * instance started mid-outage) gets nothing at once: a bucket starts empty and refills at its share of the rate, a
 * budget answers unavailable until the shared store answers.
 */
import * as Effect from "effect/Effect"
import type { StoreUnavailableError } from "./unavailable.js"

/** `shared`, or `local` when the shared store is unavailable. */
export const orLocal = <A, E = StoreUnavailableError>(
  shared: Effect.Effect<A, StoreUnavailableError>,
  local: Effect.Effect<A, E>
): Effect.Effect<A, E> => Effect.catchTag(shared, "StoreUnavailableError", () => local)

/** A step of a store: an effect, or a function giving one. */
export type Step<E = never> = Effect.Effect<unknown, E> | ((...args: Array<never>) => Effect.Effect<unknown, E>)

/** The steps of `T` as a shared store answers them: each fails with `StoreUnavailableError` while the store is away. */
export type Shared<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer P) => Effect.Effect<infer A> ?
    (...args: P) => Effect.Effect<A, StoreUnavailableError>
    : T[K] extends Effect.Effect<infer A> ? Effect.Effect<A, StoreUnavailableError>
    : never
}

/** Each step of `shared`, or the same step of `local` when the shared store is unavailable (`orLocal`). */
export const eachOrLocal = <T extends { readonly [K in keyof T]: Step }>(shared: Shared<T>, local: T): T => {
  const steps: Record<string, unknown> = {}
  for (const [name, step] of Object.entries<Step<StoreUnavailableError>>(shared)) {
    const kept = local[name as keyof T] as typeof step
    steps[name] = typeof step === "function" && typeof kept === "function"
      ? (...args: Array<never>) => orLocal(step(...args), kept(...args))
      : orLocal(step as Effect.Effect<unknown, StoreUnavailableError>, kept as Effect.Effect<unknown>)
  }
  return steps as T
}

/** One instance's part of an amount shared by `instances` (a refill rate, a spend limit). */
export const shareOf = (amount: number, instances: number): number => amount / instances

/**
 * One instance's part of what is left of `limit` once `gone` is used (committed spend, tokens taken): never below zero.
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
 * Outages of a shared store, each with a local state `begin` makes at its first step from the shared store's last
 * known state (so nothing used up there is given again), kept until a step succeeds on the shared store.
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
