/**
 * The request log's store against its contract (`contract/requestLog.ts`) in memory, on SQLite and on Postgres; its
 * writer, one algorithm over either backend, its time driven by `TestClock`: rows past the retention deleted by its
 * hourly sweep and newer ones kept, the bound on rows kept as soon as a tenth of it was written, every row still queued
 * written when its scope closes, and rows beyond a full queue dropped and counted without waiting; on a SQLite file,
 * the space of the rows swept given back, and a store that does not answer reported; and the writer needing its store
 * in its type.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as AdminSpend from "../../src/internal/gateway/admin/spend.js"
import { gateway, schemas } from "../../src/internal/gateway/databaseSchema.js"
import { makeLiveStats } from "../../src/internal/gateway/observe/liveStats.js"
import * as Journal from "../../src/internal/gateway/observe/record.js"
import * as RequestLog from "../../src/internal/gateway/observe/requestLog.js"
import * as RequestLogStore from "../../src/internal/gateway/observe/requestLogStore.js"
import * as RequestPartitions from "../../src/internal/gateway/observe/requestPartitions.js"
import * as Requests from "../../src/internal/gateway/observe/requestTable.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import * as Outcome from "../../src/internal/gateway/request/outcome.js"
import * as Database from "../../src/internal/persistence/database.js"
import type { Schema } from "../../src/internal/persistence/migrations.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import { requestLogContract } from "../contract/requestLog.js"
import { effectProp } from "../utils/effectProp.js"
import { eventually } from "../utils/eventually.js"
import { silentDatabase } from "../utils/silentDatabase.js"
import { inMemory, postgresFor, postgresServerFor, serviceOf, storeBackends } from "../utils/sqlDatabases.js"
import { withWarnings } from "../utils/warnings.js"

const hour = 3_600_000

const directory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "request-log-unit-"))),
  (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
)

const database = Effect.gen(function*() {
  return yield* Effect.orDie(Database.connect({ sqlite: join(yield* directory, "gateway.db") }, schemas))
})

/** The bytes the SQLite file `file` takes on disk, its write-ahead log included. */
const fileBytes = (file: string) =>
  [file, `${file}-wal`].reduce((total, name) => total + (existsSync(name) ? statSync(name).size : 0), 0)

for (const backend of storeBackends("request_log", RequestLogStore.RequestLogStore, RequestLogStore)) {
  requestLogContract(backend)
}

/** The request log's store on the SQLite database `sql`. */
const onSql = (sql: SqlClient.SqlClient) =>
  serviceOf(
    RequestLogStore.RequestLogStore,
    Layer.provide(
      RequestLogStore.layerSql,
      Layer.succeed(Sql.Database, { sql, bounds: { address: "the test's database", timeout: Duration.seconds(5) } })
    )
  )

/** The writer's backends: a database in this process's memory, and a SQLite file. */
const backends = [
  ["memory", serviceOf(RequestLogStore.RequestLogStore, inMemory(RequestLogStore.layerSql))],
  ["SQLite", Effect.flatMap(database, onSql)]
] as const

const open = (
  store: RequestLogStore.Service,
  options: {
    readonly retention?: Duration.Input
    readonly capacity?: number
    readonly maxRows?: number
    readonly dropped?: (count: number) => void
  } = {}
) =>
  RequestLog.make({
    logPayloads: false,
    retention: options.retention,
    capacity: options.capacity,
    maxRows: options.maxRows,
    secrets: () => [],
    dropped: options.dropped ?? (() => undefined)
  }).pipe(Effect.provideService(RequestLogStore.RequestLogStore, store))

/** A call that came in at `start` and ended 5 ms later, its record written to `log`. */
const call = (log: RequestLog.RequestLog, id: string, start: number) => {
  const context = Request.make({
    id,
    method: "POST",
    url: "/v1/chat/completions",
    start,
    caller: undefined,
    payload: false
  })
  Outcome.answeredAs(context.outcome, 200)
  const journal = Journal.make({ stats: makeLiveStats([], 0), requestLog: log, logRequests: false })
  return journal.written(context, start + 5) ?? Effect.void
}

