/**
 * A value held in the caller's scope and let go when the scope closes, for a release that needs no service: a count
 * taken and given back (a key's lease, a permit of an unlimited limiter, a gateway generation's lease).
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `acquire`'s value, `release` of it called when the scope closes (not before: a release may read what happened while
 * the value was held); uninterruptible from the acquire to the finalizer, so what is taken is always given back. Unlike
 * `Effect.acquireRelease`, the release does not run with the acquire's context, which would copy every service a call
 * has in reach into the closing fiber for a release that reads none (docs/performance.md).
 */
export function inScope<A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (value: A) => Effect.Effect<void>
): Effect.Effect<A, E, R | Scope.Scope> {
  return Effect.uninterruptible(
    Effect.flatMap(
      acquire,
      (value) => Scope.Scope.use((scope) => Effect.as(Scope.addFinalizerExit(scope, () => release(value)), value))
    )
  )
}

/**
 * `inScope` of a value taken at once, in one step (an unlimited limiter's permit, a generation's lease): `take` gives
 * the value and its release, called as the scope closes.
 */
export function takenInScope<A>(
  take: () => readonly [A, () => Effect.Effect<void>]
): Effect.Effect<A, never, Scope.Scope> {
  return Effect.uninterruptible(Scope.Scope.use((scope) => {
    const [value, release] = take()
    return Effect.as(Scope.addFinalizerExit(scope, release), value)
  }))
}
