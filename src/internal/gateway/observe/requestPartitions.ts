/**
 * The request log on Postgres, partitioned by time (migration `27_request_log_partitions`): `requests` has a partition
 * a UTC day, `requests_<yyyymmdd>`, and `request_log_days` a row per partition with its rows' count and bytes. A
 * partition and its day's row are made and dropped together in one transaction: one is there exactly when the other is.
 *
 * A batch of rows makes the partitions its days lack, so no write fails for a missing one; the sweep makes today's and
 * tomorrow's ahead, so a write at midnight finds its partition. Instances making one day at once are ordered by the
 * day's row: the second insert waits for the first to commit, then makes nothing. Retention drops whole partitions,
 * never deleting a row, reading `request_log_days` (a sweep costs a step per day, not per row), so the bounds are kept
 * to within a day.
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqlSchema from "effect/sql/SqlSchema"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Requests from "./requestTable.js"

/** A partition's span, in milliseconds: a UTC day. */
export const dayMillis = 86_400_000

/** The start of the UTC day `at` (epoch milliseconds) is in. */
export const dayOf = (at: number): number => Math.floor(at / dayMillis) * dayMillis

/** The partition of the day starting at `day`: `requests_20260115`. */
export const partitionOf = (day: number): string =>
  `requests_${new Date(day).toISOString().slice(0, 10).replaceAll("-", "")}`

/** A day's partition as `request_log_days` counts it. */
export interface Day {
  /** Epoch milliseconds of its start. */
  readonly day: number
  readonly rows: number
  /** Its rows' bytes, as `Requests.bytesOf` counts them. */
  readonly bytes: number
}

/**
 * The days a sweep drops, of `days` (newest first): those wholly before `before`, then, counting the others' rows and
 * bytes from the newest, every day older than the first at which either of `bounds` is passed.
 */
export function doomed(days: ReadonlyArray<Day>, before: number, bounds: Requests.Bounds): Array<number> {
  const gone: Array<number> = []
  let rows = 0
  let bytes = 0
  let passed = false
  for (const one of days) {
    if (passed || one.day + dayMillis <= before) {
      gone.push(one.day)
      continue
    }
    rows += one.rows
    bytes += one.bytes
    passed = rows > bounds.rows || bytes > bounds.bytes
  }
  return gone
}

/**
 * The partitions of `days` (starts of days) made where missing, each with its row in `request_log_days`: run in a
 * transaction, so a partition and its row are made together.
 */
export const make = (sql: SqlClient.SqlClient, days: ReadonlyArray<number>): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const rows = days.map((day) => ({ day, row_count: 0, byte_count: 0 }))
    if (!Arr.isArrayNonEmpty(rows)) return
    // Inserted only where missing; an insert of a day another transaction is making waits for it to commit.
    const made = yield* sql<{ readonly day: unknown }>`INSERT INTO request_log_days ${sql.insert(rows)}
      ON CONFLICT (day) DO NOTHING RETURNING day`
    for (const { day } of made) {
      const start = Number(day)
      const table = sql(partitionOf(start))
      // Made apart, then attached: attaching takes a lock that lets the log's writes and reads go on, where
      // `CREATE TABLE ... PARTITION OF` would wait for them and stop them meanwhile.
      yield* sql`CREATE TABLE ${table} (LIKE requests INCLUDING DEFAULTS)`
      yield* sql`ALTER TABLE requests ATTACH PARTITION ${table}
        FOR VALUES FROM (${sql.literal(String(start))}) TO (${sql.literal(String(start + dayMillis))})`
    }
  })

/** The days of `rows`, oldest first, each with its rows and bytes. */
function daysOf(rows: ReadonlyArray<Requests.Row>): Array<Day> {
  const days = new Map<number, { rows: number; bytes: number }>()
  for (const row of rows) {
    const counted = days.get(dayOf(row.at)) ?? { rows: 0, bytes: 0 }
    counted.rows += 1
    counted.bytes += Requests.bytesOf(row)
    days.set(dayOf(row.at), counted)
  }
  return [...days].map(([day, counted]) => ({ day, ...counted })).sort((a, b) => a.day - b.day)
}

/**
 * `rows` written, their days' partitions made where missing and their counts added: run in a transaction. The counts
 * are added last, so a day's row is locked only until the commit; oldest day first, so two batches across midnight
 * lock the same days in the same order.
 */
export const write = (sql: SqlClient.SqlClient, rows: ReadonlyArray<Requests.Row>): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const days = daysOf(rows)
    yield* make(sql, days.map((one) => one.day))
    yield* Requests.insert(sql, rows)
    for (const one of days) {
      yield* sql`UPDATE request_log_days SET row_count = row_count + ${one.rows},
        byte_count = byte_count + ${one.bytes} WHERE day = ${one.day}`
    }
  })

/** Every day's partition, newest first. */
const days = (sql: SqlClient.SqlClient): Effect.Effect<Array<Day>, Requests.Failure> =>
  Effect.map(
    SqlSchema.findAll({
      Request: Schema.Void,
      Result: tableRow("request_log_days", { day: Numeric, row_count: Numeric, byte_count: Numeric }),
      execute: () => sql`SELECT day, row_count, byte_count FROM request_log_days ORDER BY day DESC`
    })(undefined),
    (rows) => rows.map((row) => ({ day: row.day, rows: row.row_count, bytes: row.byte_count }))
  )

/**
 * How long dropping a partition waits for the lock on the log, which the log's writes and reads then wait behind: a
 * long read makes the sweep give up and try again, rather than stop the writes for as long.
 */
const dropLockTimeout = "2s"

/** Today's and tomorrow's partitions made where missing, then those `doomed` names dropped, each a transaction. */
export const sweep = (
  sql: SqlClient.SqlClient,
  { before, bounds, now }: Requests.Sweep
): Effect.Effect<void, Requests.Failure> =>
  Effect.gen(function*() {
    yield* sql.withTransaction(make(sql, [dayOf(now), dayOf(now) + dayMillis]))
    const gone = doomed(yield* days(sql), before, bounds)
    if (gone.length === 0) return
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SET LOCAL lock_timeout = ${sql.literal(`'${dropLockTimeout}'`)}`
      for (const day of gone) {
        // Another instance's sweep may have dropped it since it was read: then its row is gone too.
        const held = yield* sql`DELETE FROM request_log_days WHERE day = ${day} RETURNING day`
        if (held.length > 0) yield* sql`DROP TABLE ${sql(partitionOf(day))}`
      }
    }))
  })
