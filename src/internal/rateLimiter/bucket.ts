/**
 * The token bucket behind `RateLimiter`: FIFO waiters, a level that refills
 * continuously as read from the `Clock`, and a fiber on a `Schedule` that serves
 * waiters the moment their tokens are due.
 *
 * Why not a `Semaphore` for the tokens: its waiters are not served in
 * order when they ask for different amounts. A `take(1)` that arrives while a
 * `take(5)` waits is served as soon as one permit is free, so a large request
 * can starve behind a stream of small ones. Its `release` is not capped either
 * (the free count can pass the initial permits), so the bucket's level would
 * have to be tracked beside it anyway. Here the level and the queue live in one
 * place and every change happens inside a single synchronous step, which no
 * other fiber can interleave with. Rebuilt on Effect 4's `Semaphore` (a
 * one-permit turn in front for order, the level mirrored beside it), it kept
 * every tested behaviour but cost more per call than the performance bars
 * allow (docs/performance.md has the figures).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/**
 * Floating-point refill sums (3 tokens per second over 333.33 ms) land a hair
 * under a whole token; without slack a waiter woken when its tokens are due
 * would find them just short.
 */
const epsilon = 1e-6

const minDelayMillis = 0.001

interface Waiter {
  readonly cost: number
  readonly deferred: Deferred.Deferred<void>
  granted: boolean
}

/** @internal */
export interface Snapshot {
  readonly available: number
  readonly waiting: number
  /** The tokens the waiters ask for, all together. */
  readonly queued: number
}

/** @internal */
export interface Bucket {
  /** Waits, in arrival order, until `cost` tokens are there. The caller checks `cost <= capacity`. */
  readonly take: (cost: number) => Effect.Effect<void>
  /**
   * Takes `cost` tokens if they are there and nobody waits ahead; never waits. A plain call, for a caller inside an
   * Effect step.
   */
  readonly tryTakeUnsafe: (cost: number) => boolean
  /** Puts tokens back (never above capacity) and serves whoever they are enough for. */
  readonly give: (amount: number) => Effect.Effect<void>
  /** `give` as a plain call. */
  readonly giveUnsafe: (amount: number) => void
  /** Takes tokens at once, even below zero: a debt later refills pay back. */
  readonly charge: (amount: number) => Effect.Effect<void>
  readonly reset: Effect.Effect<void>
  readonly snapshot: Effect.Effect<Snapshot>
  /** `snapshot` as a plain call. */
  readonly snapshotUnsafe: () => Snapshot
}

/** @internal */
export interface BucketOptions {
  readonly capacity: number
  readonly refillPerSecond: number
  /**
   * The longest the serving fiber sleeps while someone waits. It normally wakes
   * when the first waiter's tokens are due, but a refund, a cancel or a reset can
   * make them due sooner; this bounds how late they are then served.
   */
  readonly pollMillis: number
}

/** @internal */
export const make = Effect.fnUntraced(function*(options: BucketOptions): Effect.fn.Return<Bucket, never, Scope.Scope> {
  const { capacity } = options
  const perMilli = options.refillPerSecond / 1000

  const clock = yield* Clock.Clock
  let available = capacity
  let updatedAt = clock.currentTimeMillisUnsafe()
  const waiters: Array<Waiter> = []
  // Open while someone waits, so an idle bucket costs no wake-ups.
  const wake = yield* Latch.make(false)

  // The level is a function of time, computed whenever it is read, so the
  // bound `capacity + rate * t` holds exactly in every window and a take that
  // arrives between the serving fiber's runs sees every token already due.
  const accrue = () => {
    const now = clock.currentTimeMillisUnsafe()
    if (now > updatedAt) {
      available = Math.min(capacity, available + (now - updatedAt) * perMilli)
      updatedAt = now
    }
  }

  const serve = () => {
    let head = waiters[0]
    while (head !== undefined && available >= head.cost - epsilon) {
      waiters.shift()
      available -= head.cost
      head.granted = true
      Deferred.doneUnsafe(head.deferred, Exit.void)
      head = waiters[0]
    }
    if (waiters.length === 0) wake.closeUnsafe()
  }

  // Interrupted while waiting: leave the queue, which may unblock those behind.
  // Interrupted after being served but before resuming: the tokens go back.
  const cancel = (waiter: Waiter) =>
    Effect.sync(() => {
      accrue()
      if (waiter.granted) {
        available = Math.min(capacity, available + waiter.cost)
      } else {
        const index = waiters.indexOf(waiter)
        if (index >= 0) waiters.splice(index, 1)
      }
      serve()
    })

  const take = (cost: number): Effect.Effect<void> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        accrue()
        if (waiters.length === 0 && available >= cost - epsilon) {
          available -= cost
          return Effect.void
        }
        const waiter: Waiter = { cost, deferred: Deferred.makeUnsafe<void>(), granted: false }
        waiters.push(waiter)
        wake.openUnsafe()
        return Effect.onInterrupt(restore(Deferred.await(waiter.deferred)), () => cancel(waiter))
      })
    )

  const tryTakeUnsafe = (cost: number) => {
    accrue()
    if (waiters.length === 0 && available >= cost - epsilon) {
      available -= cost
      return true
    }
    return false
  }

  const giveUnsafe = (amount: number) => {
    accrue()
    available = Math.min(capacity, available + amount)
    serve()
  }

  const give = (amount: number) => Effect.sync(() => giveUnsafe(amount))

  const charge = (amount: number) =>
    Effect.sync(() => {
      accrue()
      available -= amount
    })

  const reset = Effect.sync(() => {
    accrue()
    available = capacity
    serve()
  })

  const snapshotUnsafe = (): Snapshot => {
    accrue()
    let queued = 0
    for (const waiter of waiters) queued += waiter.cost
    return { available, waiting: waiters.length, queued }
  }

  const snapshot = Effect.sync(snapshotUnsafe)

  const nextWake = (): Duration.Duration => {
    const head = waiters[0]
    // Nobody waits and the latch is closed: the next run sleeps on the latch.
    if (head === undefined) return Duration.zero
    const due = (head.cost - available) / perMilli
    // The floor keeps the clock moving when `due` is below what a millisecond
    // timestamp can add (an epoch-sized clock and a huge refill rate).
    return Duration.millis(Math.min(Math.max(due, minDelayMillis), options.pollMillis))
  }

  const step = Effect.andThen(
    wake.await,
    Effect.sync(() => {
      accrue()
      serve()
      return nextWake()
    })
  )
  // Each run says how long to sleep before the next: waiters are served the
  // instant their tokens are due, not on a coarser tick, so none of the refill
  // is lost to the bucket sitting full while the first waiter waits for a tick.
  yield* Effect.forkScoped(
    Effect.repeat(
      step,
      Schedule.addDelay(Schedule.identity<Duration.Duration>(), ({ output }) => Effect.succeed(output))
    )
  )

  // Waiters outlive the bucket only if they were forked elsewhere; interrupt
  // them rather than leave them hanging forever.
  yield* Effect.addFinalizer(() =>
    Effect.forEach(waiters.splice(0), (waiter) => Deferred.interrupt(waiter.deferred), { discard: true })
  )

  return { take, tryTakeUnsafe, give, giveUnsafe, charge, reset, snapshot, snapshotUnsafe }
})
