/**
 * The supervision of a connection that can end by itself (a stdio MCP server's process that exits, or whose output
 * stops): when it ends it is closed, its status is `Down` (so calls fail at once, naming why), and a new one is opened
 * after a backoff on Effect's `Schedule` (exponential from `restartBase`, capped at `restartCap`, started afresh once a
 * connection has stayed up `stableAfter`), until one opens; then it is `Up` again. Time is the `Clock`'s.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

/** The first restart's delay; each next one doubles it. */
export const restartBase = Duration.millis(500)

/** The longest delay between two restarts. */
export const restartCap = Duration.seconds(30)

/** How long a connection stays up before its next end starts the backoff afresh. */
export const stableAfter = Duration.minutes(1)

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
  /** Told of each end and failed restart, with the delay before the next attempt. */
  readonly report: (event: { readonly reason: string; readonly retryIn: Duration.Duration }) => Effect.Effect<void>
}

/**
 * `first`, supervised for as long as the scope is open: its status, kept by a fiber of the scope that restarts the
 * connection whenever it ends.
 */
export const supervise = Effect.fnUntraced(function*<C>(first: C, supervision: Supervision<C>) {
  const status = yield* Ref.make<Status<C>>({ _tag: "Up", connection: first })
  yield* Effect.forkScoped(restartLoop(first, status, supervision))
  return status as Ref.Ref<Status<C>>
}) as <C>(first: C, supervision: Supervision<C>) => Effect.Effect<Ref.Ref<Status<C>>, never, Scope.Scope>

// Waits for each connection's end, then opens the next one after the schedule's delay, for ever.
const restartLoop = Effect.fnUntraced(function*<C>(
  first: C,
  status: Ref.Ref<Status<C>>,
  supervision: Supervision<C>
) {
  let connection = first
  let openedAt = yield* Clock.currentTimeMillis
  let step = yield* Schedule.toStep(restartSchedule)
  while (true) {
    let reason = yield* Deferred.await(supervision.ended(connection))
    yield* Ref.set(status, { _tag: "Down", reason })
    yield* supervision.close(connection)
    if ((yield* Clock.currentTimeMillis) - openedAt >= Duration.toMillis(stableAfter)) {
      step = yield* Schedule.toStep(restartSchedule)
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
