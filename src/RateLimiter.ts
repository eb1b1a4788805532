/**
 * A token bucket that paces calls to a provider, an optional cap on calls in
 * flight, and an optional tokens-per-minute budget.
 *
 * The bucket holds `capacity` tokens and refills at `refillRate` tokens per
 * second, so a burst of up to `capacity` calls goes at once and then calls go at
 * `refillRate` per second. In every window of length `t` it admits at most
 * `capacity + refillRate * t` tokens, however many fibers call it. Waiters are
 * served strictly in arrival order, so a large request is never starved by
 * small ones that arrived after it, and each is served the moment its tokens
 * have refilled. Time is read only through Effect's `Clock`, so `TestClock`
 * drives it in tests.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as ChatRequest from "./ChatRequest.js"
import * as Invalid from "./internal/optionsError.js"
import * as Bucket from "./internal/rateLimiterBucket.js"
import { textOf } from "./Message.js"
import type { OptionsError } from "./OptionsError.js"

/**
 * How to build a limiter.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Tokens the bucket holds, the largest burst. A positive finite number; the bucket starts full. */
  readonly capacity: number
  /** Tokens added per second. A positive finite number. */
  readonly refillRate: number
  /** The most calls inside `withPermit` at once, a positive integer. Default: no cap. */
  readonly maxConcurrency?: number | undefined
  /**
   * A budget of model tokens per minute, kept in a second bucket of this
   * capacity that refills at `tokensPerMinute / 60` per second (see `reserve`,
   * `reconcile`, `withBudget`). A positive finite number. Default: no budget.
   */
  readonly tokensPerMinute?: number | undefined
}

/**
 * The tokens-per-minute budget, as `status` reports it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface BudgetStatus {
  /** Model tokens that can be reserved now; below zero while a debt is paid back. */
  readonly available: number
  /** `tokensPerMinute`. */
  readonly capacity: number
  /** Reservations waiting for the budget. */
  readonly waiting: number
}

/**
 * A limiter's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Status {
  /** Tokens in the bucket now; fractional while a token is refilling. */
  readonly available: number
  readonly capacity: number
  /** Tokens per second. */
  readonly refillRate: number
  /** Calls waiting for tokens. */
  readonly waiting: number
  /** Calls holding a permit (running inside `withPermit`, or with a `permit` whose scope is open). */
  readonly inFlight: number
  /** Present when the limiter caps calls in flight. */
  readonly maxConcurrency?: number
  /** Present when the limiter has a tokens-per-minute budget. */
  readonly budget?: BudgetStatus
}

