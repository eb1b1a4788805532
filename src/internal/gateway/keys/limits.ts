/**
 * What a gateway key keeps across reloads, by its name: its rate limiter and its budget, so a reload neither refills a
 * key's bucket nor gives back what it has spent.
 *
 * Both live in the stores the gateway chose (`KeyLimitStores`, `stores.ts`; a Redis budget's part is recorded in the
 * database to rebuild it, `spendRecord.ts`), named by the key, so every generation and every instance on a shared store
 * reads and charges the same bucket and counter: a reload hands on the store's, never a copy. A limiter's name holds
 * its figures, so a changed rate limit starts a full bucket; a budget is handed on while its limit and period are the
 * same, else made again over the same counter. A key a reload removed keeps its spend, should it come back.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RcMap from "effect/RcMap"
import type * as Scope from "effect/Scope"
import * as Budget from "../../../Budget.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import * as Stored from "../../budget/stored.js"
import { periodName } from "../../budget/window.js"
import type { KeptBudget } from "../access/authentication.js"
import { configKeyScope } from "../access/caller.js"
import * as Errors from "../errorAnswer.js"
import { SpendLedger } from "./ledger.js"

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

/** The stores the keys' limits live in, chosen by the gateway from its configuration. */
export interface Stores {
  /** Every key's limiter's buckets and slots. */
  readonly limiters: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>
  /** Every key's budget's counters. */
  readonly budgets: Budget.BudgetStore["Service"]
  /** The counter of key `name`'s budget in `budgets`. */
  readonly counter: (name: string) => string
  /** The answer to a call whose budget's store is unavailable (`message`: what the budget said). */
  readonly unavailable: (message: string) => Errors.ErrorAnswer
}

/** The name a key's limiter and budget have in the stores: the same on every instance. */
export const sharedKey = (name: string): string => `gateway-key/${name}`

/**
 * The name of key `name`'s bucket at a rate limit: its figures in it, so a rate limit a reload changed starts a full
 * bucket in every store, as a new limit would.
 */
export const limiterKey = (name: string, capacity: number, refillRate: number): string =>
  `${sharedKey(name)}/${capacity}/${refillRate}`

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
  /** The answer to a call whose budget's store is unavailable. */
  readonly unavailable: (message: string) => Errors.ErrorAnswer
}

/** The stores the keys' limits live in, as the gateway chose them (`stores.ts`). */
export class KeyLimitStores
  extends Context.Service<KeyLimitStores, Stores>()("effect-llm-router/gateway/keys/KeyLimitStores")
{}

/** The limiters' stores provided. */
const limiters = Effect.context<RateLimiter.BucketStore | RateLimiter.SlotStore>()

/** The budgets in the spend ledger, under `config-key:<name>`, where earlier versions kept them. */
export const layerLedger = Layer.effect(
  KeyLimitStores,
  Effect.gen(function*() {
    const budgets = (yield* SpendLedger).store
    const unavailable = () => Errors.databaseUnavailable("the budget ledger could not be read")
    return { limiters: yield* limiters, budgets, counter: configKeyScope, unavailable }
  })
)

/**
 * The budgets in the `Budget.BudgetStore` provided, a Redis store's: a budget's counter named as `Budget.make` names
 * one of key `gateway-key/<name>`, where earlier versions kept it.
 */
export const layerBudgetStore = Layer.effect(
  KeyLimitStores,
  Effect.gen(function*() {
    const counter = (name: string) => `budget:${sharedKey(name)}:0`
    return {
      limiters: yield* limiters,
      budgets: yield* Budget.BudgetStore,
      counter,
      unavailable: Errors.storeUnavailable
    }
  })
)

/** The keys' limits in `stores`; the limiters live at most as long as the caller's scope. */
export const make = (stores: Stores): Effect.Effect<KeyLimits, never, Scope.Scope> =>
  Effect.gen(function*() {
    const limiters = yield* RcMap.make({
      lookup: (wanted: string) => {
        const [name, capacity, refillRate] = JSON.parse(wanted) as [string, number, number]
        return Effect.provide(
          RateLimiter.make({ capacity, refillRate, key: limiterKey(name, capacity, refillRate) }),
          stores.limiters
        )
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
          const limits = [{ scope: Budget.overall, limit, period }]
          const invalid = Stored.invalidLimit(limits[0]!, 0)
          if (invalid !== undefined) return yield* invalid
          const budget = Stored.make(stores.budgets, {
            limits,
            names: [stores.counter(name)],
            applying: () => [0]
          })
          return { settings, budget }
        }),
      unavailable: stores.unavailable
    }
  })
