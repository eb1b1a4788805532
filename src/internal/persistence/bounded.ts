/**
 * How a store keeps its entries within its bounds, written once over any store's steps (`Room`): each bound is of a
 * scope (one owner's entries, or all of them) and allows it at most a count of entries and a number of bytes; past it,
 * the scope's oldest entry is let go of, then the next, until the scope is within it (or, where a store keeps some
 * entries, until none is left to let go of: the bound is then past, and the store refuses what it was given). The
 * bounds are kept in turn, an owner's before all's, so that one owner's entries past its own bound go before any other
 * owner's. What "oldest" is is the store's: the earliest made (the batches' files and records, `gateway/batches/
 * store.ts`; the batches run as calls that ended, `gateway/batches/runs.ts`) or the least recently used (the kept
 * responses in memory, `gateway/responses/store.ts`). A store takes `keep` within one step of its own (a transaction,
 * or memory in one go); the Redis stores keep the same in their scripts (`ownedIndex.ts`, `gateway/batches/
 * runsRedis.ts`).
 */
import * as Effect from "effect/Effect"

/**
 * A bound of `keep`: of the entries of `scope` (all of them, when `undefined`), at most `count`, holding at most
 * `bytes` (either `Infinity` for none).
 */
export interface Bound<S> {
  readonly scope: S | undefined
  readonly count: number
  readonly bytes: number
}

/** What the entries of a scope hold. */
export interface Held {
  readonly count: number
  readonly bytes: number
}

/** A store's steps, as `keep` takes them. */
export interface Room<S, E> {
  /** What the entries of `scope` (of all, when `undefined`) hold. */
  readonly held: (scope: S | undefined) => Effect.Effect<Held, E>
  /** The id of the oldest entry of `scope` (of all, when `undefined`); none when it has none. */
  readonly oldest: (scope: S | undefined) => Effect.Effect<string | undefined, E>
  readonly remove: (id: string) => Effect.Effect<void, E>
}

/** Whether `held` is within `bound`. */
function within<S>(held: Held, bound: Bound<S>): boolean {
  return held.count <= bound.count && held.bytes <= bound.bytes
}

/** A bound its scope is past still, with what the scope holds. */
export interface Past<S> {
  readonly bound: Bound<S>
  readonly held: Held
}

/**
 * The entries past each of `bounds`, in turn, let go of, the oldest first; the first bound whose scope is past it
 * still, when the store has no entry of it left to let go of (a store whose `oldest` passes over the entries it must
 * keep), or none.
 */
export function kept<S, E>(room: Room<S, E>, bounds: ReadonlyArray<Bound<S>>): Effect.Effect<Past<S> | undefined, E> {
  return Effect.gen(function*() {
    for (const bound of bounds) {
      let held = yield* room.held(bound.scope)
      while (!within(held, bound)) {
        const oldest = yield* room.oldest(bound.scope)
        if (oldest === undefined) return { bound, held }
        yield* room.remove(oldest)
        held = yield* room.held(bound.scope)
      }
    }
    return undefined
  })
}

/** The entries past each of `bounds`, in turn, let go of, the oldest first (`kept`). */
export function keep<S, E>(room: Room<S, E>, bounds: ReadonlyArray<Bound<S>>): Effect.Effect<void, E> {
  return Effect.asVoid(kept(room, bounds))
}
