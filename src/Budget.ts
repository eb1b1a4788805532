/**
 * Spend limits in US dollars, per period, for the whole application (`overall`), a deployment or a group: a call that
 * would pass one fails with `BudgetExceededError` before it is sent. `check` (asked by the `Router`, or `guard` for a
 * single `Llm`) reserves the call's estimated cost (`Pricing.estimate`) in every limit it is under, so two concurrent
 * calls cannot both pass a limit only one fits; `charge` then replaces the reservation with the real cost. A limit
 * counts as passed only by more than a billionth of a dollar, as float sums of cents are not exact.
 *
 * A period is a fixed window, not a rolling one (a `Duration` counted from the Unix epoch, so `"1 day"` is the UTC
 * day, or `"month"`, the UTC calendar month): fixed windows are how providers bill, and they give a refused call a
 * definite time to retry (`periodEnd`). A budget requires its `BudgetStore`: `layerStoreMemory`, this process's alone,
 * or `layerStoreRedis` or `layerStoreSql`, shared by every instance. docs/cost.md says how budgets work.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as SqlClient from "effect/sql/SqlClient"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "./ChatRequest.js"
import * as Memory from "./internal/budget/memory.js"
import * as Redis from "./internal/budget/redis.js"
import * as Sql from "./internal/budget/sql.js"
import * as Internal from "./internal/budget/stored.js"
import { definedFields } from "./internal/json.js"
import * as Invalid from "./internal/optionsError.js"
import { uniqueId } from "./internal/persistence/uniqueId.js"
import { viaShared } from "./internal/store/deprecatedShared.js"
import { Llm, type Service as LlmService } from "./Llm.js"
import type { BudgetExceededError, NoCapacityError } from "./LlmError.js"
import type { OptionsError } from "./OptionsError.js"
import * as Pricing from "./Pricing.js"
import type * as Store from "./Store.js"

/**
 * The scope whose limits apply to every check.
 *
 * @example
 * ```ts
 * import { Budget } from "effect-llm-router"
 *
 * // $200 a month in all, and $5 a day for the deployment "gpt-4o".
 * const Spend = Budget.layer({
 *   limits: [
 *     { scope: Budget.overall, limit: 200, period: "month" },
 *     { scope: "gpt-4o", limit: 5, period: "1 day" }
 *   ]
 * })
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export const overall = "overall"

/**
 * A window length, or `"month"` for the UTC calendar month.
 *
 * @since 0.1.0
 * @category Models
 */
export type Period = Duration.Input | "month"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Limit {
  /** `overall`, or a name callers list in `check`'s `scopes`. */
  readonly scope: string
  /** US dollars per period. */
  readonly limit: number
  readonly period: Period
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  readonly limits: ReadonlyArray<Limit>
  /**
   * The name of the budget's state in its store (`BudgetStore`): budgets that give the same key over stores kept in
   * one place (`layerStoreRedis` on one Redis, `layerStoreSql` on one database) hold one budget, a limit never passed
   * whatever the concurrency across them. A non-empty string. Default: a name of its own, shared with nobody.
   */
  readonly key?: string | undefined
  /**
   * Keeps spend and reservations in a shared store (`Store.make`) under `key`: the same as `key` with the store of
   * `layerStoreRedis(store)`.
   *
   * @deprecated since 0.3.0: provide `layerStoreRedis(store)` and give `key`. Removed in 0.4.0.
   */
  readonly shared?: Store.Shared | undefined
  /**
   * With `shared`: the record of `layerStoreRedis(store, { record })`.
   *
   * @deprecated since 0.3.0: provide `layerStoreRedis(store, { record })`. Removed in 0.4.0.
   */
  readonly record?: SpendRecord | undefined
}

/**
 * Where an instance records the spend it charges to a budget kept in Redis (`layerStoreRedis(store, { record })`): a
 * total per counter (a limit of the budget) and window, in a place that outlives the store (the gateway's database).
 *
 * @since 0.3.0
 * @category Models
 */
