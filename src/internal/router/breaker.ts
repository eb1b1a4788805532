/**
 * A deployment's breaker over its `Router.BreakerStore`: the breaker object of each deployment is the one the call
 * loop reads synchronously, a mirror of the breaker in the store that takes only what the store answers. Each
 * transition is one step of the store (memory: `stores/memory.ts`; Redis: one script each, `store/breaker.ts`): a
 * failure that opens the breaker in a shared store opens it for every router on it, and of the routers whose mirrors
 * let a probe go, only the one whose `send` the store grants sends it. A refresh reads every deployment's breaker
 * every `refreshMillis`, so a router learns what the others on its store did without calls of its own.
 *
 * A closed breaker with no failure seen costs nothing: no step runs on a success unless the mirror had something to
 * clear, and none on a send unless a probe is due.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { LlmError } from "../../LlmError.js"
import type { BreakerReply } from "../../Router.js"
import * as Cooldown from "./cooldown.js"
import type { State } from "./deployment.js"
import type { Settings } from "./settings.js"

/** How often a router reads its deployments' breakers from their store. */
const refreshMillis = 250

// The mirror takes what the store answered, its times on the local clock.
const apply = (state: State, reply: BreakerReply, now: number): void => {
  const breaker = state.breaker
  breaker.state = reply.state
  breaker.openUntil = now + reply.openMillis
  breaker.probing = reply.probing
  breaker.failures = reply.failures
  if (now + reply.heldMillis > state.limitedUntil) state.limitedUntil = now + reply.heldMillis
}

/** Runs a step of the store and mirrors its answer. */
const mirrored = (state: State, step: Effect.Effect<BreakerReply>): Effect.Effect<BreakerReply> =>
  Effect.flatMap(step, (reply) => Effect.map(Clock.currentTimeMillis, (now) => (apply(state, reply, now), reply)))

/**
 * Before a probe the mirror lets go (`Cooldown.probeDue`): whether the store grants it to this call. Refused (another
 * call or instance probes, or it opened again), the mirror says so and the attempt does not go.
 */
export const claimProbe = (state: State): Effect.Effect<boolean> =>
  Effect.map(mirrored(state, state.store.send), (reply) => reply.granted)

/** Whether `error` counts against its deployment's breaker. */
export const counts = (settings: Settings, error: LlmError): boolean =>
  // A shared store away says nothing of the deployment's health: no breaker opens on it.
  settings.cooldownOn.has(error._tag) && !(error._tag === "NoCapacityError" && error.storeUnavailable === true)

/**
 * After an attempt (`"success"`, or its error; undefined: interrupted), what it tells the store: its verdict on the
 * breaker, and a hold it set (the deployment's `limitedUntil` past `heldUntil`, what it was when the attempt
 * started). A success tells it only when the mirror had something to clear, or it was the probe. Undefined: nothing
 * to tell, the hot path of a healthy deployment.
 */
export const report = (
  settings: Settings,
  state: State,
  probe: boolean,
  heldUntil: number,
  outcome: LlmError | "success" | undefined
): Effect.Effect<unknown> | undefined => {
  const store = state.store
  const verdict = outcome === "success"
    ? probe || !Cooldown.isClear(state.breaker) ? store.success : undefined
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
const holdStep = (state: State, heldUntil: number): Effect.Effect<BreakerReply> | undefined =>
  state.limitedUntil > heldUntil
    ? Effect.flatMap(Clock.currentTimeMillis, (now) => state.store.hold(Math.max(0, state.limitedUntil - now)))
    : undefined

/**
 * A hold a stream set after its first chunk (its last chunk's rate-limit headers: the deployment's `limitedUntil`
 * past `heldUntil`, what it was before), told to the store as `report` tells an attempt's, so every router on the
 * store holds the deployment back. Undefined: no hold was set.
 */
export const reportHold = (state: State, heldUntil: number): Effect.Effect<unknown> | undefined => {
  const held = holdStep(state, heldUntil)
  return held === undefined ? undefined : mirrored(state, held)
}

/** A stream's failure after its first chunk that counts against its deployment; undefined: one that does not. */
export const reportStreamFailure = (
  settings: Settings,
  state: State,
  error: LlmError
): Effect.Effect<unknown> | undefined =>
  counts(settings, error) ? mirrored(state, state.store.failure(false)) : undefined

/**
 * Reads every deployment's breaker into its mirror every `refreshMillis`, in the scope: for stores other routers may
 * write (a router's own memory store changes only by its own steps, whose answers its mirrors take already).
 */
export const refresh = (states: ReadonlyArray<State>): Effect.Effect<void, never, Scope.Scope> => {
  const once = Effect.forEach(states, (state) => mirrored(state, state.store.peek), { discard: true })
  return Effect.asVoid(Effect.forkScoped(Effect.repeat(once, Schedule.spaced(refreshMillis))))
}
