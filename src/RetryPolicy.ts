/**
 * The retry policy of `Llm`, as a `Schedule` users can see, replace and compose.
 *
 * The default policy retries what can succeed on a second try (`LlmError.isRetryable`): a rate-limited or rejected key
 * is retried at once, because the next attempt takes another key (the pool holds the bad one back), within a budget of
 * key rotations of its own; an unavailable provider, a timeout or a transport failure backs off exponentially with
 * jitter, never sooner than a `retryAfter` the provider sent. Everything else fails at once.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { isRetryable, type LlmError } from "./LlmError.js"

/**
 * A retry policy: a schedule fed with each failure.
 *
 * @since 0.1.0
 * @category Models
 */
export type RetryPolicy = Schedule.Schedule<unknown, LlmError>

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Retries after the first attempt (provider.json `max_retries`), key rotations aside. Default: 3. */
  readonly maxRetries?: number
  /**
   * Attempts on another key after a rate-limited or rejected one (`rotatesKey`), counted apart from `maxRetries`.
   * Default: 3.
   */
  readonly maxKeyRotations?: number
  /** The first backoff delay (provider.json `retry_delay`). Default: 500 millis. */
  readonly baseDelay?: Duration.Input
  /** The longest backoff delay (a `retryAfter` may still ask for longer). Default: 30 seconds. */
  readonly maxDelay?: Duration.Input
  /** The growth of the delay per retry. Default: 2. */
  readonly factor?: number
  /** Randomise each delay between 80% and 120% so clients do not retry in step. Default: true. */
  readonly jitter?: boolean
}

/**
 * Whether a failure is answered by moving to another key rather than waiting.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import { Llm, type LlmError, RetryPolicy } from "effect-llm-router"
 *
 * // Retry only on another key (rate limits, rejected keys), at once, up to 5 times.
 * const rotateOnly: RetryPolicy.RetryPolicy = Schedule.recurs(5).pipe(
 *   Schedule.setInputType<LlmError.LlmError>(),
 *   Schedule.while(({ input }) => RetryPolicy.rotatesKey(input))
 * )
 * const layer = Llm.layer({ retry: rotateOnly })
 * ```
 *
 * @since 0.1.0
 * @category Predicates
 */
export const rotatesKey = (error: LlmError): boolean => error._tag === "RateLimitError" || error._tag === "AuthError"

/**
 * The wait a failure itself asks for (`retryAfter` of a rate limit or an unavailable provider).
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Llm, Message, RetryPolicy } from "effect-llm-router"
 *
 * // Tell the user when to come back.
 * const answer = Llm.chat({ messages: [Message.user("Hi")] }).pipe(
 *   Effect.map((reply) => reply.text),
 *   Effect.catch((error) => {
 *     const wait = RetryPolicy.retryAfterOf(error)
 *     return Effect.succeed(
 *       wait === undefined ? "Something went wrong." : `Busy: try again in ${Duration.format(wait)}.`
 *     )
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const retryAfterOf = (error: LlmError): Duration.Duration | undefined =>
  error._tag === "RateLimitError" || error._tag === "ProviderUnavailableError" ? error.retryAfter : undefined

/**
 * Exponential backoff with optional jitter and a cap, that never waits less than the `retryAfter` of the failure it
 * answers.
 *
 * @example
 * ```ts
 * import { Schedule } from "effect"
 * import { Llm, LlmError, RetryPolicy } from "effect-llm-router"
 *
 * // Slower backoff than the default, and at most 5 retries.
 * const patient: RetryPolicy.RetryPolicy = RetryPolicy.backoff({ baseDelay: "1 second", maxDelay: "1 minute" }).pipe(
 *   Schedule.while(({ attempt, input }) => LlmError.isRetryable(input) && attempt <= 5)
 * )
 * const layer = Llm.layer({ retry: patient })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const backoff = (
  options?: Omit<Options, "maxRetries" | "maxKeyRotations">
): Schedule.Schedule<Duration.Duration, LlmError> => {
  const base = Schedule.exponential(options?.baseDelay ?? "500 millis", options?.factor ?? 2)
  const maxDelay = Duration.fromInputUnsafe(options?.maxDelay ?? "30 seconds")
  const jittered = options?.jitter === false ? base : Schedule.jittered(base)
  return jittered.pipe(
    Schedule.setInputType<LlmError>(),
    Schedule.modifyDelay(({ duration, input }) => {
      const capped = Duration.min(duration, maxDelay)
      const hinted = retryAfterOf(input)
      return Effect.succeed(hinted === undefined ? capped : Duration.max(capped, hinted))
    })
  )
}

/**
 * The default policy: at most `maxKeyRotations` moves to another key after a rate limit or a rejected key, without
 * delay; at most `maxRetries` retries of the other retryable failures, with backoff growing with those retries only.

 *
 * @example
 * ```ts
 * import { Llm, RetryPolicy } from "effect-llm-router"
 *
 * const layer = Llm.layer({ model: "gpt-4o-mini", retry: RetryPolicy.make({ maxRetries: 5, baseDelay: "1 second" }) })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options?: Options): RetryPolicy => {
  const maxRetries = options?.maxRetries ?? 3
  const rotations = Schedule.recurs(options?.maxKeyRotations ?? 3)
  const retries = backoff(options).pipe(
    Schedule.while(({ attempt, input }) => isRetryable(input) && attempt <= maxRetries)
  )
  // Two schedules, each stepped only by its own failures, so each counts its own budget.
  return Schedule.fromStep<LlmError, unknown, never, never, never, never>(Effect.zipWith(
    Schedule.toStep(rotations),
    Schedule.toStep(retries),
    (rotate, retry) => (now: number, input: LlmError) => rotatesKey(input) ? rotate(now, input) : retry(now, input)
  ))
}

/**
 * A policy that never retries.
 *
 * @example
 * ```ts
 * import { Llm, RetryPolicy } from "effect-llm-router"
 *
 * // Fail on the first error: a Router above falls back to another deployment instead.
 * const layer = Llm.layer({ model: "gpt-4o-mini", retry: RetryPolicy.none })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const none: RetryPolicy = Schedule.recurs(0)
