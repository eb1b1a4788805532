/**
 * One call through the router, from its start to the deployment that answers: the deployments its address names, the
 * router's call span, and the call loop that tries those deployments, then its fallbacks, under one deadline, picking
 * among the usable ones by the strategy.
 *
 * The picking rules are plain scans (a router has a handful of deployments, so a scan beats keeping a heap in order).
 * Each takes one uniform number in [0, 1) drawn from Effect's `Random` by the caller, so a seeded `Random` makes every
 * choice reproducible.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import type * as Tracer from "effect/Tracer"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type Attempt, type LlmError, ModelNotFoundError, NoCapacityError, TimeoutError } from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import type { ErrorTag, Fallback, Pin, Pins } from "../../Router.js"
import { withAttempts } from "../llmError/withAttempts.js"
import { type Onward, outside, RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import { bounded, until } from "../time/watchdog.js"
import * as Affinity from "./affinity.js"
import * as Breaker from "./breaker.js"
import * as Continuation from "./continuation.js"
import { type Candidate, enter, settleFailure, settleSuccess, type State } from "./deployment.js"
import * as Hedge from "./hedge.js"
import { provider, type Settings } from "./settings.js"

/** What every call of one router shares. */
export interface Core {
  readonly settings: Settings
  readonly addresses: ReadonlyMap<string, ReadonlyArray<State>>
  /** The deployments of a request that names no model. */
  readonly everyone: ReadonlyArray<State>
  readonly pick: Pick
  /** The sessions' pins (`Options.affinity`); undefined: off. */
  readonly affinity: Pins | undefined
}

/** Gives an effect back the interruptibility of a caller that runs in an uninterruptible region. */
export type Restore = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/** How a call reaches a deployment, and what its answer holds (a chat's, an embedding's, a stream's). */
export interface Sender<A> {
  /** One attempt at a deployment; `span`: the attempt's, which a stream ends when it closes. */
  readonly send: (
    state: State,
    request: ChatRequest,
    restore: Restore | undefined,
    span: Tracer.Span | undefined
  ) => Effect.Effect<A, LlmError>
  /** A stream's: its answer holds its deployment, and its attempt's span, until the stream closes. */
  readonly held: boolean
  /** Lets go of what a successful attempt holds (a stream's), for a hedge's second success. */
  readonly discard?: ((value: A) => Effect.Effect<void>) | undefined
  /** What a whole answer adds to the call's span (a stream's go on its Finish chunk). */
  readonly done?: ((span: Tracer.Span, answer: A) => void) | undefined
}

/** A failed attempt as the call's final error lists it: a timeout with its phase. */
function attemptOf(state: State, error: LlmError): Attempt {
  return error._tag === "TimeoutError" && error.phase !== undefined
    ? { deployment: state.name, error: error._tag, message: error.message, phase: error.phase }
    : { deployment: state.name, error: error._tag, message: error.message }
}

/** What a call is made of (`Routing`'s). */
export interface RoutingOptions<A> {
  readonly core: Core
  readonly request: ChatRequest
  /** The address the request names: "" when it names none and the router has no model of its own. */
  readonly address: string
  readonly members: ReadonlyArray<State>
  readonly sender: Sender<A>
  readonly clock: Clock.Clock
  /** The fiber's `Random`: a seeded one reproduces every pick. */
  readonly random: Random.Random
  /** The call's span, when traced: each attempt gets a span under it when it is sampled. */
  readonly span: Tracer.Span | undefined
}

/** Where the call's attempts start from (`Routing.attempt`'s). */
export interface Start {
  /** The call the router itself runs in (an outer router's, else `outside`), read when the attempts start. */
  readonly outer: RouterCall
  /**
   * For a caller that runs the attempts in an uninterruptible region of its own (a stream, until its source is handed
   * out): gives them back the caller's interruptibility; the router's timer waits as the caller does.
   */
  readonly restore?: Restore | undefined
  /** A stream that broke after its first chunk: the deployment and the error the call goes on from. */
  readonly broken?: { readonly state: State; readonly error: LlmError } | undefined
}

/** One attempt under way: `chain`, whether a failure goes on to the next attempt; `claim`, a hedge's. */
interface Sending<A> {
  readonly state: State
  readonly now: number
  readonly chain: boolean
  readonly claim: ((value: A) => Effect.Effect<A>) | undefined
  readonly restore: Restore
  readonly probe: boolean
}

