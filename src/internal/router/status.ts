/**
 * `Router.status`: every deployment's load in LLM-API-BalancedCall's shape (`model-load`), plus the router's own
 * fields.
 */
import * as Effect from "effect/Effect"
import * as Budget from "../../Budget.js"
import type * as KeyPool from "../../KeyPool.js"
import type * as RateLimiter from "../../RateLimiter.js"
import type { DeploymentLoad, Options, Pins, Status } from "../../Router.js"
import * as Steps from "../steps.js"
import type { State } from "./deployment.js"

/** The status of a router over `states`: key pools and limiters, the ledger, the budget and the sessions' pins. */
export const make = (
  options: Options,
  states: ReadonlyArray<State>,
  affinity: Pins | undefined
): Effect.Effect<Status> =>
  Effect.clockWith((clock) =>
    Effect.map(
      Effect.all([
        Effect.forEach(states, (state) =>
          Effect.all([
            state.keyPool === undefined
              ? Effect.succeed(undefined)
              : Effect.flatMap(state.keyPool.status, (keys) => Steps.mapInSteps(keys, keyLoad)),
            state.limiter === undefined ? Effect.succeed(undefined) : state.limiter.status
          ])),
        options.ledger === undefined ? Effect.succeed(undefined) : options.ledger.totals,
        options.budget === undefined ? Effect.succeed([]) : options.budget.status,
        affinity === undefined ? Effect.succeed(undefined) : affinity.counts
      ]),
      ([snapshots, totals, limits, pins]): Status => {
        const now = clock.currentTimeMillisUnsafe()
        // Built by entries, never by assignment: a deployment's name is the configuration's, "__proto__" included.
        return statusOf(Object.fromEntries(states.map((state, i) => {
          const [keys, limiter] = snapshots[i]!
          const spend = totals === undefined ? null : Object.hasOwn(totals.byDeployment, state.name)
            ? totals.byDeployment[state.name]!.cost
            : 0
          const pinnedSessions = pins === undefined ? null : pins.get(state.name) ?? 0
          return [state.name, deploymentLoad(state, { keys, limiter, spend, pinnedSessions }, now, limits)]
        })))
      }
    )
  )

/** The load percent and bounded totals of `details`. */
export const statusOf = (details: Readonly<Record<string, DeploymentLoad>>): Status => {
  let concurrency = 0
  let qps = 0
  let used = 0
  for (const name in details) {
    const load = details[name]!
    if (load.max === null) continue
    if (load.type === "concurrency") concurrency += load.max
    else qps += load.max
    used += load.current
  }
  const total = concurrency + qps
  return {
    loadPercent: total === 0 ? 0 : Math.round((used / total) * 10_000) / 100,
    totalMax: { concurrency, qps },
    details
  }
}

const learnedOf = (state: State): DeploymentLoad["learnedLimits"] => {
  const learned = state.learned
  if (learned === undefined) return null
  // What it has learned itself: the initial first-token limit is no figure of its own.
  const firstToken = learned.learnedLimit("firstChunk")
  const idle = learned.learnedLimit("gap")
  return {
    firstTokenMillis: firstToken === undefined ? null : Math.round(firstToken),
    idleMillis: idle === undefined ? null : Math.round(idle),
    streams: learned.firstChunk.size
  }
}

const breakerRank = { closed: 0, "half-open": 1, open: 2 } as const

// Two figures either router may lack (`null`): the later, or the sum.
const laterOf = (a: number | null, b: number | null) => a === null ? b : b === null ? a : Math.max(a, b)
const sumOf = (a: number | null, b: number | null) => a === null ? b : b === null ? a : a + b

// The mean latency of both, each weighted by its calls.
const meanLatency = (a: DeploymentLoad, b: DeploymentLoad): number | null => {
  if (a.latencyMillis === null || b.latencyMillis === null) return a.latencyMillis ?? b.latencyMillis
  const calls = a.requests + b.requests
  if (calls === 0) return a.latencyMillis
  return Math.round(((a.latencyMillis * a.requests + b.latencyMillis * b.requests) / calls) * 100) / 100
}

const sameLimit = (a: Budget.LimitStatus, b: Budget.LimitStatus) =>
  a.scope === b.scope && a.limit === b.limit && a.period === b.period

/**
 * One deployment as two routers report it, over its one `Llm` (so one key pool and bucket, read from `a`): the calls
 * added up, the more open breaker.
 */
