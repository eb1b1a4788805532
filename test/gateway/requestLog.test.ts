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
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { schemas } from "../../src/internal/databaseSchema.js"
import type * as AdminSpend from "../../src/internal/gateway/admin/spend.js"
import { makeLiveStats } from "../../src/internal/gateway/observe/liveStats.js"
import * as Journal from "../../src/internal/gateway/observe/record.js"
import * as RequestLog from "../../src/internal/gateway/observe/requestLog.js"
import * as RequestLogStore from "../../src/internal/gateway/observe/requestLogStore.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import * as Outcome from "../../src/internal/gateway/request/outcome.js"
import * as Database from "../../src/internal/sql/database.js"
import * as Requests from "../../src/internal/sql/requests.js"
import { requestLogContract } from "../contract/requestLog.js"
import { effectProp } from "../utils/effectProp.js"
import { silentDatabase } from "../utils/silentDatabase.js"
import { serviceOf, storeBackends } from "../utils/sqlDatabases.js"
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
    RequestLogStore.layerSql({ sql, bounds: { address: "the test's database", timeout: Duration.seconds(5) } })
  )

/** The writer's backends: this process's memory, and a SQLite file. */
const backends = [
  ["memory", serviceOf(RequestLogStore.RequestLogStore, RequestLogStore.layerMemory)],
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
  return journal.written(context, start + 5, undefined)
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
