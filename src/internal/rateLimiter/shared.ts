/**
 * The limiter behind `RateLimiter` with `shared`: its request bucket and
 * tokens-per-minute budget are Redis buckets (`store/bucket.ts`), its
 * in-flight cap a lease group of one slot (`store/leases.ts`), so every
 * instance naming the same store and key draws from one limit.
 *
 * While Redis is unavailable, `onUnavailable` decides: `"fail-open"` takes
 * permits from a local limiter holding `1 / instances` of each limit, and the
 * shared one again once a command succeeds; `"fail-closed"` fails with
 * `StoreUnavailableError`. A permit is given back where it was taken.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type * as RateLimiter from "../../RateLimiter.js"
import { RateLimiterExceededError } from "../../RateLimiter.js"
import type * as Store from "../../Store.js"
import type { StoreUnavailableError } from "../../Store.js"
import * as Bucket from "../store/bucket.js"
import * as Leases from "../store/leases.js"
import { consumed, costError, type Local, makeLocal, type Reservation, statusOf } from "./limiter.js"

// How often a call waiting for an in-flight slot held by another instance looks again.
const slotPollMillis = 20

/** A reservation of the shared budget, or of the local one while Redis is away. */
class SharedReservation implements Reservation {
  settled = false
  constructor(readonly estimate: number, readonly local: Reservation | undefined) {}
}

const divided = (options: RateLimiter.Options, instances: number): RateLimiter.Options => ({
  capacity: options.capacity / instances,
  refillRate: options.refillRate / instances,
  maxConcurrency: options.maxConcurrency === undefined
    ? undefined
    : Math.max(1, Math.floor(options.maxConcurrency / instances)),
  tokensPerMinute: options.tokensPerMinute === undefined ? undefined : options.tokensPerMinute / instances
})