/**
 * One call's progress through its deployments; a class rather than closures, so nothing is allocated per call beyond
 * the instance. A stream keeps it after its first chunk, to restart on the next deployment when it breaks.
 */
export class Routing<A> implements Call, Onward {
  readonly core: Core
  readonly request: ChatRequest
  readonly sender: Sender<A>
  readonly clock: Clock.Clock
  readonly random: Random.Random
  readonly address: string
  readonly span: Tracer.Span | undefined
  readonly attempts: Array<Attempt> = []
  readonly tried: Array<State> = []
  readonly usedFallbacks: Array<Fallback> = []
  /** The deployments whose attempt is under way: the ones the call's deadline cuts, listed in its error. */
  readonly running: Array<State> = []
  minContext = 0
  last: { readonly state: State; readonly error: LlmError } | undefined = undefined
  members: ReadonlyArray<State>
  from: string
  /** The call's deadline (`Clock` milliseconds), set by `attempt`. */
  deadlineAt = Infinity
  /** What the attempts are told (`RouterCall`), set by `attempt`: the deadline, this call as where to go on. */
  call: RouterCall = outside
  /** `Start.restore` of the attempts under way. */
  restore: Restore | undefined = undefined
  /** The request's session, when the router keeps pins (`Options.affinity`). */
  readonly session: string | undefined
  /** Where the session's last call was answered, read by `attempt`: the first pick goes there when it is usable. */
  pin: Pin | undefined = undefined
  /** A stream continued mid-stream (`midStream: "continue"`): what it sent, for each attempt to go on from. */
  continuing: Continuation.Sent | undefined = undefined
  constructor(options: RoutingOptions<A>) {
    this.core = options.core
    this.request = options.request
    this.sender = options.sender
    this.clock = options.clock
    this.random = options.random
    this.span = options.span !== undefined && options.span.sampled ? options.span : undefined
    this.address = options.address === "" ? "every deployment" : options.address
    this.members = options.members
    this.from = options.address
    this.session = options.core.affinity === undefined ? undefined : options.request.session
  }

  // Picked at once: `Random` draws synchronously, so no effect is needed per draw. Only called while the call runs, so
  // the clock it reads is current.
  next(): Effect.Effect<A, LlmError> {
    return this.step(this.core.settings.drawsRandom ? this.random.nextDoubleUnsafe() : 0)
  }

  step(u: number): Effect.Effect<A, LlmError> {
    const now = this.clock.currentTimeMillisUnsafe()
    if (now >= this.deadlineAt) return Effect.fail(this.timedOut())
    const candidates = usable(this.members, this, now)
    if (candidates.length === 0) return this.noneUsable(now)
    const pinned = this.pin === undefined ? undefined : Affinity.pinnedAmong(this.pin, this.tried, candidates)
    const state = pinned ??
      (candidates.length === 1 ? candidates[0]! : candidates[this.core.pick(candidates, u, this.request)]!)
    this.tried.push(state)
    return this.core.settings.hedgeAfter === undefined
      ? this.attemptOn(state, now, true)
      : Hedge.hedged(this, state, now)
  }

