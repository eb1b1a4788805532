/**
 * How a store keeps its entries within its bounds, written once over any store's steps (`Room`): each bound is of a
 * scope (one owner's entries, or all of them) and allows it at most a count of entries and a number of bytes; past it,
 * the scope's oldest entry is let go of, then the next, until the scope is within it. The bounds are kept in turn, an
 * owner's before all's, so that one owner's entries past its own bound go before any other owner's. What "oldest" is
 * is the store's: the earliest made (the batches' files and records, `gateway/batches/store.ts`) or the least recently
 * used (the kept responses in memory, `gateway/responses/store.ts`). A store takes `keep` within one step of its own (a
 * transaction, or memory in one go); the Redis stores keep the same in their scripts (`ownedIndex.ts`).
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

/** The entries past each of `bounds`, in turn, let go of, the oldest first. */
export function keep<S, E>(room: Room<S, E>, bounds: ReadonlyArray<Bound<S>>): Effect.Effect<void, E> {
  return Effect.gen(function*() {
    for (const bound of bounds) {
      while (!within(yield* room.held(bound.scope), bound)) {
        const oldest = yield* room.oldest(bound.scope)
        if (oldest === undefined) break
        yield* room.remove(oldest)
      }
    }
  })
}
