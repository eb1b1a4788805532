/**
 * The one limiter behind `RateLimiter`, over its two stores: a request bucket and an optional budget bucket
 * (`BucketStore`), and optional in-flight slots (`SlotStore`), whatever their backend.
 *
 * Each bucket has a first-come, first-served line of this limiter's callers. Only the head holds a reservation in the
 * store: its `take` reserves the tokens (the level going below zero) and answers how long until they have refilled, and
 * the head sleeps that long. The next caller reserves once the head is served, so the heads of every instance's lines
 * are served in the order they reached the store. A step that makes tokens due sooner (a reset, a refund, a cancelled
 * head) wakes the head, which gives its reservation back and reserves again. The slots' head tries again when this
 * limiter frees one or every `slotPollMillis`.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type * as RateLimiter from "../../RateLimiter.js"
import { RateLimiterCostError, RateLimiterExceededError } from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"
import { takenInScope } from "../held.js"
import { monotonicMillis } from "../time/monotonic.js"

/** What a limiter keeps its state in. */
export interface Stores {
  readonly buckets: RateLimiter.BucketStore["Service"]
  readonly slots: RateLimiter.SlotStore["Service"]
}

// How often the head of the slots' line looks again for a slot another instance freed.
const slotPollMillis = 20

interface Waiter {
  readonly cost: number
  /** Done when the waiter reaches the head of its line; absent for one that joined an empty line. */
  readonly turn: Deferred.Deferred<void> | undefined
  /** Done to wake the head early; present while it sleeps. */
  wake: Deferred.Deferred<void> | undefined
  /** Whether its tokens are reserved in the store. */
  reserved: boolean
}

/** A line of this limiter's callers for one bucket or for the slots, in arrival order. */
class Line {
  readonly waiters: Array<Waiter> = []
  /** The cost of every waiter, together. */
  queued = 0
  join(cost: number): Waiter {
    const waiter: Waiter = {
      cost,
      turn: this.waiters.length === 0 ? undefined : Deferred.makeUnsafe<void>(),
      wake: undefined,
      reserved: false
    }
    this.waiters.push(waiter)
    this.queued += cost
    return waiter
  }
  leave(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter)
    if (index < 0) return
    this.waiters.splice(index, 1)
    this.queued -= waiter.cost
    const next = this.waiters[0]
    if (index === 0 && next?.turn !== undefined) Deferred.doneUnsafe(next.turn, Exit.void)
  }
  wakeHead(): void {
    const head = this.waiters[0]
    if (head?.wake === undefined) return
    Deferred.doneUnsafe(head.wake, Exit.void)
    head.wake = undefined
  }
  /** The tokens the head holds reserved in the store. */
  get reserved(): number {
    const head = this.waiters[0]
    return head !== undefined && head.reserved ? head.cost : 0
  }
  /** Waiters outlive the limiter only if they were forked elsewhere: interrupted rather than left hanging. */
  close(): void {
    for (const waiter of this.waiters.splice(0)) {
      if (waiter.turn !== undefined) Deferred.doneUnsafe(waiter.turn, Exit.interrupt())
      if (waiter.wake !== undefined) Deferred.doneUnsafe(waiter.wake, Exit.interrupt())
    }
    this.queued = 0
  }
}

/** Model tokens held for one call, until `reconcile` settles them. */
interface Reservation {
  readonly estimate: number
  settled: boolean
}

/** Why `cost` can never be granted by a bucket of `capacity`, or undefined. */
function costError(cost: number, capacity: number, bucket: RateLimiterCostError["bucket"]) {
  return Number.isFinite(cost) && cost >= 0 && cost <= capacity
    ? undefined
    : new RateLimiterCostError({ cost, capacity, bucket })
}

/** What a `consume` asks: its cost, its tokens (0 without a budget), and why it can never be granted. */
function consumed(consume: RateLimiter.ConsumeOptions | undefined, options: RateLimiter.Options) {
  const cost = consume?.cost ?? 1
  const tokens = options.tokensPerMinute === undefined ? 0 : consume?.tokens ?? 0
  const error = costError(cost, options.capacity, "requests") ??
    (options.tokensPerMinute === undefined ? undefined : costError(tokens, options.tokensPerMinute, "tokensPerMinute"))
  return { cost, tokens, error }
}