export interface SpendRecord {
  /** The record's identity: the same wherever the same record is read, never another record's. */
  readonly id: string
  /** The total recorded for `counter` in the window starting at `windowStart` (epoch ms); 0 when none. */
  readonly total: (counter: string, windowStart: number) => Effect.Effect<number, SpendRecordError>
  /** Adds `cost` to that total and returns the new total. */
  readonly add: (counter: string, windowStart: number, cost: number) => Effect.Effect<number, SpendRecordError>
}

/**
 * A `SpendRecord` could not be read or written: `reason` says why.
 *
 * @since 0.3.0
 * @category Errors
 */
export class SpendRecordError extends Schema.TaggedError<SpendRecordError>()("SpendRecordError", {
  reason: Schema.String
}) {
  override get message() {
    return `The budget's spend record is unavailable: ${this.reason}.`
  }
}

/**
 * A call to check.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Call {
  /** The scopes besides `overall` the call counts against (its deployment, its group). Default: none. */
  readonly scopes?: ReadonlyArray<string>
  /** The call's estimated cost in US dollars (`Pricing.estimate`). */
  readonly estimate: number
  /** Named in the error. Default: `unknown`. */
  readonly provider?: string
  /** Named in the error. Default: empty. */
  readonly model?: string
}

/**
 * What `check` holds until `charge`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Reservation {
  readonly estimate: number
}

/**
 * A reservation any instance can settle (`hold`): it stays whether or not the instance that took it lives, until it
 * is settled once (`settleHold`) or lapses at `until` (the SQL store counts it at its estimate, Redis drops it, memory
 * keeps it for the process's life). Keep it where the instance that settles it reads it (a database row).
 *
 * @since 0.3.0
 * @category Models
 */
export interface Hold {
  /** Unique to this reservation, across instances: the id the store keeps it by. */
  readonly id: string
  /** US dollars. */
  readonly estimate: number
  /** When it was taken (epoch ms, the `Clock` of the instance that took it). */
  readonly at: number
  /** When it lapses unless settled (epoch ms). */
  readonly until: number
}

/**
 * One limit's state.
 *
 * @since 0.1.0
 * @category Models
 */
export interface LimitStatus {
  readonly scope: string
  readonly limit: number
  /** `"month"`, or the window's length (`Duration.format`). */
  readonly period: string
  /** Charged in the current window. */
  readonly spent: number
  /** Estimates of calls in flight. */
  readonly reserved: number
  /** Epoch milliseconds. */
  readonly periodStart: number
  readonly periodEnd: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Reserves `call.estimate` in every limit the call is under, or fails naming the first it would pass.
   * A budget whose store is unavailable (a Redis store under `onUnavailable: "fail-closed"`, a SQL store) fails with
   * `NoCapacityError`.
   */
  readonly check: (call: Call) => Effect.Effect<Reservation, BudgetExceededError | NoCapacityError>
  /**
   * Replaces the reservation with the real cost (0 for a call that was not billed). `undefined` keeps the estimate as
   * the cost. Later charges of the same reservation do nothing.
   */
  readonly charge: (reservation: Reservation, cost: number | undefined) => Effect.Effect<void>
  /**
   * Reserves `call.estimate` as `check` does, as a `Hold` of id `hold.id` lasting until `hold.until` (epoch ms)
   * without its instance: a reservation for work that outlives the request that asked for it.
   */
  readonly hold: (
    call: Call,
    hold: { readonly id: string; readonly until: number }
  ) => Effect.Effect<Hold, BudgetExceededError | NoCapacityError>
  /**
   * Replaces the hold with `cost` (0: releases it), from any instance over the same store, once: a settle of a hold
   * settled already, or lapsed, does nothing, so a settle retried after it failed or after its instance stopped
   * counts the cost once. Fails when the store did not take it (a SQL store retries it in the background instead).
   */
  readonly settleHold: (hold: Hold, cost: number) => Effect.Effect<void, Store.StoreUnavailableError>
  readonly status: Effect.Effect<ReadonlyArray<LimitStatus>>
}

