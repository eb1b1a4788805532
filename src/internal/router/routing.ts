/**
 * The call loop: one call tries its address's deployments, then its
 * fallbacks, until one succeeds, all under one deadline.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import type * as Tracer from "effect/Tracer"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type Attempt, type LlmError, ModelNotFoundError, TimeoutError } from "../../LlmError.js"
import type { ErrorTag, Fallback } from "../../Router.js"
import { withAttempts } from "../llmError/withAttempts.js"
import { Elsewhere, OneAttempt, type Onward } from "../oneAttempt.js"
import * as Telemetry from "../telemetry.js"
import * as Deadline from "../time/deadline.js"
import { enter, settleFailure, settleSuccess, type State } from "./deployment.js"
import { type Call, firstUnheld, noneUsable, type Pick, usable } from "./picking.js"
import { provider, type Settings } from "./settings.js"
import * as Shared from "./shared.js"

/** What every call of one router shares. */
export interface Core {
  readonly settings: Settings
  readonly addresses: ReadonlyMap<string, ReadonlyArray<State>>
  /** The deployments of a request that names no model. */
  readonly everyone: ReadonlyArray<State>
  /** Whether every deployment ends its calls by the deadline the router sets (then no timer is needed). */
  readonly keepsDeadlines: boolean
  readonly pick: Pick
}

/** Gives an effect back the interruptibility of a caller that runs in an uninterruptible region. */
export type Restore = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/**
 * One attempt at a deployment: the request with the deployment's model.
 * `restore`: the call's `Routing.restore`; `span`: the attempt's, traced,
 * which a stream ends when it closes (a call's ends with the attempt).
 */
export type Send<A> = (
  state: State,
  request: ChatRequest,
  restore: Restore | undefined,
  span: Tracer.Span | undefined
) => Effect.Effect<A, LlmError>

/** A failed attempt as the call's final error lists it: a timeout with its phase. */
const attemptOf = (state: State, error: LlmError): Attempt =>
  error._tag === "TimeoutError" && error.phase !== undefined
    ? { deployment: state.name, error: error._tag, message: error.message, phase: error.phase }
    : { deployment: state.name, error: error._tag, message: error.message }

/** What a call starts from (`begin`'s). */
export interface RoutingOptions<A> {
  readonly core: Core
  readonly request: ChatRequest
  /** The address the request names: "" when it names none and the router has no model of its own. */
  readonly address: string
  readonly members: ReadonlyArray<State>
  readonly send: Send<A>
  /** A stream's call: its answer holds its deployment, and its attempt's span, until the stream closes. */
  readonly held: boolean
  readonly clock: Clock.Clock
  /** The fiber's `Random`: a seeded one reproduces every pick. */
  readonly random: Random.Random
}

/**
 * One attempt under way (`attemptOn`'s): `now`, when it started; `chain`,
 * whether a failure goes on to the next attempt; `claim`, a hedge's; `restore`, the interruptibility of
 * the attempt's caller; `probe`, whether it is a breaker's probe.
 */
interface Sending<A> {
  readonly state: State
  readonly now: number
  readonly chain: boolean
  readonly claim: ((value: A) => Effect.Effect<A>) | undefined
  readonly restore: Restore
  readonly probe: boolean
}

/** A hedged call's first attempt failed before the hedge started: the race ends, the call goes on. */
class Early {
  constructor(readonly error: LlmError) {}
}

/**
 * One call's progress through its deployments. A class rather than closures:
 * nothing is allocated per call beyond the instance. A stream keeps it after
 * its first chunk, to restart on the next deployment when it breaks.
 */
export class Routing<A> implements Call, Onward {
  readonly core: Core
  readonly request: ChatRequest
  readonly send: Send<A>
  readonly held: boolean
  readonly clock: Clock.Clock
  /** The fiber's `Random`: a seeded one reproduces every pick. */
  readonly random: Random.Random
  readonly address: string
  readonly attempts: Array<Attempt> = []
  readonly tried: Array<State> = []
  readonly usedFallbacks: Array<Fallback> = []
  minContext = 0
  last: { readonly state: State; readonly error: LlmError } | undefined = undefined
  members: ReadonlyArray<State>
  from: string
  /** The call's deadline (`Clock` milliseconds), which its attempts run under as `Deadline.CallDeadline`. */
  deadlineAt = Infinity
  /**
   * Set by a caller that runs the attempts in an uninterruptible region of
   * its own (a stream, until its source is handed out): gives them back the
   * caller's interruptibility; any timer of the router's waits as the caller does.
   */
  restore: Restore | undefined = undefined
  /** Lets go of what a successful attempt holds (a stream's), for a hedge's second success. */
  discard: ((value: A) => Effect.Effect<void>) | undefined = undefined
  /** The call's span, when traced and sampled: each attempt gets a span under it. */
  span: Tracer.Span | undefined = undefined
  constructor(options: RoutingOptions<A>) {
    this.core = options.core
    this.request = options.request
    this.send = options.send
    this.held = options.held
    this.clock = options.clock
    this.random = options.random
    this.address = options.address === "" ? "every deployment" : options.address
    this.members = options.members
    this.from = options.address
  }