/**
 * Model tokens held for one call by `reserve`, until `reconcile` settles them
 * against the real usage.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Reservation {
  readonly estimate: number
}

/**
 * A cost the limiter can never grant: above the bucket's capacity (waiting would
 * never end), negative, or not a finite number.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RateLimiterCostError extends Schema.TaggedError<RateLimiterCostError>()("RateLimiterCostError", {
  cost: Schema.Number,
  capacity: Schema.Number,
  /** Which bucket refused: the request bucket or the tokens-per-minute budget. */
  bucket: Schema.Literals(["requests", "tokensPerMinute"])
}) {
  override get message() {
    const what = this.bucket === "requests" ? "rate limiter" : "tokens-per-minute budget"
    return Number.isFinite(this.cost) && this.cost >= 0
      ? `A cost of ${this.cost} exceeds the ${what}'s capacity of ${this.capacity}, so it could never be granted. Lower the cost or raise the capacity.`
      : `A cost of ${this.cost} is not a non-negative finite number, so the ${what} cannot grant it.`
  }
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** Waits, in arrival order, until `cost` tokens (default 1) are free and takes them. */
  readonly take: (cost?: number) => Effect.Effect<void, RateLimiterCostError>
  /** Takes `cost` tokens (default 1) if they are free now and nobody waits ahead; never waits. */
  readonly tryTake: (cost?: number) => Effect.Effect<boolean>
  /**
   * Takes a slot (with `maxConcurrency`) and then `cost` tokens (default 1),
   * waiting for each in arrival order. The slot is held until the scope closes,
   * which suits a stream that must keep its slot while it is read; the tokens
   * are spent.
   */
  readonly permit: (cost?: number) => Effect.Effect<void, RateLimiterCostError, Scope.Scope>
  /**
   * `permit` without a scope, for callers that manage its life themselves
   * (the `Llm` service): waits as `permit` does and gives the effect that
   * frees the permit's slot, to run exactly once. Call it uninterruptibly (its
   * waits stay interruptible) so the permit cannot be lost between the two.
   */
  readonly takePermit: (cost?: number) => Effect.Effect<Effect.Effect<void>, RateLimiterCostError>
  /** `takePermit` if the slot and the tokens are free now and nobody waits ahead; `undefined` otherwise. Never waits. */
  readonly tryTakePermit: (cost?: number) => Effect.Effect<Effect.Effect<void> | undefined, RateLimiterCostError>
  /**
   * Runs `self` under a `permit(cost)`: the slot is freed when `self` ends.
   */
  readonly withPermit: <A, E, R>(self: Effect.Effect<A, E, R>, cost?: number) => Effect.Effect<A, E | RateLimiterCostError, R>
  readonly status: Effect.Effect<Status>
  /** Fills the bucket (and the budget, forgiving any debt) and serves waiters. */
  readonly reset: Effect.Effect<void>
  /**
   * Waits, in arrival order, until the budget holds `estimate` model tokens and
   * holds them. Without `tokensPerMinute` it returns at once.
   */
  readonly reserve: (estimate: number) => Effect.Effect<Reservation, RateLimiterCostError>
  /** Whether `reserve` holds anything: the limiter has a `tokensPerMinute` budget. */
  readonly hasTokenBudget: boolean
  /**
   * Settles a reservation against the tokens the call really used: unused tokens
   * go back; tokens used beyond the estimate are taken at once, into debt if the
   * budget is short. Settles once; later calls do nothing. A usage that is not a
   * non-negative finite number leaves the reservation as it was.
   */
  readonly reconcile: (reservation: Reservation, actualTokens: number) => Effect.Effect<void>
  /**
   * `reserve(estimate)`, then `self`, then `reconcile` with `tokensOf(result)`.
   * When `self` fails or is interrupted the estimate stays spent, since the
   * provider may have counted the request. With `withPermit` too, put this one
   * outside, so the request token is taken right before the call starts.
   */
  readonly withBudget: <A, E, R>(
    estimate: number,
    self: Effect.Effect<A, E, R>,
    tokensOf: (a: A) => number
  ) => Effect.Effect<A, E | RateLimiterCostError, R>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class RateLimiter extends Context.Service<RateLimiter, Service>()("effect-llm-router/RateLimiter") {}

const validate = (options: Options): OptionsError | undefined =>
  Invalid.positive("RateLimiter", "capacity", options.capacity) ??
    Invalid.positive("RateLimiter", "refillRate", options.refillRate) ??
    Invalid.positive("RateLimiter", "maxConcurrency", options.maxConcurrency, { integer: true, optional: true }) ??
    Invalid.positive("RateLimiter", "tokensPerMinute", options.tokensPerMinute, { optional: true })

const costError = (cost: number, capacity: number, bucket: RateLimiterCostError["bucket"]) =>
  Number.isFinite(cost) && cost >= 0 && cost <= capacity
    ? undefined
    : new RateLimiterCostError({ cost, capacity, bucket })

/**
 * Builds a limiter whose refill fibers live in the current scope. Fails with
 * `OptionsError` naming the first option out of range.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const { capacity, maxConcurrency, refillRate, tokensPerMinute } = options

    // Refunds and cancels, which can make the first waiter due sooner than the
    // serving fiber planned, are rare here; poll about once per token's time.
    const requests = yield* Bucket.make({
      capacity,
      refillPerSecond: refillRate,
      pollMillis: Math.min(Math.max(1000 / refillRate, 10), 1000)
    })
    // Every call refunds part of its estimate, so poll often enough for that.
    const budget = tokensPerMinute === undefined
      ? undefined
      : yield* Bucket.make({ capacity: tokensPerMinute, refillPerSecond: tokensPerMinute / 60, pollMillis: 250 })
    // Concurrency slots: a bucket that never refills, given back as calls end
    // (FIFO like the tokens, and tried without waiting like them).
    const slots = maxConcurrency === undefined
      ? undefined
      : yield* Bucket.make({ capacity: maxConcurrency, refillPerSecond: 0, pollMillis: 1000 })
    let inFlight = 0
    const settled = new WeakSet<Reservation>()

    const take = (cost = 1) =>
      Effect.suspend(() => {
        const error = costError(cost, capacity, "requests")
        return error === undefined ? requests.take(cost) : Effect.fail(error)
      })

    const tryTake = (cost = 1) =>
      costError(cost, capacity, "requests") === undefined ? requests.tryTake(cost) : Effect.succeed(false)

    const leave = Effect.sync(() => {
      inFlight--
    })
    const leaveSlot = slots === undefined ? leave : Effect.andThen(leave, slots.give(1))
    const entered = Effect.sync(() => {
      inFlight++
      return leaveSlot
    })

    // Slot first, token second: a call then starts the moment it gets its
    // token, so the bucket's bound holds for call starts, not only for grants.
    // The waits are interruptible; a slot taken before an interrupted token
    // wait goes back.
    const tryTakePermit = (cost = 1): Effect.Effect<Effect.Effect<void> | undefined, RateLimiterCostError> =>
      Effect.suspend(() => {
        const error = costError(cost, capacity, "requests")
        if (error !== undefined) return Effect.fail(error)
        if (slots !== undefined && !slots.tryTakeUnsafe(1)) return Effect.succeed(undefined)
        if (!requests.tryTakeUnsafe(cost)) return slots === undefined ? Effect.succeed(undefined) : Effect.as(slots.give(1), undefined)
        inFlight++
        return Effect.succeed(leaveSlot)
      })

    const takePermit = (cost = 1): Effect.Effect<Effect.Effect<void>, RateLimiterCostError> => {
      const error = costError(cost, capacity, "requests")
      if (error !== undefined) return Effect.fail(error)
      const token = Effect.andThen(Effect.interruptible(requests.take(cost)), entered)
      return slots === undefined
        ? token
        : Effect.andThen(Effect.interruptible(slots.take(1)), Effect.onInterrupt(token, () => slots.give(1)))
    }

    const permit = (cost = 1): Effect.Effect<void, RateLimiterCostError, Scope.Scope> =>
      Effect.uninterruptible(
        Effect.flatMap(takePermit(cost), (release) => Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, release)))
      )

    // A scope of its own: `Effect.scoped` would also close any scope `self` itself needs.
    const withPermit = <A, E, R>(self: Effect.Effect<A, E, R>, cost = 1): Effect.Effect<A, E | RateLimiterCostError, R> =>
      Effect.acquireUseRelease(
        Scope.make(),
        (scope) => Effect.andThen(Scope.provide(permit(cost), scope), self),
        (scope, exit) => Scope.close(scope, exit)
      )

    const status = Effect.gen(function*() {
      const main = yield* requests.snapshot
      const held = budget === undefined ? undefined : yield* budget.snapshot
      return {
        available: main.available,
        capacity,
        refillRate,
        waiting: main.waiting,
        inFlight,
        ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
        ...(held === undefined || tokensPerMinute === undefined
          ? {}
          : { budget: { available: held.available, capacity: tokensPerMinute, waiting: held.waiting } })
      } satisfies Status
    })

    const reset = Effect.andThen(requests.reset, budget === undefined ? Effect.void : budget.reset)

    const reserve = (estimate: number): Effect.Effect<Reservation, RateLimiterCostError> =>
      Effect.suspend(() => {
        if (budget === undefined || tokensPerMinute === undefined) return Effect.succeed({ estimate })
        const error = costError(estimate, tokensPerMinute, "tokensPerMinute")
        return error === undefined ? Effect.as(budget.take(estimate), { estimate }) : Effect.fail(error)
      })

    const reconcile = (reservation: Reservation, actualTokens: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (budget === undefined || settled.has(reservation)) return Effect.void
        settled.add(reservation)
        if (!Number.isFinite(actualTokens) || actualTokens < 0) return Effect.void
        const unused = reservation.estimate - actualTokens
        // Debt rather than a clamp: the provider counts every token it served,
        // so forgetting the excess would let the next minute overshoot its limit.
        if (unused > 0) return budget.give(unused)
        if (unused < 0) return budget.charge(-unused)
        return Effect.void
      })

    const withBudget = <A, E, R>(estimate: number, self: Effect.Effect<A, E, R>, tokensOf: (a: A) => number) =>
      Effect.uninterruptibleMask((restore): Effect.Effect<A, E | RateLimiterCostError, R> =>
        Effect.flatMap(
          restore(reserve(estimate)),
          (reservation) => Effect.tap(restore(self), (a) => reconcile(reservation, tokensOf(a)))
        )
      )

    return RateLimiter.of({
      take,
      tryTake,
      permit,
      takePermit,
      tryTakePermit,
      withPermit,
      status,
      reset,
      reserve,
      hasTokenBudget: budget !== undefined,
      reconcile,
      withBudget
    })
  })

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<RateLimiter, OptionsError> =>
  Layer.effect(RateLimiter, make(options))

/**
 * The limiter with its options read from `Config`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: Config.Config<Options>
): Layer.Layer<RateLimiter, Config.ConfigError | OptionsError> =>
  Layer.effect(RateLimiter, Effect.flatMap(config, make))

/**
 * A limiter that never waits: every take succeeds at once and reservations hold
 * nothing. For tests, and for calls with no configured limit. `status` reports an
 * infinite capacity and counts calls in flight.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeUnlimited: Effect.Effect<Service> = Effect.sync(() => {
  let inFlight = 0
  const leave = Effect.sync(() => {
    inFlight--
  })
  const enter = Effect.sync(() => {
    inFlight++
    return leave
  })
  return RateLimiter.of({
    take: () => Effect.void,
    tryTake: () => Effect.succeed(true),
    permit: () => Effect.acquireRelease(enter, () => leave),
    takePermit: () => enter,
    tryTakePermit: () => enter,
    withPermit: (self) => Effect.acquireUseRelease(enter, () => self, () => leave),
    status: Effect.sync(() => ({
      available: Infinity,
      capacity: Infinity,
      refillRate: Infinity,
      waiting: 0,
      inFlight
    })),
    reset: Effect.void,
    reserve: (estimate) => Effect.succeed({ estimate }),
    hasTokenBudget: false,
    reconcile: () => Effect.void,
    withBudget: (_estimate, self) => self
  })
})

/**
 * A layer of `makeUnlimited`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const unlimited: Layer.Layer<RateLimiter> = Layer.effect(RateLimiter, makeUnlimited)

/**
 * Options of `estimateTokens`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EstimateOptions {
  /** Reply tokens to count when the request sets no `maxTokens`. Default: 0 (the reply is charged by `reconcile`). */
  readonly defaultMaxTokens?: number | undefined
}

