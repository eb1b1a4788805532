/**
 * The deadline of one `Llm` call: its own (`Options.deadline`) or a sooner
 * one a `Router` set for it (`RouterCall.deadline`), read when the call starts, and
 * the bounds it puts on waits and provider calls.
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { type LlmError, TimeoutError } from "../../LlmError.js"
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