  // The next attempt, picked at once: `Random` draws synchronously, so no
  // effect is needed per draw. Only ever called while the call runs (in
  // `run`'s callback or an attempt's continuation), so the clock it reads is
  // current.
  next(): Effect.Effect<A, LlmError> {
    return this.step(this.core.settings.drawsRandom ? this.random.nextDoubleUnsafe() : 0)
  }

  step(u: number): Effect.Effect<A, LlmError> {
    const now = this.clock.currentTimeMillisUnsafe()
    if (now >= this.deadlineAt) return Effect.fail(this.timedOut())
    const candidates = usable(this.members, this, now)
    if (candidates.length === 0) return this.noneUsable(now)
    const state = candidates.length === 1 ? candidates[0]! : candidates[this.core.pick(candidates, u, this.request)]!
    this.tried.push(state)
    return this.core.settings.hedgeAfter === undefined ? this.attemptOn(state, now, true) : this.hedged(state, now)
  }

  // No deployment usable now: a fallback for the last error, else a wait for
  // the first deployment held back by a rate limit when it frees within
  // `maxRateLimitWait` (and the deadline), else the call fails.
  noneUsable(now: number): Effect.Effect<A, LlmError> {
    const error = this.last?.error ?? noneUsable(this, this.members, now)
    const freeAt = firstUnheld(this.members, this, now)
    if (
      freeAt - now > this.core.settings.rateLimitWaitMillis || freeAt >= this.deadlineAt ||
      this.findFallback(this.last?.state.name, error._tag) !== undefined
    ) return this.fallBack(this.last?.state, error)
    const wait = Effect.andThen(Effect.sleep(freeAt - now), Effect.suspend(() => this.next()))
    return this.restore === undefined ? wait : this.restore(wait)
  }

  /**
   * One attempt at `state`. Its bookkeeping is entered and its settling
   * installed in one uninterruptible step, so it is settled however the
   * attempt ends, interrupted included; the attempt itself, and (`chain`) the
   * next one after a failure, run as the caller does. A breaker's probe is
   * one attempt. `claim`: a hedge's, run on success in the same region, so a
   * success is never lost to an interruption.
   */
  attemptOn(
    state: State,
    now: number,
    chain: boolean,
    claim?: (value: A) => Effect.Effect<A>
  ): Effect.Effect<A, LlmError> {
    return Effect.uninterruptibleMask((restore) => {
      const probe = enter(state, now)
      if (!probe || state.shared === undefined) return this.traceAttempt({ state, now, chain, claim, restore, probe })
      // A shared breaker's probe (`Options.shared`) goes only when Redis grants it to this instance.
      return Effect.flatMap(
        Shared.claimProbe(state),
        (granted) =>
          granted ? this.traceAttempt({ state, now, chain, claim, restore, probe: true }) : this.refused(state, restore)
      )
    })
  }

  // A probe Redis refused (another instance probes): the attempt is taken back and the call picks again.
  refused(state: State, restore: Restore): Effect.Effect<A, LlmError> {
    state.inFlight--
    state.requests--
    this.tried.pop()
    return restore(this.next())
  }

  // The attempt, in a span of its own when the call is traced.
  traceAttempt(sending: Sending<A>): Effect.Effect<A, LlmError> {
    if (this.span === undefined) return this.sendTo(sending, undefined)
    const state = sending.state
    const describe = Telemetry.describeAttempt(
      state.provider,
      state.model,
      this.tried.length,
      "llm_router.deployment",
      state.name
    )
    return Effect.flatMap(
      Telemetry.start(Telemetry.routerAttempt, this.span, describe),
      (span) => this.sendTo(sending, span)
    )
  }