/**
 * The service's tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "effect-llm-router"
 *
 * const report = Effect.gen(function*() {
 *   const budget = yield* Budget.Budget
 *   for (const limit of yield* budget.status) {
 *     yield* Effect.log(`${limit.scope} per ${limit.period}: $${limit.spent.toFixed(2)} of $${limit.limit}`)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class Budget extends Context.Service<Budget, Service>()("effect-llm-router/Budget") {}

/**
 * A limit as a store counts it: its spend and reservations under `name`, in the windows of `period`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Counter {
  /** Where the count is kept: counters of one name in one store are one count. */
  readonly name: string
  readonly period: Period
}

/**
 * A counter and the limit a reservation in it may not pass.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LimitedCounter extends Counter {
  /** US dollars per window. */
  readonly limit: number
}

/**
 * A reservation as a store holds it, from `reserve` until `settle` or `release`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Held {
  /** Unique to this reservation, across instances. */
  readonly id: string
  /** The counters of the limits the call is under. */
  readonly counters: ReadonlyArray<LimitedCounter>
  /** US dollars. */
  readonly estimate: number
  /** When it was asked for (epoch ms, the instance's `Clock`): it is weighed in the windows that hold this instant. */
  readonly at: number
  /**
   * When it lapses (epoch ms), not renewed by the instance that took it (a `Budget.hold`). Default: a lease its
   * instance renews while it holds the reservation.
   */
  readonly until?: number | undefined
}

/**
 * What `reserve` did: reserved in every counter, or in none, refused by the counter at `index`, which had
 * `committed` (spent and reserved) of its limit gone in a window ending at `periodEnd` (epoch ms).
 *
 * @since 0.3.0
 * @category Stores
 */
export type Reserved =
  | { readonly _tag: "Reserved" }
  | { readonly _tag: "Refused"; readonly index: number; readonly committed: number; readonly periodEnd: number }

/**
 * A counter's window that holds now, as a store reads it.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface CounterSpend {
  /** Settled in the window. */
  readonly spent: number
  /** Estimates of reservations not yet settled. */
  readonly reserved: number
  /** Epoch milliseconds. */
  readonly periodStart: number
  readonly periodEnd: number
}

/**
 * Where budgets keep their spend and reservations: `layerStoreMemory`, `layerStoreRedis` or `layerStoreSql`. Each
 * operation is one atomic step of the store (one Lua script, one SQL transaction); every backend gives the same
 * results for the same steps (the contract suite runs each). A budget settles or releases each reservation once.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Budget } from "effect-llm-router"
 *
 * // A store that counts every step it is asked, over the memory one.
 * const Counted = Layer.effect(
 *   Budget.BudgetStore,
 *   Effect.map(Budget.BudgetStore, (store) => {
 *     let steps = 0
 *     const counted = <A, E>(step: Effect.Effect<A, E>) => Effect.andThen(Effect.sync(() => steps++), step)
 *     return Budget.BudgetStore.of({
 *       reserve: (held) => counted(store.reserve(held)),
 *       settle: (held, cost) => counted(store.settle(held, cost)),
 *       release: (held) => counted(store.release(held)),
 *       spend: (counters) => counted(store.spend(counters))
 *     })
 *   })
 * ).pipe(Layer.provide(Budget.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Stores
 */
