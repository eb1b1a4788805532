/**
 * Spend limits in US dollars, per period, for the whole application
 * (`overall`), a deployment or a group: a call that would pass one fails with
 * `BudgetExceededError` before it is sent.
 *
 * A caller (the `Router`, or `guard` for a single `Llm`) asks `check` with the
 * call's estimated cost (`Pricing.estimate`: the prompt counted at most, at
 * the highest price a prompt token of it can be billed at, a prompt-cache
 * write's for a request with cache breakpoints, plus `maxTokens` at the output
 * price). `check` reserves that estimate in every limit it is under, so two
 * concurrent calls cannot both pass a limit that only one fits; after the call,
 * `charge` replaces the reservation with the real cost (reserve, then
 * reconcile, as `RateLimiter`'s tokens-per-minute budget does): the response's
 * `cost`, its cache reads and writes priced apart (`Pricing.cost`).
 *
 * ## Scopes
 *
 * A limit names its `scope`. Limits of scope `overall` apply to every check;
 * any other scope (a deployment's name, a group's name: the caller's choice)
 * applies to the checks that list it in `scopes`. A scope may have several
 * limits (per minute and per day).
 *
 * ## Periods
 *
 * A period is a fixed window, not a rolling one: a `Duration` period is one of
 * the back-to-back windows of that length counted from the Unix epoch (so
 * `"1 day"` is the UTC day, `"1 hour"` the clock hour), and `"month"` is the
 * UTC calendar month. When a window ends its spend starts again from zero;
 * the estimates of calls still in flight stay reserved, and their cost is
 * charged to the window in which they end. Fixed windows are how providers
 * bill, and they give a refused call a definite time to retry (`periodEnd`).
 * Time is read from `Clock`, so `TestClock` drives it in tests.
 *
 * A call is refused when its window's spend, plus reservations, plus its
 * estimate would pass the limit by more than a billionth of a dollar (float
 * sums of cents are not exact), or when the limit is already reached.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "./ChatRequest.js"
import * as Shared from "./internal/budget/shared.js"
import { exceeded, periodName, refuses, type Window, windowAt } from "./internal/budget/window.js"
import * as Invalid from "./internal/optionsError.js"
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
   * Keeps spend and reservations in a shared store (`Store.make`) under `key`,
   * so the instances naming the same store and key hold one budget: a limit is
   * never passed, whatever the concurrency across them. A reservation is
   * renewed while its call runs and lapses within the store's `leaseTtl` once
   * its instance is gone. Windows are read from each instance's clock.
   * Default: in this process's memory.
   */
  readonly shared?: Store.Shared | undefined
  /**
   * With `shared`: where this instance records what it charges, so its part of
   * the store's spend is rebuilt (at its next check or status) when the store
   * has lost it, as a Redis restarted without persistence does. Default: none.
   */
  readonly record?: SpendRecord | undefined
}

/**
 * Where an instance records the spend it charges to a `shared` budget: a
 * total per counter (a limit of the budget) and window, in a place that
 * outlives the store (the gateway's database).
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
   * Reserves `call.estimate` in every limit the call is under, or fails naming
   * the first it would pass; a `shared` budget whose store is unavailable under
   * `onUnavailable: "fail-closed"` fails with `NoCapacityError`.
   */
  readonly check: (call: Call) => Effect.Effect<Reservation, BudgetExceededError | NoCapacityError>
  /**
   * Replaces the reservation with the real cost (0 for a call that was not
   * billed). `undefined` keeps the estimate as the cost. Later charges of the
   * same reservation do nothing.
   */
  readonly charge: (reservation: Reservation, cost: number | undefined) => Effect.Effect<void>
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

interface State {
  readonly limit: Limit
  readonly periodName: string
  window: Window
  spent: number
  reserved: number
}

const roll = (state: State, now: number) => {
  if (now >= state.window.end || now < state.window.start) {
    state.window = windowAt(state.limit.period, now)
    state.spent = 0
  }
}

const validate = (limit: Limit, index: number): OptionsError | undefined => {
  if (!(Number.isFinite(limit.limit) && limit.limit >= 0)) {
    return Invalid.make("Budget", `limits[${index}].limit`, limit.limit, "0 or more dollars")
  }
  const length = limit.period === "month" ? 1 : Duration.toMillis(limit.period)
  if (!(length > 0 && Number.isFinite(length))) {
    return Invalid.make("Budget", `limits[${index}].period`, limit.period, `a positive, finite duration or "month"`)
  }
  return undefined
}