  // No deployment usable now: a fallback for the last error, else a wait for the first deployment held back by a rate
  // limit when it frees within `maxRateLimitWait` (and the deadline), else the call fails.
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
   * One attempt at `state`. Its bookkeeping is entered and its settling installed in one uninterruptible step, so it is
   * settled however the attempt ends, interrupted included; the attempt itself, and (`chain`) the next one after a
   * failure, run as the caller does. `claim` (a hedge's) runs on success in the same region, so a success is never lost
   * to an interruption.
   */
  attemptOn(
    state: State,
    now: number,
    chain: boolean,
    claim?: (value: A) => Effect.Effect<A>
  ): Effect.Effect<A, LlmError> {
    return Effect.uninterruptibleMask((restore) => {
      const probe = enter(state, now)
      if (!probe) return this.traceAttempt({ state, now, chain, claim, restore, probe })
      // A breaker's probe goes only when its store grants it to this call.
      return Effect.flatMap(
        Breaker.claimProbe(state),
        (granted) =>
          granted ? this.traceAttempt({ state, now, chain, claim, restore, probe: true }) : this.refused(state, restore)
      )
    })
  }

  // A probe the store refused (another call or instance probes): the attempt is taken back and the call picks again.
  refused(state: State, restore: Restore): Effect.Effect<A, LlmError> {
    state.inFlight--
    state.requests--
    this.tried.pop()
    return restore(this.next())
  }

  // The attempt, in a span of its own when the call is traced (a stream's ends when the stream closes), then
  // the next attempt (`chain`) after a failure, or the answer.
  traceAttempt(sending: Sending<A>): Effect.Effect<A, LlmError> {
    const state = sending.state
    // Untraced, there is no call span: the attempt has none either.
    const settled = Telemetry.spannedWhen(this.span !== undefined, () => ({
      name: Telemetry.routerAttempt,
      parent: this.span,
      describe: Telemetry.describeAttempt(
        state.provider,
        state.model,
        this.tried.length,
        "llm_router.deployment",
        state.name
      ),
      handedOn: this.sender.held
    }), (span) => this.sendTo(sending, span))
    return Effect.matchCauseEffect(settled, {
      onFailure: (cause) => {
        const error = cause.reasons.find(Cause.isFailReason)?.error
        if (error === undefined) return Effect.failCause(cause)
        return sending.chain ? sending.restore(this.failed(state, error)) : Effect.fail(error)
      },
      onSuccess: (value) =>
        sending.claim !== undefined ? sending.claim(value) : Effect.succeed(this.answered(state, value))
    })
  }

  // What the attempt is told: the call's, a probe's one attempt, the attempt's span, a stream's learned limits;
  // with a session, the key it is pinned to on `state` and where to tell the key the attempt takes (`taken`).
  attemptCall(
    probe: boolean,
    span: Tracer.Span | undefined,
    state: State,
    taken: Affinity.TakenKey | undefined
  ): RouterCall {
    const call = this.call
    const limits = this.sender.held ? state.learned?.limits(() => this.elsewhere("TimeoutError")) : undefined
    const adjusted = (probe && !call.oneAttempt) || (span !== undefined && !call.inAttemptSpan) || limits !== undefined
      ? {
        ...call,
        oneAttempt: call.oneAttempt || probe,
        inAttemptSpan: call.inAttemptSpan || span !== undefined,
        limits: limits ?? call.limits
      }
      : call
    return taken === undefined ? adjusted : Affinity.pinnedCall(adjusted, this.pin, state.name, taken)
  }

  // `attemptOn`'s attempt, entered, under what the router tells it (`RouterCall`), then settled.
  sendTo(sending: Sending<A>, span: Tracer.Span | undefined): Effect.Effect<A, LlmError> {
    const { probe, restore, state } = sending
    const settings = this.core.settings
    const taken: Affinity.TakenKey | undefined = this.session === undefined ? undefined : { key: undefined }
    const send = (request: ChatRequest) => this.sender.send(state, request, this.restore, span)
    const continuing = this.continuing
    const attempt = continuing === undefined
      ? send(this.routed(state))
      : Continuation.send(this.routed(state), continuing, state.prefill, send, () => {
        state.prefill = false
      })
    const sent = Effect.provideService(
      Telemetry.under(attempt, span),
      RouterCall,
      this.attemptCall(probe, span, state, taken)
    )
    // Settled here, then the breaker's step goes to its store before the call goes on, so its next pick sees what the
    // store says.
    const heldUntil = state.limitedUntil
    this.running.push(state)
    return Effect.matchCauseEffect(restore(sent), {
      onFailure: (cause) => {
        const error = cause.reasons.find(Cause.isFailReason)?.error
        const now = this.clock.currentTimeMillisUnsafe()
        this.stopped(state, error === undefined && now >= this.deadlineAt)
        settleFailure(settings, state, now, error)
        const reported = Breaker.report(settings, state, probe, heldUntil, error)
        return reported === undefined ? Effect.failCause(cause) : Effect.andThen(reported, Effect.failCause(cause))
      },
      onSuccess: (value) => {
        const now = this.clock.currentTimeMillisUnsafe()
        this.stopped(state, false)
        settleSuccess(settings, state, { startMillis: sending.now, now, reply: value, held: this.sender.held })
        // With a session, it is pinned to `state` and the key the attempt took.
        const pinned = taken === undefined
          ? undefined
          : this.core.affinity!.pin(this.session!, { deployment: state.name, key: taken.key })
        const reported = Breaker.report(settings, state, probe, heldUntil, "success")
        const steps = reported === undefined
          ? pinned
          : pinned === undefined
          ? reported
          : Effect.andThen(pinned, reported)
        return steps === undefined ? Effect.succeed(value) : Effect.as(steps, value)
      }
    })
  }

  // An attempt no longer under way; one the deadline cut (interrupted past it) is listed as cut.
  stopped(state: State, cut: boolean): void {
    const at = this.running.indexOf(state)
    if (at >= 0) this.running.splice(at, 1)
    if (cut) this.attempts.push(this.cut(state))
  }

  // An attempt the call's deadline cut, as its error lists it.
  cut(state: State): Attempt {
    return attemptOf(
      state,
      new TimeoutError({
        provider: state.provider,
        model: state.model,
        timeout: this.core.settings.deadline,
        phase: "deadline",
        detail: "the call's deadline passed during this attempt"
      })
    )
  }

  // The answer, on the call's span: the deployment that gave it, the attempts, what a whole answer adds.
  answered(state: State, value: A): A {
    const span = this.span
    if (span === undefined) return value
    Telemetry.annotate(span, "llm_router.deployment", state.name)
    Telemetry.annotate(span, "llm_router.attempts", this.tried.length)
    if (this.sender.done !== undefined) this.sender.done(span, value)
    return value
  }

  /** A hedge's deployment at `at` (`hedge.ts`): the next usable one, if the deadline leaves time. */
  hedgeTarget(at: number): State | undefined {
    const candidates = at >= this.deadlineAt ? [] : usable(this.members, this, at)
    if (candidates.length === 0) return undefined
    const u = this.core.settings.drawsRandom ? this.random.nextDoubleUnsafe() : 0
    return candidates.length === 1 ? candidates[0] : candidates[this.core.pick(candidates, u, this.request)]
  }

  /** Lists an attempt that failed on `state` without the call going on from it. */
  listFailure(state: State, error: LlmError): void {
    this.attempts.push(attemptOf(state, error))
  }

  // Whether another deployment or a fallback is there to go to, were the last one tried to fail with `tag` now; read by
  // the `Llm` before it waits on the same deployment (`RouterCall.onward`).
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

  // The first unused fallback for `tag`: of the failed deployment, then of the address. No capacity (breakers open,
  // keys cooling, rate-limit holds) takes any: it says the address cannot answer now, not what the request asks.
  findFallback(deployment: string | undefined, tag: ErrorTag): Fallback | undefined {
    const from = this.from
    for (const name of deployment === undefined || deployment === from ? [from] : [deployment, from]) {
      for (const fallback of this.core.settings.fallbacks[name] ?? []) {
        if (!this.usedFallbacks.includes(fallback) && (tag === "NoCapacityError" || fallback.on.includes(tag))) {
          return fallback
        }
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
   * The call's attempts from here under the sooner of the router's own deadline and the outer call's: the first attempt
   * or, after a stream broke (`Start.broken`, when the deadline of its opening is long past), the next one the rules
   * allow. A timer bounds the attempts, whatever their `Llm` does (a decorator may wait).
   */
  attempt(start: Start): Effect.Effect<A, LlmError> {
    const now = this.clock.currentTimeMillisUnsafe()
    const outer = start.outer
    this.deadlineAt = Math.min(outer.deadline, now + this.core.settings.deadlineMillis)
    this.call = {
      deadline: this.deadlineAt,
      oneAttempt: outer.oneAttempt,
      onward: this,
      retryWait: this.core.settings.retryWaitMillis,
      inAttemptSpan: outer.inAttemptSpan,
      limits: outer.limits,
      key: undefined,
      tookKey: undefined
    }
    const restore = this.restore = start.restore
    const broken = start.broken
    const calls = broken !== undefined
      ? Effect.suspend(() => this.failed(broken.state, broken.error))
      : this.session === undefined
      ? Effect.suspend(() => this.next())
      : Effect.flatMap(this.core.affinity!.lookup(this.session), (pin) => (this.pin = pin, this.next()))
    // Bounded at the deadline itself (no bound when there is none): the watchdog reads it as a time on the Clock.
    const run = restore === undefined ? calls : Effect.uninterruptible(calls)
    const within = Number.isFinite(this.deadlineAt)
      ? bounded(run, until(this.deadlineAt, "deadline"), () => this.timedOut())
      : run
    return restore === undefined ? within : restore(within)
  }

  // The call's deadline error: every attempt, those it cut included.
  timedOut(): LlmError {
    const attempts = this.running.length === 0
      ? this.attempts
      : [...this.attempts, ...this.running.map((state) => this.cut(state))]
    return withAttempts(
      new TimeoutError({
        provider,
        model: this.address,
        timeout: this.core.settings.deadline,
        phase: "deadline",
        detail: "the call's deadline passed, every attempt and fallback included"
      }),
      attempts
    )
  }
}

/** What picking reads of a call in progress. */
export interface Call {
  /** The address as errors name it. */
  readonly address: string
  /** The deployments the call has tried already. */
  readonly tried: ReadonlyArray<State>
  /** A `ContextLengthError` fallback only goes to larger windows than this. */
  readonly minContext: number
}

/** Picks the index of one of `candidates` (two or more) from a uniform `u` in [0, 1). */
export type Pick = (candidates: ReadonlyArray<State>, u: number, request: ChatRequest) => number

/** Address (deployment, group or model name) -> deployments, in listing order (the order `priority` follows). */
export function addressesOf(states: ReadonlyArray<State>): ReadonlyMap<string, ReadonlyArray<State>> {
  const addresses = new Map<string, Array<State>>()
  function address(name: string, state: State) {
    const list = addresses.get(name)
    if (list === undefined) addresses.set(name, [state])
    else if (!list.includes(state)) list.push(state)
  }
  for (const state of states) {
    address(state.name, state)
    for (const group of state.groups) address(group, state)
    address(state.model, state)
  }
  return addresses
}

/** The strategy of `settings` as one function. */
export function picker(settings: Settings): Pick {
  return (candidates, u, request) => {
    switch (settings.strategy) {
      case "weighted":
        return weighted(candidates, u)
      // Fewest calls in flight per unit of weight; ties shared at random.
      case "least-busy":
        return lowest(candidates, u, (candidate) => candidate.inFlight / candidate.weight)
      case "lowest-latency":
        return lowestLatency(candidates, u, settings.exploration)
      // Lowest cost; ties shared at random.
      case "lowest-cost":
        return lowest(candidates, u, (state) =>
          state.price === undefined
            ? Infinity
            : Pricing.estimate(state.price, request, { defaultMaxTokens: settings.replyTokens }))
      // The first candidate in the order they were listed.
      case "priority":
        return 0
    }
  }
}

function isUsable(state: State, call: Call, now: number) {
  return !call.tried.includes(state) &&
    Breaker.isAvailable(state.breaker, now) &&
    state.limitedUntil <= now &&
    (call.minContext === 0 || (state.contextWindow ?? 0) > call.minContext)
}

// The members a call may try now: `members` itself when all of them are
// usable (the usual case, and nothing to allocate).
export function usable(members: ReadonlyArray<State>, call: Call, now: number): ReadonlyArray<State> {
  let i = 0
  while (i < members.length && isUsable(members[i]!, call, now)) i++
  if (i === members.length) return members
  const out = members.slice(0, i)
  for (i++; i < members.length; i++) if (isUsable(members[i]!, call, now)) out.push(members[i]!)
  return out
}

/** When the first of `members` held back only by a rate limit is usable again; `Infinity` when none is. */
export function firstUnheld(members: ReadonlyArray<State>, call: Call, now: number): number {
  let at = Infinity
  for (const state of members) {
    if (
      state.limitedUntil < at && isUsable(state, call, state.limitedUntil) && Breaker.isAvailable(state.breaker, now)
    ) {
      at = state.limitedUntil
    }
  }
  return at
}

/** Why `state` cannot take `call` at `now` (`isUsable` false): its breaker, its rate limit, its size, or tried. */
function heldBack(state: State, call: Call, now: number): string {
  if (call.tried.includes(state)) return "already tried"
  if (!Breaker.isAvailable(state.breaker, now)) return "its breaker is open after failures"
  if (state.limitedUntil > now) return "held back by its rate limit (its keys cooling, or the provider's Retry-After)"
  return `its context window is too small for ${call.minContext} tokens`
}

/** The error when none of `members` is usable: each one's reason, and when the first of them may be again. */
export function noneUsable(call: Call, members: ReadonlyArray<State>, now: number): NoCapacityError {
  let availableAt = Infinity
  for (const state of members) {
    if (call.tried.includes(state)) continue
    const breaker = state.breaker
    const free = Math.max(state.limitedUntil, breaker.state === "open" ? breaker.openUntil : now)
    if (free < availableAt) availableAt = free
  }
  const reasons = members.map((state) => `${state.name}: ${heldBack(state, call, now)}`).join("; ")
  return new NoCapacityError({
    provider,
    model: call.address,
    exhausted: "deployments",
    detail: `no deployment of ${call.address} is usable now (${reasons})`,
    ...(Number.isFinite(availableAt) && availableAt > now ? { availableAt } : {})
  })
}

// ---------------------------------------------------------------------------
// The picking rules.

/** Index by weight: each candidate's chance is its weight over the total. */
export function weighted(candidates: ReadonlyArray<Candidate>, u: number): number {
  let total = 0
  for (const candidate of candidates) total += candidate.weight
  let point = u * total
  for (let i = 0; i < candidates.length; i++) {
    point -= candidates[i]!.weight
    if (point < 0) return i
  }
  return candidates.length - 1
}

/** Picks uniformly among the indices where `score` is lowest. */
function lowest<C extends Candidate>(candidates: ReadonlyArray<C>, u: number, score: (candidate: C) => number): number {
  let best = Infinity
  let ties = 0
  for (const candidate of candidates) {
    const value = score(candidate)
    if (value < best) {
      best = value
      ties = 1
    } else if (value === best) ties++
  }
  let chosen = Math.floor(u * ties)
  for (let i = 0; i < candidates.length; i++) {
    if (score(candidates[i]!) === best && chosen-- === 0) return i
  }
  return 0
}

/**
 * Lowest mean latency, except that a share `exploration` of the picks goes to a candidate chosen uniformly, so a
 * deployment that was slow (or failing) and has recovered gets measured again. A candidate never measured counts as 0
 * ms, so each one is tried early.
 */
export function lowestLatency(candidates: ReadonlyArray<Candidate>, u: number, exploration: number): number {
  return u < exploration
    ? Math.min(candidates.length - 1, Math.floor((u / exploration) * candidates.length))
    : lowest(candidates, (u - exploration) / (1 - exploration), (candidate) => candidate.latencyMillis ?? 0)
}

/** The deployments `request`'s model names (every one, for none); `undefined` when it names nothing. */
export function membersOf(core: Core, request: ChatRequest): ReadonlyArray<State> | undefined {
  return request.model === undefined ? core.everyone : core.addresses.get(request.model)
}

/** The error of a request whose model names no deployment, group or model. */
export function unknownAddress(core: Core, request: ChatRequest) {
  return Effect.fail(
    new ModelNotFoundError({
      provider,
      model: request.model!,
      detail: `no deployment, group or model is named ${request.model}; known: ${[...core.addresses.keys()].join(", ")}`
    })
  )
}

/** The router's call span (a stream's handed on with the stream, which ends it when it closes). */
export function callSpan(
  core: Core,
  request: ChatRequest,
  operation: Telemetry.Operation,
  handedOn: boolean
): Telemetry.SpanOf<unknown> {
  // The address asked for, else the router's own model.
  const model = request.model ?? core.settings.model
  return {
    name: Telemetry.callName(operation, model),
    describe: Telemetry.describeCall(operation, provider, request.model === model ? request : { ...request, model }),
    call: true,
    handedOn
  }
}

/** What a call is made of, with the fiber's clock and random source (a seeded one reproduces every pick). */
export function routing<A>(
  core: Core,
  request: ChatRequest,
  members: ReadonlyArray<State>,
  sender: Sender<A>,
  traced: { readonly fiber: Fiber.Fiber<unknown, unknown>; readonly span: Tracer.Span | undefined }
): Routing<A> {
  return new Routing({
    core,
    request,
    address: request.model ?? core.settings.model ?? "",
    members,
    sender,
    clock: traced.fiber.getRef(Clock.Clock),
    random: traced.fiber.getRef(Random.Random),
    span: traced.span
  })
}

/** Runs a whole call (a chat, an embedding) under the deadline it inherits and the router's own. */
export function run<A>(
  core: Core,
  request: ChatRequest,
  sender: Sender<A>,
  operation: Telemetry.Operation
): Effect.Effect<A, LlmError> {
  return Effect.withFiber((fiber) => {
    const members = membersOf(core, request)
    if (members === undefined) return unknownAddress(core, request)
    const attempts = (span: Tracer.Span | undefined) =>
      routing(core, request, members, sender, { fiber, span }).attempt({ outer: fiber.getRef(RouterCall) })
    return Telemetry.spannedWhen(
      !Telemetry.untraced(fiber),
      () => callSpan(core, request, operation, false),
      attempts
    ) as Effect.Effect<A, LlmError>
  })
}