const ids = (store: RequestLogStore.Service) =>
  Effect.map(Effect.orDie(store.list({ limit: 1000 })), (rows) => rows.map((row) => row.request_id))

/** Lets the writer's fiber run what it has to (its database calls are synchronous), its batch's linger passed. */
const settle = Effect.andThen(TestClock.adjust(RequestLog.linger), Effect.yieldNow)

/** A row of a call at `at` whose payload is `payload` characters long. */
const rowOf = (index: number, at: number, payload: number): Requests.Row => ({
  id: `row-${String(index).padStart(4, "0")}`,
  request_id: `request-${index}`,
  at,
  key_id: null,
  key_name: null,
  team_id: null,
  route: "/v1/chat/completions",
  model: "gpt-4o-mini",
  deployment: null,
  status: 200,
  input_tokens: null,
  output_tokens: null,
  cached_tokens: null,
  cache_write_tokens: null,
  cache_write_1h_tokens: null,
  cost: null,
  cache_savings: null,
  latency_ms: 5,
  first_token_ms: null,
  error: null,
  payload: payload === 0 ? null : "p".repeat(payload),
  mcp_server: null,
  mcp_tool: null,
  arguments_digest: null
})

describe.each(backends)("the request log's writer in %s", (_, backend) => {
  it.effect("deletes rows past the retention hourly, and keeps newer ones", () =>
    Effect.gen(function*() {
      const store = yield* backend
      const log = yield* open(store, { retention: "1 day" })
      yield* call(log, "at-start", 0)
      yield* settle
      expect(yield* ids(store)).toEqual(["at-start"])
      yield* TestClock.adjust(23 * hour)
      yield* settle
      expect(yield* ids(store)).toEqual(["at-start"])
      yield* call(log, "a-day-later", 24 * hour)
      yield* settle
      // The sweep at 25 hours deletes what came in before the first hour.
      yield* TestClock.adjust(2 * hour)
      yield* settle
      expect(yield* ids(store)).toEqual(["a-day-later"])
    }).pipe(Effect.scoped))

  it.effect("trims by rows as soon as a tenth of the bound was written, without waiting for the hour", () =>
    Effect.gen(function*() {
      const store = yield* backend
      const log = yield* open(store, { maxRows: 3 })
      for (const [i, id] of ["a", "b", "c", "d", "e"].entries()) {
        yield* call(log, id, i)
        yield* settle
      }
      // Within the first hour: each batch written brings a sweep, which trims to the bound.
      yield* settle
      expect(yield* ids(store)).toEqual(["e", "d", "c"])
    }).pipe(Effect.scoped))

  it.effect("writes the rows that come within the linger of a batch's first in one batch, a full batch at once", () =>
    Effect.gen(function*() {
      const store = yield* backend
      const log = yield* open(store)
      // The sweep at start, then the writer waits for rows.
      yield* settle
      yield* call(log, "first", 0)
      yield* Effect.yieldNow
      yield* TestClock.adjust(Duration.subtract(RequestLog.linger, Duration.millis(1)))
      yield* call(log, "second", 1)
      yield* Effect.yieldNow
      expect(yield* ids(store)).toEqual([])
      yield* TestClock.adjust(Duration.millis(1))
      yield* Effect.yieldNow
      expect(yield* ids(store)).toEqual(["second", "first"])
      // 201 rows: the first waits for 199 more, and the batch of 200 goes at once; the last, a linger later.
      yield* Effect.forEach(Array.from({ length: 201 }, (_, i) => i), (i) => call(log, `many-${i}`, 10 + i))
      yield* Effect.yieldNow
      expect(yield* ids(store)).toHaveLength(202)
      yield* settle
      expect(yield* ids(store)).toHaveLength(203)
    }).pipe(Effect.scoped))

  it.effect("writes every row still queued when its scope closes", () =>
    Effect.gen(function*() {
      const store = yield* backend
      const scope = yield* Scope.make()
      const log = yield* Effect.provideService(open(store), Scope.Scope, scope)
      yield* Effect.forEach(Array.from({ length: 450 }, (_, i) => i), (i) => call(log, `call-${i}`, i))
      yield* Scope.close(scope, Exit.void)
      const written = yield* ids(store)
      expect(written).toHaveLength(450)
      expect(new Set(written).size).toBe(450)
    }).pipe(Effect.scoped))

  it.effect("gives each row an id that sorts after the ids of the rows recorded before it", () =>
    Effect.gen(function*() {
      const store = yield* backend
      const scope = yield* Scope.make()
      const log = yield* Effect.provideService(open(store), Scope.Scope, scope)
      // All in the same millisecond of the `Clock`: the order is the ids' own, not the time's.
      yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => call(log, `call-${i}`, 0))
      yield* Scope.close(scope, Exit.void)
      const rows = yield* Effect.orDie(store.list({ limit: 1000 }))
      const byId = [...rows].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0).map((row) => row.request_id)
      expect(byId).toEqual(Array.from({ length: 300 }, (_, i) => `call-${i}`))
    }).pipe(Effect.scoped))

  effectProp(
    "calls at any instants, any retention and row bound: once the writer has swept, the store holds the newest calls " +
      "since the retention's start, as many as the bound keeps",
    fc.record({
      gaps: fc.array(fc.integer({ min: 0, max: 3 * hour }), { minLength: 1, maxLength: 30 }),
      retentionHours: fc.integer({ min: 1, max: 24 }),
      maxRows: fc.integer({ min: 1, max: 10 })
    }),
    ({ gaps, maxRows, retentionHours }) =>
      Effect.gen(function*() {
        const store = yield* backend
        const log = yield* open(store, { retention: Duration.hours(retentionHours), maxRows })
        const called: Array<{ readonly id: string; readonly at: number }> = []
        for (const [i, gap] of gaps.entries()) {
          yield* TestClock.adjust(gap)
          const at = yield* Clock.currentTimeMillis
          yield* call(log, `call-${i}`, at)
          called.push({ id: `call-${i}`, at })
          yield* settle
        }
        yield* settle
        const since = (yield* Clock.currentTimeMillis) - retentionHours * hour
        const kept = called.filter((one) => one.at >= since).reverse().slice(0, maxRows)
        expect(yield* ids(store)).toEqual(kept.map((one) => one.id))
      }),
    25
  )

  it.effect("drops and counts the rows a full queue has no room for, without waiting", () =>
    Effect.gen(function*() {
      const store = yield* backend
      let dropped = 0
      const log = yield* open(store, {
        capacity: 2,
        dropped: (count) => {
          dropped += count
        }
      })
      // Recorded together, before the writer's fiber runs: two fit in the queue.
      yield* Effect.forEach(["a", "b", "c", "d", "e"], (id, i) => call(log, id, i))
      expect(dropped).toBe(3)
      yield* settle
      expect(yield* ids(store)).toEqual(["b", "a"])
    }).pipe(Effect.scoped))
})

