/**
 * The gateway's live dashboard: `GET /dashboard`, one HTML page that carries no data (`page.ts`), and `GET
 * /dashboard/data`, the JSON it polls every second (an admin path): the routers' status with the live figures
 * (`observe/liveStats.ts`), an entry per deployment, and the budget of every budgeted key the caller may read
 * (`keys.read`, docs/identity.md; a viewer sees none). With a database the page also charts spend over time, from the
 * request log through `GET /admin/spend` (`admin/spend.ts`).
 */
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Router from "../../../../Router.js"
import type { KeyBudget } from "../../access/authentication.js"
import * as LiveStats from "../liveStats.js"
import { page } from "./page.js"

/** One key of a deployment, masked. */
export interface KeyData {
  readonly key: string
  readonly current: number
  readonly max: number | null
  /** Epoch milliseconds when its cooldown ends, while cooling down. */
  readonly coolingUntil: number | null
  /** Why it is disabled, when it is. */
  readonly disabled: string | null
}

/** One deployment's figures. */
export interface DeploymentData {
  readonly name: string
  readonly breaker: "closed" | "open" | "half-open"
  readonly inFlight: number
  /** Attempts since the start, and those that failed. */
  readonly requests: number
  readonly failures: number
  /** Attempts a second over the last seconds. */
  readonly requestRate: number
  /** The share of those attempts that failed (0 to 1), `null` without any. */
  readonly errorRate: number | null
  /** Milliseconds, over its latest answers; `null` before the first. */
  readonly latency: LiveStats.Quantiles | null
  readonly firstToken: LiveStats.Quantiles | null
  /** Its streams' learned limits (`Router.Options.learnedLimits`), each `null` until learned; `null` when off. */
  readonly learnedLimits: { readonly firstTokenMillis: number | null; readonly idleMillis: number | null } | null
  /** US dollars of its priced replies so far. */
  readonly cost: number
  /** Sessions pinned to it (`Router.Options.affinity`); `null` when its router keeps none. */
  readonly pinnedSessions: number | null
  readonly keys: ReadonlyArray<KeyData>
}

/** A key's budget: US dollars of its period, spent, held by calls in flight, and left. */
export interface BudgetData {
  readonly key: string
  /** Its team's id, and its name (`null` for a team deleted since). */
  readonly team: string | null
  readonly teamName: string | null
  readonly limit: number
  /** `"month"`, or the period's length. */
  readonly period: string
  readonly spent: number
  readonly reserved: number
  readonly left: number
  /** Epoch milliseconds when the period renews. */
  readonly periodEnd: number
}

/** What `GET /dashboard/data` answers. */
export interface Data {
  /** Epoch milliseconds of the reading. */
  readonly now: number
  readonly loadPercent: number
  readonly deployments: ReadonlyArray<DeploymentData>
  readonly budgets: ReadonlyArray<BudgetData>
}

const budgetData = ({ key, status, team }: KeyBudget, teamName: Sources["teamName"]): BudgetData => ({
  key,
  team: team ?? null,
  teamName: team === undefined ? null : teamName(team) ?? null,
  limit: status.limit,
  period: status.period,
  spent: status.spent,
  reserved: status.reserved,
  left: Math.max(0, status.limit - status.spent - status.reserved),
  periodEnd: status.periodEnd
})

/**
 * The dashboard's data from the router's `status`, the live figures and the keys' budgets shown (their teams named by
 * `teamName`), at `now` (Clock milliseconds).
 */
export const data = (
  status: Router.Status,
  stats: LiveStats.LiveStats,
  budgets: ReadonlyArray<KeyBudget>,
  teamName: Sources["teamName"],
  now: number
): Data => {
  const rates = stats.rates.read(status.details, now)
  const deployments: Array<DeploymentData> = []
  for (const name in status.details) {
    const load = status.details[name]!
    // The live figures are kept for every deployment of the status read at start.
    const recorded = stats.recorded(name)!
    const rate = rates.get(name)!
    deployments.push({
      name,
      breaker: load.cooldown.state,
      inFlight: load.inFlight,
      requests: load.requests,
      failures: load.failures,
      requestRate: rate.requests,
      errorRate: rate.errors,
      latency: LiveStats.quantiles(recorded.latency),
      firstToken: LiveStats.quantiles(recorded.firstToken),
      learnedLimits: load.learnedLimits === null
        ? null
        : { firstTokenMillis: load.learnedLimits.firstTokenMillis, idleMillis: load.learnedLimits.idleMillis },
      cost: recorded.cost,
      pinnedSessions: load.pinnedSessions,
      keys: load.keys.map((key) => ({
        key: key.key,
        current: key.current,
        max: key.max,
        coolingUntil: key.coolingUntil,
        disabled: key.disabled
      }))
    })
  }
  return {
    now,
    loadPercent: status.loadPercent,
    deployments,
    budgets: budgets.map((budget) => budgetData(budget, teamName))
  }
}

/** A gateway's dashboard: the live figures its requests feed, and its data's answer. */
export interface Dashboard {
  readonly stats: LiveStats.LiveStats
  /** `GET /dashboard/data`'s answer (the route checks its caller), with the budgets `shown` lets the caller read. */
  readonly data: (shown: (budget: KeyBudget) => boolean) => Effect.Effect<HttpServerResponse.HttpServerResponse>
}

/** What the dashboard reads. */
export interface Sources {
  /** The routers' status. */
  readonly status: Effect.Effect<Router.Status>
  /** Every budgeted key's budget (`Auth.budgets`); keys made at run time join here through the same `KeyBudget`. */
  readonly budgets: Effect.Effect<ReadonlyArray<KeyBudget>>
  /** A team's name, by its id (none without a database, or once the team is deleted). */
  readonly teamName: (id: string) => string | undefined
  /** Clock milliseconds. */
  readonly now: () => number
}

/** The dashboard over its sources; its deployments read once, at start. */
export const make = ({ budgets, now, status, teamName }: Sources): Effect.Effect<Dashboard> =>
  Effect.map(status, (initial) => {
    const named = Object.entries(initial.details).map(([name, load]) => ({
      name,
      provider: load.provider,
      model: load.model
    }))
    const stats = LiveStats.makeLiveStats(named, now())
    return {
      stats,
      data: (shown) =>
        Effect.map(Effect.all([status, budgets]), ([current, keyBudgets]) =>
          HttpServerResponse.text(
            JSON.stringify(data(current, stats, keyBudgets.filter(shown), teamName, now())),
            { contentType: "application/json", headers: { "cache-control": "no-store" } }
          ))
    }
  })

// The page runs its one inline script and style, reaches only its own origin, and is framed by no other page
// (it has a form for the admin key).
const pageHeaders = {
  "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache"
}

/** `GET /dashboard`. */
export const pageResponse = HttpServerResponse.text(page, {
  contentType: "text/html; charset=utf-8",
  headers: pageHeaders
})
