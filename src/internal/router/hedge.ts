/**
 * Hedging (`Router.Options.hedge`): once `hedge.after` has passed without an attempt's answer (a stream's first chunk),
 * an attempt at the next usable deployment too; the first to succeed wins and the other is interrupted (its key and
 * permit freed, nothing billed). A failure of one leaves the other running; a failure before the hedge starts goes on
 * as without hedging; when both fail, the call goes on from the later failure.
 */
import type * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LlmError } from "../../LlmError.js"
import type { State } from "./deployment.js"

/** What a hedge needs of its call (a `Routing`). */
export interface Hedging<A> {
  readonly clock: Clock.Clock
  readonly tried: Array<State>
  readonly restore: (<X, E>(effect: Effect.Effect<X, E>) => Effect.Effect<X, E>) | undefined
  readonly core: { readonly settings: { readonly hedgeAfter: Duration.Duration | undefined } }
  readonly sender: { readonly discard?: ((value: A) => Effect.Effect<void>) | undefined }
  /** An attempt at `state`, its success claimed by `claim`, its failure not gone on from (`chain` false). */
  attemptOn(
    state: State,
    now: number,
    chain: boolean,
    claim: (value: A) => Effect.Effect<A>
  ): Effect.Effect<A, LlmError>
  answered(state: State, value: A): A
  failed(state: State, error: LlmError): Effect.Effect<A, LlmError>
  hedgeTarget(at: number): State | undefined
  listFailure(state: State, error: LlmError): void
}

/** The first attempt failed before the hedge started: the race ends, the call goes on. */
class Early {
  constructor(readonly error: LlmError) {}
}

/** `call`'s attempt at `first`, hedged. */
export const hedged = <A>(call: Hedging<A>, first: State, now: number): Effect.Effect<A, LlmError> => {
  let won: { readonly value: A } | undefined
  let second: State | undefined
  // The racers' failures, in the order they came.
  const failures: Array<{ readonly state: State; readonly error: LlmError }> = []
  const failedOn = (state: State) => (error: LlmError) => {
    failures.push({ state, error })
    return Effect.fail(error)
  }
  // The other attempt, if still running, counts as cancelled before the call returns; a success after it (both ended at
  // once) is let go of at once.
  const claim = (state: State) => (value: A): Effect.Effect<A> => {
    if (won === undefined) {
      won = { value }
      const loser = state === first ? second : first
      if (loser !== undefined && !failures.some((failure) => failure.state === loser)) loser.hedgesCancelled++
      return Effect.succeed(call.answered(state, value))
    }
    const discard = call.sender.discard
    return Effect.andThen(discard === undefined ? Effect.void : discard(value), Effect.interrupt)
  }
  // Before the hedge starts, a failure ends the race at once and the call goes on as without hedging.
  const primary = Effect.catch(
    call.attemptOn(first, now, false, claim(first)),
    (error): Effect.Effect<A | Early, LlmError> =>
      second === undefined ? Effect.succeed(new Early(error)) : failedOn(first)(error)
  )
  const hedge = Effect.flatMap(Effect.sleep(call.core.settings.hedgeAfter!), () => {
    const at = call.clock.currentTimeMillisUnsafe()
    const state = call.hedgeTarget(at)
    // Nowhere to hedge to (or no time left): the race is the first attempt's.
    if (state === undefined) return Effect.never
    second = state
    call.tried.push(state)
    state.hedges++
    return Effect.catch(call.attemptOn(state, at, false, claim(state)), failedOn(state))
  })
  const race = Effect.race(primary, hedge)
  // Interrupted once a winner has claimed its answer (a stream's): let go of it.
  const settled = Effect.onInterrupt(
    call.restore === undefined ? race : call.restore(race),
    () => won === undefined || call.sender.discard === undefined ? Effect.void : call.sender.discard(won.value)
  )
  return Effect.matchCauseEffect(settled, {
    onSuccess: (value) => value instanceof Early ? call.failed(first, value.error) : Effect.succeed(value),
    // Both failed (else interrupted, or a defect): the earlier is listed, the call goes on from the later.
    onFailure: (cause) => {
      if (failures.length < 2) return Effect.failCause(cause)
      const [earlier, later] = failures as [typeof failures[0], typeof failures[0]]
      call.listFailure(earlier.state, earlier.error)
      return call.failed(later.state, later.error)
    }
  })
}
