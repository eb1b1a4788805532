/**
 * A deployment's circuit breaker: its rules, which the memory `Router.BreakerStore` runs (the Redis one runs the same
 * in Lua, `stores/redis/breaker.ts`), and the mirror of it a router reads synchronously on its hot path, which only
 * ever takes what the store answers.
 *
 * closed --(N failures within the window)--> open --(period over)--> half-open
 * half-open: one request (the probe) is let through, as one attempt of the deployment's `Llm`
 * (`RouterCall.oneAttempt`); its success closes the breaker, its failure opens it again for another period, and a
 * probe that is interrupted leaves it half-open for the next request.
 *
 * Each transition is one step of the store: a failure that opens the breaker in a shared store opens it for every
 * router on it, and of the routers whose mirrors let a probe go, only the one the store grants `send` sends it. A
 * refresh every `refreshMillis` tells a router what the others on its store did without calls of its own. A closed
 * breaker with no failure seen costs nothing: no step runs on a success unless the mirror had something to clear, nor
 * on a send unless a probe is due.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { LlmError } from "../../LlmError.js"
import type { BreakerReply, BreakerState } from "../../Router.js"
import type { State } from "./deployment.js"
import type * as RouterSettings from "./settings.js"

// ---------------------------------------------------------------------------
// The rules, on a breaker the memory store keeps and on the mirror a router reads

export interface Settings {
  /** Failures within `windowMillis` that open the breaker. */
  readonly failures: number
  readonly windowMillis: number
  /** How long the breaker stays open before a probe is let through. */
  readonly periodMillis: number
}

/** A breaker as the router reads it: the last reply of its store, its times on this process' clock. */
export interface Mirror {
  state: BreakerState
  /** While open: when the probe may go. */
  openUntil: number
  /** While half-open: whether the probe is out. */
  probing: boolean
  /** Failures counted in the window while closed. */
  failures: number
}

export function mirror(): Mirror {
  return { state: "closed", openUntil: 0, probing: false, failures: 0 }
}

/** Whether a request may be sent now, as the mirror says. */
export function isAvailable(breaker: Mirror, now: number): boolean {
  return breaker.state === "closed" || probeDue(breaker, now)
}

/** Whether a request sent now would be the probe, which the store has to grant (on the mirror or the store's own). */
export function probeDue(breaker: Pick<Mirror, "state" | "openUntil" | "probing">, now: number): boolean {
  return breaker.state === "half-open" ? !breaker.probing : breaker.state === "open" && now >= breaker.openUntil
}

/** Whether the mirror is closed with no failure counted: a success then has nothing to tell the store. */
export function isClear(breaker: Mirror): boolean {
  return breaker.state === "closed" && breaker.failures === 0
}

/** A breaker as the memory store keeps it, on epoch milliseconds read from `Clock`. */
export interface Breaker {
  state: BreakerState
  /** Times of the failures counted while closed, oldest first. */
  readonly recent: Array<number>
  /** While open: when the probe may go. */
  openUntil: number
  /** While half-open: whether the probe is out. */
  probing: boolean
  /** Until when a rate limit holds the deployment back. */
  heldUntil: number
}

export function make(): Breaker {
  return { state: "closed", recent: [], openUntil: 0, probing: false, heldUntil: 0 }
}

/** What the breaker says now, its times from `now`; `granted`: a `send`'s answer. */
export function replyOf(breaker: Breaker, now: number, granted: boolean): BreakerReply {
  return {
    state: breaker.state,
    openMillis: breaker.state === "open" ? Math.max(0, breaker.openUntil - now) : 0,
    probing: breaker.state === "half-open" && breaker.probing,
    failures: breaker.state === "closed" ? breaker.recent.length : 0,
    heldMillis: Math.max(0, breaker.heldUntil - now),
    granted
  }
}

/** An attempt goes out: grants it unless the breaker is open, or half-open with its probe out (then takes it). */
export function send(breaker: Breaker, now: number): boolean {
  if (breaker.state === "closed") return true
  if (!probeDue(breaker, now)) return false
  breaker.state = "half-open"
  breaker.probing = true
  return true
}

export function success(breaker: Breaker): void {
  breaker.state = "closed"
  breaker.recent.length = 0
  breaker.probing = false
}

function open(breaker: Breaker, now: number, settings: Settings): void {
  breaker.state = "open"
  breaker.openUntil = now + settings.periodMillis
  breaker.recent.length = 0
  breaker.probing = false
}

/** A failure that counts against the deployment; `probe`: the probe's own. */
export function failure(breaker: Breaker, now: number, settings: Settings, probe: boolean): void {
  if (probe || breaker.state === "half-open") return open(breaker, now, settings)
  if (breaker.state === "open") return
  const recent = breaker.recent
  recent.push(now)
  let stale = 0
  while (stale < recent.length && recent[stale]! <= now - settings.windowMillis) stale++
  if (stale > 0) recent.splice(0, stale)
  if (recent.length >= settings.failures) open(breaker, now, settings)
}

