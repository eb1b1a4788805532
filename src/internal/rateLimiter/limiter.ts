/**
 * The limiter behind `RateLimiter`: `consume`, over a request bucket, an
 * optional budget bucket and optional concurrency slots (`rateLimiter/bucket.ts`).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type * as RateLimiter from "../../RateLimiter.js"
import { RateLimiterCostError, RateLimiterExceededError } from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"
import * as Bucket from "./bucket.js"

/** Model tokens held for one call by `reserve`, until `reconcile` settles them. */
export interface Reservation {
  readonly estimate: number
  settled: boolean
}

/**
 * What a limiter's `consume` is made of, for the shared limiter to fall back
 * on piece by piece while its store is away (`rateLimiter/shared.ts`).
 */
export interface Permits {
  /**
   * Takes a slot (with `maxConcurrency`) and then `cost` tokens, waiting for
   * each in arrival order, and gives the effect that frees the slot, to run
   * exactly once. Call it uninterruptibly (its waits stay interruptible).
   */
  readonly takePermit: (
    cost: number
  ) => Effect.Effect<Effect.Effect<void>, RateLimiterCostError | StoreUnavailableError>
  /** Waits, in arrival order, until the budget holds `estimate` model tokens and holds them. */
  readonly reserve: (estimate: number) => Effect.Effect<Reservation, RateLimiterCostError | StoreUnavailableError>
  /** `ConsumeResult.reconcile` of a reservation. */
  readonly reconcile: (reservation: Reservation, actualTokens: number) => Effect.Effect<void>
}

/** A limiter and what its `consume` is made of. */
export interface Local {
  readonly service: RateLimiter.Service
  readonly permits: Permits
}

/** Why `cost` can never be granted by a bucket of `capacity`, or undefined. */
export const costError = (cost: number, capacity: number, bucket: RateLimiterCostError["bucket"]) =>
  Number.isFinite(cost) && cost >= 0 && cost <= capacity
    ? undefined
    : new RateLimiterCostError({ cost, capacity, bucket })

/**
 * What a `consume` asks of a limiter with `options`: its cost, its tokens (0 without a budget), and why it can never be
 * granted.
 */
export const consumed = (consume: RateLimiter.ConsumeOptions | undefined, options: RateLimiter.Options) => {
  const cost = consume?.cost ?? 1
  const tokens = options.tokensPerMinute === undefined ? 0 : consume?.tokens ?? 0
  const error = costError(cost, options.capacity, "requests") ??
    (options.tokensPerMinute === undefined ? undefined : costError(tokens, options.tokensPerMinute, "tokensPerMinute"))
  return { cost, tokens, error }
}

/** A limiter's `status` from its buckets' levels and waiters. */
export const statusOf = (
  options: RateLimiter.Options,
  requests: { readonly available: number; readonly waiting: number },
  inFlight: number,
  budget: { readonly available: number; readonly waiting: number } | undefined
): RateLimiter.Status => ({
  available: requests.available,
  capacity: options.capacity,
  refillRate: options.refillRate,
  waiting: requests.waiting,
  inFlight,
  ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
  ...(budget === undefined || options.tokensPerMinute === undefined
    ? {}
    : { budget: { available: budget.available, capacity: options.tokensPerMinute, waiting: budget.waiting } })
})

// The `reconcile` of a consume that took nothing from the budget.
const settledAlready = (_actualTokens: number): Effect.Effect<void> => Effect.void

const millisUntil = (tokens: number, perSecond: number) => Duration.millis(Math.max(0, tokens) / perSecond * 1000)

/** A limiter over options `RateLimiter.make` has checked. */
export const make = (options: RateLimiter.Options): Effect.Effect<RateLimiter.Service, never, Scope.Scope> =>
  Effect.map(makeLocal(options), (local) => local.service)

