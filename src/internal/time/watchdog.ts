/**
 * One watchdog a `Clock` for every bound in flight: the call deadlines, the
 * router's deadline and the transport's phase limits. Each bound says when to
 * look at it next (`Bound.check`); the watchdog keeps them in a heap by that
 * time and one fiber sleeps on the `Clock` until the soonest, looks at those
 * due and sleeps again. A bound costs a heap entry, not a fiber or a timer of
 * its own; the fiber runs only while a bound is kept, so an idle process has
 * no timer pending. Under `TestClock` the same fiber is moved by
 * `TestClock.adjust` (a `TestClock` is a watchdog of its own).
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Heap from "../heap.js"

/** `setTimeout` takes a 32-bit signed delay; a longer wait is a chain of timers. */
export const maxTimerMillis = 2_147_483_647

/** A bound: at `now`, what has passed (its name), or the time to look at it again (`Infinity`: never). */
export interface Bound<P extends string> {
  readonly check: (now: number) => P | number
}

/** A bound passed when `at` is. */
export function until<P extends string>(at: number, passed: P): Bound<P> {
  return {
    check: (now) => now >= at ? passed : at
  }
}

// A bound that never passes: the work is still its own fiber, for an interruption not awaited.
const never: Bound<"timeout"> = { check: () => Infinity }

function noop() {}

// The id of an entry no longer kept.
const forgotten = -1

/** A kept bound: when to look at it, and what to do when it passed. */
interface Entry {
  id: number
  at: number
  readonly look: (now: number) => number | undefined
}

export class Watchdog {
  private readonly heap = Heap.make<Entry>((a, b) => a.at < b.at, (entry) => entry.id)
  private readonly freeIds: Array<number> = []
  private nextId = 0
  private sleeper: Fiber.Fiber<void> | undefined = undefined
  private wake = Infinity
  private looking = false

  constructor(readonly clock: Clock.Clock, private readonly scheduler: Scheduler.Scheduler) {}

  /**
   * Keeps `bound` until it passes (then runs `passed`) or the returned
   * function is called; `passed` runs at once if it has already passed.
   */
  keep<P extends string>(bound: Bound<P>, passed: (reason: P) => void): () => void {
    const now = this.clock.currentTimeMillisUnsafe()
    const first = bound.check(now)
    if (typeof first !== "number") {
      passed(first)
      return noop
    }
    if (first === Infinity) return noop
    const entry: Entry = {
      id: this.freeIds.pop() ?? this.nextId++,
      at: first,
      look: (at) => {
        const due = bound.check(at)
        if (typeof due === "number") return due
        passed(due)
        return undefined
      }
    }
    this.heap.push(entry)
    if (first < this.wake) this.sleepUntil(first, now)
    return () => this.drop(entry)
  }

  private drop(entry: Entry): void {
    if (!this.forget(entry)) return
    // With nothing left, no timer stays pending (the fiber that looks ends on its own).
    if (this.heap.size === 0 && !this.looking) this.stop()
  }

  // Removes `entry` if kept (`passed` may have dropped it already); its id goes to the next entry kept, and a
  // forgotten entry's id is none, so that a late drop cannot remove the entry now holding it.
  private forget(entry: Entry): boolean {
    if (!this.heap.remove(entry)) return false
    this.freeIds.push(entry.id)
    entry.id = forgotten
    return true
  }

  private stop(): void {
    const sleeper = this.sleeper
    this.sleeper = undefined
    this.wake = Infinity
    sleeper?.interruptUnsafe()
  }

  private sleepUntil(at: number, now: number): void {
    this.stop()
    this.wake = at
    this.sleeper = Effect.runFork(this.sleep(at, now), { scheduler: this.scheduler })
  }

  private sleep(at: number, now: number): Effect.Effect<void> {
    const wait = Math.min(Math.max(0, at - now), maxTimerMillis)
    return Effect.flatMap(this.clock.sleep(Duration.millis(wait)), () => this.look())
  }

