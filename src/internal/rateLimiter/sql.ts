/**
 * The SQL backend of `RateLimiter`'s `BucketStore`, in the gateway's database (`rate_buckets`), so every instance on
 * one database draws from one bucket per key. A bucket's steps are `level.ts`'s, read on the `Clock`'s wall time
 * (instances share no monotonic clock; `TestClock` drives it).
 *
 * Each step is one transaction that makes sure the bucket's row exists and locks it (`SELECT ... FOR UPDATE` on
 * Postgres, where a competing step waits for the commit and then reads the committed level, as `READ COMMITTED` reads
 * each statement anew; on SQLite the insert takes the database's only write lock), steps the level, and writes it back.
 * Contention is retried within the step's bound (`persistence/sql.ts`).
 *
 * A row lives only while its bucket is not full: a step that fills it deletes it, and a step that makes a new row
 * sweeps the rows whose `full_at` has passed, so the table holds only the buckets drawn on within one refill.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlSchema from "effect/sql/SqlSchema"
import type * as RateLimiter from "../../RateLimiter.js"
import { Numeric, tableRow } from "../persistence/columns.js"
import { type Database, transaction } from "../persistence/sql.js"
import * as Level from "./level.js"

// What a step reads of a bucket's row.
const Bucket = tableRow("rate_buckets", { level: Numeric, read_at: Numeric })

/** A `BucketStore` in `database`, whose schema is the gateway's (`gateway/databaseSchema.ts`). */
export function bucketStore(database: Database["Service"]): RateLimiter.BucketStore["Service"] {
  const { bounds, sql } = database

  const locked = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: Bucket,
    execute: (key) =>
      sql.onDialectOrElse({
        pg: () => sql`SELECT level, read_at FROM rate_buckets WHERE bucket_key = ${key} FOR UPDATE`,
        orElse: () => sql`SELECT level, read_at FROM rate_buckets WHERE bucket_key = ${key}`
      })
  })

  const stepped = Effect.fnUntraced(function*(options: RateLimiter.BucketOptions, name: Level.Step, amount: number) {
    const { capacity, key } = options
    const perMilli = options.refillRate / 1000
    const now = yield* Clock.currentTimeMillis
    return yield* transaction(
      sql,
      bounds,
      "a rate limit step",
      Effect.gen(function*() {
        const made = yield* sql`INSERT INTO rate_buckets (bucket_key, level, read_at, full_at)
          VALUES (${key}, ${capacity}, ${now}, ${now}) ON CONFLICT (bucket_key) DO NOTHING RETURNING bucket_key`
        if (made.length > 0) yield* sql`DELETE FROM rate_buckets WHERE full_at <= ${now} AND bucket_key <> ${key}`
        const row = Option.getOrUndefined(yield* locked(key))
        const kept = row && { level: row.level, at: row.read_at }
        const next = Level.step({ name, amount, capacity, perMilli, kept, now })
        if (next.kept === undefined) yield* sql`DELETE FROM rate_buckets WHERE bucket_key = ${key}`
        else if (next.kept !== kept) {
          yield* sql`UPDATE rate_buckets SET level = ${next.kept.level}, read_at = ${next.kept.at},
            full_at = ${Level.fullAt(next.kept, capacity, perMilli)} WHERE bucket_key = ${key}`
        }
        return next.result
      })
    )
  })

  function bucket(options: RateLimiter.BucketOptions): Effect.Effect<RateLimiter.Bucket> {
    return Effect.succeed(Level.bucketOf((name) => (amount) => stepped(options, name, amount)))
  }

  return { bucket }
}