export class BudgetStore extends Context.Service<BudgetStore, {
  /**
   * Reserves `held.estimate` in the window of each of its counters that holds `held.at`, all or none: refused by
   * the first counter whose spend, plus reservations, plus the estimate would pass its limit (`Reserved`).
   */
  readonly reserve: (held: Held) => Effect.Effect<Reserved, Store.StoreUnavailableError>
  /** Replaces the reservation's estimate with `cost`, counted in each counter's window that holds now. */
  readonly settle: (held: Held, cost: number) => Effect.Effect<void, Store.StoreUnavailableError>
  /** Drops the reservation: nothing is spent. */
  readonly release: (held: Held) => Effect.Effect<void, Store.StoreUnavailableError>
  /** Each counter's window that holds now. */
  readonly spend: (
    counters: ReadonlyArray<Counter>
  ) => Effect.Effect<ReadonlyArray<CounterSpend>, Store.StoreUnavailableError>
}>()("effect-llm-router/Budget/BudgetStore") {}

/**
 * A `BudgetStore` in this process' memory, on the `Clock` (`TestClock` drives its windows): budgets giving the same
 * `key` hold one budget.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "effect-llm-router"
 *
 * // Two budgets of one process holding one limit.
 * const program = Effect.gen(function*() {
 *   const limits = [{ scope: Budget.overall, limit: 10, period: "1 day" as const }]
 *   const first = yield* Budget.make({ limits, key: "team" })
 *   const second = yield* Budget.make({ limits, key: "team" })
 *   yield* first.charge(yield* first.check({ estimate: 4 }), 4)
 *   return yield* second.status // spent: 4
 * }).pipe(Effect.provide(Budget.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreMemory: Layer.Layer<BudgetStore> = Layer.sync(BudgetStore, Memory.budgetStore)

/**
 * Options of `layerStoreRedis`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface RedisStoreOptions {
  /**
   * Where this instance records what it charges, so its part of the store's spend is rebuilt (at its next check or
   * status) when the store has lost it, as a Redis restarted without persistence does. Default: none.
   */
  readonly record?: SpendRecord | undefined
}

/**
 * A `BudgetStore` in a shared `Store` (Redis): every instance giving the same `key` holds one budget. A reservation
 * is renewed while its call runs and lapses within the store's `leaseTtl` once its instance is gone. Windows are
 * read from each instance's clock. While Redis is away, the store's `onUnavailable` decides: `"fail-closed"` refuses
 * checks with `NoCapacityError`; `"fail-open"` checks against `1 / instances` of each limit in memory (a `record`
 * takes those charges too, and brings them into the store's count at its next raise).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget, Store } from "effect-llm-router"
 *
 * // $100 a day across every instance.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* Store.make({ redis: "redis://127.0.0.1:6379" })
 *   return yield* Budget.make({ limits: [{ scope: Budget.overall, limit: 100, period: "1 day" }], key: "app" }).pipe(
 *     Effect.provide(Budget.layerStoreRedis(store))
 *   )
 * }))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreRedis = (store: Store.Store, options?: RedisStoreOptions): Layer.Layer<BudgetStore> =>
  Layer.effect(BudgetStore, Redis.budgetStore(store, options?.record))

/**
 * Options of `layerStoreSql`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface SqlStoreOptions {
  /** The database as `StoreUnavailableError` names it (never a password). Default: `the SQL database`. */
  readonly address?: string | undefined
  /** How long a reservation lives unless its instance renews it. Default: 30 seconds. */
  readonly leaseTtl?: Duration.Input | undefined
  /** How long a transaction may take before the database counts as unavailable. Default: 5 seconds. */
  readonly statementTimeout?: Duration.Input | undefined
}

