/**
 * What a gateway key keeps across reloads, by its name: its rate limiter and its budget, so a reload neither refills
 * a key's bucket nor gives back what it has spent.
 *
 * A limiter is shared by the generations that give the key the same rate limit (an `RcMap`, alive for as long as
 * one of them is); a key whose rate limit changed gets a new, full one. A budget is kept by the generation serving it
 * and handed on at a reload: the same budget (spend and reservations of calls in flight) while the key's limit and
 * period are the same; otherwise a new one, charged at once, in memory, what the one it replaces has spent and holds
 * for calls in flight in its current period, so a budget changed by a reload is never passed either. With a store,
 * spend is the store's (`gateway-key/<name>`), whichever budget reads it; with a record as well (the gateway's
 * database, `../sql/spendRecord.ts`), each budget records what it charges, and its part of the store's spend is rebuilt
 * from the record when the store has lost it. A key removed by a reload keeps its budget for the configurations after
 * it, should it come back.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import * as Budget from "../../../Budget.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import type * as Store from "../../../Store.js"
import { periodName } from "../../budget/window.js"

/** A key's rate limit: bursts of `capacity` requests, `refillRate` a second after. */
export interface RateLimit {
  readonly capacity: number
  readonly refillRate: number
}

/** A key's budget as its settings give it. */
export interface BudgetSettings {
  readonly limit: number
  readonly period: Budget.Period
}

/** A key's budget, and the settings it was made with (to tell whether a reload changed them). */
export interface KeptBudget {
  readonly settings: string
  readonly budget: Budget.Service
}

/** The name a key's limiter and budget have in the store: the same on every instance. */
const sharedKey = (name: string): string => `gateway-key/${name}`

export interface KeyLimits {
  /** Key `name`'s limiter with `rateLimit`, held until the caller's scope closes. */
  readonly limiter: (
    name: string,
    rateLimit: RateLimit
  ) => Effect.Effect<RateLimiter.Service, OptionsError, Scope.Scope>
  /** Key `name`'s budget with `settings`, given the budgets the serving generation keeps (`kept`, by key name). */
  readonly budget: (
    kept: ReadonlyMap<string, KeptBudget>,
    name: string,
    settings: BudgetSettings
  ) => Effect.Effect<KeptBudget, OptionsError>
}

/** What has been spent in `from`'s current period, and what its calls in flight hold, charged to `to`. */
const carrySpend = (from: Budget.Service, to: Budget.Service): Effect.Effect<void> =>
  Effect.gen(function*() {
    const carried = (yield* from.status).reduce((sum, limit) => sum + limit.spent + limit.reserved, 0)
    if (carried === 0) return
    // A zero limit refuses even this; nothing can be spent under it anyway.
    const opened = yield* Effect.result(to.check({ estimate: 0, provider: "gateway", model: "" }))
    if (opened._tag === "Success") yield* to.charge(opened.success, carried)
  })

/**
 * The keys' limits, on `store` when there is one, their budgets' spend recorded in `record` when there is one; the
 * limiters live at most as long as the caller's scope.
 */
export const make = (
  store: Store.Store | undefined,
  record?: Budget.SpendRecord
): Effect.Effect<KeyLimits, never, Scope.Scope> =>
  Effect.gen(function*() {
    // One budget store for every key's budget: in the store when there is one, else each budget in its own memory.
    const budgets = store === undefined
      ? Context.empty()
      : yield* Layer.build(Budget.layerStoreRedis(store, { record }))
    const limiters = yield* RcMap.make({
      lookup: (wanted: string) => {
        const [name, capacity, refillRate] = JSON.parse(wanted) as [string, number, number]
        const limiter = RateLimiter.make({ capacity, refillRate, key: sharedKey(name) })
        return store === undefined ? limiter : Effect.provide(limiter, RateLimiter.layerStoreRedis(store))
      }
    })
    return {
      limiter: (name, rateLimit) =>
        RcMap.get(limiters, JSON.stringify([name, rateLimit.capacity, rateLimit.refillRate])),
      budget: (kept, name, { limit, period }) =>
        Effect.gen(function*() {
          const settings = JSON.stringify([limit, periodName(period)])
          const before = kept.get(name)
          if (before?.settings === settings) return before
          const budget = yield* Effect.provide(
            Budget.make({ limits: [{ scope: Budget.overall, limit, period }], key: sharedKey(name) }),
            budgets
          )
          if (before !== undefined && store === undefined) yield* carrySpend(before.budget, budget)
          return { settings, budget }
        })
    }
  })