  // `attemptOn`'s attempt, entered; traced, in its span, which ends with it
  // (a stream's, when the stream closes).
  sendTo(sending: Sending<A>, span: Tracer.Span | undefined): Effect.Effect<A, LlmError> {
    const { claim, probe, restore, state } = sending
    const settings = this.core.settings
    const sent = this.send(state, this.routed(state), this.restore, span)
    const traced = span === undefined ? sent : Telemetry.asRouterAttempt(sent, span)
    // Shared (`Options.shared`): settled locally as in memory, then the transition goes to the store
    // before the call goes on, so its next pick sees what Redis says.
    const before = state.shared === undefined ? undefined : Shared.before(state)
    return Effect.matchCauseEffect(restore(probe ? Effect.provideService(traced, OneAttempt, true) : traced), {
      onFailure: (cause) => {
        const error = cause.reasons.find(Cause.isFailReason)?.error
        settleFailure(settings, state, probe, this.clock.currentTimeMillisUnsafe(), error)
        if (before === undefined) return this.afterFailure(sending, span, cause, error)
        return Effect.andThen(
          Shared.report(settings, state, probe, before, error),
          Effect.suspend(() => this.afterFailure(sending, span, cause, error))
        )
      },
      onSuccess: (value) => {
        const now = this.clock.currentTimeMillisUnsafe()
        settleSuccess(settings, state, { startMillis: sending.now, now, reply: value, held: this.held })
        if (before === undefined) return this.afterSuccess(state, claim, span, value)
        return Effect.andThen(
          Shared.report(settings, state, probe, before, "success"),
          Effect.suspend(() => this.afterSuccess(state, claim, span, value))
        )
      }
    })
  }

  // A settled attempt's failure: its span ended, then the next attempt (`chain`) or the error.
  afterFailure(
    sending: Sending<A>,
    span: Tracer.Span | undefined,
    cause: Cause.Cause<LlmError>,
    error: LlmError | undefined
  ): Effect.Effect<A, LlmError> {
    if (span !== undefined) Telemetry.endUnsafe(span, Exit.failCause(cause), this.clock)
    if (error === undefined) return Effect.failCause(cause)
    return sending.chain ? sending.restore(this.failed(sending.state, error)) : Effect.fail(error)
  }

  // A settled attempt's success: its span ended (a stream's when it closes), then the hedge's claim or the answer.
  afterSuccess(
    state: State,
    claim: ((value: A) => Effect.Effect<A>) | undefined,
    span: Tracer.Span | undefined,
    value: A
  ) {
    if (span !== undefined && !this.held) Telemetry.endUnsafe(span, Exit.succeed(value), this.clock)
    if (claim !== undefined) return claim(value)
    Telemetry.annotate(this.span, "llm_router.deployment", state.name)
    return Effect.succeed(value)
  }