  // Looks at every bound due, then sleeps until the soonest left.
  private look(): Effect.Effect<void> {
    const now = this.clock.currentTimeMillisUnsafe()
    this.looking = true
    let entry = this.heap.peek()
    while (entry !== undefined && entry.at <= now) {
      const next = entry.look(now)
      if (next === undefined) {
        this.forget(entry)
      } else {
        entry.at = Math.max(next, now + 1)
        this.heap.update(entry)
      }
      entry = this.heap.peek()
    }
    this.looking = false
    if (entry === undefined || entry.at === Infinity) {
      this.sleeper = undefined
      this.wake = Infinity
      return Effect.void
    }
    this.wake = entry.at
    return this.sleep(entry.at, now)
  }
}

const watchdogs = new WeakMap<Clock.Clock, Watchdog>()

/**
 * The watchdog of `fiber`'s `Clock`, its fiber run by the `Scheduler` of the
 * fiber that first needed it (a `TestClock`'s test, or the default one).
 */
export function watchdogOf(fiber: Fiber.Fiber<unknown, unknown>): Watchdog {
  const clock = fiber.getRef(Clock.Clock)
  let watchdog = watchdogs.get(clock)
  if (watchdog === undefined) {
    watchdog = new Watchdog(clock, fiber.getRef(Scheduler.Scheduler))
    watchdogs.set(clock, watchdog)
  }
  return watchdog
}

/**
 * `work` within `bound`, kept by the `Clock`'s watchdog: once it passes, the
 * work is interrupted and the result is `passed(reason)`. The work runs in a
 * fiber of its own (started at once, in the caller's turn), so that it can be
 * interrupted and the caller still fail with an error. Work that ended in that
 * turn (a SQLite statement) is its own answer unless the bound had passed
 * already: nothing is kept for it, so the watchdog neither starts its sleep nor
 * stops it. With `awaitInterruption: false` the work's interruption, at the
 * bound or by the caller, is signalled and not waited for (a SQL transaction's
 * rollback on a database that does not answer must not hold the caller).
 */
export function bounded<A, E, P extends string, R = never>(
  work: Effect.Effect<A, E, R>,
  bound: Bound<P>,
  passed: (reason: P) => E,
  options?: { readonly awaitInterruption?: boolean }
): Effect.Effect<A, E, R> {
  const awaited = options?.awaitInterruption !== false
  return Effect.withFiber((fiber) =>
    // The worker starts, and is kept, within the callback's registration: no interruption comes between, so nothing
    // is masked; the callback's interruption runs what it returns.
    Effect.callback<A, E>((resume) => {
      const worker = Effect.runForkWith(fiber.context as Context.Context<R>)(work)
      const ended = worker.pollUnsafe()
      const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      if (ended !== undefined && typeof bound.check(now) === "number") {
        resume(ended)
        return
      }
      const release = watchdogOf(fiber).keep(
        bound,
        (reason) => {
          if (awaited) return resume(Effect.andThen(Fiber.interrupt(worker), Effect.fail(passed(reason))))
          // Answered first: the worker's interruption may end at once, and its observer would answer with it.
          resume(Effect.fail(passed(reason)))
          worker.interruptUnsafe()
        }
      )
      worker.addObserver((exit) => {
        release()
        resume(exit)
      })
      return awaited
        ? Effect.andThen(Effect.sync(release), Fiber.interrupt(worker))
        : Effect.sync(() => {
          release()
          worker.interruptUnsafe()
        })
    })
  )
}

/**
 * `self`, or `onTimeout()` once `duration` has passed (the work is interrupted first, its end awaited unless
 * `awaitInterruption` is false: `bounded`); no bound when infinite (the work still in a fiber of its own when its
 * interruption is not awaited).
 */
export function timeoutFail<A, E, E2, R = never>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2,
  options?: { readonly awaitInterruption?: boolean }
): Effect.Effect<A, E | E2, R> {
  return Duration.isFinite(duration)
    ? Effect.clockWith((clock) =>
      bounded<A, E | E2, "timeout", R>(
        self,
        until(clock.currentTimeMillisUnsafe() + Duration.toMillis(duration), "timeout"),
        onTimeout,
        options
      )
    )
    : options?.awaitInterruption === false
    ? bounded<A, E | E2, "timeout", R>(self, never, onTimeout, options)
    : self
}
