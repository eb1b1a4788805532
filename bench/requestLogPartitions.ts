/**
 * The request log on Postgres as it grows (`internal/gateway/observe/requestPartitions.ts`): rows written through the log's SQL
 * store in the writer's batches, a day's worth after another, into the table partitioned by day and into the table as
 * it was before (`27_request_log_partitions` left out), on a throwaway server started as the tests start one. Per
 * tenth of the rows written: the time a row, on each table, so an insert cost that grows with the table shows. Then
 * retention: the oldest day removed, a day at a time, by the store's sweep (a partition dropped) and by the `DELETE`
 * the table had before, on days of a tenth, a third and all of `LOG_ROWS_A_DAY` rows, so a cost that follows the rows
 * removed shows. Last, the bytes a row takes on disk, indexes included (`pg_total_relation_size`), for docs/store.md.
 *
 *   node --import tsx bench/requestLogPartitions.ts
 *
 * LOG_ROWS (2,000,000) rows in all, LOG_ROWS_A_DAY (100,000) a day; LOG_BATCH (500) rows a write, the writer's batch.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as SqlClient from "effect/sql/SqlClient"
import { pathToFileURL } from "node:url"
import { gateway, schemas } from "../src/internal/gateway/databaseSchema.js"
import * as RequestLogStore from "../src/internal/gateway/observe/requestLogStore.js"
import * as Partitions from "../src/internal/gateway/observe/requestPartitions.js"
import * as Requests from "../src/internal/gateway/observe/requestTable.js"
import * as Database from "../src/internal/persistence/database.js"
import type { Schema } from "../src/internal/persistence/migrations.js"
import * as Sql from "../src/internal/persistence/sql.js"
import { postgresServer } from "../test/utils/postgresServer.js"
import { envNumber } from "./env.js"
import { round2 } from "./stats.js"

const total = envNumber("LOG_ROWS", 2_000_000)
const perDay = envNumber("LOG_ROWS_A_DAY", 100_000)
const batch = envNumber("LOG_BATCH", 500)

/** A day the rows count from: the first of 2026-01-01, UTC. */
const first = Date.UTC(2026, 0, 1)

/** The schema before the log was partitioned. */
const unpartitioned: ReadonlyArray<Schema> = [{
  ...gateway,
  migrations: Object.fromEntries(
    Object.entries(gateway.migrations).filter(([name]) => Number(name.split("_")[0]) < 27)
  )
}]

/** A chat call's row as the gateway writes one, without a payload: the `index`th of the run. */
const rowOf = (index: number): Requests.Row => ({
  id: `0193${index.toString(16).padStart(12, "0")}-7000-8000-${index.toString(16).padStart(12, "0")}`,
  request_id: `req_${index.toString(36).padStart(12, "0")}`,
  at: first + Math.floor(index / perDay) * Partitions.dayMillis + Math.floor(((index % perDay) * 86_400) / perDay),
  key_id: `key_${index % 50}`,
  key_name: `team-key-${index % 50}`,
  team_id: `team_${index % 5}`,
  route: "/v1/chat/completions",
  model: index % 3 === 0 ? "gpt-4o" : "gpt-4o-mini",
  deployment: `openai/${index % 3 === 0 ? "gpt-4o" : "gpt-4o-mini"}`,
  status: 200,
  input_tokens: 1200 + (index % 800),
  output_tokens: 200 + (index % 300),
  cached_tokens: index % 2 === 0 ? 1024 : 0,
  cache_write_tokens: 0,
  cache_write_1h_tokens: 0,
  cost: 0.00042,
  cache_savings: 0.0001,
  latency_ms: 812.4,
  first_token_ms: 231.9,
  error: null,
  payload: null,
  mcp_server: null,
  mcp_tool: null,
  arguments_digest: null
})

/** The store over `sql` with the gateway's bounds. */
const storeOf = (sql: SqlClient.SqlClient) =>
  Effect.map(
    Layer.build(Layer.provide(
      RequestLogStore.layerSql,
      Layer.succeed(Sql.Database, {
        sql,
        bounds: { address: "the bench's database", timeout: RequestLogStore.writeTimeout }
      })
    )),
    Context.get(RequestLogStore.RequestLogStore)
  )

