/**
 * Lease renewal, shared by every store's leases: what this instance holds is renewed in one step of its store every
 * third of the lease's time to live, in a fiber of the store's scope; a failed renewal is left to the next (a lease
 * outlives two missed ones). Each store says what a step is (`store/renewal.ts` for Redis, `budget/sql.ts` for SQL).
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** The leases an instance holds, each a member with what its renewal needs. */
export interface Renewer<A> {
  /** Renews `member` until `drop`. */
  readonly hold: (member: string, value: A) => void
  readonly drop: (member: string) => void
}

/** A renewer whose fiber, in `scope`, calls `renew` with what is held every third of `ttlMillis`. */
export const renewer = <A>(options: {
  readonly ttlMillis: number
  readonly scope: Scope.Scope
  readonly renew: (held: ReadonlyMap<string, A>) => Effect.Effect<void, unknown>
}): Effect.Effect<Renewer<A>> =>
  Effect.gen(function*() {
    const held = new Map<string, A>()
    const renew = Effect.suspend(() => held.size === 0 ? Effect.void : Effect.ignore(options.renew(held)))
    yield* Effect.forkIn(
      Effect.repeat(renew, Schedule.spaced(Math.max(1, Math.floor(options.ttlMillis / 3)))),
      options.scope
    )
    return {
      hold: (member, value) => {
        held.set(member, value)
      },
      drop: (member) => {
        held.delete(member)
      }
    }
  })
