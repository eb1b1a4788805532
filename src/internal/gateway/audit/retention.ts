/**
 * How long the audit log keeps its rows (docs/identity.md, "Retention"): at start and every `pruneEvery`, rows older
 * than the retention are deleted from the chain's start, in one transaction that keeps the last one deleted as the
 * chain's base. With an anchor, the base is first appended to the anchor file, and nothing is deleted when that write
 * fails: `verify --anchor` then checks that the chain starts after an anchored base past the retention, so that rows
 * deleted from the start by anyone else are found.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Anchor from "./anchor.js"
import type { AuditLog } from "./store.js"

/** How long rows are kept when the configuration does not say. */
export const defaultRetention = Duration.days(365)

/** How often the rows past the retention are deleted. */
export const pruneEvery = Duration.hours(1)

/** How long rows are kept, and the anchor file the base is written to first, if any. */
export interface Settings {
  readonly retention: Duration.Duration
  readonly anchor: string | undefined
}

/** The rows of `log` older than `settings.retention` deleted now: how many. */
export const prune = Effect.fnUntraced(function*(log: AuditLog, settings: Settings) {
  const now = yield* Clock.currentTimeMillis
  const retention = Duration.toMillis(settings.retention)
  const row = yield* log.lastBefore(now - retention)
  if (row === undefined) return 0
  const base = { seq: row.seq, digest: row.digest }
  if (settings.anchor !== undefined) {
    yield* Anchor.append(settings.anchor, { kind: "base", ...base, at: now, rowAt: row.at, retention })
  }
  return yield* log.prune(base)
})

/**
 * The rows of `log` past the retention deleted now and every `pruneEvery` for the scope's life; a prune that fails is
 * logged as an error and tried again at the next.
 */
export const keep = Effect.fnUntraced(function*(log: AuditLog, settings: Settings) {
  const once = prune(log, settings).pipe(
    Effect.tap((deleted) =>
      deleted === 0 ? Effect.void : Effect.logInfo("audit_pruned").pipe(
        Effect.annotateLogs({ audit_rows_deleted: deleted })
      )
    ),
    Effect.catch((error) =>
      Effect.logError("Gateway: the audit log's rows past its retention could not be deleted").pipe(
        Effect.annotateLogs({ reason: error.message })
      )
    )
  )
  yield* once
  yield* Effect.forkScoped(Effect.repeat(once, Schedule.spaced(pruneEvery)).pipe(Effect.delay(pruneEvery)))
})