describe("the request log on a SQLite file", () => {
  it.effect("the writer's sweep gives the space of the rows it trims back: the file shrinks with them", () =>
    Effect.gen(function*() {
      const file = join(yield* directory, "gateway.db")
      const sql = yield* Effect.orDie(Database.connect({ sqlite: file }, schemas))
      // 2,000 rows of 2 KB each, in batches as the writer writes them.
      for (let batch = 0; batch < 20; batch++) {
        const rows = Array.from({ length: 100 }, (_, i) => rowOf(batch * 100 + i, batch * 100 + i, 2_000))
        yield* Effect.orDie(Requests.insert(sql, rows))
      }
      const before = fileBytes(file)
      expect(before).toBeGreaterThan(4_000_000)
      // The writer sweeps at its start: down to 20 rows.
      const store = yield* onSql(sql)
      yield* open(store, { maxRows: 20 })
      yield* settle
      expect((yield* ids(store)).length).toBe(20)
      expect(fileBytes(file)).toBeLessThan(before / 20)
    }).pipe(Effect.scoped))

  it.effect("a row read back unlike its columns fails a read with StoreUnavailableError naming table and column", () =>
    Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect({ sqlite: join(yield* directory, "gateway.db") }, schemas))
      yield* Effect.orDie(Requests.insert(sql, [rowOf(0, 0, 10)]))
      yield* Effect.orDie(sql`UPDATE requests SET latency_ms = 'slow'`)
      const store = yield* onSql(sql)
      const failure = yield* Effect.flip(store.list({ limit: 10 }))
      expect(failure._tag).toBe("StoreUnavailableError")
      expect(failure.reason).toMatch(/reading the request log: a row of requests .*\["latency_ms"\]/s)
    }).pipe(Effect.scoped))

  it.effect("a database file made without incremental vacuum is rebuilt with it once, its rows kept", () =>
    Effect.gen(function*() {
      const file = join(yield* directory, "gateway.db")
      const sqlite = process.getBuiltinModule("node:sqlite")
      const old = new sqlite.DatabaseSync(file)
      old.exec("CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('there')")
      expect(old.prepare("PRAGMA auto_vacuum").get()).toEqual({ auto_vacuum: 0 })
      old.close()
      const sql = yield* Effect.orDie(Database.connect({ sqlite: file }, schemas))
      expect(yield* Effect.orDie(sql`PRAGMA auto_vacuum`)).toEqual([{ auto_vacuum: 2 }])
      expect(yield* Effect.orDie(sql`SELECT x FROM kept`)).toEqual([{ x: "there" }])
    }).pipe(Effect.scoped))

  it.effect("drops, counts and reports a batch its database does not answer once the write's bound passes", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      const store = yield* onSql(silent.sql)
      let dropped = 0
      const [, warnings] = yield* withWarnings(Effect.gen(function*() {
        const log = yield* open(store, {
          dropped: (count) => {
            dropped += count
          }
        })
        yield* call(log, "a", 0)
        yield* call(log, "b", 1)
        // The sweep at start waits its bound out first, then the batch its linger and its own bound.
        yield* TestClock.adjust("10 seconds")
        yield* settle
        yield* TestClock.adjust("9999 millis")
        yield* Effect.yieldNow
        expect(dropped).toBe(0)
        yield* TestClock.adjust("1 milli")
        yield* Effect.yieldNow
        expect(dropped).toBe(2)
      }))
      expect(warnings.map((warning) => [warning.message, warning.annotations["reason"]])).toEqual([
        ["request log retention not applied", "applying the request log's retention: no answer within 10s"],
        ["request log rows dropped", "the store refused them: writing the request log: no answer within 10s"]
      ])
    }).pipe(Effect.scoped))
})

