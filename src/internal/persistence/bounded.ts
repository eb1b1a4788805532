/**
 * How a store keeps its entries within its bounds, over any store's steps (`Room`): each bound allows a scope (one
 * owner's entries, or all) at most a count and a number of bytes; past it, the scope's oldest entries are let go of
 * until it is within (or none is left to let go of: the store then refuses what it was given). An owner's bound is
 * kept before all's, so one owner's excess goes before any other owner's entries. "Oldest" is the store's: earliest
 * made (`gateway/batches/store.ts`, `gateway/batches/runs.ts`) or least recently used (`gateway/responses/store.ts`).
 * A store runs `keep` within one step of its own; the Redis stores do the same in their scripts (`ownedIndex.ts`,
 * `gateway/batches/runsRedis.ts`).
 */
import * as Effect from "effect/Effect"

/**
 * A bound of `keep`: of `scope`'s entries (all, when `undefined`), at most `count` holding at most `bytes` (either
 * `Infinity` for none).
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

function within<S>(held: Held, bound: Bound<S>): boolean {
  return held.count <= bound.count && held.bytes <= bound.bytes
}

/** A bound its scope is past still, with what the scope holds. */
export interface Past<S> {
  readonly bound: Bound<S>
  readonly held: Held
}

/**
 * The entries past each of `bounds` let go of in turn, oldest first; then the first bound still passed because the
 * store has none left to let go of (its `oldest` passes over entries it must keep), or none.
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
