/**
 * A cloud credential held and shared by every call, and asked for again before it expires, on the `Clock`: Azure's
 * Entra ID tokens and Bedrock's AWS credentials alike. One call asks while the others wait for its answer; what is
 * held still serves, until it expires, when asking for its successor fails.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"

/** A credential got, and when it expires and when to ask for the next one, in `Clock` milliseconds. */
export interface Held<A> {
  readonly value: A
  /** Infinity: it never expires. */
  readonly expiresAt: number
  readonly refreshAt: number
}

// How long before its expiry a credential is replaced, at most: Azure's and AWS's own clients refresh within 5 minutes
// of it.
const refreshMarginMillis = 5 * 60 * 1000

/**
 * When a credential is asked for again: a margin before it expires, or halfway to its expiry for one that lives less
 * than twice the margin; never for one that never expires.
 */
export const refreshAtOf = (expiresAt: number, now: number): number =>
  expiresAt === Infinity ? Infinity : Math.max(expiresAt - refreshMarginMillis, now + (expiresAt - now) / 2)

/** A credential held while fresh (`renewable`): the current one, and a way to drop one its server refused. */
export interface Renewable<A> {
  /** The credential held while fresh, else a new one asked for; a failure is a detail naming the credential. */
  readonly current: Effect.Effect<A, string>
  /**
   * Drops `value` if it is still the one held (a server refused it: a 401), so the next `current` asks again; a value
   * already replaced (another call saw the refusal first) is left alone, so one refusal asks once.
   */
  readonly expire: (value: A) => Effect.Effect<void>
}

/** The credential `ask` gets (given the `Clock`'s time), held while fresh, and dropped on `expire`. */
export const renewable = <A>(ask: (now: number) => Effect.Effect<Held<A>, string>): Renewable<A> => {
  let held: Held<A> | undefined
  const lock = Semaphore.makeUnsafe(1)
  const renew = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    // Another call renewed it while this one waited.
    if (held !== undefined && now < held.refreshAt) return Effect.succeed(held.value)
    return ask(now).pipe(
      Effect.map((next) => {
        held = next
        return next.value
      }),
      Effect.catch((detail) =>
        held !== undefined && now < held.expiresAt ? Effect.succeed(held.value) : Effect.fail(detail)
      )
    )
  })
  return {
    current: Effect.clockWith((clock) =>
      held !== undefined && clock.currentTimeMillisUnsafe() < held.refreshAt
        ? Effect.succeed(held.value)
        : lock.withPermit(renew)
    ),
    expire: (value) =>
      Effect.sync(() => {
        if (held !== undefined && held.value === value) held = undefined
      })
  }
}

/** The credential `ask` gets, held while fresh: a failure is a detail naming the credential. */
export const renewing = <A>(ask: (now: number) => Effect.Effect<Held<A>, string>): Effect.Effect<A, string> =>
  renewable(ask).current