/**
 * An in-memory budget. A limit with a negative amount, or a period that is not
 * a positive finite duration or `"month"`, fails with `OptionsError`.
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
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = Effect.fnUntraced(function*(options: Options): Effect.fn.Return<Service, OptionsError> {
  for (const [index, limit] of options.limits.entries()) {
    const problem = validate(limit, index)
    if (problem !== undefined) return yield* problem
  }
  if (options.shared !== undefined) {
    if (options.shared.key === "") return yield* Invalid.make("Budget", "shared.key", "", "a non-empty string")
    return yield* Shared.make(options.limits, options.shared, options.record, inMemory)
  }
  if (options.record !== undefined) {
    return yield* Invalid.make(
      "Budget",
      "record",
      options.record.id,
      "given with `shared` only (it records a store's part)"
    )
  }
  return yield* inMemory(options.limits)
})

const inMemory = (limits: ReadonlyArray<Limit>): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const states: Array<State> = limits.map((limit) => ({
      limit,
      periodName: periodName(limit.period),
      window: windowAt(limit.period, start),
      spent: 0,
      reserved: 0
    }))
    const held = new WeakMap<Reservation, ReadonlyArray<State>>()

    const check = (call: Call) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.suspend((): Effect.Effect<Reservation, BudgetExceededError> => {
          const scopes = call.scopes ?? []
          const applying = states.filter((state) =>
            state.limit.scope === overall || scopes.includes(state.limit.scope)
          )
          for (const state of applying) {
            roll(state, now)
            const committed = state.spent + state.reserved
            if (refuses(committed, call.estimate, state.limit.limit)) {
              return Effect.fail(exceeded(call, state.limit, committed, state.window.end))
            }
          }
          for (const state of applying) state.reserved += call.estimate
          const reservation: Reservation = { estimate: call.estimate }
          held.set(reservation, applying)
          return Effect.succeed(reservation)
        }))

    const charge = (reservation: Reservation, cost: number | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const applying = held.get(reservation)
          if (applying === undefined) return
          held.delete(reservation)
          for (const state of applying) {
            state.reserved -= reservation.estimate
            roll(state, now)
            state.spent += cost ?? reservation.estimate
          }
        }))

    const status = Effect.map(Clock.currentTimeMillis, (now) =>
      states.map((state): LimitStatus => {
        roll(state, now)
        return {
          scope: state.limit.scope,
          limit: state.limit.limit,
          period: state.periodName,
          spent: state.spent,
          reserved: state.reserved,
          periodStart: state.window.start,
          periodEnd: state.window.end
        }
      }))

    return Budget.of({ check, charge, status })
  })

/**
 * An in-memory `Budget`.
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
 *   Layer.provideMerge(Budget.layer({ limits: [{ scope: Budget.overall, limit: 50, period: "month" }] }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<Budget, OptionsError> => Layer.effect(Budget, make(options))

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
   * The price estimates use. Default: the built-in price of the request's
   * model. With no price (a request that names no model, a model not in the
   * table) the estimate is 0: only the responses' costs count, so pass the
   * price of the model the `Llm` below defaults to.
   */
  readonly price?: Pricing.Price | undefined
  /** Reply tokens to estimate for requests without `maxTokens`. Default: 0. */
  readonly defaultMaxTokens?: number
  /** Named in `BudgetExceededError`. Default: `unknown`. */
  readonly provider?: string
}

/**
 * Wraps an `Llm` so every call is checked against `budget` before it is sent
 * and charged after: the response's `cost` (the estimate when it has none);
 * nothing for a call that failed with an error; the estimate for an
 * interrupted call or a stream that ended after output but without a
 * `Finish` (the provider may have billed it).
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
      ...(options?.scopes !== undefined ? { scopes: options.scopes } : {}),
      ...(options?.provider !== undefined ? { provider: options.provider } : {}),
      ...(request.model !== undefined ? { model: request.model } : {})
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
    // Embeddings have no price in `Pricing`, so a budget cannot weigh them, and a count costs nothing: they pass
    // through.
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
