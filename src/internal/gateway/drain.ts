/**
 * The streams in flight and the gateway's drain: on shutdown the server stops accepting, WebSockets waiting for a frame
 * are closed, calls in flight have the grace period to finish, then each stream still open is cut with its route's
 * error event. A revoked key's streams, or a rotated key's once its grace ends, are cut the same way.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Http from "node:http"
import type { Caller } from "./access/caller.js"
import type * as Request from "./request/context.js"

// How long cut streams have to write their error event before what is left is interrupted.
const cutAllowance = Duration.seconds(1)

/** Why a stream is cut: the gateway shuts down, or the key it was asked with was revoked. */
export type CutReason = "shutdown" | "revoked"

/** The streams in flight, each by its request's context, with what cuts it. */
export class Drain {
  private readonly streams = new Map<Request.Service, (reason: CutReason) => Effect.Effect<void>>()
  private readonly stopped = Deferred.makeUnsafe<void>()

  /**
   * Done once the gateway begins to shut down: what holds a connection open between requests (a WebSocket waiting for
   * its next frame) closes it then, rather than keep the shutdown waiting out its grace period.
   */
  readonly stopping: Effect.Effect<void> = Deferred.await(this.stopped)

  stop(): void {
    Deferred.doneUnsafe(this.stopped, Exit.void)
  }

  /** A stream's answer has begun; `cut` ends it with the error event of its reason. */
  opened(context: Request.Service, cut: (reason: CutReason) => Effect.Effect<void>): void {
    this.streams.set(context, cut)
  }

  /** A stream's request has ended (its answer done, or its client gone). */
  closed(context: Request.Service): void {
    this.streams.delete(context)
  }

  readonly cut: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach([...this.streams.values()], (cut) => cut("shutdown"), { concurrency: "unbounded", discard: true })
  )

  /** Cuts the streams in flight asked with a key `stale` says no longer works (revoked, or past a rotation's grace). */
  revoked(stale: (caller: Caller) => boolean): Effect.Effect<void> {
    return Effect.suspend(() =>
      Effect.forEach(
        [...this.streams].filter(([context]) => context.caller !== undefined && stale(context.caller)),
        ([, cut]) => cut("revoked"),
        { concurrency: "unbounded", discard: true }
      )
    )
  }
}

/**
 * `server` closed: it stops accepting at once, and what waits on `drain.stopping` closes; its connections have
 * `gracePeriod` to end, then the streams of `drain` are cut, and have a moment to end before this returns (the server
 * then interrupts what is left).
 */
export function shutdown(server: Http.Server, drain: Drain, gracePeriod: Duration.Input): Effect.Effect<void> {
  return Effect.suspend(() => {
    drain.stop()
    const closed = Deferred.makeUnsafe<boolean>()
    if (server.listening) server.close(() => Deferred.doneUnsafe(closed, Exit.succeed(true)))
    else Deferred.doneUnsafe(closed, Exit.succeed(true))
    function within(duration: Duration.Input) {
      return Effect.timeoutOrElse(Deferred.await(closed), { duration, orElse: () => Effect.succeed(false) })
    }
    return Effect.flatMap(
      within(gracePeriod),
      (done) => done ? Effect.void : Effect.andThen(drain.cut, within(cutAllowance))
    )
  })
}