  /**
   * `hedge`: an attempt at `first` and, once `hedge.after` has passed without
   * its answer (for a stream, its first chunk), one at the next usable
   * deployment too; the first to succeed wins and the other is interrupted
   * (settled as an interrupted attempt: its key and permit freed, nothing
   * billed). A failure of one leaves the other running; a failure of `first`
   * before the hedge starts goes on as without hedging, at once; when both
   * fail, the call goes on from the later failure.
   */
  hedged(first: State, now: number): Effect.Effect<A, LlmError> {
    const settings = this.core.settings
    let won: { readonly value: A } | undefined
    let second: State | undefined
    // The racers' failures, in the order they came.
    const failures: Array<{ readonly state: State; readonly error: LlmError }> = []
    const failedOn = (state: State) => (error: LlmError) => {
      failures.push({ state, error })
      return Effect.fail(error)
    }
    // The first success wins, and the other attempt, if it started and is still
    // running, counts as cancelled before the call returns; a success after it
    // (both ended at once) is let go of at once.
    const claim = (state: State) => (value: A): Effect.Effect<A> => {
      if (won === undefined) {
        won = { value }
        Telemetry.annotate(this.span, "llm_router.deployment", state.name)
        const loser = state === first ? second : first
        if (loser !== undefined && !failures.some((failure) => failure.state === loser)) loser.hedgesCancelled++
        return Effect.succeed(value)
      }
      return Effect.andThen(this.discard === undefined ? Effect.void : this.discard(value), Effect.interrupt)
    }
    // Before the hedge starts, a failure ends the race at once and the call goes on as without hedging.
    const primary = Effect.catch(
      this.attemptOn(first, now, false, claim(first)),
      (error): Effect.Effect<A | Early, LlmError> =>
        second === undefined ? Effect.succeed(new Early(error)) : failedOn(first)(error)
    )
    const hedge = Effect.flatMap(Effect.sleep(settings.hedgeAfter!), () => {
      const at = this.clock.currentTimeMillisUnsafe()
      const candidates = at >= this.deadlineAt ? [] : usable(this.members, this, at)
      // Nowhere to hedge to (or no time left): the race is the first attempt's.
      if (candidates.length === 0) return Effect.never
      const u = settings.drawsRandom ? this.random.nextDoubleUnsafe() : 0
      const state = candidates.length === 1 ? candidates[0]! : candidates[this.core.pick(candidates, u, this.request)]!
      second = state
      this.tried.push(state)
      state.hedges++
      return Effect.catch(this.attemptOn(state, at, false, claim(state)), failedOn(state))
    })
    const race = Effect.race(primary, hedge)
    // Interrupted once a winner has claimed its answer (a stream's): let go of it.
    const settled = Effect.onInterrupt(
      this.restore === undefined ? race : this.restore(race),
      () => won === undefined || this.discard === undefined ? Effect.void : this.discard(won.value)
    )
    return Effect.matchCauseEffect(settled, {
      onSuccess: (value) => value instanceof Early ? this.failed(first, value.error) : Effect.succeed(value),
      // Both failed (else interrupted, or a defect): the earlier is listed, the call goes on from the later.
      onFailure: (cause) => {
        if (failures.length < 2) return Effect.failCause(cause)
        const [earlier, later] = failures as [typeof failures[0], typeof failures[0]]
        this.attempts.push(attemptOf(earlier.state, earlier.error))
        return this.failed(later.state, later.error)
      }
    })
  }

  // Whether, were the deployment tried last to fail with `tag` now, another
  // one or a fallback is there to go to, as `failed` goes on (read by the
  // `Llm` before it waits on the same deployment, `Elsewhere`).
  elsewhere(tag: ErrorTag): boolean {
    const now = this.clock.currentTimeMillisUnsafe()
    if (now >= this.deadlineAt) return false
    if (this.core.settings.retryOn.has(tag) && usable(this.members, this, now).length > 0) return true
    return this.findFallback(this.tried[this.tried.length - 1]?.name, tag) !== undefined
  }

  // The request as the deployment gets it: with its model.
  routed(state: State): ChatRequest {
    return this.request.model === state.model ? this.request : { ...this.request, model: state.model }
  }

  failed(state: State, error: LlmError): Effect.Effect<A, LlmError> {
    this.attempts.push(attemptOf(state, error))
    this.last = { state, error }
    if (this.clock.currentTimeMillisUnsafe() >= this.deadlineAt) return Effect.fail(this.timedOut())
    return this.core.settings.retryOn.has(error._tag) ? this.next() : this.fallBack(state, error)
  }

  // The first unused fallback for `tag`: of the failed deployment, then of the address.
  findFallback(deployment: string | undefined, tag: ErrorTag): Fallback | undefined {
    const from = this.from
    for (const name of deployment === undefined || deployment === from ? [from] : [deployment, from]) {
      for (const fallback of this.core.settings.fallbacks[name] ?? []) {
        if (!this.usedFallbacks.includes(fallback) && fallback.on.includes(tag)) return fallback
      }
    }
    return undefined
  }

  fallBack(failed: State | undefined, error: LlmError): Effect.Effect<A, LlmError> {
    const fallback = this.findFallback(failed?.name, error._tag)
    if (fallback === undefined) {
      return Effect.fail(this.attempts.length === 0 ? error : withAttempts(error, this.attempts))
    }
    this.usedFallbacks.push(fallback)
    if (error._tag === "ContextLengthError") {
      this.minContext = Math.max(this.minContext, failed?.contextWindow ?? error.contextWindow ?? 0)
    }
    this.from = fallback.to
    this.members = this.core.addresses.get(fallback.to)!
    return this.next()
  }