const addLoads = (a: DeploymentLoad, b: DeploymentLoad): DeploymentLoad => ({
  ...a,
  current: a.current + b.current,
  inFlight: a.inFlight + b.inFlight,
  requests: a.requests + b.requests,
  failures: a.failures + b.failures,
  cooldown: breakerRank[b.cooldown.state] > breakerRank[a.cooldown.state] ? b.cooldown : a.cooldown,
  hedges: { started: a.hedges.started + b.hedges.started, cancelled: a.hedges.cancelled + b.hedges.cancelled },
  skippedEvents: a.skippedEvents + b.skippedEvents,
  limitedUntil: laterOf(a.limitedUntil, b.limitedUntil),
  rateLimited: a.rateLimited + b.rateLimited,
  latencyMillis: meanLatency(a, b),
  spend: sumOf(a.spend, b.spend),
  pinnedSessions: sumOf(a.pinnedSessions, b.pinnedSessions),
  budgets: [...a.budgets, ...b.budgets.filter((limit) => !a.budgets.some((known) => sameLimit(known, limit)))]
})

/**
 * The status of several routers over the same deployments (each deployment's `Llm` built once and shared): per
 * deployment, the calls every router sent it counted together, its breaker the most open of the routers' (each keeps
 * its own).
 */
export const combine = (statuses: ReadonlyArray<Status>): Status => {
  const details = new Map<string, DeploymentLoad>()
  for (const status of statuses) {
    for (const [name, load] of Object.entries(status.details)) {
      const known = details.get(name)
      details.set(name, known === undefined ? load : addLoads(known, load))
    }
  }
  return statusOf(Object.fromEntries(details))
}

/** A key as a deployment's load shows it. */
function keyLoad(key: KeyPool.KeyStatus): KeyLoad {
  return {
    key: key.keyId,
    weight: key.weight,
    current: key.inFlight,
    max: key.maxConcurrency ?? null,
    coolingUntil: key.coolingUntil ?? null,
    disabled: key.disabled ?? null
  }
}

type KeyLoad = DeploymentLoad["keys"][number]

/** The sum of the keys' caps, when every key has one. */
function capOf(keys: ReadonlyArray<KeyLoad>): number | undefined {
  let sum = 0
  for (const key of keys) {
    if (key.max === null) return undefined
    sum += key.max
  }
  return keys.length > 0 ? sum : undefined
}

/** What `make` read for one deployment: its keys' loads, its limiter's status, and its spend in the ledger. */
interface Readings {
  readonly keys: ReadonlyArray<KeyLoad> | undefined
  readonly limiter: RateLimiter.Status | undefined
  /** `null` without a ledger. */
  readonly spend: number | null
  /** `null` without affinity. */
  readonly pinnedSessions: number | null
}

const deploymentLoad = (
  state: State,
  readings: Readings,
  now: number,
  limits: ReadonlyArray<Budget.LimitStatus>
): DeploymentLoad => {
  const { keys, limiter, pinnedSessions, spend } = readings
  const concurrencyCap = limiter?.maxConcurrency ?? (keys === undefined ? undefined : capOf(keys))
  const rate = limiter !== undefined && Number.isFinite(limiter.refillRate) ? limiter.refillRate : undefined
  const qps = concurrencyCap === undefined && rate !== undefined
  const breaker = state.breaker
  return {
    type: qps ? "qps" : "concurrency",
    current: qps ? (now - state.secondStart < 1000 ? state.secondCount : 0) : state.inFlight,
    max: qps ? rate! : concurrencyCap ?? null,
    weight: state.weight,
    keys: keys ?? [],
    provider: state.provider,
    endpoint: state.endpoint ?? null,
    model: state.model,
    groups: state.groups,
    inFlight: state.inFlight,
    requests: state.requests,
    failures: state.failures,
    cooldown: {
      state: breaker.state === "open" && now >= breaker.openUntil ? "half-open" : breaker.state,
      until: breaker.state === "open" && now < breaker.openUntil ? breaker.openUntil : null,
      probing: breaker.state === "half-open" && breaker.probing,
      recentFailures: breaker.failures
    },
    hedges: { started: state.hedges, cancelled: state.hedgesCancelled },
    skippedEvents: state.skippedEvents,
    limitedUntil: state.limitedUntil > now ? state.limitedUntil : null,
    rateLimited: state.rateLimited,
    latencyMillis: state.latencyMillis === undefined ? null : Math.round(state.latencyMillis * 100) / 100,
    learnedLimits: learnedOf(state),
    rateLimit: limiter ?? null,
    spend,
    pinnedSessions,
    budgets: limits.filter((limit) =>
      limit.scope === Budget.overall || limit.scope === state.name || state.groups.includes(limit.scope)
    )
  }
}