function statusOf(
  options: RateLimiter.Options,
  requests: { readonly available: number; readonly waiting: number },
  inFlight: number,
  budget: { readonly available: number; readonly waiting: number } | undefined
): RateLimiter.Status {
  return {
    available: requests.available,
    capacity: options.capacity,
    refillRate: options.refillRate,
    waiting: requests.waiting,
    inFlight,
    ...(options.maxConcurrency === undefined ? {} : { maxConcurrency: options.maxConcurrency }),
    ...(budget === undefined || options.tokensPerMinute === undefined
      ? {}
      : { budget: { available: budget.available, capacity: options.tokensPerMinute, waiting: budget.waiting } })
  }
}

// The `reconcile` of a consume that took nothing from the budget.
const settledAlready = (): Effect.Effect<void> => Effect.void

/** A bucket of the store with this limiter's line for it. */
interface Tokens {
  readonly bucket: RateLimiter.Bucket
  readonly line: Line
  /** Tokens per millisecond. */
  readonly perMilli: number
}

const tokensOf = (buckets: Stores["buckets"], options: RateLimiter.BucketOptions) =>
  Effect.map(
    buckets.bucket(options),
    (bucket): Tokens => ({ bucket, line: new Line(), perMilli: options.refillRate / 1000 })
  )

/** As the head of the line: reserves `waiter.cost` and sleeps until it is due, reserving again when woken early. */
function reserve(tokens: Tokens, waiter: Waiter): Effect.Effect<number, StoreUnavailableError> {
  return Effect.flatMap(tokens.bucket.take(waiter.cost), (result) => {
    waiter.reserved = true
    if (result.waitMillis <= 0) return Effect.succeed(result.level)
    const wake = Deferred.makeUnsafe<void>()
    waiter.wake = wake
    const due = Effect.as(Effect.sleep(Duration.millis(result.waitMillis)), false)
    return Effect.flatMap(
      Effect.interruptible(Effect.raceFirst(due, Effect.as(Deferred.await(wake), true))),
      (woken) => {
        waiter.wake = undefined
        if (!woken) return Effect.succeed(result.level + result.waitMillis * tokens.perMilli)
        return Effect.andThen(
          tokens.bucket.give(waiter.cost),
          Effect.suspend(() => {
            waiter.reserved = false
            return reserve(tokens, waiter)
          })
        )
      }
    )
  })
}

/** Waits in line for `cost` tokens and takes them; interrupted or failed, it leaves the line and gives them back. */
function takeTokens(tokens: Tokens, cost: number): Effect.Effect<number, StoreUnavailableError> {
  return Effect.uninterruptible(Effect.suspend(() => {
    const waiter = tokens.line.join(cost)
    const served = waiter.turn === undefined
      ? reserve(tokens, waiter)
      : Effect.andThen(Effect.interruptible(Deferred.await(waiter.turn)), reserve(tokens, waiter))
    return Effect.onExit(served, (exit) =>
      Exit.isSuccess(exit) || !waiter.reserved
        ? Effect.sync(() => tokens.line.leave(waiter))
        : Effect.andThen(Effect.ignore(tokens.bucket.give(cost)), Effect.sync(() => tokens.line.leave(waiter))))
  }))
}

/** `cost` tokens now, if nobody in this limiter's line is ahead and the store has them: the store's answer. */
function tryTokens(tokens: Tokens, cost: number): Effect.Effect<RateLimiter.BucketResult, StoreUnavailableError> {
  const { line } = tokens
  if (line.waiters.length === 0) return tokens.bucket.tryTake(cost)
  return Effect.map(tokens.bucket.peek, (result) => {
    const available = result.level + line.reserved
    return { granted: false, level: available, waitMillis: (line.queued + cost - available) / tokens.perMilli }
  })
}

