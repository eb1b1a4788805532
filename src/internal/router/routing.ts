/**
 * The call loop: one call tries its address's deployments, then its
 * fallbacks, until one succeeds, all under one deadline.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type Attempt, type LlmError, ModelNotFoundError, TimeoutError, withAttempts } from "../../LlmError.js"
import type { ErrorTag, Fallback } from "../../Router.js"
import * as Deadline from "../deadline.js"
import { OneAttempt } from "../oneAttempt.js"
import { enter, settleFailure, settleSuccess, type State } from "./deployment.js"
import { type Call, noneUsable, type Pick, usable } from "./picking.js"
import { provider, type Settings } from "./settings.js"

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

/** One attempt at a deployment: the request with the deployment's model. */
export type Send<A> = (state: State, request: ChatRequest) => Effect.Effect<A, LlmError>

/** Gives an effect back the interruptibility of a caller that runs in an uninterruptible region. */
export type Restore = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

// One call's progress through its deployments. A class rather than closures:
// nothing is allocated per call beyond the instance.
class Routing<A> implements Call {
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
  constructor(
    readonly core: Core,
    readonly request: ChatRequest,
    address: string,
    members: ReadonlyArray<State>,
    readonly send: Send<A>,
    readonly held: boolean,
    readonly clock: Clock.Clock,
    /** The fiber's `Random`: a seeded one reproduces every pick. */
    readonly random: Random.Random
  ) {
    this.address = address === "" ? "every deployment" : address
    this.members = members
    this.from = address
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
    if (candidates.length === 0) {
      return this.fallBack(this.last?.state, this.last?.error ?? noneUsable(this, this.members, now))
    }
    const state = candidates.length === 1 ? candidates[0]! : candidates[this.core.pick(candidates, u, this.request)]!
    this.tried.push(state)
    const settings = this.core.settings
    // The attempt's bookkeeping is entered and its settling installed in one
    // uninterruptible step, so it is settled however the attempt ends,
    // interrupted included; the attempt itself, and the next one after a
    // failure, run as the caller does. A breaker's probe is one attempt.
    return Effect.uninterruptibleMask((restore) => {
      const probe = enter(state, now)
      const sent = this.send(state, this.routed(state))
      return Effect.matchCauseEffect(restore(probe ? Effect.provideService(sent, OneAttempt, true) : sent), {
        onFailure: (cause) => {
          const error = cause.reasons.find(Cause.isFailReason)?.error
          settleFailure(settings, state, probe, this.clock.currentTimeMillisUnsafe(), error)
          return error === undefined ? Effect.failCause(cause) : restore(this.failed(state, error))
        },
        onSuccess: (value) => {
          settleSuccess(settings, state, now, this.clock.currentTimeMillisUnsafe(), value, this.held)
          return Effect.succeed(value)
        }
      })
    })
  }

  // The request as the deployment gets it: with its model.
  routed(state: State): ChatRequest {
    return this.request.model === state.model ? this.request : { ...this.request, model: state.model }
  }

  failed(state: State, error: LlmError): Effect.Effect<A, LlmError> {
    this.attempts.push({ deployment: state.name, error: error._tag, message: error.message })
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
    if (fallback === undefined) return Effect.fail(this.attempts.length === 0 ? error : withAttempts(error, this.attempts))
    this.usedFallbacks.push(fallback)
    if (error._tag === "ContextLengthError") {
      this.minContext = Math.max(this.minContext, failed?.contextWindow ?? error.contextWindow ?? 0)
    }
    this.from = fallback.to
    this.members = this.core.addresses.get(fallback.to)!
    return this.next()
  }

  timedOut(): LlmError {
    return withAttempts(
      new TimeoutError({
        provider,
        model: this.address,
        timeout: this.core.settings.deadline,
        detail: "the call's deadline passed, every attempt and fallback included"
      }),
      this.attempts
    )
  }
}

const unknownAddress = (core: Core, name: string) =>
  Effect.fail(
    new ModelNotFoundError({
      provider,
      model: name,
      detail: `no deployment, group or model is named ${name}; known: ${[...core.addresses.keys()].join(", ")}`
    })
  )

/**
 * Runs a call under the deadline, with the fiber's clock and random source.
 * The deadline is the sooner of the router's own and the one the call runs
 * under (a router above this one), and each attempt runs under it
 * (`Deadline.CallDeadline`); it is checked between attempts. When a
 * deployment may not keep it, a timer bounds the call too. `restore`: the
 * caller runs the call in an uninterruptible region of its own (a stream,
 * until its source is handed out), and the timer waits as the caller does.
 */
export const run = <A>(
  core: Core,
  request: ChatRequest,
  send: Send<A>,
  held: boolean,
  restore?: Restore
): Effect.Effect<A, LlmError> =>
  Effect.withFiber((fiber) => {
    const name = request.model ?? core.settings.model ?? ""
    const members = request.model === undefined ? core.everyone : core.addresses.get(request.model)
    if (members === undefined) return unknownAddress(core, name)
    const clock = fiber.getRef(Clock.Clock)
    const routing = new Routing(core, request, name, members, send, held, clock, fiber.getRef(Random.Random))
    const inherited = fiber.getRef(Deadline.CallDeadline)
    routing.deadlineAt = Math.min(inherited, clock.currentTimeMillisUnsafe() + core.settings.deadlineMillis)
    if (core.keepsDeadlines) return Effect.provideService(routing.next(), Deadline.CallDeadline, routing.deadlineAt)
    const calls = Effect.provideService(Effect.suspend(() => routing.next()), Deadline.CallDeadline, routing.deadlineAt)
    const bounded = Deadline.within(
      restore === undefined ? calls : Effect.uninterruptible(calls),
      core.settings.deadline,
      inherited,
      () => routing.timedOut()
    )
    return restore === undefined ? bounded : restore(bounded)
  })