const seconds = (from: number) => (performance.now() - from) / 1000

/** Writes every row in batches through `write`, giving the microseconds a row of each tenth of them. */
const fill = (write: (rows: ReadonlyArray<Requests.Row>) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const tenths: Array<number> = []
    const tenth = Math.ceil(total / 10)
    let started = performance.now()
    for (let at = 0; at < total; at += batch) {
      const rows = Array.from({ length: Math.min(batch, total - at) }, (_, i) => rowOf(at + i))
      yield* write(rows)
      const done = at + rows.length
      if (done % tenth < batch || done === total) {
        tenths.push(round2((seconds(started) * 1e6) / (done - tenths.length * tenth)))
        started = performance.now()
      }
    }
    return tenths
  })

/** The bytes a row of `requests` takes on disk, its partitions and indexes included. */
const bytesARow = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{ readonly bytes: unknown; readonly n: unknown }>`SELECT
      (SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
        WHERE c.relname = 'requests' OR c.relname LIKE 'requests\\_2%') AS bytes,
      (SELECT COUNT(*) FROM requests) AS n`,
    ([row]) => Math.round(Number(row!.bytes) / Number(row!.n))
  )

/** Milliseconds to remove the oldest day (`day`, of `rows` rows) by `remove`. */
const timed = (remove: Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const started = performance.now()
    yield* remove
    return round2(seconds(started) * 1000)
  })

const main = Effect.gen(function*() {
  const server = yield* postgresServer
  const connect = (name: string, schema: ReadonlyArray<Schema>) =>
    Effect.flatMap(server.database(name), (url) => Database.connect({ postgres: Redacted.make(url) }, schema))
  const partitioned = yield* connect("bench_partitioned", schemas)
  const plain = yield* connect("bench_unpartitioned", unpartitioned)
  const store = yield* storeOf(partitioned)

  console.log(`${total} rows, ${perDay} a day, ${batch} a write`)
  const insertPartitioned = yield* fill(store.write)
  const insertPlain = yield* fill((rows) => Requests.insert(plain, rows))
  console.log(`insert, µs a row by tenth of the rows: partitioned ${insertPartitioned.join(" ")}`)
  console.log(`insert, µs a row by tenth of the rows: unpartitioned ${insertPlain.join(" ")}`)
  const bytes = yield* bytesARow(partitioned)
  console.log(`bytes a row on disk, indexes included: ${bytes}`)

  // Retention, a day at a time from the oldest: the last day of each size made by deleting rows from a full day.
  const days = Math.floor(total / perDay)
  const sizes = [perDay, Math.floor(perDay / 3), Math.floor(perDay / 10)]
  const drops: Array<string> = []
  for (const [i, size] of sizes.entries()) {
    const day = first + i * Partitions.dayMillis
    if (i >= days) break
    // The day cut to `size` rows on both tables first, so each removes the same rows.
    for (const sql of [partitioned, plain]) {
      yield* sql`DELETE FROM requests WHERE at >= ${day} AND at < ${day + Partitions.dayMillis}
        AND id NOT IN (SELECT id FROM requests WHERE at >= ${day} AND at < ${day + Partitions.dayMillis}
        ORDER BY id LIMIT ${size})`
      yield* sql`VACUUM ANALYZE requests`
    }
    const dropped = yield* timed(store.sweep({
      now: first + days * Partitions.dayMillis,
      before: day + Partitions.dayMillis,
      bounds: { rows: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER }
    }))
    const deleted = yield* timed(Requests.deleteBefore(plain, day + Partitions.dayMillis))
    drops.push(`${size} rows: drop ${dropped} ms, delete ${deleted} ms`)
  }
  console.log(`retention of the oldest day: ${drops.join("; ")}`)
  console.log(JSON.stringify({
    rows: total,
    perDay,
    insertMicrosARowByTenth: { partitioned: insertPartitioned, unpartitioned: insertPlain },
    bytesARow: bytes,
    retention: drops
  }))
})

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Effect.runPromise(Effect.scoped(main)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