/** `make`, with what its `consume` is made of. */
export const makeLocal = Effect.fnUntraced(
  function*(options: RateLimiter.Options): Effect.fn.Return<Local, never, Scope.Scope> {
    const { capacity, maxConcurrency, refillRate, tokensPerMinute } = options
    const clock = yield* Clock.Clock

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
    const takePermit = (cost: number): Effect.Effect<Effect.Effect<void>, RateLimiterCostError> => {
      const error = costError(cost, capacity, "requests")
      if (error !== undefined) return Effect.fail(error)
      const token = Effect.andThen(Effect.interruptible(requests.take(cost)), entered)
      return slots === undefined
        ? token
        : Effect.andThen(Effect.interruptible(slots.take(1)), Effect.onInterrupt(token, () => slots.give(1)))
    }

    const reserve = (estimate: number): Effect.Effect<Reservation, RateLimiterCostError> =>
      Effect.suspend(() => {
        if (budget === undefined || tokensPerMinute === undefined) return Effect.succeed({ estimate, settled: false })
        const error = costError(estimate, tokensPerMinute, "tokensPerMinute")
        return error === undefined ? Effect.as(budget.take(estimate), { estimate, settled: false }) : Effect.fail(error)
      })

    const reconcile = (reservation: Reservation, actualTokens: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (budget === undefined || reservation.settled) return Effect.void
        reservation.settled = true
        if (!Number.isFinite(actualTokens) || actualTokens < 0) return Effect.void
        const unused = reservation.estimate - actualTokens
        // Debt rather than a clamp: the provider counts every token it served,
        // so forgetting the excess would let the next minute overshoot its limit.
        if (unused > 0) return budget.give(unused)
        if (unused < 0) return budget.charge(-unused)
        return Effect.void
      })

    // `onExceeded: "fail"`: everything or nothing, at once; what was taken
    // before the bucket that refused goes back.
    const tryHold = (cost: number, tokens: number): RateLimiterExceededError | undefined => {
      if (budget !== undefined && tokensPerMinute !== undefined && tokens > 0 && !budget.tryTakeUnsafe(tokens)) {
        const { available, queued } = budget.snapshotUnsafe()
        return new RateLimiterExceededError({
          bucket: "tokensPerMinute",
          limit: tokensPerMinute,
          remaining: available,
          retryAfter: millisUntil(queued + tokens - available, tokensPerMinute / 60)
        })
      }
      const refund = () => {
        if (budget !== undefined && tokens > 0) budget.giveUnsafe(tokens)
      }
      if (slots !== undefined && maxConcurrency !== undefined && !slots.tryTakeUnsafe(1)) {
        refund()
        return new RateLimiterExceededError({ bucket: "concurrency", limit: maxConcurrency, remaining: 0 })
      }
      if (!requests.tryTakeUnsafe(cost)) {
        if (slots !== undefined) slots.giveUnsafe(1)
        refund()
        const { available, queued } = requests.snapshotUnsafe()
        return new RateLimiterExceededError({
          bucket: "requests",
          limit: capacity,
          remaining: available,
          retryAfter: millisUntil(queued + cost - available, refillRate)
        })
      }
      inFlight++
      return undefined
    }

    const resultOf = (start: number, reservation: Reservation | undefined): RateLimiter.ConsumeResult => {
      const { available, queued } = requests.snapshotUnsafe()
      const waited = clock.currentTimeMillisUnsafe() - start
      return {
        delay: waited === 0 ? Duration.zero : Duration.millis(waited),
        limit: capacity,
        remaining: available,
        resetAfter: millisUntil(capacity - available + queued, refillRate),
        reconcile: reservation === undefined ? settledAlready : (actualTokens) => reconcile(reservation, actualTokens)
      }
    }

    // The permit held until the scope closes, and what the call got.
    const held = (
      scope: Scope.Scope,
      release: Effect.Effect<void>,
      start: number,
      reservation: Reservation | undefined
    ) => Effect.as(Scope.addFinalizer(scope, release), resultOf(start, reservation))

    // `onExceeded: "fail"` takes all it takes at once, within one step: nothing to interrupt.
    const consumeNow = (
      consumeOptions: RateLimiter.ConsumeOptions
    ): Effect.Effect<RateLimiter.ConsumeResult, RateLimiterCostError | RateLimiterExceededError, Scope.Scope> =>
      Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope): Effect.Effect<
        RateLimiter.ConsumeResult,
        RateLimiterCostError | RateLimiterExceededError
      > => {
        const { cost, error, tokens } = consumed(consumeOptions, options)
        if (error !== undefined) return Effect.fail(error)
        const start = clock.currentTimeMillisUnsafe()
        const exceeded = tryHold(cost, tokens)
        if (exceeded !== undefined) return Effect.fail(exceeded)
        return held(scope, leaveSlot, start, tokens > 0 ? { estimate: tokens, settled: false } : undefined)
      }))

    const consume = (
      consumeOptions?: RateLimiter.ConsumeOptions
    ): Effect.Effect<RateLimiter.ConsumeResult, RateLimiterCostError | RateLimiterExceededError, Scope.Scope> =>
      consumeOptions?.onExceeded === "fail" ?
        consumeNow(consumeOptions) :
        Effect.uninterruptibleMask((restore) =>
          Effect.suspend(() => {
            const { cost, error, tokens } = consumed(consumeOptions, options)
            if (error !== undefined) return Effect.fail(error)
            const start = clock.currentTimeMillisUnsafe()
            const reservation = tokens > 0 ? { estimate: tokens, settled: false } : undefined
            const permit: Effect.Effect<Effect.Effect<void>, RateLimiterCostError> =
              budget === undefined || reservation === undefined
                ? takePermit(cost)
                // Interrupted while it waits for the permit: the call never
                // started, so its estimate goes back.
                : Effect.andThen(
                  restore(budget.take(tokens)),
                  Effect.onInterrupt(takePermit(cost), () => reconcile(reservation, 0))
                )
            return Effect.flatMap(permit, (release) =>
              Effect.flatMap(Effect.scope, (scope) =>
                Effect.suspend(() => held(scope, release, start, reservation))))
          })
        )

    const status = Effect.gen(function*() {
      const main = yield* requests.snapshot
      return statusOf(options, main, inFlight, budget === undefined ? undefined : yield* budget.snapshot)
    })

    const reset = Effect.andThen(requests.reset, budget === undefined ? Effect.void : budget.reset)

    return { service: { consume, status, reset }, permits: { takePermit, reserve, reconcile } }
  }
)

const unlimitedResult: RateLimiter.ConsumeResult = {
  delay: Duration.zero,
  limit: Infinity,
  remaining: Infinity,
  resetAfter: Duration.zero,
  reconcile: () => Effect.void
}

/** The limiter of `RateLimiter.makeUnlimited`. */
export const unlimited = (): RateLimiter.Service => {
  let inFlight = 0
  const leave = Effect.sync(() => {
    inFlight--
  })
  const enter = Effect.sync(() => {
    inFlight++
    return leave
  })
  return {
    consume: () => Effect.as(Effect.acquireRelease(enter, () => leave), unlimitedResult),
    status: Effect.sync(() => ({
      available: Infinity,
      capacity: Infinity,
      refillRate: Infinity,
      waiting: 0,
      inFlight
    })),
    reset: Effect.void
  }
}
