/**
 * One watchdog per `Clock` for every bound in flight (call deadlines, the router's deadline, the transport's phase
 * limits): bounds sit in a heap by when to look at them next (`Bound.check`), and one fiber sleeps until the soonest.
 * A bound costs a heap entry, not a fiber or timer; the fiber runs only while a bound is kept, so an idle process has
 * no timer pending. Under `TestClock`, `TestClock.adjust` moves it (a `TestClock` is a watchdog of its own).
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as Heap from "../heap.js"
import { keptIn } from "../keptIn.js"

/** `setTimeout` takes a 32-bit signed delay; a longer wait is a chain of timers. */
export const maxTimerMillis = 2_147_483_647

/** A bound: at `now`, what has passed (its name), or the time to look at it again (`Infinity`: never). */
export interface Bound<P extends string> {
  readonly check: (now: number) => P | number
}

// A bound passed at an instant: its check a method, not a closure made for each bound.
class Until<P extends string> implements Bound<P> {
  constructor(readonly at: number, readonly passed: P) {}
  check(now: number): P | number {
    return now >= this.at ? this.passed : this.at
  }
}

/** A bound passed when `at` is. */
export function until<P extends string>(at: number, passed: P): Bound<P> {
  return new Until(at, passed)
}

// A bound that never passes: the work is still its own fiber, for an interruption not awaited.
const never: Bound<"timeout"> = { check: () => Infinity }

function noop() {}

// The id of an entry no longer kept.
const forgotten = -1

/** A kept bound: when to look at it, and what to do when it passed. */
interface Entry<P extends string = string> {
  id: number
  at: number
  readonly bound: Bound<P>
  passed(reason: P): void
}

// The entry of a bound kept by `Watchdog.keep`, which runs `passed` when it passes.
class Kept<P extends string> implements Entry<P> {
  id = forgotten
  at = Infinity
  constructor(readonly bound: Bound<P>, readonly passed: (reason: P) => void) {}
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
   * Keeps `bound` until it passes (then runs `passed`) or the returned function is called; `passed` runs at once if
   * it has already passed.
   */
  keep<P extends string>(bound: Bound<P>, passed: (reason: P) => void): () => void {
    const entry = this.hold(new Kept(bound, passed))
    return entry === undefined ? noop : () => this.drop(entry)
  }

  /** Keeps `entry` (`keep`): the entry kept, else none when its bound passed already or never does. */
  hold<E extends Entry>(entry: E): E | undefined {
    const now = this.clock.currentTimeMillisUnsafe()
    const first = entry.bound.check(now)
    if (typeof first !== "number") {
      entry.passed(first)
      return undefined
    }
    if (first === Infinity) return undefined
    entry.id = this.freeIds.pop() ?? this.nextId++
    entry.at = first
    this.heap.push(entry)
    if (first < this.wake) this.sleepUntil(first, now)
    return entry
  }

  /** Stops keeping `entry` (`hold`), if it still is. */
  drop(entry: Entry): void {
    if (!this.forget(entry)) return
    // With nothing left, no timer stays pending (the fiber that looks ends on its own).
    if (this.heap.size === 0 && !this.looking) this.stop()
  }

