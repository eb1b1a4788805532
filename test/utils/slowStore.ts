/**
 * The backend a contract suite runs against, the faults of one on a server, and its slow case: a store's step against a backend that
 * answers later than the step's bound (its replies held back by `redisProxy.ts`), timed on the `TestClock`. The step
 * must still be waiting a millisecond before its bound and have ended at it, with no real time needed beyond what the
 * fibers take to run.
 */
import { expect } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"

/** A backend that can answer late. */
export interface Slow {
  /** Holds the backend's replies back: it answers, later than any bound, until `resume`. */
  readonly pause: Effect.Effect<void>
  /** Lets them through, and the next ones at once. */
  readonly resume: Effect.Effect<void>
  /** How long a step waits for the backend (the store's bound on a command or a transaction), on its `Clock`. */
  readonly bound: Duration.Input
}

/** A backend's server going away and coming back, or answering late: what a contract's fault cases play. */
export interface Faults extends Slow {
  /** Takes the server down and waits until it is. */
  readonly stop: Effect.Effect<void>
  /** Brings it back (a Redis empty) and waits until the backend uses it again. */
  readonly start: Effect.Effect<void>
  /** The fields of the `StoreUnavailableError` of a step the server did not answer within `bound`. */
  readonly unanswered: { readonly address: string; readonly reason: string }
}

/** Waits on a real timer: nothing moves the test's clock meanwhile. */
function realPause(millis: number): Effect.Effect<void> {
  return Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })
}

// Fails the test, the backend answering again first, so that its stores close (a client's goodbye waits for its
// replies).
function unanswered(slow: Slow, message: string): Effect.Effect<never> {
  return Effect.andThen(slow.resume, Effect.sync(() => expect.fail(message)))
}

/**
 * `step`, ended once `slow.bound` had passed on the `TestClock`, and not before: its result or its failure. The
 * backend is already slow (its replies held back) when it starts; the step is given a real moment to send its
 * commands first (the bound counts from then, since the test's clock has not moved). A step still running at its
 * bound fails the test, naming it.
 */
export const atBound = Effect.fnUntraced(
  function*<A, E>(what: string, step: Effect.Effect<A, E>, slow: Slow): Effect.fn.Return<A, E> {
    const millis = Duration.toMillis(Duration.fromInputUnsafe(slow.bound))
    const waiting = yield* Effect.forkChild(step, { startImmediately: true })
    yield* realPause(50)
    yield* TestClock.adjust(millis - 1)
    yield* realPause(50)
    if (waiting.pollUnsafe() !== undefined) {
      return yield* unanswered(slow, `${what}: ended before its bound (${millis} ms)`)
    }
    yield* TestClock.adjust(1)
    // Real time only for its fibers to run: a step that ends only when the backend answers never does here.
    const ended = yield* Effect.raceFirst(
      Effect.asSome(Fiber.await(waiting)),
      Effect.as(realPause(5_000), Option.none())
    )
    if (Option.isNone(ended)) return yield* unanswered(slow, `${what}: still running at its bound (${millis} ms)`)
    return yield* ended.value
  }
)

/** What a contract asks of a backend on a server for its fail-open and fail-closed cases: one instance of several. */
export interface FaultyOptions {
  readonly onUnavailable: "fail-open" | "fail-closed"
  readonly instances: number
}

/** `given` (a backend's faults, or what plays them), which a backend on a server gives: its fault cases run only there. */
export const onServer = <A>(given: A | undefined, what = "its faults"): A => {
  if (given === undefined) throw new Error(`a backend on a server gives ${what}`)
  return given
}

/** Each of `steps`, made with the server down, fails with `StoreUnavailableError` (and `fields`, when given). */
export const unavailableEach = Effect.fnUntraced(
  function*(steps: ReadonlyArray<Effect.Effect<unknown, unknown>>, fields: Record<string, unknown> = {}) {
    for (const step of steps) {
      expect(yield* Effect.flip(step)).toMatchObject({ _tag: "StoreUnavailableError", ...fields })
    }
  }
)

/**
 * Each of `steps` (named), made with the server answering late, fails at the store's bound and not before
 * (`atBound`) with the `StoreUnavailableError` of a step the server did not answer.
 */
export const unavailableAtBound = Effect.fnUntraced(
  function*(faults: Faults, steps: ReadonlyArray<readonly [what: string, step: Effect.Effect<unknown, unknown>]>) {
    for (const [what, step] of steps) {
      expect(yield* Effect.flip(atBound(what, step, faults))).toMatchObject({
        _tag: "StoreUnavailableError",
        ...faults.unanswered
      })
    }
  }
)

/** A backend a contract suite runs against: what `connect` gives is the suite's own. */
export interface ContractBackend<Connected> {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  /** Whether it runs on a server, whose faults the contract plays. */
  readonly server: boolean
  readonly connect: Effect.Effect<Connected, never, Scope.Scope>
}

/** One test's backend of a service: two instances of it over `options`, sharing one state no other call shares. */
export interface InstancesBackend<Options, Service> {
  readonly instances: (options: Options) => Effect.Effect<readonly [Service, Service], never, Scope.Scope>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  readonly faults: Faults | undefined
}