function exceeded(bucket: "requests" | "tokensPerMinute", limit: number, result: RateLimiter.BucketResult) {
  return new RateLimiterExceededError({
    bucket,
    limit,
    remaining: Math.max(0, result.level),
    retryAfter: Duration.millis(Math.max(0, result.waitMillis))
  })
}

/** The in-flight slots of the store with this limiter's line for them. */
interface Slots {
  readonly slots: RateLimiter.Slots
  readonly line: Line
}

/** As the head of the slots' line: tries for a slot until it has one; gives its release. */
function acquire(slots: Slots, waiter: Waiter): Effect.Effect<Effect.Effect<void>, StoreUnavailableError> {
  return Effect.flatMap(slots.slots.tryAcquire, (release) => {
    if (Option.isSome(release)) return Effect.succeed(release.value)
    const wake = Deferred.makeUnsafe<void>()
    waiter.wake = wake
    const poll = Effect.sleep(Duration.millis(slotPollMillis))
    return Effect.andThen(Effect.interruptible(Effect.raceFirst(poll, Deferred.await(wake))), acquire(slots, waiter))
  })
}

/** Waits in line for a slot and takes it; gives its release. */
function takeSlot(slots: Slots): Effect.Effect<Effect.Effect<void>, StoreUnavailableError> {
  return Effect.uninterruptible(Effect.suspend(() => {
    const waiter = slots.line.join(1)
    const served = waiter.turn === undefined
      ? acquire(slots, waiter)
      : Effect.andThen(Effect.interruptible(Deferred.await(waiter.turn)), acquire(slots, waiter))
    return Effect.ensuring(served, Effect.sync(() => slots.line.leave(waiter)))
  }))
}

/** What a call holds once its permit is granted, and the level the request bucket had then. */
interface Permit {
  readonly release: Effect.Effect<void>
  readonly level: number
}

/** A reservation settled with the tokens used: what it did not use given back, what it used past it charged, once. */
function reconcile(budget: Tokens | undefined, reservation: Reservation, actualTokens: number): Effect.Effect<void> {
  return Effect.suspend(() => {
    if (budget === undefined || reservation.settled) return Effect.void
    reservation.settled = true
    if (!Number.isFinite(actualTokens) || actualTokens < 0) return Effect.void
    const unused = reservation.estimate - actualTokens
    // Debt rather than a clamp: the provider counts every token it served, so forgetting the excess would let the next
    // minute overshoot its limit. A settlement lost to an outage errs on the safe side: the estimate stays spent.
    const settle = unused > 0 ? budget.bucket.give(unused) : unused < 0 ? budget.bucket.charge(-unused) : undefined
    return settle === undefined
      ? Effect.void
      : Effect.andThen(Effect.ignore(settle), Effect.sync(() => budget.line.wakeHead()))
  })
}

/**
 * The limiter's status now; without the store (fail-closed), an empty bucket. Waiters are this limiter's; the store
 * knows only how far below zero other instances' reservations took the level.
 */
function statusNow(
  options: RateLimiter.Options,
  requests: Tokens,
  budget: Tokens | undefined,
  inFlight: number
): Effect.Effect<RateLimiter.Status> {
  return Effect.catchTag(
    Effect.gen(function*() {
      const main = yield* requests.bucket.peek
      const spent = budget === undefined ? undefined : yield* budget.bucket.peek
      return statusOf(
        options,
        { available: main.level + requests.line.reserved, waiting: requests.line.waiters.length },
        inFlight,
        budget === undefined || spent === undefined
          ? undefined
          : { available: spent.level + budget.line.reserved, waiting: budget.line.waiters.length }
      )
    }),
    "StoreUnavailableError",
    () =>
      Effect.succeed(statusOf(options, { available: 0, waiting: requests.line.waiters.length }, inFlight, undefined))
  )
}

// A bucket back to full, and the first in its line woken.
function resetOf(tokens: Tokens) {
  return Effect.andThen(Effect.ignore(tokens.bucket.reset), Effect.sync(() => tokens.line.wakeHead()))
}

/**
 * A limiter's buckets and slots in `stores` under `key`, each with its line of waiting calls, closed with the scope.
 */