/** A limiter over options `RateLimiter.make` has checked, kept in `shared.store`. */
export const make = (
  options: RateLimiter.Options,
  shared: Store.Shared
): Effect.Effect<RateLimiter.Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { capacity, maxConcurrency, refillRate, tokensPerMinute } = options
    const connection = shared.store.connection
    const requests = Bucket.make(connection, `${shared.key}:requests`, capacity, refillRate)
    const budget = tokensPerMinute === undefined
      ? undefined
      : Bucket.make(connection, `${shared.key}:tokens`, tokensPerMinute, tokensPerMinute / 60)
    const slots = maxConcurrency === undefined
      ? undefined
      : yield* Leases.group(connection, `${shared.key}:limiter`, [{ id: "slots", weight: 1, maxConcurrency }], 0)
    const local: Local | undefined = connection.onUnavailable === "fail-open"
      ? yield* makeLocal(divided(options, connection.instances))
      : undefined
    const clock = yield* Clock.Clock
    let inFlight = 0
    let waiting = 0

    // Under fail-open, a store failure sends the step to the local limiter.
    const orLocal = <A, E, R, B, E2, R2>(
      step: Effect.Effect<A, E | StoreUnavailableError, R>,
      fallback: (local: Local) => Effect.Effect<B, E2, R2>
    ): Effect.Effect<A | B, E | E2 | StoreUnavailableError, R | R2> =>
      local === undefined
        ? step
        : Effect.catchTag(step, "StoreUnavailableError", () => fallback(local)) as Effect.Effect<
          A | B,
          E | E2 | StoreUnavailableError,
          R | R2
        >

    const freeSlot = (lease: Leases.Taken | undefined) =>
      lease === undefined || slots === undefined ? Effect.void : Effect.ignore(slots.release(0, lease.lease, undefined))

    const leave = (lease: Leases.Taken | undefined) =>
      Effect.suspend(() => {
        inFlight--
        return freeSlot(lease)
      })
    // A permit without a slot, given back: one effect for all of them.
    const leaveSlotless = leave(undefined)

    const takeSlot: Effect.Effect<Leases.Taken | undefined, StoreUnavailableError> = slots === undefined
      ? Effect.succeed(undefined)
      : Effect.flatMap(slots.pick, (result) =>
        result._tag === "Taken"
          ? Effect.succeed(result)
          : Effect.andThen(Effect.sleep(Duration.millis(slotPollMillis)), takeSlot))

    const trySlot: Effect.Effect<Leases.Taken | undefined | false, StoreUnavailableError> = slots === undefined
      ? Effect.succeed(undefined)
      : Effect.map(slots.pick, (result) => result._tag === "Taken" ? result : false)

    // The tokens are reserved at once and due after the returned wait; an
    // interrupted wait gives them back.
    const waitTokens = (bucket: Bucket.Bucket, cost: number) =>
      Effect.flatMap(bucket.take(cost), (result) =>
        result.waitMillis <= 0
          ? Effect.void
          : Effect.onInterrupt(
            Effect.interruptible(Effect.sleep(Bucket.delayOf(result))),
            () => Effect.ignore(bucket.give(cost))
          ))

    const sharedPermit = (cost: number): Effect.Effect<Effect.Effect<void>, StoreUnavailableError> =>
      Effect.suspend(() => {
        waiting++
        return Effect.ensuring(
          Effect.flatMap(Effect.interruptible(takeSlot), (lease) =>
            Effect.andThen(
              Effect.onError(waitTokens(requests, cost), () => freeSlot(lease)),
              Effect.sync(() => {
                inFlight++
                return leave(lease)
              })
            )),
          Effect.sync(() => {
            waiting--
          })
        )
      })

    const takePermit = (cost: number) =>
      Effect.suspend(() => {
        const error = costError(cost, capacity, "requests")
        if (error !== undefined) return Effect.fail(error)
        return orLocal(sharedPermit(cost), (local) => local.permits.takePermit(cost))
      })

    const reserve = (
      estimate: number
    ): Effect.Effect<Reservation, RateLimiter.RateLimiterCostError | StoreUnavailableError> =>
      Effect.suspend(() => {
        if (budget === undefined || tokensPerMinute === undefined) {
          return Effect.succeed<Reservation>({ estimate, settled: false })
        }
        const error = costError(estimate, tokensPerMinute, "tokensPerMinute")
        if (error !== undefined) {
          return Effect.fail(error)
        }
        return orLocal(
          Effect.as(waitTokens(budget, estimate), new SharedReservation(estimate, undefined)),
          (local) => Effect.map(local.permits.reserve(estimate), (held) => new SharedReservation(estimate, held))
        )
      })

    const reconcile = (reservation: Reservation, actualTokens: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!(reservation instanceof SharedReservation)) return Effect.void
        if (reservation.local !== undefined) {
          return local === undefined
            ? Effect.void
            : local.permits.reconcile(reservation.local, actualTokens)
        }
        if (budget === undefined || reservation.settled) return Effect.void
        reservation.settled = true
        if (!Number.isFinite(actualTokens) || actualTokens < 0) return Effect.void
        const unused = reservation.estimate - actualTokens
        // A settlement lost to an outage errs on the safe side: the estimate stays spent.
        if (unused > 0) return Effect.ignore(budget.give(unused))
        if (unused < 0) return Effect.ignore(budget.charge(-unused))
        return Effect.void
      })

    const exceeded = (bucket: "requests" | "tokensPerMinute", limit: number, result: Bucket.Result) =>
      new RateLimiterExceededError({
        bucket,
        limit,
        remaining: Math.max(0, result.level),
        retryAfter: Bucket.delayOf(result)
      })

    // `onExceeded: "fail"` on the store: everything or nothing; what was taken before the refusal goes back.
    const tryHoldShared = (cost: number, tokens: number) =>
      Effect.gen(function*() {
        if (budget !== undefined && tokensPerMinute !== undefined && tokens > 0) {
          const result = yield* budget.tryTake(tokens)
          if (!result.granted) return yield* Effect.fail(exceeded("tokensPerMinute", tokensPerMinute, result))
        }
        const refund = budget !== undefined && tokens > 0 ? Effect.ignore(budget.give(tokens)) : Effect.void
        const lease = yield* Effect.onError(trySlot, () => refund)
        if (lease === false) {
          yield* refund
          return yield* Effect.fail(
            new RateLimiterExceededError({ bucket: "concurrency", limit: maxConcurrency ?? 0, remaining: 0 })
          )
        }
        const result = yield* Effect.onError(requests.tryTake(cost), () => Effect.andThen(freeSlot(lease), refund))
        if (!result.granted) {
          yield* Effect.andThen(freeSlot(lease), refund)
          return yield* Effect.fail(exceeded("requests", capacity, result))
        }
        inFlight++
        return { release: lease === undefined ? leaveSlotless : leave(lease), remaining: result.level }
      })

    const resultOf = (
      start: number,
      reservation: Reservation | undefined,
      remaining: number
    ): RateLimiter.ConsumeResult => ({
      delay: Duration.millis(clock.currentTimeMillisUnsafe() - start),
      limit: capacity,
      remaining,
      resetAfter: Duration.millis(Math.max(0, capacity - remaining) / refillRate * 1000),
      reconcile: (actualTokens) => reservation === undefined ? Effect.void : reconcile(reservation, actualTokens)
    })

    const consume = (
      consumeOptions?: RateLimiter.ConsumeOptions
    ): Effect.Effect<
      RateLimiter.ConsumeResult,
      RateLimiter.RateLimiterCostError | RateLimiterExceededError | StoreUnavailableError,
      Scope.Scope
    > =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const { cost, error, tokens } = consumed(consumeOptions, options)
          if (error !== undefined) return Effect.fail(error)
          const start = clock.currentTimeMillisUnsafe()
          // The permit released with the scope, and the result. What a try leaves in the bucket comes with its
          // answer; a wait's is read after it.
          const settled = (release: Effect.Effect<void>, reservation: Reservation | undefined, remaining?: number) =>
            Effect.flatMap(Effect.scope, (scope) =>
              Effect.andThen(
                Scope.addFinalizer(scope, release),
                remaining !== undefined
                  ? Effect.sync(() => resultOf(start, reservation, remaining))
                  : Effect.map(
                    Effect.orElseSucceed(Effect.map(requests.peek, (result) => result.level), () => 0),
                    (remaining) => resultOf(start, reservation, remaining)
                  )
              ))
          if (consumeOptions?.onExceeded === "fail") {
            const shared = Effect.flatMap(
              tryHoldShared(cost, tokens),
              (held) =>
                settled(held.release, tokens > 0 ? new SharedReservation(tokens, undefined) : undefined, held.remaining)
            )
            // Under fail-open, the whole consume (permit and tokens) goes to the local limiter.
            return orLocal(shared, (local) => local.service.consume(consumeOptions))
          }
          return Effect.flatMap(
            tokens > 0 ? restore(reserve(tokens)) : Effect.succeed(undefined),
            (reservation) =>
              Effect.flatMap(
                Effect.onInterrupt(takePermit(cost), () =>
                  reservation === undefined ? Effect.void : reconcile(reservation, 0)),
                (release) =>
                  settled(release, reservation)
              )
          )
        })
      )

    // Waiters are this instance's: Redis knows only how far below zero the levels are.
    const sharedStatus = Effect.gen(function*() {
      const main = yield* requests.peek
      const held = budget === undefined ? undefined : yield* budget.peek
      return statusOf(
        options,
        { available: main.level, waiting },
        inFlight,
        held && { available: held.level, waiting: 0 }
      )
    })

    // Without the store: the local limiter's state under fail-open, an empty bucket under fail-closed.
    const status: Effect.Effect<RateLimiter.Status> = Effect.catchTag(sharedStatus, "StoreUnavailableError", () =>
      local === undefined
        ? Effect.succeed(statusOf(options, { available: 0, waiting }, inFlight, undefined))
        : local.service.status)

    const reset = Effect.ignore(Effect.andThen(requests.reset, budget === undefined ? Effect.void : budget.reset))

    return { consume, status, reset }
  })
