/**
 * A router's breakers and rate-limit holds shared through a `Store`
 * (`Options.shared`): each deployment's breaker object stays the one the call
 * loop reads synchronously, a mirror of the breaker in Redis
 * (internal/store/breaker.ts). The transitions go to Redis, one script each,
 * and what it answers becomes the mirror: a failure that opens the breaker on
 * one instance opens it on all, and of the instances whose mirrors let a
 * probe go, only the one whose `send` Redis grants sends it. A refresh reads
 * every deployment's breaker from Redis every `refreshMillis`, so an instance
 * learns what the others did without calls of its own.
 *
 * A closed breaker with no failure seen costs nothing: no command goes out on
 * a success unless the mirror had something to clear. Without Redis (down, or
 * a command failed) each instance keeps its own breaker, as in memory: the
 * limits that must hold (limiter, key pool, budget) follow the store's
 * `onUnavailable`; a breaker only spares a failing deployment.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import type { LlmError } from "../../LlmError.js"
import type { OptionsError } from "../../OptionsError.js"
import type { Options } from "../../Router.js"
import * as Store from "../../Store.js"
import * as Breakers from "../store/breaker.js"
import * as Affinity from "./affinity.js"
import type { State } from "./deployment.js"
import type { Settings } from "./settings.js"

/** How often a router reads its deployments' shared breakers. */
const refreshMillis = 250

// The mirror takes what Redis answered, its times on the local clock.
const apply = (state: State, reply: Breakers.Reply, now: number): void => {
  const breaker = state.breaker
  breaker.state = reply.state
  breaker.openUntil = now + reply.openMillis
  breaker.probing = reply.probing
  if (reply.state !== "closed" && breaker.recent.length !== 0) breaker.recent.length = 0
  if (now + reply.heldMillis > state.limitedUntil) state.limitedUntil = now + reply.heldMillis
}

/** Runs a transition and mirrors its answer; without Redis, the local transition stands. */
const transition = (state: State, op: Breakers.Op, amount?: number): Effect.Effect<Breakers.Reply | undefined> =>
  Effect.matchEffect(state.shared!(op, amount), {
    onFailure: () => Effect.undefined,
    onSuccess: (reply) => Effect.map(Clock.currentTimeMillis, (now) => (apply(state, reply, now), reply))
  })

/**
 * Before a probe the mirror lets go: whether Redis grants it to this instance.
 * Refused (another instance probes, or reopened it), the mirror says so and the
 * attempt does not go. Without Redis the probe is this instance's.
 */
export const claimProbe = (state: State): Effect.Effect<boolean> =>
  Effect.map(transition(state, "send"), (reply) => reply === undefined || reply.granted)

/**
 * What `report` compares with: whether the mirror was closed with no failure, and the hold, before an attempt settled.
 */
export interface Before {
  readonly clear: boolean
  readonly heldUntil: number
}

export const before = (state: State): Before => ({
  clear: state.breaker.state === "closed" && state.breaker.recent.length === 0,
  heldUntil: state.limitedUntil
})

/**
 * After an attempt (`"success"`, or its error; undefined: interrupted), what
 * it changed: its verdict on the breaker (the local one already applied by
 * `settleSuccess` / `settleFailure`) and a hold it set. A success tells Redis
 * only when the mirror had something to clear, or it was the probe.
 */
export const report = (
  settings: Settings,
  state: State,
  probe: boolean,
  { clear, heldUntil }: Before,
  outcome: LlmError | "success" | undefined
): Effect.Effect<void> => {
  let verdict: Effect.Effect<unknown> = Effect.void
  if (outcome === "success") {
    if (probe || !clear) verdict = transition(state, "success")
  } else if (outcome !== undefined && settings.cooldownOn.has(outcome._tag)) {
    verdict = transition(state, "failure", probe ? 1 : 0)
  } else if (probe) {
    verdict = transition(state, "release")
  }
  if (state.limitedUntil <= heldUntil) return Effect.asVoid(verdict)
  return Effect.andThen(
    verdict,
    Effect.flatMap(Clock.currentTimeMillis, (now) => transition(state, "hold", Math.max(0, state.limitedUntil - now)))
  )
}

/** A stream's failure after its first chunk that counts against its deployment. */
export const reportStreamFailure = (settings: Settings, state: State, error: LlmError): Effect.Effect<void> =>
  settings.cooldownOn.has(error._tag) ? Effect.asVoid(transition(state, "failure", 0)) : Effect.void

/** A router's place in the store (`Options.shared`): its connection and key. */
export interface Place {
  readonly connection: Store.Connection
  readonly key: string
}

/** The store of `options.shared`, connected; undefined without `shared`. */
export const connect = (options: Options): Effect.Effect<Place | undefined, OptionsError, Scope.Scope> => {
  const shared = options.shared
  if (shared === undefined) return Effect.undefined
  const store = "redis" in shared.store ? Store.make(shared.store) : Effect.succeed(shared.store)
  return Effect.map(store, (connected) => ({ connection: connected.connection, key: shared.key ?? "router" }))
}

/** The breaker in the store of the deployment `name`. */
export const breakerOf = (place: Place, settings: Settings, name: string): Breakers.Breaker =>
  Breakers.make(place.connection, `${place.key}:${name}`, settings.cooldown)

/** The sessions' pins (`Options.affinity`): in the store when the router has one, else in memory; undefined: off. */
export const affinityOf = (
  place: Place | undefined,
  settings: Settings,
  names: ReadonlyArray<string>
): Affinity.Affinity | undefined => {
  const affinity = settings.affinity
  if (affinity === undefined) return undefined
  return place === undefined
    ? Affinity.memory(affinity.ttlMillis, affinity.maxSessions)
    : Affinity.shared(place.connection, `${place.key}:${routerId(names)}`, affinity.ttlMillis, names)
}

// Routers over the same deployments (one per instance) share their pins; routers of one process over different ones
// (a gateway's named routers) keep theirs apart, as in memory, so their counts add up.
const routerId = (names: ReadonlyArray<string>): string =>
  createHash("sha256").update(names.join("\n")).digest("base64url").slice(0, 16)

/** Reads every shared deployment's breaker into its mirror every `refreshMillis`, in the scope. */
export const refresh = (states: ReadonlyArray<State>): Effect.Effect<void, never, Scope.Scope> => {
  const shared = states.filter((state) => state.shared !== undefined)
  if (shared.length === 0) return Effect.void
  const once = Effect.forEach(shared, (state) => transition(state, "peek"), { discard: true })
  return Effect.asVoid(Effect.forkScoped(Effect.repeat(once, Schedule.spaced(refreshMillis))))
}
