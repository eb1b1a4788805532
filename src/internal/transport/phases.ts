/**
 * The phase limits of one provider call, kept in one place by one watchdog
 * fiber over the `Clock`, whatever the `HttpClient`: no response headers within
 * `headers`; no body byte within `firstToken` of the headers; a read of a
 * streamed body waiting `idle` for its next bytes; and the call's own timeout
 * (`request`) until its reply, or a stream's first batch, is in.
 *
 * The call stamps what happens on its `Watch` (`headersIn`, `reading`, `read`,
 * `release`), which costs a clock read; the watchdog sleeps until the soonest
 * limit, looks at the stamps, and sleeps again or ends with the phase that
 * passed. No timer per read: an idle limit that fires early sleeps for what is
 * left. Under `TestClock` it is the same fiber, moved by `TestClock.adjust`.
 *
 * Until the first batch, the watchdog races the call (a limit that passes
 * interrupts it); after, the watchdog of the rest stops the body's reads
 * (`readFiber`) once the idle limit passes, which ends the read in progress
 * (no race per read), and the reader sees `Watch.passed`.
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

/**
 * How a call's fibers are forked: started at once, in the caller's turn, not
 * as a task on the scheduler (a task costs a turn of the event loop a fork).
 */
export const immediately = { startImmediately: true } as const

/** Which limit passed. */
export type Phase = "request" | "headers" | "firstToken" | "idle"

/** A call's limits in milliseconds; `undefined` (or `Infinity`) for none. */
export interface Limits {
  /** The call's timeout, until `Watch.release`. */
  readonly request: number
  readonly headers?: number | undefined
  /** From the headers to the body's first bytes (a stream's). */
  readonly firstToken?: number | undefined
  /** The longest a read of a streamed body waits for bytes, once the first-token limit is over. */
  readonly idle?: number | undefined
}

/** What one call has done so far, stamped by the call and read by its watchdog. */
export class Watch {
  private requestDue: number
  private headersAt: number | undefined = undefined
  private begun = false
  private readingSince: number | undefined = undefined
  // The shortest limit a stamp starts: the longest the watchdog sleeps while it may start.
  private readonly shortest: number
  /** The phase that passed, once the watchdog found one. */
  passed: Phase | undefined = undefined

  constructor(readonly clock: Clock.Clock, private readonly limits: Limits, private readonly start: number) {
    this.requestDue = start + limits.request
    this.shortest = Math.min(limits.firstToken ?? Infinity, limits.idle ?? Infinity)
  }

  /** The response headers are in. */
  headersIn(): void {
    this.headersAt = this.clock.currentTimeMillisUnsafe()
  }

  /** A read of the body starts: it waits for the provider, not for the consumer. */
  reading(): void {
    this.readingSince = this.clock.currentTimeMillisUnsafe()
  }

  /** A read of the body ended; `bytes`: it brought some. */
  read(bytes: boolean): void {
    this.readingSince = undefined
    if (bytes) this.begun = true
  }

  /**
   * The call's own timeout no longer bounds it (a stream's first batch is out);
   * the rest is watched by `watchRest`'s fiber, when there is an idle limit.
   */
  release(): void {
    this.requestDue = Infinity
  }

  /** The watchdog of the rest of a released stream, which runs `stop` once the idle limit has passed. */
  watchRest(stop: Effect.Effect<void>): Effect.Effect<void> | undefined {
    if (this.limits.idle === undefined || !Number.isFinite(this.limits.idle)) return undefined
    return watchdog(this, () => stop)
  }

  /** The phase that has passed at `now`, or when to look again (`Infinity`: never). */
  due(now: number): Phase | number {
    const limits = this.limits
    const request = this.requestDue
    if (now >= request) return "request"
    // Until the stamp that starts a later limit, look again within the shortest of them.
    const look = now + this.shortest
    if (this.headersAt === undefined) {
      const at = limits.headers === undefined ? Infinity : this.start + limits.headers
      if (at < request && now >= at) return "headers"
      return Math.min(request, at, look)
    }
    if (!this.begun && limits.firstToken !== undefined) {
      const at = this.headersAt + limits.firstToken
      return now >= at ? "firstToken" : Math.min(request, at, look)
    }
    if (limits.idle === undefined) return request
    // A consumer that does not read is not the provider's stall: look again an idle limit from now.
    const at = (this.readingSince ?? now) + limits.idle
    return now >= at ? "idle" : Math.min(request, at)
  }
}

/**
 * Sleeps until the soonest limit of `watch`, as often as it takes; once one
 * has passed, records it (`Watch.passed`) and goes on with `passed(phase)`.
 * Never ends while no limit is left.
 */
export const watchdog = Effect.fnUntraced(function*<A, E>(
  watch: Watch,
  passed: (phase: Phase) => Effect.Effect<A, E>
) {
  while (true) {
    const now = watch.clock.currentTimeMillisUnsafe()
    const due = watch.due(now)
    if (typeof due === "string") {
      watch.passed = due
      return yield* passed(due)
    }
    if (due === Infinity) return yield* Effect.never
    yield* Effect.sleep(Duration.millis(due - now))
  }
})

/**
 * `work` raced by `watch`'s watchdog, which fails with `passed(phase)`: two
 * detached fibers awaited by one callback, whichever ends first interrupts
 * the other (`Effect.raceFirst` measured far dearer on a short call).
 */
export const raced = <A, E>(
  work: Effect.Effect<A, E>,
  watch: Watch,
  passed: (phase: Phase) => E
): Effect.Effect<A, E> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      Effect.forkDetach(restore(work), immediately),
      (worker) =>
        Effect.flatMap(Effect.forkDetach(watchdog(watch, (phase) => Effect.fail(passed(phase))), immediately), (dog) =>
          Effect.onInterrupt(
            restore(Effect.callback<A, E>((resume) => {
              worker.addObserver((exit) => resume(Effect.andThen(Fiber.interrupt(dog), exit)))
              dog.addObserver((exit) =>
                resume(Effect.andThen(Fiber.interrupt(worker), exit))
              )
            })),
            () => Effect.andThen(Fiber.interrupt(worker), Fiber.interrupt(dog))
          ))
    )
  )
