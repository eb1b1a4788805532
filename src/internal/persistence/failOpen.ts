/**
 * Fail-open, the part every store's decorator shares: a step goes to the shared store and, while that fails with
 * `StoreUnavailableError`, to a local store; and a local store's part of a limit shared by `instances` instances.
 * Each concept's decorator (`rateLimiter/failOpen.ts`, ...) says which steps and which limits.
 */
import * as Effect from "effect/Effect"
import type { StoreUnavailableError } from "../../Store.js"

/** `shared`, or `local` when the shared store is unavailable. */
export const orLocal = <A, E = StoreUnavailableError>(
  shared: Effect.Effect<A, StoreUnavailableError>,
  local: Effect.Effect<A, E>
): Effect.Effect<A, E> => Effect.catchTag(shared, "StoreUnavailableError", () => local)

/** One instance's part of an amount shared by `instances` (a refill rate, a spend limit). */
export const shareOf = (amount: number, instances: number): number => amount / instances

/** One instance's part of a count shared by `instances` (a concurrency cap): whole, and never below one. */
export const countShareOf = (count: number, instances: number): number => Math.max(1, Math.floor(count / instances))
