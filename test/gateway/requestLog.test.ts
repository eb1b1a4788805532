/**
 * The request log's writer on a real SQLite file, its time driven by `TestClock`: rows past the retention deleted by
 * its hourly sweep and newer ones kept, every row still queued written when its scope closes, and rows beyond a full
 * queue dropped and counted without waiting; and the bounds on rows and bytes, the oldest rows trimmed first.
 */
import { describe, expect, it } from "@effect/vitest"
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
import { migrations } from "../../src/internal/databaseSchema.js"
import { makeLiveStats } from "../../src/internal/gateway/observe/liveStats.js"
import * as Journal from "../../src/internal/gateway/observe/record.js"
import * as RequestLog from "../../src/internal/gateway/observe/requestLog.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import * as Outcome from "../../src/internal/gateway/request/outcome.js"
import * as Database from "../../src/internal/sql/database.js"
import * as Requests from "../../src/internal/sql/requests.js"
import { effectProp } from "../utils/effectProp.js"
import { silentDatabase } from "../utils/silentDatabase.js"
import { withWarnings } from "../utils/warnings.js"

const hour = 3_600_000

const directory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "request-log-unit-"))),
  (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
)

const database = Effect.gen(function*() {
  return yield* Effect.orDie(Database.connect({ sqlite: join(yield* directory, "gateway.db") }, migrations))
})

/** The bytes the SQLite file `file` takes on disk, its write-ahead log included. */
const fileBytes = (file: string) =>
  [file, `${file}-wal`].reduce((total, name) => total + (existsSync(name) ? statSync(name).size : 0), 0)

const open = (
  sql: SqlClient.SqlClient,
  options: {
    readonly retention?: Duration.Input
    readonly capacity?: number
    readonly dropped?: (count: number) => void
  } = {}
) =>
  RequestLog.make({
    database: { sql, bounds: { address: "the test's database", timeout: Duration.seconds(5) } },
    logPayloads: false,
    retention: options.retention,
    capacity: options.capacity,
    secrets: () => [],
    dropped: options.dropped ?? (() => undefined)
  })

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

const ids = (sql: SqlClient.SqlClient) =>
  Effect.map(Effect.orDie(Requests.list(sql, { limit: 1000 })), (rows) => rows.map((row) => row.request_id))

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

describe("the request log's bounds on rows and bytes", () => {
  effectProp(
    "trim keeps the newest rows that fit both bounds and deletes every older one",
    fc.record({
      rows: fc.array(fc.record({ at: fc.integer({ min: 0, max: 40 }), payload: fc.integer({ min: 0, max: 600 }) }), {
        maxLength: 40
      }),
      maxRows: fc.integer({ min: 1, max: 30 }),
      maxBytes: fc.integer({ min: 100, max: 8_000 })
    }),
    ({ maxBytes, maxRows, rows }) =>
      Effect.gen(function*() {
        const sql = yield* database
        const written = rows.map((row, i) => rowOf(i, row.at, row.payload))
        if (written.length > 0) yield* Effect.orDie(Requests.insert(sql, written))
        yield* Effect.orDie(Requests.trim(sql, { rows: maxRows, bytes: maxBytes }))
        // Newest first (ties by id, as the log pages them); kept while both bounds hold.
        const newest = [...written].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
        const expected: Array<string> = []
        let bytes = 0
        for (const row of newest) {
          bytes += Requests.bytesOf(row)
          if (expected.length + 1 > maxRows || bytes > maxBytes) break
          expected.push(row.request_id)
        }
        expect(yield* ids(sql)).toEqual(expected)
      }),
    25
  )

  it.effect("the writer trims by rows as soon as a tenth of the bound was written, without waiting for the hour", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const log = yield* RequestLog.make({
        database: { sql, bounds: { address: "the test's database", timeout: Duration.seconds(5) } },
        logPayloads: false,
        maxRows: 3,
        secrets: () => [],
        dropped: () => undefined
      })
      for (const [i, id] of ["a", "b", "c", "d", "e"].entries()) {
        yield* call(log, id, i)
        yield* settle
      }
      // Within the first hour: each batch written brings a sweep, which trims to the bound.
      yield* settle
      expect(yield* ids(sql)).toEqual(["e", "d", "c"])
    }).pipe(Effect.scoped))
})