const day = RequestPartitions.dayMillis
const postgresServer = postgresServerFor()
/** 2026-01-15, a Thursday, at midnight UTC: what the Postgres tests' days count from, whatever today is. */
const thursday = Date.UTC(2026, 0, 15)

/** A new database on the file's Postgres server, its URL. */
const postgresUrl = Effect.gen(function*() {
  return yield* (yield* postgresServer).database(`request_log_days_${randomUUID().replaceAll("-", "")}`)
})

/** The database at `url`, opened for the scope, its schema brought up to `schema`. */
const connected = (url: string, schema: ReadonlyArray<Schema> = schemas) =>
  Effect.orDie(Database.connect({ postgres: Redacted.make(url) }, schema))

/** The schema before the log was partitioned: every migration before `27_request_log_partitions`. */
const unpartitioned: ReadonlyArray<Schema> = [{
  ...gateway,
  migrations: Object.fromEntries(
    Object.entries(gateway.migrations).filter(([name]) => Number(name.split("_")[0]) < 27)
  )
}]

/** The request log's store on the Postgres database `sql`. */
const onPostgres = (sql: SqlClient.SqlClient) =>
  serviceOf(
    RequestLogStore.RequestLogStore,
    Layer.provide(
      RequestLogStore.layerSql,
      Layer.succeed(Sql.Database, { sql, bounds: { address: "the test's database", timeout: Duration.seconds(10) } })
    )
  )

