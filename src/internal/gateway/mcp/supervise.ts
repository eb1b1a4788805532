/**
 * The supervision of a connection: one that could not be opened or that ends (a stdio server's process exits or its
 * output stops; an HTTP server no request reaches) is `Down`, and a new one is opened after a backoff
 * (`restartSchedule`, started afresh once a connection stayed up `stableAfter`) until one opens. A connection is
 * pinged, so that one gone while nobody uses it is found: no answer within `pingTimeout` is an end. Time is the
 * `Clock`'s.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"

/** The first restart's delay; each next one doubles it. */
export const restartBase = Duration.millis(500)

/** The longest delay between two restarts. */
export const restartCap = Duration.seconds(30)

/** How long a connection stays up before its next end starts the backoff afresh. */
export const stableAfter = Duration.minutes(1)

/** How often a connection is pinged when its entry sets no interval. */
export const defaultPingInterval = Duration.seconds(30)

/** How long a ping may wait for its answer (at most its interval). */
export const pingTimeout = Duration.seconds(10)

/** The delays between restarts: exponential, capped. */
export const restartSchedule = Schedule.min([Schedule.exponential(restartBase), Schedule.spaced(restartCap)])

/** A supervised connection's state: up, or down with why (the restarts go on meanwhile). */
export type Status<C> =
  | { readonly _tag: "Up"; readonly connection: C }
  | { readonly _tag: "Down"; readonly reason: string }

/** What `supervise` needs of a connection. */
export interface Supervision<C> {
  /** A new connection, or why it could not be opened. */
  readonly open: Effect.Effect<C, string>
  /** Completes, with why, when `connection` ends by itself. */
  readonly ended: (connection: C) => Deferred.Deferred<string>
  /** Closes `connection` (stops its process). */
  readonly close: (connection: C) => Effect.Effect<void>
  /** Told of each end and failed opening, with the delay before the next attempt. */
  readonly report: (event: { readonly reason: string; readonly retryIn: Duration.Duration }) => Effect.Effect<void>
  /** Pings an up connection `every` so long: `send` succeeds when answered, else fails with why; none: not pinged. */
  readonly ping?: {
    readonly every: Duration.Duration
    readonly send: (connection: C) => Effect.Effect<void, string>
  } | undefined
}

/**
 * The connection `status` holds, supervised for as long as the scope is open by a fiber of the scope: one `Up` until
 * it ends (or, pinged, does not answer), then opened again; one `Down` opened.
 */
export const supervise = <C>(status: Ref.Ref<Status<C>>, supervision: Supervision<C>) =>
  Effect.gen(function*() {
    yield* Effect.forkScoped(restartLoop(status, supervision))
    if (supervision.ping !== undefined) yield* Effect.forkScoped(pingLoop(status, supervision, supervision.ping))
  })

// Pings the connection up every `ping.every`, for ever: one that does not answer in time has ended.
const pingLoop = Effect.fnUntraced(function*<C>(
  status: Ref.Ref<Status<C>>,
  supervision: Supervision<C>,
  ping: NonNullable<Supervision<C>["ping"]>
) {
  const within = Duration.min(pingTimeout, ping.every)
  while (true) {
    yield* Effect.sleep(ping.every)
    const now = yield* Ref.get(status)
    if (now._tag !== "Up") continue
    const answered = yield* Effect.result(
      ping.send(now.connection).pipe(
        Effect.timeoutOrElse({
          duration: within,
          orElse: () => Effect.fail(`no answer within ${Duration.format(within)}`)
        })
      )
    )
    if (answered._tag === "Failure") {
      yield* Deferred.succeed(supervision.ended(now.connection), `it did not answer a ping (${answered.failure})`)
    }
  }
})

// Waits for each connection's end, then opens the next one after the schedule's delay, for ever.
const restartLoop = Effect.fnUntraced(function*<C>(status: Ref.Ref<Status<C>>, supervision: Supervision<C>) {
  const initial = yield* Ref.get(status)
  let connection = initial._tag === "Up" ? initial.connection : undefined
  let reason = initial._tag === "Down" ? initial.reason : ""
  let openedAt = yield* Clock.currentTimeMillis
  let step = yield* Schedule.toStep(restartSchedule)
  while (true) {
    if (connection !== undefined) {
      reason = yield* Deferred.await(supervision.ended(connection))
      // Ended because a new connection took its place (an HTTP server's session expired): supervise that one.
      const now = yield* Ref.get(status)
      if (now._tag === "Up" && now.connection !== connection) {
        connection = now.connection
        continue
      }
      yield* Ref.set(status, { _tag: "Down", reason })
      yield* supervision.close(connection)
      if ((yield* Clock.currentTimeMillis) - openedAt >= Duration.toMillis(stableAfter)) {
        step = yield* Schedule.toStep(restartSchedule)
      }
    }
    while (true) {
      const [, delay] = yield* Effect.orDie(step(yield* Clock.currentTimeMillis, undefined))
      yield* supervision.report({ reason, retryIn: delay })
      yield* Effect.sleep(delay)
      const opened = yield* Effect.result(supervision.open)
      if (opened._tag === "Success") {
        connection = opened.success
        break
      }
      reason = opened.failure
      yield* Ref.set(status, { _tag: "Down", reason })
    }
    openedAt = yield* Clock.currentTimeMillis
    yield* Ref.set(status, { _tag: "Up", connection })
  }
})
