/**
 * What a reload swaps: the gateway serves one generation at a time (all it builds from one configuration, in a scope
 * of its own), and a request holds the generation it started on until its own scope closes, a stream's once its last
 * event is sent. A new generation is built whole before it is served; one that fails to build is closed and the
 * current one stays. A replaced generation's scope closes when its last request ends, so calls in flight finish on
 * the deployments they started on.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"

/** The generations of something rebuilt whole (`A`): the current one, leased by each user. */
export interface Generations<A> {
  /** The generation served now (there is one once the first `replace` succeeded). */
  readonly current: () => A
  /** The generation served now, held (its scope kept open) until the caller's scope closes. */
  readonly lease: Effect.Effect<A, never, Scope.Scope>
  /**
   * `build` (given the generation served now, if any) run in a scope of its own and, once it succeeds, served in
   * place of the current generation, whose scope closes when its last lease ends; when it fails, its scope is closed
   * and the current generation stays. One replacement at a time.
   */
  readonly replace: <E>(build: (previous: A | undefined) => Effect.Effect<A, E, Scope.Scope>) => Effect.Effect<A, E>
}

interface Held<A> {
  readonly value: A
  readonly scope: Scope.Closeable
  /** The requests holding it, plus one while it is the current generation. */
  leases: number
}

/**
 * No generation yet; each one built will be in a child of the caller's scope taken now, so closing that scope closes
 * every generation still open after whatever the caller adds to it later (its drain, say).
 */
export const make = <A>(): Effect.Effect<Generations<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Scope.fork(yield* Effect.scope)
    const replacing = yield* Semaphore.make(1)
    let current: Held<A> | undefined

    const release = (held: Held<A>): Effect.Effect<void> =>
      Effect.suspend(() => --held.leases === 0 ? Scope.close(held.scope, Exit.void) : Effect.void)

    // Only the build may be interrupted: a generation built is served, or closed.
    const swap = <E>(build: (previous: A | undefined) => Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const previous = current
          const scope = yield* Scope.fork(parent)
          const exit = yield* Effect.exit(restore(Scope.provide(build(previous?.value), scope)))
          if (Exit.isFailure(exit)) {
            yield* Scope.close(scope, exit)
            return yield* exit
          }
          current = { value: exit.value, scope, leases: 1 }
          if (previous !== undefined) yield* release(previous)
          return exit.value
        })
      )

    return {
      current: () => current!.value,
      lease: Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => {
            const held = current!
            held.leases++
            return held
          }),
          release
        ),
        (held) => held.value
      ),
      replace: (build) => replacing.withPermits(1)(swap(build))
    }
  })