/** The log's partitions, by name. */
const partitions = (sql: SqlClient.SqlClient) =>
  Effect.map(
    Effect.orDie(sql<{ readonly name: string }>`SELECT c.relname AS name FROM pg_inherits AS i
      JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = 'requests'::regclass ORDER BY c.relname`),
    (rows) => rows.map((row) => row.name)
  )

/** Each day's row of `request_log_days`: its start, rows and bytes. */
const dayCounts = (sql: SqlClient.SqlClient) =>
  Effect.map(
    Effect.orDie(sql<Record<string, unknown>>`SELECT day, row_count, byte_count FROM request_log_days ORDER BY day`),
    (rows) => rows.map((row) => [Number(row.day), Number(row.row_count), Number(row.byte_count)])
  )

/** What `rows` count per day, as `dayCounts` gives them. */
const countsOf = (rows: ReadonlyArray<Requests.Row>) => {
  const days = new Map<number, [number, number, number]>()
  for (const row of rows) {
    const start = RequestPartitions.dayOf(row.at)
    const [, count, bytes] = days.get(start) ?? [start, 0, 0]
    days.set(start, [start, count + 1, bytes + Requests.bytesOf(row)])
  }
  return [...days.values()].sort((a, b) => a[0] - b[0])
}

/** `perDay` rows on each of `days` days from `first`, spread over the day, some with payloads. */
const daysOfRows = (first: number, days: number, perDay: number) =>
  Array.from(
    { length: days * perDay },
    (_, i) =>
      rowOf(i, first + Math.floor(i / perDay) * day + (i % perDay) * Math.floor(day / perDay), i % 3 === 0 ? 100 : 0)
  )

