/**
 * One governed call of the gateway: a model call answered whole, embeddings and an MCP tool call each go through it.
 * It owns the order of the steps (reserve, guard the input, send, settle, guard the output, record) and what each
 * failure does to the reservation: released when the call stops before anything was sent, or fails; charged the
 * reservation when interrupted once sent (its upstream may have run it); charged the call's cost once it answered,
 * even when a guardrail then blocks the answer. The outcome is recorded once, at the exit, from the exit itself: a
 * refusal, a block and a failure are told apart by the failure's tag, an interruption by the cause.
 *
 * Each use gives only what differs: what it reserves, its guardrail chain's check of input and output, the call
 * (what it waits for before sending, and the sending), the cost of an answer, and what it records.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type { GuardrailError } from "../../Guardrail.js"
import type { Settle } from "./access/authentication.js"

/** A call the gateway refused (its caller's rate limit or budget, a guardrail it names that is gone), and why. */
export interface Refused<R> {
  readonly _tag: "Refused"
  readonly reason: R
}

/** A call a guardrail blocked: its input (nothing answered), or its answer (`answered`, charged). */
export interface Blocked<A> {
  readonly _tag: "Blocked"
  readonly error: GuardrailError
  readonly answered: A | undefined
}

/** A call that failed upstream (or was not sent for want of its upstream's limits). */
export interface Failed<E> {
  readonly _tag: "Failed"
  readonly error: E
}

/** Why a governed call did not answer: the gateway refused it, a guardrail blocked it, or the call failed. */
export type Stop<R, E, A> = Refused<R> | Blocked<A> | Failed<E>

/** The refusal of a call for `reason`, as a step fails with it. */
export function refused<R>(reason: R): Refused<R> {
  return { _tag: "Refused", reason }
}

/** What a use gives a governed call: its steps, in the order they run. */
export interface Steps<I, A, R, E, Env> {
  /** Takes the call's limits and reserves its worst case for the call's scope: what settles its cost. */
  readonly reserve: Effect.Effect<Settle, Refused<R>, Env | Scope.Scope>
  /** The input through the call's guardrails: what is sent (masked, maybe), or the block or refusal. */
  readonly guardIn: Effect.Effect<I, GuardrailError | Refused<R>, Env>
  /** What the call of `input` waits for before it is sent (its upstream's limits), held while it is sent. */
  readonly turn?: ((input: I) => Effect.Effect<void, E | GuardrailError | Refused<R>, Env | Scope.Scope>) | undefined
  /** The call sent with its input, and its answer (a failure its guardrails check may be a block or a refusal). */
  readonly send: (input: I) => Effect.Effect<A, E | GuardrailError | Refused<R>, Env>
  /** What an answer costs: charged once the call answered; `undefined` charges the reservation. */
  readonly cost: (answer: A) => number | undefined
  /** The answer to `input` through the call's guardrails: what is answered (masked, maybe), or the block; none: as is. */
  readonly guardOut?: ((answer: A, input: I) => Effect.Effect<A, GuardrailError, Env>) | undefined
  /** Notes how the call ended in its request's outcome and the metrics, once, at its exit. */
  readonly record: (exit: Exit.Exit<A, Stop<R, E, A>>) => void
}

// A step's failure as the call's stop.
function stopOf<R, E>(error: E | GuardrailError | Refused<R>): Stop<R, E, never> {
  if (Predicate.isTagged(error, "Refused")) return error as Refused<R>
  if (Predicate.isTagged(error, "GuardrailError")) {
    return { _tag: "Blocked", error: error as GuardrailError, answered: undefined }
  }
  return { _tag: "Failed", error: error as E }
}

// What a stopped phase leaves of the reservation: nothing charged, unless the call was sent and then interrupted.
function settledOnStop<A, E, Env>(phase: Effect.Effect<A, E, Env>, settle: Settle, sent: boolean) {
  return Effect.onExit(
    phase,
    (exit) => Exit.isSuccess(exit) ? Effect.void : settle(sent && Cause.hasInterrupts(exit.cause) ? undefined : 0)
  )
}

/** The call governed by `steps`: its answer, or why it stopped; recorded once it ends, however it ends. */
export function governed<I, A, R, E, Env>(steps: Steps<I, A, R, E, Env>): Effect.Effect<A, Stop<R, E, A>, Env> {
  const { guardIn, guardOut, send, turn } = steps
  return Effect.scoped(Effect.gen(function*() {
    const settle = yield* steps.reserve
    const input = yield* settledOnStop(Effect.mapError(guardIn, stopOf<R, E>), settle, false)
    const sent = (checked: I) => settledOnStop(Effect.mapError(send(checked), stopOf<R, E>), settle, true)
    const answer = yield* (turn === undefined ? sent(input) : Effect.scoped(
      Effect.andThen(settledOnStop(Effect.mapError(turn(input), stopOf<R, E>), settle, false), sent(input))
    ))
    yield* settle(steps.cost(answer))
    if (guardOut === undefined) return answer
    return yield* Effect.mapError(
      guardOut(answer, input),
      (error): Stop<R, E, A> => ({ _tag: "Blocked", error, answered: answer })
    )
  })).pipe(Effect.onExit((exit) => Effect.sync(() => steps.record(exit))))
}