/** A probe that ended with no verdict on the deployment (interrupted, or a failure that is the caller's). */
export function release(breaker: Breaker): void {
  if (breaker.state === "half-open") breaker.probing = false
}

/** A rate limit holds the deployment back for `millis` more, unless it is held longer already. */
export function hold(breaker: Breaker, now: number, millis: number): void {
  breaker.heldUntil = Math.max(breaker.heldUntil, now + millis)
}

// ---------------------------------------------------------------------------
// A router's steps over its store, each answer taken by the mirror

/** How often a router reads its deployments' breakers from their store. */
const refreshMillis = 250

// The mirror takes what the store answered, its times on the local clock.
function apply(state: State, reply: BreakerReply, now: number): void {
  const breaker = state.breaker
  breaker.state = reply.state
  breaker.openUntil = now + reply.openMillis
  breaker.probing = reply.probing
  breaker.failures = reply.failures
  if (now + reply.heldMillis > state.limitedUntil) state.limitedUntil = now + reply.heldMillis
}

/** Runs a step of the store and mirrors its answer. */
function mirrored(state: State, step: Effect.Effect<BreakerReply>): Effect.Effect<BreakerReply> {
  return Effect.flatMap(
    step,
    (reply) => Effect.map(Clock.currentTimeMillis, (now) => (apply(state, reply, now), reply))
  )
}

/**
 * Whether the store grants this call the probe the mirror lets go (another may probe); refused, the attempt does not
 * go.
 */
export function claimProbe(state: State): Effect.Effect<boolean> {
  return Effect.map(mirrored(state, state.store.send), (reply) => reply.granted)
}

/** Whether `error` counts against its deployment's breaker. */
export function counts(settings: RouterSettings.Settings, error: LlmError): boolean {
  // A shared store away says nothing of the deployment's health: no breaker opens on it.
  return settings.cooldownOn.has(error._tag) && !(error._tag === "NoCapacityError" && error.storeUnavailable === true)
}

/**
 * After an attempt (undefined: interrupted), what it tells the store: its verdict on the breaker, and a hold it set
 * (`limitedUntil` past `heldUntil`, its value when the attempt started). Undefined: nothing to tell, the hot path of a
 * healthy deployment.
 */
export function report(
  settings: RouterSettings.Settings,
  state: State,
  probe: boolean,
  heldUntil: number,
  outcome: LlmError | "success" | undefined
): Effect.Effect<unknown> | undefined {
  const store = state.store
  const verdict = outcome === "success"
    ? probe || !isClear(state.breaker) ? store.success : undefined
    : outcome !== undefined && counts(settings, outcome)
    ? store.failure(probe)
    : probe
    ? store.release
    : undefined
  const held = holdStep(state, heldUntil)
  const steps = verdict === undefined ? held : held === undefined ? verdict : Effect.andThen(verdict, held)
  return steps === undefined ? undefined : mirrored(state, steps)
}

// The store's step for a hold set past `heldUntil` (the deployment's `limitedUntil` when it was read); undefined: none.
function holdStep(state: State, heldUntil: number): Effect.Effect<BreakerReply> | undefined {
  return state.limitedUntil > heldUntil
    ? Effect.flatMap(Clock.currentTimeMillis, (now) => state.store.hold(Math.max(0, state.limitedUntil - now)))
    : undefined
}

/**
 * A hold a stream set after its first chunk (its last chunk's rate-limit headers), told to the store as `report` tells
 * an attempt's, so every router on the store holds the deployment back.
 */
export function reportHold(state: State, heldUntil: number): Effect.Effect<unknown> | undefined {
  const held = holdStep(state, heldUntil)
  return held === undefined ? undefined : mirrored(state, held)
}

/** A stream's failure after its first chunk that counts against its deployment; undefined: one that does not. */
export function reportStreamFailure(
  settings: RouterSettings.Settings,
  state: State,
  error: LlmError
): Effect.Effect<unknown> | undefined {
  return counts(settings, error) ? mirrored(state, state.store.failure(false)) : undefined
}

/**
 * Reads every deployment's breaker into its mirror every `refreshMillis`: for stores other routers may write (a
 * router's own memory store changes only by its own steps, whose answers its mirrors take already).
 */
export function refresh(states: ReadonlyArray<State>): Effect.Effect<void, never, Scope.Scope> {
  const once = Effect.forEach(states, (state) => mirrored(state, state.store.peek), { discard: true })
  return Effect.asVoid(Effect.forkScoped(Effect.repeat(once, Schedule.spaced(refreshMillis))))
}