// Role markers and separators that chat formats add around every message.
const perMessageOverhead = 4

const charsToTokens = (chars: number) => Math.ceil(chars / 4)

/**
 * A cheap estimate of the model tokens a request can use, to `reserve` before
 * the call: about one token per four characters of prompt (messages, tool
 * definitions, a JSON schema response format), plus `maxTokens`. Images are not
 * counted. `reconcile` corrects the estimate with the real usage afterwards.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const estimateTokens = (request: ChatRequest.Input, options?: EstimateOptions): number => {
  let chars = 0
  for (const message of request.messages) {
    switch (message.role) {
      case "system":
        chars += message.content.length
        break
      case "user":
        chars += textOf(message.content).length
        break
      case "assistant":
        chars += message.content.length + (message.reasoning?.length ?? 0)
        for (const call of message.toolCalls ?? []) chars += call.name.length + call.arguments.length
        break
      case "tool":
        chars += message.content.length + (message.name?.length ?? 0)
        break
    }
  }
  if (request.tools !== undefined) chars += JSON.stringify(request.tools).length
  if (request.responseFormat?.type === "json_schema") chars += JSON.stringify(request.responseFormat.schema).length
  const reply = request.maxTokens ?? options?.defaultMaxTokens ?? 0
  return charsToTokens(chars) + perMessageOverhead * request.messages.length + reply
}