/**
 * A `BudgetStore` in a SQL database (`effect/sql`'s `SqlClient`: SQLite, or Postgres for several instances), in two
 * tables of its own, `spend` and `reservations`, which the layer makes or migrates (recording it in
 * `effect_llm_router_budget_migrations`): a restart of an instance, or of the database, gives nothing back. Each step
 * is one transaction, bounded by `statementTimeout` and retried on contention. A reservation whose instance died
 * lapses after `leaseTtl` uncharged, as in Redis: what the call cost is not known, and its worst case would be counted
 * as spent. A hold never settled lapses into its estimate; a settle the database does not take is retried in the
 * background while the layer lives.
 *
 * @example
 * ```ts
 * import { Effect, type Layer } from "effect"
 * import type { SqlClient } from "effect/sql/SqlClient"
 * import { Budget } from "effect-llm-router"
 *
 * declare const Database: Layer.Layer<SqlClient>
 *
 * // $20 a month for the team, kept in the database every instance shares.
 * const program = Budget.make({ limits: [{ scope: Budget.overall, limit: 20, period: "month" }], key: "team" }).pipe(
 *   Effect.provide(Budget.layerStoreSql({ address: "postgres on db.internal" })),
 *   Effect.provide(Database)
 * )
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreSql = (
  options?: SqlStoreOptions
): Layer.Layer<BudgetStore, Store.StoreUnavailableError, SqlClient.SqlClient> =>
  Layer.effect(BudgetStore, Effect.flatMap(SqlClient.SqlClient, (sql) => Sql.budgetStore(sql, options)))

/**
 * A budget over the `BudgetStore` provided (none with the deprecated `shared`). A limit with a negative amount, or a
 * period that is not a positive finite duration or `"month"`, fails with `OptionsError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ limits: [{ scope: Budget.overall, limit: 1, period: "1 hour" }] })
 *   const reservation = yield* budget.check({ estimate: 0.4, model: "gpt-4o" })
 *   yield* budget.charge(reservation, 0.25)
 *   // A second call of $0.80 would pass the limit: it fails before it is sent.
 *   return yield* Effect.flip(budget.check({ estimate: 0.8, model: "gpt-4o" })) // BudgetExceededError, spent 0.25
 * }).pipe(Effect.provide(Budget.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function make(
  options: Options & { readonly shared: Store.Shared }
): Effect.Effect<Service, OptionsError>
export function make(options: Options): Effect.Effect<Service, OptionsError, BudgetStore>
export function make(options: Options): Effect.Effect<Service, OptionsError, BudgetStore> {
  return options.record !== undefined && options.shared === undefined
    ? Effect.fail(
      Invalid.make("Budget", "record", options.record.id, "given with `shared` only (it records a store's part)")
    )
    : viaShared(
      "Budget",
      options,
      makeOverStore,
      (shared) => Effect.succeed(layerStoreRedis(shared.store, { record: options.record })),
      { optional: true }
    )
}

const makeOverStore = Effect.fnUntraced(function*(
  options: Options
): Effect.fn.Return<Service, OptionsError, BudgetStore> {
  for (const [index, limit] of options.limits.entries()) {
    const problem = Internal.invalidLimit(limit, index)
    if (problem !== undefined) return yield* problem
  }
  const problem = Invalid.nonEmpty("Budget", "key", options.key, { optional: true })
  if (problem !== undefined) return yield* problem
  const store = yield* BudgetStore
  const key = options.key ?? uniqueId()
  return Internal.make(store, {
    limits: options.limits,
    names: options.limits.map((_, index) => `budget:${key}:${index}`),
    applying: Internal.byScope(options.limits)
  })
})

/**
 * `make` as a layer, over the `BudgetStore` provided.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Budget, type Llm } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 *
 * // Calls of OpenAi stop when $50 have been spent this month.
 * const Guarded = Budget.guard().pipe(
 *   Layer.provide(OpenAi),
 *   Layer.provideMerge(Budget.layer({ limits: [{ scope: Budget.overall, limit: 50, period: "month" }] })),
 *   // Spend kept in this process's memory; `layerStoreRedis` or `layerStoreSql` to share it between instances.
 *   Layer.provide(Budget.layerStoreMemory)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<Budget, OptionsError, BudgetStore> =>
  Layer.effect(Budget, make(options))

/**
 * Options of `guarded`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface GuardOptions {
  /** Scopes besides `overall` every call counts against. Default: none. */
  readonly scopes?: ReadonlyArray<string>
  /**
   * The price estimates use. Default: the built-in price of the request's model. With no price (a request that names
   * no model, a model not in the table) the estimate is 0 and only the responses' costs count, so pass the price of
   * the model the `Llm` below defaults to.
   */
  readonly price?: Pricing.Price | undefined
  /** Reply tokens to estimate for requests without `maxTokens`. Default: 0. */
  readonly defaultMaxTokens?: number
  /** Named in `BudgetExceededError`. Default: `unknown`. */
  readonly provider?: string
}