describe("the request log on Postgres, partitioned by day", () => {
  it.live("its writer makes today's and tomorrow's partitions at start; calls either side of midnight land in them", () =>
    Effect.gen(function*() {
      const { sql } = yield* postgresFor("request_log_ahead")
      const today = RequestPartitions.dayOf(yield* Clock.currentTimeMillis)
      const ahead = [RequestPartitions.partitionOf(today), RequestPartitions.partitionOf(today + day)]
      const store = yield* onPostgres(sql)
      const log = yield* open(store)
      yield* eventually(
        "today's and tomorrow's partitions made",
        partitions(sql),
        (names) => ahead.every((name) => names.includes(name))
      )
      yield* call(log, "before-midnight", thursday + day - 1)
      yield* call(log, "at-midnight", thursday + day)
      const landed = yield* eventually(
        "both calls written",
        Effect.orDie(sql<{ readonly request_id: string; readonly partition: string }>`
          SELECT request_id, tableoid::regclass::text AS partition FROM requests ORDER BY at`),
        (rows) => rows.length === 2
      )
      expect(landed.map((row) => [row.request_id, row.partition])).toEqual([
        ["before-midnight", "requests_20260115"],
        ["at-midnight", "requests_20260116"]
      ])
      expect(yield* partitions(sql)).toEqual([...new Set(["requests_20260115", "requests_20260116", ...ahead])].sort())
    }).pipe(Effect.scoped))

  it.effect("a write on a day without a partition makes it, and several instances writing it at once make it once", () =>
    Effect.gen(function*() {
      const database = yield* postgresFor("request_log_made")
      const stores = yield* Effect.forEach([1, 2, 3, 4], () => onPostgres(database.sql))
      const written = daysOfRows(thursday, 2, 40)
      yield* Effect.forEach(
        stores,
        (store, i) => Effect.orDie(store.write(written.filter((_, index) => index % stores.length === i))),
        { concurrency: "unbounded" }
      )
      expect(yield* partitions(database.sql)).toEqual(["requests_20260115", "requests_20260116"])
      expect(yield* Effect.orDie(stores[0]!.list({ limit: 1000 }))).toHaveLength(written.length)
      expect(yield* dayCounts(database.sql)).toEqual(countsOf(written))
    }).pipe(Effect.scoped))

  it.effect("retention and the bounds drop whole days' partitions, never deleting a row", () =>
    Effect.gen(function*() {
      const { sql } = yield* postgresFor("request_log_drop")
      // Every row deleted from the log, counted.
      yield* Effect.orDie(Effect.forEach([
        "CREATE TABLE deleted_rows (request_id TEXT NOT NULL)",
        `CREATE FUNCTION count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN INSERT INTO deleted_rows VALUES (OLD.request_id); RETURN OLD; END $$`,
        "CREATE TRIGGER counted AFTER DELETE ON requests FOR EACH ROW EXECUTE FUNCTION count_deleted()"
      ], (statement) => sql.unsafe(statement)))
      const store = yield* onPostgres(sql)
      // Ten rows a day from Monday to Friday (the 12th to the 16th).
      const written = daysOfRows(thursday - 3 * day, 5, 10)
      yield* Effect.orDie(store.write(written))
      // Retention from Wednesday 06:00: Monday and Tuesday go, Wednesday is kept whole. Fifteen rows at most: counted
      // from the newest, Friday's ten, then Thursday's pass the bound, so Wednesday goes too and Thursday stays whole.
      const bounds = { rows: 15, bytes: 1_000_000 }
      yield* Effect.orDie(store.sweep({ now: thursday + 12 * hour, before: thursday - day + 6 * hour, bounds }))
      const kept = written.filter((row) => row.at >= thursday)
      expect(yield* ids(store)).toEqual([...kept].reverse().map((row) => row.request_id))
      expect(yield* partitions(sql)).toEqual(["requests_20260115", "requests_20260116"])
      expect(yield* dayCounts(sql)).toEqual(countsOf(kept))
      expect(yield* Effect.orDie(sql`SELECT * FROM deleted_rows`)).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("a database whose log is not yet partitioned is partitioned at start, its rows kept", () =>
    Effect.gen(function*() {
      const url = yield* postgresUrl
      const written = [...daysOfRows(thursday - 2 * day, 3, 30), rowOf(90, thursday + day - 1, 40)]
      const before = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* connected(url, unpartitioned)
        yield* Effect.orDie(Requests.insert(sql, written))
        return yield* Effect.orDie(Requests.list(sql, { limit: 1000 }))
      }))
      expect(before).toHaveLength(written.length)
      const sql = yield* connected(url)
      expect(yield* Effect.orDie(Requests.list(sql, { limit: 1000 }))).toEqual(before)
      expect(yield* partitions(sql)).toEqual(["requests_20260113", "requests_20260114", "requests_20260115"])
      expect(yield* dayCounts(sql)).toEqual(countsOf(written))
      const keys = yield* Effect.orDie(sql<{ readonly key: string }>`
        SELECT pg_get_constraintdef(oid) AS key FROM pg_constraint
        WHERE conrelid = 'requests'::regclass AND contype = 'p'`)
      expect(keys.map((row) => row.key)).toEqual(["PRIMARY KEY (at, id)"])
      // Its oldest day goes as any other.
      const store = yield* onPostgres(sql)
      yield* Effect.orDie(store.sweep({ now: thursday, before: thursday - day, bounds: { rows: 1000, bytes: 1e9 } }))
      expect(yield* partitions(sql)).toEqual(["requests_20260114", "requests_20260115", "requests_20260116"])
    }).pipe(Effect.scoped))

  it.effect("several gateways starting together on such a database partition it once, every row once", () =>
    Effect.gen(function*() {
      const url = yield* postgresUrl
      const written = daysOfRows(thursday - day, 2, 50)
      yield* Effect.scoped(
        Effect.flatMap(connected(url, unpartitioned), (sql) => Effect.orDie(Requests.insert(sql, written)))
      )
      const gateways = yield* Effect.forEach([1, 2, 3, 4], () => connected(url), { concurrency: "unbounded" })
      for (const sql of gateways) {
        expect(yield* Effect.orDie(Requests.list(sql, { limit: 1000 }))).toHaveLength(written.length)
      }
      const ran = yield* Effect.orDie(
        gateways[0]!<{ readonly n: unknown }>`SELECT COUNT(*) AS n FROM effect_sql_migrations WHERE migration_id = 27`
      )
      expect(Number(ran[0]!.n)).toBe(1)
      expect(yield* partitions(gateways[0]!)).toEqual(["requests_20260114", "requests_20260115"])
      expect(yield* dayCounts(gateways[0]!)).toEqual(countsOf(written))
    }).pipe(Effect.scoped))
})

