/**
 * One governed call of the gateway (a model call, embeddings, an MCP tool call): the order of its steps (reserve, guard
 * the input, wait for its turn, send, settle, guard the answer, record) and what each stop does to the reservation:
 * released when the call stops before it was sent, or fails; charged whole when interrupted once sent (its upstream may
 * have run it); its cost charged once it answered, even when a guardrail then blocks the answer. An answer that goes on
 * after the call returns (a stream) is settled once, when its scope closes: at its cost, or the reservation when cut or
 * failed before its end.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import type { GuardrailError } from "../../Guardrail.js"
import type { Settle } from "./access/authentication.js"

/** Why a call did not answer: a guardrail blocked its input, or its answer (`answered`, charged); or it failed. */
export type Stop<E, A> =
  | { readonly _tag: "Blocked"; readonly error: GuardrailError; readonly answered: A | undefined }
  | { readonly _tag: "Failed"; readonly error: E }

/** What a use gives a governed call: its steps, in the order they run; each may fail with the use's `E`. */
export interface Steps<I, A, E, Env> {
  /** Takes the call's limits and reserves its worst case for the call: what settles its cost, or the refusal. */
  readonly reserve: Effect.Effect<Settle, E, Env | Scope.Scope>
  /** The input through the call's guardrails: what is sent (masked, maybe), or the block. */
  readonly guardIn: Effect.Effect<I, E | GuardrailError, Env>
  /** What the call waits for before it is sent (its upstream's limits), held while it is sent. */
  readonly turn?: ((input: I) => Effect.Effect<void, E | GuardrailError, Env | Scope.Scope>) | undefined
  readonly send: (input: I) => Effect.Effect<A, E | GuardrailError, Env>
  /** What an answer costs; `undefined` charges the reservation. */
  readonly cost: (answer: A) => number | undefined
  /**
   * The scope an answer that goes on after the call returns is held in (a stream past its first batch), which the call
   * runs in: the answer is settled when the scope closes, at what its `cost` says then. None: the call's own scope,
   * its answer settled as it comes.
   */
  readonly held?: Scope.Scope | undefined
  /** The answer to `input` through the call's guardrails: what is answered (masked, maybe), or the block. */
  readonly guardOut?: ((answer: A, input: I) => Effect.Effect<A, GuardrailError, Env>) | undefined
  /** Notes how the call ended in its request's outcome and the metrics. */
  readonly record: (ended: Ended<E, A>) => void
}

/** How a call ended, read from its exit. */
export interface Ended<E, A> {
  readonly exit: Exit.Exit<A, Stop<E, A>>
  /** Its answer, once it answered (one a guardrail blocked too). */
  readonly answered: A | undefined
  /** Why it stopped; none when it answered, or was interrupted. */
  readonly stop: Stop<E, A> | undefined
}

function endedOf<E, A>(exit: Exit.Exit<A, Stop<E, A>>): Ended<E, A> {
  if (Exit.isSuccess(exit)) return { exit, answered: exit.value, stop: undefined }
  const stop = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
  return { exit, answered: stop?._tag === "Blocked" ? stop.answered : undefined, stop }
}

// A step's failure as the call's stop.
function stopOf<E>(error: E | GuardrailError): Stop<E, never> {
  return Predicate.isTagged(error, "GuardrailError")
    ? { _tag: "Blocked", error: error as GuardrailError, answered: undefined }
    : { _tag: "Failed", error: error as E }
}

// A step, its failure as the call's stop, which leaves nothing charged unless the call was sent and then interrupted
// (its upstream may have run it).
function step<A, E, Env>(effect: Effect.Effect<A, E | GuardrailError, Env>, settle: Settle, sent: boolean) {
  return Effect.onExitPrimitive(
    Effect.mapErrorEager(effect, stopOf<E>),
    (exit) => Exit.isSuccess(exit) ? undefined : settle(sent && Cause.hasInterrupts(exit.cause) ? undefined : 0)
  )
}

/** The call governed by `steps`: its answer, or why it stopped; recorded once it ends, however it ends. */
export function governed<I, A, E, Env>(steps: Steps<I, A, E, Env>): Effect.Effect<A, Stop<E, A>, Env> {
  const { guardOut, held, send, turn } = steps
  const call = Effect.gen(function*() {
    const settle = yield* Effect.mapErrorEager(steps.reserve, stopOf<E>)
    const input = yield* step(steps.guardIn, settle, false)
    const sent = step(send(input), settle, true)
    const answer =
      yield* (turn === undefined ? sent : Effect.scoped(Effect.andThen(step(turn(input), settle, false), sent)))
    yield* held === undefined
      ? settle(steps.cost(answer))
      : Scope.addFinalizerExit(held, () => settle(steps.cost(answer)))
    if (guardOut === undefined) return answer
    return yield* Effect.mapError(
      guardOut(answer, input),
      (error): Stop<E, A> => ({ _tag: "Blocked", error, answered: answer })
    )
  })
  const scoped = held === undefined ? Effect.scoped(call) : Scope.provide(call, held)
  return Effect.onExitPrimitive(scoped, (exit) => void steps.record(endedOf(exit)))
}
