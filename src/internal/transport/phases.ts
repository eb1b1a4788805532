/**
 * The phase limits of one provider call, kept in one place, whatever the
 * `HttpClient`: no response headers within `headers`; no body byte within
 * `firstToken` of the headers; a read of a streamed body waiting `idle` for its
 * next bytes; and the call's own timeout (`request`) until its reply, or a
 * stream's first batch, is in.
 *
 * The call stamps what happens on its `Watch` (`headersIn`, `reading`, `read`,
 * `release`), which costs a clock read; the `Clock`'s one watchdog
 * (`time/watchdog`) looks at the watch when its soonest limit is due, and
 * again later or with the phase that passed. No timer per read: an idle limit
 * looked at early is looked at again when what is left of it is due.
 *
 * Until the first batch, the limits bound the call (a limit that passes
 * interrupts it); after, the rest's watch stops the body's reads (`readFiber`,
 * below) once the idle limit passes, which ends the read in progress (no race
 * per read), and the reader sees `Watch.passed`.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { type Bound, bounded, type Watchdog } from "../time/watchdog.js"

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
export class Watch implements Bound<Phase> {
  private requestDue: number
  private headersAt: number | undefined = undefined
  private begun = false
  private readingSince: number | undefined = undefined
  // The shortest limit a stamp starts: the longest the watchdog sleeps while it may start.
  private readonly shortest: number
  /** The phase that passed, once the watchdog found one. */
  passed: Phase | undefined = undefined

  readonly clock: Clock.Clock
  private readonly start: number

  constructor(private readonly watchdog: Watchdog, readonly limits: Limits) {
    this.clock = watchdog.clock
    this.start = this.clock.currentTimeMillisUnsafe()
    this.requestDue = this.start + limits.request
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

  /**
   * Keeps the rest of a released stream within the idle limit: runs `stop`
   * once it has passed. The returned function stops watching.
   */
  watchRest(stop: Effect.Effect<void>): () => void {
    return this.watchdog.keep(this, (phase) => {
      this.passed = phase
      Effect.runFork(stop)
    })
  }

  /** The phase that has passed at `now`, or when to look again (`Infinity`: never). */
  check(now: number): Phase | number {
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
 * `work` within `watch`'s limits, kept by the `Clock`'s watchdog: a limit that
 * passes is recorded (`Watch.passed`), interrupts the work and fails with
 * `passed(phase)`.
 */
export const raced = <A, E>(
  work: Effect.Effect<A, E>,
  watch: Watch,
  passed: (phase: Phase) => E
): Effect.Effect<A, E> =>
  bounded(work, watch, (phase) => {
    watch.passed = phase
    return passed(phase)
  })

// ---------------------------------------------------------------------------
// The reads a phase limit ends.

/**
 * The reads of a streamed body, made by a fiber of their own: one read a pull,
 * none ahead, so that a read in progress can be ended from outside (`stop`,
 * when a phase limit passes) whatever the client's body stream does when it is
 * cancelled. Some clients' streams end a waiting read when cancelled from
 * another fiber (this library's undici client, fetch's); others leave it
 * waiting forever (`NodeHttpClient`'s, over a Node `Readable`).
 *
 * A race per read would do the same at a cost per read (two fibers each); this
 * costs one fiber a stream and a hand-over a read (figures in
 * docs/performance.md).
 */
export interface ReadFiber<A, E> {
  /** The next read, made by the fiber: `undefined` once the body has ended, or once stopped. */
  readonly read: Effect.Effect<A | undefined, E>
  /** Ends the read in progress (with `undefined`) and every read after it, and interrupts the fiber. */
  readonly stop: Effect.Effect<void>
}

const ended = Effect.succeed(undefined)

/** A fiber making the reads of `read`, each when a caller asks for it. */
export const readFiber = <A, E>(read: Effect.Effect<A | undefined, E>): Effect.Effect<ReadFiber<A, E>> =>
  Effect.suspend(() => {
    // The caller waiting for a read's result.
    let waiting: ((result: Effect.Effect<A | undefined, E>) => void) | undefined
    // The fiber waiting to be asked; or a request made before it waited.
    let idle: (() => void) | undefined
    let asked = false
    let stopped = false
    const request = Effect.callback<void>((resume) => {
      if (!asked) {
        idle = () => resume(Effect.void)
        return
      }
      asked = false
      resume(Effect.void)
    })
    const hand = (exit: Effect.Effect<A | undefined, E>) => {
      const caller = waiting
      waiting = undefined
      caller?.(exit)
    }
    const loop: Effect.Effect<never> = Effect.flatMap(
      request,
      () => Effect.flatMap(Effect.exit(read), (exit) => Effect.suspend(() => (hand(exit), loop)))
    )
    // Forked as a task of the scheduler, not at once: started in the caller's turn, it made an `Llm` stream's reads
    // dearer (docs/performance.md).
    return Effect.map(Effect.forkDetach(loop), (fiber): ReadFiber<A, E> => ({
      read: Effect.callback((resume) => {
        if (stopped) return resume(ended)
        waiting = resume
        const wake = idle
        if (wake === undefined) asked = true
        else {
          idle = undefined
          wake()
        }
        // A caller interrupted while the fiber reads: what it reads is dropped (the stream is being closed).
        return Effect.sync(() => {
          if (waiting === resume) waiting = undefined
        })
      }),
      stop: Effect.suspend(() => {
        stopped = true
        hand(ended)
        return Fiber.interrupt(fiber)
      })
    }))
  })
