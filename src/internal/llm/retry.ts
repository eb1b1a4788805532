/**
 * Attempts of an `Llm` call under the retry policy and the call's deadline.
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { type LlmError, NoCapacityError } from "../../LlmError.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import { goesElsewhere, RouterCall } from "../routerCall.js"
import { bounded, deadlineError, type Due } from "./due.js"
import type { Attempted, Env } from "./env.js"

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