  /**
   * The call's attempts from here under its deadline, the sooner of the
   * router's own from now and `inherited` (a router above this one's): the
   * first attempt or, after `failedState` broke with `error` (a stream that
   * broke after its first chunk, when the deadline of its opening is long
   * past), the next one the rules allow. Each attempt runs under it
   * (`Deadline.CallDeadline`), and it is checked between attempts. When a
   * deployment may not keep it, a timer bounds the attempts too.
   */
  attempt(inherited: number, failedState?: State, error?: LlmError): Effect.Effect<A, LlmError> {
    const core = this.core
    this.deadlineAt = Math.min(inherited, this.clock.currentTimeMillisUnsafe() + core.settings.deadlineMillis)
    if (core.keepsDeadlines) {
      return this.underCall(failedState === undefined ? this.next() : this.failed(failedState, error!))
    }
    const calls = this.underCall(
      Effect.suspend(() => failedState === undefined ? this.next() : this.failed(failedState, error!))
    )
    const restore = this.restore
    const bounded = Deadline.within(
      restore === undefined ? calls : Effect.uninterruptible(calls),
      core.settings.deadline,
      inherited,
      () => this.timedOut()
    )
    return restore === undefined ? bounded : restore(bounded)
  }

  // `attempts` under the call's deadline (`Deadline.CallDeadline`) with this call as their `Elsewhere`: both given
  // in one change of the fiber's context.
  underCall(attempts: Effect.Effect<A, LlmError>): Effect.Effect<A, LlmError> {
    return Effect.updateContext(
      attempts,
      (context: Context.Context<never>) =>
        Context.add(Context.add(context, Deadline.CallDeadline, this.deadlineAt), Elsewhere, this)
    )
  }

  timedOut(): LlmError {
    return withAttempts(
      new TimeoutError({
        provider,
        model: this.address,
        timeout: this.core.settings.deadline,
        phase: "deadline",
        detail: "the call's deadline passed, every attempt and fallback included"
      }),
      this.attempts
    )
  }
}

/**
 * Starts a call: its address's deployments, with the fiber's clock and random
 * source; `undefined` when the request's model names nothing.
 */
export const begin = <A>(
  core: Core,
  request: ChatRequest,
  send: Send<A>,
  held: boolean,
  fiber: Fiber.Fiber<unknown, unknown>
): Routing<A> | undefined => {
  const members = request.model === undefined ? core.everyone : core.addresses.get(request.model)
  if (members === undefined) return undefined
  return new Routing({
    core,
    request,
    address: request.model ?? core.settings.model ?? "",
    members,
    send,
    held,
    clock: fiber.getRef(Clock.Clock),
    random: fiber.getRef(Random.Random)
  })
}

/** The error of a request whose model names no deployment, group or model. */
export const unknownAddress = (core: Core, request: ChatRequest) =>
  Effect.fail(
    new ModelNotFoundError({
      provider,
      model: request.model!,
      detail: `no deployment, group or model is named ${request.model}; known: ${[...core.addresses.keys()].join(", ")}`
    })
  )

/** How a traced call names and describes its span, and what its answer adds. */
export interface Traced<A> {
  readonly operation: Telemetry.Operation
  readonly done: (span: Tracer.Span, answer: A) => void
}

/** The model a call span names: the address asked for, else the router's own model. */
export const calledModel = (core: Core, request: ChatRequest): string | undefined =>
  request.model ?? core.settings.model

/** The router's call span's first attributes; it becomes the call's `span`, the parent of its attempts'. */
export const describeCall = (routing: Routing<unknown>, operation: Telemetry.Operation) => {
  const request = routing.request
  const model = calledModel(routing.core, request)
  const describe = Telemetry.describeCall(
    operation,
    provider,
    request.model === model ? request : { ...request, model }
  )
  return (span: Tracer.Span) => {
    routing.span = span
    describe(span)
  }
}

/**
 * Runs a whole call (a chat, an embedding) under the deadline it inherits and
 * the router's own; traced, in a call span with one span per attempt.
 */
export const run = <A>(
  core: Core,
  request: ChatRequest,
  send: Send<A>,
  traced: Traced<A>
): Effect.Effect<A, LlmError> =>
  Effect.withFiber((fiber) => {
    const routing = begin(core, request, send, false, fiber)
    if (routing === undefined) return unknownAddress(core, request)
    const inherited = fiber.getRef(Deadline.CallDeadline)
    if (Telemetry.untraced(fiber)) return routing.attempt(inherited)
    return Telemetry.within(
      Effect.suspend(() => routing.attempt(inherited)),
      Telemetry.callName(traced.operation, calledModel(core, request)),
      describeCall(routing as Routing<unknown>, traced.operation),
      (span, answer) => {
        traced.done(span, answer)
        span.attribute("llm_router.attempts", routing.tried.length)
      },
      true
    )
  })