describe("the days a Postgres sweep drops", () => {
  const daysDrawn = fc.uniqueArray(fc.integer({ min: 0, max: 60 }), { maxLength: 20 }).chain((starts) =>
    fc.tuple(
      ...starts.sort((a, b) => b - a).map((start) =>
        fc.record({
          day: fc.constant(start * day),
          rows: fc.integer({ min: 0, max: 50 }),
          bytes: fc.integer({ min: 0, max: 10_000 })
        })
      )
    )
  )

  it("are those wholly before the retention's start, then those older than the day a bound is passed on, no others", () => {
    fc.assert(fc.property(
      daysDrawn,
      fc.integer({ min: 0, max: 62 * day }),
      fc.record({ rows: fc.integer({ min: 0, max: 400 }), bytes: fc.integer({ min: 0, max: 100_000 }) }),
      (days, before, bounds) => {
        const gone = new Set(RequestPartitions.doomed(days, before, bounds))
        const since = days.filter((one) => one.day + day > before)
        for (const one of days) if (one.day + day <= before) expect(gone.has(one.day)).toBe(true)
        // Of the days since, the newest are kept: all those within the bounds, and the first past them.
        const kept = since.filter((one) => !gone.has(one.day))
        expect(kept).toEqual(since.slice(0, kept.length))
        const sum = (list: ReadonlyArray<RequestPartitions.Day>, field: "rows" | "bytes") =>
          list.reduce((total, one) => total + one[field], 0)
        const within = kept.slice(0, -1)
        expect(sum(within, "rows") <= bounds.rows && sum(within, "bytes") <= bounds.bytes).toBe(true)
        if (kept.length < since.length) {
          expect(sum(kept, "rows") > bounds.rows || sum(kept, "bytes") > bounds.bytes).toBe(true)
        }
      }
    ))
  })
})

it("the writer and the admin paths of the request log need its store in their type", () => {
  type Without<T, S> = Exclude<Effect.Services<T>, S>
  type Log = ReturnType<typeof RequestLog.make>
  // @ts-expect-error: the writer writes to the `RequestLogStore`.
  const log: Effect.Effect<RequestLog.RequestLog, never, Without<Log, RequestLogStore.RequestLogStore>> =
    undefined as unknown as Log
  type Routes = ReturnType<typeof AdminSpend.routes>
  // @ts-expect-error: the admin paths read it.
  const routes: Effect.Effect<Effect.Success<Routes>, unknown, Without<Routes, RequestLogStore.RequestLogStore>> =
    undefined as unknown as Routes
  expect([log, routes].filter(Boolean)).toHaveLength(0)
})