  // Removes `entry` if kept (`passed` may have dropped it already). Its id goes to the next entry kept and a forgotten
  // entry's id is none, so a late drop cannot remove the entry now holding it.
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
      const next = entry.bound.check(now)
      if (typeof next === "number") {
        entry.at = Math.max(next, now + 1)
        this.heap.update(entry)
      } else {
        this.forget(entry)
        entry.passed(next)
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
const newWatchdog = (clock: Clock.Clock, fiber: Fiber.Fiber<unknown, unknown>) =>
  new Watchdog(clock, fiber.getRef(Scheduler.Scheduler))

/**
 * The watchdog of `fiber`'s `Clock`, its fiber run by the `Scheduler` of the fiber that first needed it (a
 * `TestClock`'s test, or the default one).
 */
export function watchdogOf(fiber: Fiber.Fiber<unknown, unknown>): Watchdog {
  return keptIn(watchdogs, fiber.getRef(Clock.Clock), newWatchdog, fiber)
}

// `work` in a worker fiber of its own within a bound the watchdog keeps (`bounded`): one record per bound, whose
// methods answer the caller, instead of a closure per step.
class Watched<A, E, P extends string> implements Entry<P> {
  id = forgotten
  at = Infinity
  constructor(
    readonly bound: Bound<P>,
    private readonly watchdog: Watchdog,
    private readonly worker: Fiber.Fiber<A, E>,
    private readonly resume: (effect: Effect.Effect<A, E>) => void,
    private readonly failure: (reason: P) => E,
    private readonly awaited: boolean
  ) {}

  passed(reason: P): void {
    if (this.awaited) {
      return this.resume(Effect.andThen(Fiber.interrupt(this.worker), Effect.fail(this.failure(reason))))
    }
    // Answered first: the worker's interruption may end at once, and its observer would answer with it.
    this.resume(Effect.fail(this.failure(reason)))
    this.worker.interruptUnsafe()
  }

  // The caller's interruption: the bound is no longer kept, and the worker is interrupted, its end awaited or not.
  interrupted(): Effect.Effect<void> {
    this.watchdog.drop(this)
    if (this.awaited) return Fiber.interrupt(this.worker)
    this.worker.interruptUnsafe()
    return Effect.void
  }
}

// `bounded` in `fiber`, the caller's.
function watched<A, E, P extends string, R>(
  fiber: Fiber.Fiber<unknown, unknown>,
  work: Effect.Effect<A, E, R>,
  bound: Bound<P>,
  failure: (reason: P) => E,
  awaited: boolean
): Effect.Effect<A, E, R> {
  // The worker starts, and is kept, within the callback's registration: no interruption comes between, so nothing is
  // masked; the callback's interruption runs what it returns.
  return Effect.callback<A, E>((resume) => {
    const worker = Effect.runForkWith(fiber.context as Context.Context<R>)(work)
    const ended = worker.pollUnsafe()
    const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    if (ended !== undefined && typeof bound.check(now) === "number") {
      resume(ended)
      return
    }
    const watchdog = watchdogOf(fiber)
    const entry = new Watched(bound, watchdog, worker, resume, failure, awaited)
    watchdog.hold(entry)
    worker.addObserver((exit) => {
      watchdog.drop(entry)
      resume(exit)
    })
    return Effect.suspend(() => entry.interrupted())
  })
}

/**
 * `work` within `bound`: once it passes, the work is interrupted and the result is `passed(reason)`. The work runs in
 * its own fiber (started at once, in the caller's turn) so it can be interrupted while the caller still fails with an
 * error. Work that ended in that turn (a SQLite statement) is its own answer unless the bound had passed: nothing is
 * kept for it, so the watchdog neither starts nor stops its sleep. With `awaitInterruption: false` the interruption is
 * signalled, not awaited: a SQL rollback on a database that does not answer must not hold the caller.
 */
export function bounded<A, E, P extends string, R = never>(
  work: Effect.Effect<A, E, R>,
  bound: Bound<P>,
  passed: (reason: P) => E,
  options?: { readonly awaitInterruption?: boolean }
): Effect.Effect<A, E, R> {
  const awaited = options?.awaitInterruption !== false
  return Effect.withFiber((fiber) => watched(fiber, work, bound, passed, awaited))
}

/**
 * `self`, or `onTimeout()` once `duration` has passed (the work interrupted first, as `bounded`); no bound when
 * infinite (the work still in its own fiber when its interruption is not awaited).
 */
export function timeoutFail<A, E, E2, R = never>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2,
  options?: { readonly awaitInterruption?: boolean }
): Effect.Effect<A, E | E2, R> {
  if (!Duration.isFinite(duration)) {
    return options?.awaitInterruption === false
      ? bounded<A, E | E2, "timeout", R>(self, never, onTimeout, options)
      : self
  }
  const millis = Duration.toMillis(duration)
  const awaited = options?.awaitInterruption !== false
  return Effect.withFiber((fiber) => {
    const at = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() + millis
    return watched<A, E | E2, "timeout", R>(fiber, self, until(at, "timeout"), onTimeout, awaited)
  })
}