const linesOf = Effect.fnUntraced(function*(options: RateLimiter.Options, key: string, stores: Stores) {
  const { capacity, maxConcurrency, refillRate, tokensPerMinute } = options
  const requests = yield* tokensOf(stores.buckets, { key: `${key}:requests`, capacity, refillRate })
  const budget = tokensPerMinute === undefined
    ? undefined
    : yield* tokensOf(stores.buckets, {
      key: `${key}:tokens`,
      capacity: tokensPerMinute,
      refillRate: tokensPerMinute / 60
    })
  const slots: Slots | undefined = maxConcurrency === undefined
    ? undefined
    : { slots: yield* stores.slots.slots({ key, limit: maxConcurrency }), line: new Line() }
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      requests.line.close()
      budget?.line.close()
      slots?.line.close()
    })
  )
  return { requests, budget, slots }
})

/** A limiter over options `RateLimiter.make` has checked, keeping its state in `stores` under `key`. */
export const make = Effect.fnUntraced(
  function*(options: RateLimiter.Options, key: string, stores: Stores): Effect.fn.Return<
    RateLimiter.Service,
    never,
    Scope.Scope
  > {
    const { capacity, maxConcurrency, refillRate, tokensPerMinute } = options
    const clock = yield* Clock.Clock
    const { budget, requests, slots } = yield* linesOf(options, key, stores)
    let inFlight = 0

    // A slot given back wakes the next in line for one.
    function freed(slot: Effect.Effect<void>) {
      return Effect.andThen(slot, Effect.sync(() => slots?.line.wakeHead()))
    }
    const leave = Effect.sync(() => {
      inFlight--
    })
    // A call holding its permit; leaving frees its slot.
    function entered(slot: Effect.Effect<void> | undefined): Effect.Effect<void> {
      inFlight++
      return slot === undefined ? leave : Effect.andThen(leave, freed(slot))
    }

    // Slot first, token second: a call then starts the moment it gets its token, so the bucket's bound holds for call
    // starts, not only for grants. A slot taken before a failed or interrupted token wait goes back.
    function takePermit(cost: number): Effect.Effect<Permit, StoreUnavailableError> {
      return slots === undefined
        ? Effect.map(takeTokens(requests, cost), (level) => ({ release: entered(undefined), level }))
        : Effect.flatMap(takeSlot(slots), (slot) =>
          Effect.map(
            Effect.onError(takeTokens(requests, cost), () => freed(slot)),
            (level) => ({ release: entered(slot), level })
          ))
    }

    function resultOf(
      start: number,
      reservation: Reservation | undefined,
      level: number
    ): RateLimiter.ConsumeResult {
      const waited = monotonicMillis(clock) - start
      return {
        delay: waited === 0 ? Duration.zero : Duration.millis(waited),
        limit: capacity,
        remaining: level,
        resetAfter: Duration.millis(Math.max(0, capacity - level + requests.line.queued) / refillRate * 1000),
        reconcile: reservation === undefined
          ? settledAlready
          : (actualTokens) => reconcile(budget, reservation, actualTokens)
      }
    }

    function held(permit: Permit, start: number, reservation: Reservation | undefined) {
      return Effect.flatMap(
        Effect.scope,
        (scope) => Effect.as(Scope.addFinalizer(scope, permit.release), resultOf(start, reservation, permit.level))
      )
    }

    // `onExceeded: "fail"`: everything or nothing, at once, the request tokens last; what was taken before a refusal
    // goes back.
    function tryRequests(
      cost: number,
      slot: Effect.Effect<void> | undefined,
      giveBudget: Effect.Effect<void> | undefined
    ): Effect.Effect<Permit, RateLimiterExceededError | StoreUnavailableError> {
      const giveBack = slot === undefined ? giveBudget : giveBudget === undefined
        ? freed(slot)
        : Effect.andThen(freed(slot), giveBudget)
      function granted(result: RateLimiter.BucketResult) {
        return result.granted
          ? Effect.sync((): Permit => ({ release: entered(slot), level: result.level }))
          : giveBack === undefined
          ? Effect.fail(exceeded("requests", capacity, result))
          : Effect.andThen(giveBack, Effect.fail(exceeded("requests", capacity, result)))
      }
      const tried = tryTokens(requests, cost)
      return Effect.flatMap(giveBack === undefined ? tried : Effect.onError(tried, () => giveBack), granted)
    }

    // Then a slot, before the request tokens.
    function trySlot(
      cost: number,
      giveBudget: Effect.Effect<void> | undefined
    ): Effect.Effect<Permit, RateLimiterExceededError | StoreUnavailableError> {
      if (slots === undefined || maxConcurrency === undefined) return tryRequests(cost, undefined, giveBudget)
      const refused = Effect.andThen(
        giveBudget ?? Effect.void,
        Effect.fail(new RateLimiterExceededError({ bucket: "concurrency", limit: maxConcurrency, remaining: 0 }))
      )
      // Calls waiting for a slot here go first.
      if (slots.line.waiters.length > 0) return refused
      const tried = giveBudget === undefined
        ? slots.slots.tryAcquire
        : Effect.onError(slots.slots.tryAcquire, () => giveBudget)
      return Effect.flatMap(tried, (slot) => Option.isSome(slot) ? tryRequests(cost, slot.value, giveBudget) : refused)
    }

    // `onExceeded: "fail"`: everything or nothing, at once, the budget first.
    function tryHold(
      cost: number,
      tokens: number
    ): Effect.Effect<Permit, RateLimiterExceededError | StoreUnavailableError> {
      if (budget === undefined || tokensPerMinute === undefined || tokens <= 0) return trySlot(cost, undefined)
      return Effect.flatMap(tryTokens(budget, tokens), (result) =>
        result.granted
          ? trySlot(cost, Effect.ignore(budget.bucket.give(tokens)))
          : Effect.fail(exceeded("tokensPerMinute", tokensPerMinute, result)))
    }

    function consume(
      consumeOptions?: RateLimiter.ConsumeOptions
    ): Effect.Effect<
      RateLimiter.ConsumeResult,
      RateLimiterCostError | RateLimiterExceededError | StoreUnavailableError,
      Scope.Scope
    > {
      return Effect.uninterruptible(Effect.suspend((): Effect.Effect<
        RateLimiter.ConsumeResult,
        RateLimiterCostError | RateLimiterExceededError | StoreUnavailableError,
        Scope.Scope
      > => {
        const { cost, error, tokens } = consumed(consumeOptions, options)
        if (error !== undefined) return Effect.fail(error)
        const start = monotonicMillis(clock)
        const reservation = tokens > 0 ? { estimate: tokens, settled: false } : undefined
        if (consumeOptions?.onExceeded === "fail") {
          return Effect.flatMap(tryHold(cost, tokens), (permit) => held(permit, start, reservation))
        }
        const permit = budget === undefined || reservation === undefined
          ? takePermit(cost)
          // Interrupted or failed while it waits for the permit: the call never started, so its estimate goes back.
          : Effect.andThen(
            takeTokens(budget, tokens),
            Effect.onError(takePermit(cost), () => reconcile(budget, reservation, 0))
          )
        return Effect.flatMap(permit, (permit) => held(permit, start, reservation))
      }))
    }

    const status = Effect.suspend(() => statusNow(options, requests, budget, inFlight))
    const reset = Effect.andThen(resetOf(requests), budget === undefined ? Effect.void : resetOf(budget))

    return { consume, status, reset }
  }
)

const unlimitedResult: RateLimiter.ConsumeResult = {
  delay: Duration.zero,
  limit: Infinity,
  remaining: Infinity,
  resetAfter: Duration.zero,
  reconcile: settledAlready
}

/** The limiter of `RateLimiter.makeUnlimited`. */
export function unlimited(): RateLimiter.Service {
  let inFlight = 0
  const leave = () => {
    inFlight--
    return Effect.void
  }
  const enter = () => {
    inFlight++
    return [unlimitedResult, leave] as const
  }
  return {
    consume: () => takenInScope(enter),
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
