/**
 * Attempts of an `Llm` call under the retry policy and the call's deadline: its
 * own (`Options.deadline`) or a sooner one a `Router` set for it
 * (`RouterCall.deadline`), read when the call starts, and the bounds it puts on
 * waits, provider calls and backoffs.
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { type LlmError, NoCapacityError, TimeoutError } from "../../LlmError.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import { goesElsewhere, RouterCall } from "../routerCall.js"
import { timeoutFail } from "../time/watchdog.js"
import type { Attempted, Env } from "./env.js"

/** When a call's deadline passes (`Clock` milliseconds), and the bound that makes it, for its `TimeoutError`. */
export interface Due {
  readonly at: number
  readonly timeout: Duration.Duration
  /** The call's `Clock`, read when an attempt starts. */
  readonly clock: Clock.Clock
}

/** The sooner of the call's own deadline and `handedDown` (a `Router`'s, `Infinity` when none). */
export const dueOf = (env: Env, handedDown: number, clock: Clock.Clock): Due => {
  const now = clock.currentTimeMillisUnsafe()
  const own = now + env.deadlineMillis
  return handedDown < own
    ? { at: handedDown, timeout: Duration.millis(Math.max(0, handedDown - now)), clock }
    : { at: own, timeout: env.deadline, clock }
}

export const deadlineError = (env: Env, request: Attempted, due: Due): TimeoutError =>
  new TimeoutError({
    provider: env.client.provider,
    model: request.model ?? "",
    timeout: due.timeout,
    phase: "deadline",
    detail: "the call's deadline passed, retries included"
  })

/**
 * Bounds a wait by what is left of the call's deadline. Used only where a
 * wait really happens (a busy limiter or pool, a backoff), so a call that
 * finds a permit and a key at once forks no timer.
 */
export const bounded = <A, E>(env: Env, effect: Effect.Effect<A, E>, request: Attempted, due: Due) =>
  Effect.clockWith((clock) => {
    const left = due.at - clock.currentTimeMillisUnsafe()
    return left <= 0
      ? Effect.fail(deadlineError(env, request, due))
      : timeoutFail(effect, Duration.millis(left), () => deadlineError(env, request, due))
  })

/**
 * A provider call bounded by what is left of the deadline: by cutting the
 * request's timeout when the client takes one (the transport's watchdog keeps
 * it), by `timeoutFail` otherwise; one system over the `Clock` either way.
 */
export const withinDeadline = <R extends Attempted, A>(
  env: Env,
  request: R,
  due: Due,
  call: (request: R) => Effect.Effect<A, LlmError>
) =>
  Effect.suspend(() => {
    const left = Math.max(1, due.at - due.clock.currentTimeMillisUnsafe())
    const timeout = request.timeout ?? env.client.timeout
    if (timeout === undefined) {
      return timeoutFail(call(request), Duration.millis(left), () => deadlineError(env, request, due))
    }
    return Duration.toMillis(timeout) <= left ? call(request) : call({ ...request, timeout: Duration.millis(left) })
  })

/**
 * A timeout of a phase (no headers, no first token, a stall): inside a router
 * with somewhere else to go (`RouterCall.onward`), it is not retried here.
 */
const isPhaseTimeout = (error: LlmError): boolean =>
  error._tag === "TimeoutError" && (error.phase === "headers" || error.phase === "firstToken" || error.phase === "idle")

/**
 * What a call's failures so far tell its next attempt (`attempt.takeKey`):
 * made at its first failure, so a call that succeeds at once allocates none.
 */
export interface Failures {
  /** When the call was first rate-limited, if it was. */
  rateLimitedAt: number | undefined
  /**
   * The last rate-limited or rejected key's error: what the call fails with
   * when rotation finds no key left (`NoCapacityError` when none).
   */
  rotatedBy: LlmError | undefined
}

/** The retry policy, stepped by hand: sleeps the policy's delay, fails with `Cause.Done` once it gives up. */
type Step = (error: LlmError) => Effect.Effect<unknown, Cause.Done<unknown>>

/**
 * Runs `attemptOnce` (given the attempt's number, from 1, and the call's
 * `Failures` after the first) until it succeeds, the policy gives up or the
 * deadline passes; `once` (a router's probe): the first attempt only,
 * whatever the policy says. The first attempt runs without the policy's
 * machinery; a failure hands it the error. When rotation has used up every
 * key (the pool answers NoCapacityError right after a rate limit or a
 * rejected key, when no key frees within `maxRateLimitWait`, or at once
 * inside a router that has somewhere else to go: see `attempt.takeKey`), the
 * provider's own error is what the caller can act on, so it is the one
 * returned.
 */
export const retrying = <A>(
  env: Env,
  request: Attempted,
  due: Due,
  attemptOnce: (attempt: number, failures: Failures | undefined) => Effect.Effect<A, LlmError>,
  once: boolean
): Effect.Effect<A, LlmError> =>
  once
    ? Effect.mapError(attemptOnce(1, undefined), (error) => settle(request, undefined, error))
    : Effect.catch(
      attemptOnce(1, undefined),
      (error) => afterFirst(env, request, due, attemptOnce, error) as Effect.Effect<A, LlmError>
    )

// The error a call fails with, given its failures so far.
const settle = (request: Attempted, failures: Failures | undefined, error: LlmError): LlmError => {
  if (error._tag !== "NoCapacityError") return error
  if (failures?.rotatedBy !== undefined) return failures.rotatedBy
  return error.model === "" && request.model !== undefined
    ? new NoCapacityError({ ...error, model: request.model })
    : error
}

// The call's attempts after its first failed with `first`, one at a time: the
// policy's machinery, made only now.
const afterFirst = Effect.fnUntraced(function*(
  env: Env,
  request: Attempted,
  due: Due,
  attemptOnce: (attempt: number, failures: Failures | undefined) => Effect.Effect<unknown, LlmError>,
  first: LlmError
): Effect.fn.Return<unknown, LlmError> {
  const failures: Failures = { rateLimitedAt: undefined, rotatedBy: undefined }
  let step: Step | undefined
  let error = first
  for (let attempt = 1;; attempt++) {
    if (isPhaseTimeout(error) && goesElsewhere(yield* RouterCall, "TimeoutError")) return yield* Effect.fail(error)
    const now = yield* Clock.currentTimeMillis
    if (RetryPolicy.rotatesKey(error)) failures.rotatedBy = error
    if (error._tag === "RateLimitError") failures.rateLimitedAt ??= now
    if (now >= due.at) {
      // A request timeout that the deadline cut short is the deadline's.
      return yield* Effect.fail(
        error._tag === "TimeoutError" ? deadlineError(env, request, due) : settle(request, failures, error)
      )
    }
    step ??= yield* Schedule.toStepWithSleep(env.policy)
    const waited = yield* bounded(env, Effect.result(step(error)), request, due)
    if (Result.isFailure(waited)) return yield* Effect.fail(settle(request, failures, error))
    const next = yield* Effect.result(attemptOnce(attempt + 1, failures))
    if (Result.isSuccess(next)) return next.success
    error = next.failure
  }
})
