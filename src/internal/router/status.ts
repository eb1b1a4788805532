/**
 * `Router.status`: every deployment's load in LLM-API-BalancedCall's shape
 * (`model-load`), plus the router's own fields, and the sums of
 * `system-load` and `system-capacity` over them.
 */
import * as Effect from "effect/Effect"
import * as Budget from "../../Budget.js"
import type * as KeyPool from "../../KeyPool.js"
import type * as RateLimiter from "../../RateLimiter.js"
import type { DeploymentLoad, Options, Status } from "../../Router.js"
import type { State } from "./deployment.js"

/** The status of a router over `states`, read from their key pools and limiters, the ledger and the budget. */
export const make = (options: Options, states: ReadonlyArray<State>): Effect.Effect<Status> =>
  Effect.clockWith((clock) =>
    Effect.map(
      Effect.all([
        Effect.forEach(states, (state) =>
          Effect.all([
            state.keyPool === undefined ? Effect.succeed(undefined) : state.keyPool.status,
            state.limiter === undefined ? Effect.succeed(undefined) : state.limiter.status
          ])),
        options.ledger === undefined ? Effect.succeed(undefined) : options.ledger.totals,
        options.budget === undefined ? Effect.succeed([]) : options.budget.status
      ]),
      ([snapshots, totals, limits]): Status => {
        const now = clock.currentTimeMillisUnsafe()
        const details: Record<string, DeploymentLoad> = {}
        let concurrency = 0
        let qps = 0
        let used = 0
        states.forEach((state, i) => {
          const [keys, limiter] = snapshots[i]!
          const spend = totals === undefined ? null : totals.byDeployment[state.name]?.cost ?? 0
          const load = deploymentLoad(state, keys, limiter, now, spend, limits)
          details[state.name] = load
          if (load.max === null) return
          if (load.type === "concurrency") concurrency += load.max
          else qps += load.max
          used += load.current
        })
        const total = concurrency + qps
        return {
          loadPercent: total === 0 ? 0 : Math.round((used / total) * 10_000) / 100,
          totalMax: { concurrency, qps },
          details
        }
      }
    )
  )

const deploymentLoad = (
  state: State,
  keys: ReadonlyArray<KeyPool.KeyStatus> | undefined,
  limiter: RateLimiter.Status | undefined,
  now: number,
  spend: number | null,
  limits: ReadonlyArray<Budget.LimitStatus>
): DeploymentLoad => {
  const keyCaps = keys?.map((key) => key.maxConcurrency)
  const keyCap = keyCaps !== undefined && keyCaps.length > 0 && keyCaps.every((cap) => cap !== undefined)
    ? keyCaps.reduce((sum: number, cap) => sum + cap!, 0)
    : undefined
  const concurrencyCap = limiter?.maxConcurrency ?? keyCap
  const rate = limiter !== undefined && Number.isFinite(limiter.refillRate) ? limiter.refillRate : undefined
  const qps = concurrencyCap === undefined && rate !== undefined
  const breaker = state.breaker
  return {
    type: qps ? "qps" : "concurrency",
    current: qps ? (now - state.secondStart < 1000 ? state.secondCount : 0) : state.inFlight,
    max: qps ? rate! : concurrencyCap ?? null,
    weight: state.weight,
    keys: (keys ?? []).map((key) => ({
      key: key.keyId,
      weight: key.weight,
      current: key.inFlight,
      max: key.maxConcurrency ?? null,
      coolingUntil: key.coolingUntil ?? null,
      disabled: key.disabled ?? null
    })),
    provider: state.provider,
    model: state.model,
    groups: state.groups,
    inFlight: state.inFlight,
    requests: state.requests,
    failures: state.failures,
    cooldown: {
      state: breaker.state === "open" && now >= breaker.openUntil ? "half-open" : breaker.state,
      until: breaker.state === "open" && now < breaker.openUntil ? breaker.openUntil : null,
      probing: breaker.state === "half-open" && breaker.probing,
      recentFailures: breaker.recent.length
    },
    hedges: { started: state.hedges, cancelled: state.hedgesCancelled },
    skippedEvents: state.skippedEvents,
    limitedUntil: state.limitedUntil > now ? state.limitedUntil : null,
    rateLimited: state.rateLimited,
    latencyMillis: state.latencyMillis === undefined ? null : Math.round(state.latencyMillis * 100) / 100,
    rateLimit: limiter ?? null,
    spend,
    budgets: limits.filter((limit) =>
      limit.scope === Budget.overall || limit.scope === state.name || state.groups.includes(limit.scope)
    )
  }
}