/**
 * Wraps an `Llm` so every call is checked against `budget` before it is sent and charged after: the response's `cost`
 * (the estimate when it has none); nothing for a call that failed with an error; the estimate for an interrupted call
 * or a stream that ended after output but without a `Finish` (the provider may have billed it).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget, Llm, Message, Pricing } from "effect-llm-router"
 *
 * // One job with a budget of its own: $2 a day, priced as gpt-4o-mini.
 * const digest = Effect.gen(function*() {
 *   const budget = yield* Budget.make({ limits: [{ scope: Budget.overall, limit: 2, period: "1 day" }] })
 *   const llm = Budget.guarded(yield* Llm.Llm, budget, { price: Pricing.lookup("gpt-4o-mini"), provider: "openai" })
 *   const reply = yield* llm.chat({ model: "gpt-4o-mini", messages: [Message.user("Digest today's news")] })
 *   return reply.text
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const guarded = (llm: LlmService, budget: Service, options?: GuardOptions): LlmService => {
  const reserve = (request: ChatRequest) => {
    const price = options?.price ?? (request.model === undefined ? undefined : Pricing.lookup(request.model))
    return budget.check({
      estimate: price === undefined
        ? 0
        : Pricing.estimate(price, request, { defaultMaxTokens: options?.defaultMaxTokens }),
      ...definedFields({ scopes: options?.scopes, provider: options?.provider, model: request.model })
    })
  }
  // A call that failed with an error (not interrupted) was not billed.
  const unbilled = (exit: Exit.Exit<unknown, unknown>) =>
    Exit.isFailure(exit) && !Cause.hasInterrupts(exit.cause) && Cause.hasFails(exit.cause)
  return Llm.of({
    chat: (request) =>
      Effect.acquireUseRelease(
        reserve(request),
        () => llm.chat(request),
        (reservation, exit) =>
          budget.charge(
            reservation,
            Exit.isSuccess(exit) ? exit.value.cost : unbilled(exit) ? 0 : undefined
          )
      ),
    chatStream: (request) =>
      Stream.unwrap(Effect.gen(function*() {
        let output = false
        let finished = false
        let cost: number | undefined
        yield* Effect.acquireRelease(
          reserve(request),
          (reservation, exit) => budget.charge(reservation, finished ? cost : !output && unbilled(exit) ? 0 : undefined)
        )
        return Stream.mapArray(llm.chatStream(request), (chunk) => {
          output = true
          for (const item of chunk) {
            if (item._tag === "Finish") {
              finished = true
              cost = item.cost
            }
          }
          return chunk
        })
      })),
    // Embeddings have no price in `Pricing`, so a budget cannot weigh them, and a count costs nothing: both pass.
    embed: llm.embed,
    countTokens: llm.countTokens
  })
}

/**
 * A layer that decorates the `Llm` below it with `guarded`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Budget, type Llm } from "effect-llm-router"
 *
 * declare const Batch: Layer.Layer<Llm.Llm>
 *
 * // The batch jobs' calls count against "batch" and the overall limit; provide
 * // Budget.layer once, to the program.
 * const GuardedBatch = Budget.guard({ scopes: ["batch"], defaultMaxTokens: 1_000 }).pipe(Layer.provide(Batch))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const guard = (options?: GuardOptions): Layer.Layer<Llm, never, Llm | Budget> =>
  Layer.effect(Llm, Effect.zipWith(Llm, Budget, (llm, budget) => guarded(llm, budget, options)))