describe("the request log's file", () => {
  it.effect("the writer's sweep gives the space of the rows it trims back: the file shrinks with them", () =>
    Effect.gen(function*() {
      const file = join(yield* directory, "gateway.db")
      const sql = yield* Effect.orDie(Database.connect({ sqlite: file }, migrations))
      // 2,000 rows of 2 KB each, in batches as the writer writes them.
      for (let batch = 0; batch < 20; batch++) {
        const rows = Array.from({ length: 100 }, (_, i) => rowOf(batch * 100 + i, batch * 100 + i, 2_000))
        yield* Effect.orDie(Requests.insert(sql, rows))
      }
      const before = fileBytes(file)
      expect(before).toBeGreaterThan(4_000_000)
      // The writer sweeps at its start: down to 20 rows.
      yield* RequestLog.make({
        database: { sql, bounds: { address: "the test's database", timeout: Duration.seconds(5) } },
        logPayloads: false,
        maxRows: 20,
        secrets: () => [],
        dropped: () => undefined
      })
      yield* settle
      expect((yield* ids(sql)).length).toBe(20)
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
      const sql = yield* Effect.orDie(Database.connect({ sqlite: file }, migrations))
      expect(yield* Effect.orDie(sql`PRAGMA auto_vacuum`)).toEqual([{ auto_vacuum: 2 }])
      expect(yield* Effect.orDie(sql`SELECT x FROM kept`)).toEqual([{ x: "there" }])
    }).pipe(Effect.scoped))
})

describe("the request log's writer", () => {
  it.effect("deletes rows past the retention hourly, and keeps newer ones", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const log = yield* open(sql, { retention: "1 day" })
      yield* call(log, "at-start", 0)
      yield* settle
      expect(yield* ids(sql)).toEqual(["at-start"])
      yield* TestClock.adjust(23 * hour)
      yield* settle
      expect(yield* ids(sql)).toEqual(["at-start"])
      yield* call(log, "a-day-later", 24 * hour)
      yield* settle
      // The sweep at 25 hours deletes what came in before the first hour.
      yield* TestClock.adjust(2 * hour)
      yield* settle
      expect(yield* ids(sql)).toEqual(["a-day-later"])
    }).pipe(Effect.scoped))

  it.effect("writes the rows that come within the linger of a batch's first in one batch, a full batch at once", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const log = yield* open(sql)
      // The sweep at start, then the writer waits for rows.
      yield* settle
      yield* call(log, "first", 0)
      yield* Effect.yieldNow
      yield* TestClock.adjust(Duration.subtract(RequestLog.linger, Duration.millis(1)))
      yield* call(log, "second", 1)
      yield* Effect.yieldNow
      expect(yield* ids(sql)).toEqual([])
      yield* TestClock.adjust(Duration.millis(1))
      yield* Effect.yieldNow
      expect(yield* ids(sql)).toEqual(["second", "first"])
      // 201 rows: the first waits for 199 more, and the batch of 200 goes at once; the last, a linger later.
      yield* Effect.forEach(Array.from({ length: 201 }, (_, i) => i), (i) => call(log, `many-${i}`, 10 + i))
      yield* Effect.yieldNow
      expect(yield* ids(sql)).toHaveLength(202)
      yield* settle
      expect(yield* ids(sql)).toHaveLength(203)
    }).pipe(Effect.scoped))

  it.effect("writes every row still queued when its scope closes", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const scope = yield* Scope.make()
      const log = yield* Effect.provideService(open(sql), Scope.Scope, scope)
      yield* Effect.forEach(Array.from({ length: 450 }, (_, i) => i), (i) => call(log, `call-${i}`, i))
      yield* Scope.close(scope, Exit.void)
      const written = yield* ids(sql)
      expect(written).toHaveLength(450)
      expect(new Set(written).size).toBe(450)
    }).pipe(Effect.scoped))

  it.effect("gives each row an id that sorts after the ids of the rows recorded before it", () =>
    Effect.gen(function*() {
      const sql = yield* database
      const scope = yield* Scope.make()
      const log = yield* Effect.provideService(open(sql), Scope.Scope, scope)
      // All in the same millisecond of the `Clock`: the order is the ids' own, not the time's.
      yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => call(log, `call-${i}`, 0))
      yield* Scope.close(scope, Exit.void)
      const rows = yield* Effect.orDie(Requests.list(sql, { limit: 1000 }))
      const byId = [...rows].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0).map((row) => row.request_id)
      expect(byId).toEqual(Array.from({ length: 300 }, (_, i) => `call-${i}`))
    }).pipe(Effect.scoped))

  it.effect("drops and counts the rows a full queue has no room for, without waiting", () =>
    Effect.gen(function*() {
      const sql = yield* database
      let dropped = 0
      const log = yield* open(sql, {
        capacity: 2,
        dropped: (count) => {
          dropped += count
        }
      })
      // Recorded together, before the writer's fiber runs: two fit in the queue.
      yield* Effect.forEach(["a", "b", "c", "d", "e"], (id, i) => call(log, id, i))
      expect(dropped).toBe(3)
      yield* settle
      expect(yield* ids(sql)).toEqual(["b", "a"])
    }).pipe(Effect.scoped))

  it.effect("drops, counts and reports a batch its database does not answer once the write's bound passes", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      let dropped = 0
      const [, warnings] = yield* withWarnings(Effect.gen(function*() {
        const log = yield* RequestLog.make({
          database: { sql: silent.sql, bounds: { address: "the silent database", timeout: Duration.seconds(5) } },
          logPayloads: false,
          secrets: () => [],
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
        ["request log rows dropped", "the database refused them: writing the request log: no answer within 10s"]
      ])
    }).pipe(Effect.scoped))
})
