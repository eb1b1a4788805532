/**
 * The gateway's database (`Gateway.Options.database`): a real SQLite file and a real PostgreSQL server (Debian's
 * package, started on a free port), each opened at start with its schema brought up to date; a database made by a
 * newer version, or one that cannot be reached, refuses the start with a `DatabaseError` that names it without its
 * password, promptly.
 */
import { assert, describe, it, vi } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import * as fc from "fast-check"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { DatabaseSync, StatementSync } from "node:sqlite"
import { pathToFileURL } from "node:url"
import * as Gateway from "../../src/Gateway.js"
import * as KeysMigrations from "../../src/internal/gateway/keys/migrations.js"
import * as RequestLogMigrations from "../../src/internal/gateway/observe/migrations.js"
import * as Sqlite from "../../src/internal/persistence/sqlite.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { postgresServer } from "../utils/postgresServer.js"

const tables = [
  "keys",
  "teams",
  "spend",
  "reservations",
  "requests",
  "database_identity",
  "recorded_spend",
  "mcp_sessions",
  "admin_audit",
  "admin_audit_head",
  "admin_signed_out_tokens",
  "batch_settlements",
  "batch_settled_lines",
  "batch_input_files",
  "batch_records"
]

/** A gateway over the simulator on `database`, for the scope. */
const gatewayOn = (database: Gateway.Database) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: ["sk-db-test"] })
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: ["sk-db-test"] }]
    })
    return yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, database })
  }).pipe(Effect.provide(UndiciHttpClient.layer()))

const temporary = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "gateway-db-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The ids in the file's `database_identity`: one, written by its migration and never again. */
const identities = (file: string) => {
  const db = new DatabaseSync(file)
  try {
    return (db.prepare("SELECT id FROM database_identity").all() as Array<{ id: string }>).map((row) => row.id)
  } finally {
    db.close()
  }
}

/** Every migration's id, in order: a new migration adds its number here. */
const migrationIds = [
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  16,
  17,
  18,
  19,
  20,
  21,
  22,
  23,
  24,
  25,
  26,
  27,
  28
]

/** The teams' names and the ids of the migrations applied, as the gateway left the file. */
const teamsAndVersions = (file: string) => {
  const db = new DatabaseSync(file)
  try {
    const teams = db.prepare("SELECT name FROM teams").all() as Array<{ name: string }>
    const versions = db.prepare("SELECT migration_id FROM effect_sql_migrations ORDER BY migration_id").all() as Array<
      { migration_id: number }
    >
    return { teams: teams.map((row) => row.name), versions: versions.map((row) => row.migration_id) }
  } finally {
    db.close()
  }
}

const sqliteTables = (file: string) => {
  const db = new DatabaseSync(file)
  try {
    return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>)
      .map((row) => row.name)
  } finally {
    db.close()
  }
}

/**
 * A database as a version before spend was keyed by period left it (migrations 1 to 3), with the spend of a key
 * budgeted by the hour, of a team budgeted by the month, and of two scopes the database has no budget for (a
 * provider.json key's): one of a window starting at 00:00 UTC, one at 14:00.
 */
const beforeSpendByPeriod = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const { "1_keys_and_spend": one } = KeysMigrations.migrations
  const { "2_request_log": two } = RequestLogMigrations.migrations
  const { "3_spend_record": three } = KeysMigrations.migrations
  yield* Migrator.make({})({
    loader: Migrator.fromRecord({ "1_keys_and_spend": one, "2_request_log": two, "3_spend_record": three })
  })
  yield* sql`INSERT INTO teams (id, name, budget_limit, budget_period, created_at, updated_at)
    VALUES ('t1', 'research', 10, 'month', 1, 1)`
  yield* sql`INSERT INTO keys (id, name, sha256, budget_limit, budget_period, created_at, updated_at)
    VALUES ('k1', 'alice', 'digest', 1, '1 hour', 1, 1)`
  const rows: ReadonlyArray<readonly [string, number, number]> = [
    ["key:k1", Date.UTC(2026, 4, 13, 0), 0.5],
    ["team:t1", Date.UTC(2026, 4, 1), 4],
    ["key:from-file-daily", Date.UTC(2026, 4, 13), 2],
    ["key:from-file-hourly", Date.UTC(2026, 4, 13, 14), 0.25]
  ]
  for (const [scope, start, spent] of rows) {
    yield* sql`INSERT INTO spend (scope, window_start, spent) VALUES (${scope}, ${start}, ${spent})`
  }
  // The request log's rows of the key made at run time and of a provider.json key, by name: recent, as the
  // retention at start keeps them.
  const at = Date.now()
  for (const [id, name] of [["r1", "alice"], ["r2", "fixed"], ["r3", null]] as const) {
    yield* sql`INSERT INTO requests (id, request_id, at, key_name, route, status, latency_ms)
      VALUES (${id}, ${id}, ${at}, ${name}, '/v1/chat/completions', 200, 1)`
  }
})

/** The request log's rows' key ids after the gateway migrated them, by row id. */
const keyIds = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ id: string; key_id: string | null }>`SELECT id, key_id FROM requests ORDER BY id`,
    (rows) => rows.map((row) => [row.id, row.key_id])
  ))

// Each row given its key's id: the key made at run time's, provider.json's `config:<name>`, none without a key.
const migratedKeyIds = [["r1", "k1"], ["r2", "config:fixed"], ["r3", null]]

/** Every spend row after the gateway migrated them, by scope. */
const spendRows = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ scope: string; period: string; window_start: unknown; spent: unknown }>`SELECT scope, period, window_start,
      spent FROM spend ORDER BY scope`,
    (rows) => rows.map((row) => [row.scope, row.period, Number(row.window_start), Number(row.spent)])
  ))

const hour = 3_600_000
const migratedSpend = [
  ["key:from-file-daily", String(24 * hour), Date.UTC(2026, 4, 13), 2],
  ["key:from-file-hourly", String(hour), Date.UTC(2026, 4, 13, 14), 0.25],
  // The database's own budget's period, though its window starts at 00:00 UTC as a day's would.
  ["key:k1", String(hour), Date.UTC(2026, 4, 13, 0), 0.5],
  ["team:t1", "month", Date.UTC(2026, 4, 1), 4]
]

describe("the gateway's SQLite database", () => {
  it.live("is made at start, its directory too, with the whole schema; a second start keeps it", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "nested", "gateway.db")
      yield* Effect.scoped(gatewayOn({ sqlite: file }))
      assert.isTrue(existsSync(file))
      for (const table of tables) assert.include(sqliteTables(file), table)
      const [identity] = identities(file)
      assert.match(String(identity), /^[0-9a-f-]{36}$/)
      const db = new DatabaseSync(file)
      db.prepare("INSERT INTO teams (id, name, created_at, updated_at) VALUES ('t1', 'research', 1, 1)").run()
      db.close()
      yield* Effect.scoped(gatewayOn({ sqlite: file }))
      assert.deepStrictEqual(teamsAndVersions(file), { teams: ["research"], versions: migrationIds })
      assert.deepStrictEqual(identities(file), [identity])
    }))

  it.live("commits without waiting for the disk, in WAL mode: its connections, to a new file and an old, say so", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      const modes = Effect.scoped(Effect.gen(function*() {
        const sql = yield* Sqlite.make(file)
        const [sync] = yield* sql<{ readonly synchronous: number }>`PRAGMA synchronous`
        const [journal] = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
        return { synchronous: sync!.synchronous, journal: journal!.journal_mode }
      })).pipe(Effect.provide(Reactivity.layer))
      // 1 is NORMAL (https://sqlite.org/pragma.html#pragma_synchronous); SQLite's default, 2, flushes at each commit.
      assert.deepStrictEqual(yield* modes, { synchronous: 1, journal: "wal" })
      assert.deepStrictEqual(yield* modes, { synchronous: 1, journal: "wal" })
    }))

  // fast-check's arbitraries, run by fast-check itself (`it.effect.prop` takes Effect's own `Arbitrary`).
  it("a statement run again and again: its rows each time (none when it declares no columns), its columns once", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom("select", "insert", "pragma", "returning"), { minLength: 1, maxLength: 12 }),
        (kinds) =>
          Effect.runPromise(
            Effect.scoped(Effect.gen(function*() {
              const sql = yield* Sqlite.make(join(yield* temporary, "gateway.db"))
              yield* sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`
              const columns = vi.spyOn(StatementSync.prototype, "columns")
              yield* Effect.addFinalizer(() => Effect.sync(() => columns.mockRestore()))
              let count = 0
              for (const kind of kinds) {
                if (kind === "insert") {
                  count++
                  assert.deepStrictEqual(yield* sql`INSERT INTO notes (text) VALUES (${`note ${count}`})`, [])
                } else if (kind === "returning") {
                  count++
                  const rows = yield* sql<
                    { readonly id: number }
                  >`INSERT INTO notes (text) VALUES (${"r"}) RETURNING id`
                  assert.deepStrictEqual(rows.map((row) => row.id), [count])
                } else if (kind === "pragma") {
                  assert.deepStrictEqual(yield* sql`PRAGMA incremental_vacuum`, [])
                } else {
                  const [row] = yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM notes`
                  assert.strictEqual(row!.n, count)
                }
              }
              // Each statement's columns read when it is prepared, not again at its steps.
              assert.isAtMost(columns.mock.calls.length, new Set(kinds).size)
            })).pipe(Effect.provide(Reactivity.layer))
          )
      ),
      { numRuns: 30 }
    ))

  it.live("at an earlier schema version is brought up to date, its rows kept", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      // A database as a version that knew only the first migration left it.
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* Sqlite.make(file)
        yield* Migrator.make({})({
          loader: Migrator.fromRecord({ "1_keys_and_spend": KeysMigrations.migrations["1_keys_and_spend"] })
        })
          .pipe(Effect.provideService(SqlClient.SqlClient, sql))
        yield* sql`INSERT INTO teams (id, name, created_at, updated_at) VALUES ('t1', 'research', 1, 1)`
      })).pipe(Effect.provide(Reactivity.layer))
      assert.notInclude(sqliteTables(file), "requests")
      yield* Effect.scoped(gatewayOn({ sqlite: file }))
      assert.deepStrictEqual(teamsAndVersions(file), { teams: ["research"], versions: migrationIds })
      assert.include(sqliteTables(file), "requests")
      assert.strictEqual(identities(file).length, 1)
    }))

  it.live("keeps every window's spend keyed by its period, and every logged row owned by its key's id", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      const onFile = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
        Effect.scoped(
          Effect.flatMap(Sqlite.make(file), (sql) => Effect.provideService(effect, SqlClient.SqlClient, sql))
        )
          .pipe(Effect.provide(Reactivity.layer))
      yield* onFile(beforeSpendByPeriod)
      yield* Effect.scoped(gatewayOn({ sqlite: file }))
      assert.deepStrictEqual(yield* onFile(spendRows), migratedSpend)
      assert.deepStrictEqual(yield* onFile(keyIds), migratedKeyIds)
    }))

  // Separate processes, as `serve` instances sharing one data directory are: node:sqlite is synchronous, so
  // connections within one process never race for the file's write lock. Needs `npm run build` (the built module).
  it.live("is migrated by processes starting on a new file together, every one of them", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      const script = `import * as Effect from "effect/Effect"
        import * as Database from ${
        JSON.stringify(pathToFileURL(resolve("dist/internal/persistence/database.js")).href)
      }
        import { schemas } from ${
        JSON.stringify(pathToFileURL(resolve("dist/internal/gateway/databaseSchema.js")).href)
      }
        Effect.runPromise(Effect.scoped(Database.connect({ sqlite: ${JSON.stringify(file)} }, schemas)))
          .then(() => process.exit(0), (error) => { console.error(String(error)); process.exit(1) })`
      const starts = Array.from({ length: 16 }, () =>
        new Promise<{ readonly code: number | null; readonly stderr: string }>((done) => {
          let stderr = ""
          const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe" })
          child.stderr.on("data", (chunk) =>
            stderr += chunk)
          child.on("close", (code) => done({ code, stderr }))
        }))
      const ended = yield* Effect.promise(() =>
        Promise.all(starts)
      )
      assert.deepStrictEqual(ended.filter((start) => start.code !== 0), [])
      assert.strictEqual(identities(file).length, 1)
    }), 60_000)

  it.live("made by a newer version is refused at start, naming both versions", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      yield* Effect.scoped(gatewayOn({ sqlite: file }))
      const db = new DatabaseSync(file)
      db.prepare("INSERT INTO effect_sql_migrations (migration_id, name) VALUES (99, 'from_the_future')").run()
      db.close()
      const exit = yield* Effect.exit(Effect.scoped(gatewayOn({ sqlite: file })))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.strictEqual(error?._tag, "Fail")
      const failure = error?._tag === "Fail" ? error.error : undefined
      assert.instanceOf(failure, Gateway.DatabaseError)
      assert.match(
        String((failure as Gateway.DatabaseError).message),
        new RegExp(`schema is version 99, newer .* knows \\(${migrationIds.at(-1)}\\)`)
      )
    }))

  it.live("that cannot be made (its directory is a file) is refused at start", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const blocker = join(dir, "not-a-directory")
      new DatabaseSync(blocker).close()
      const error = yield* Effect.flip(Effect.scoped(gatewayOn({ sqlite: join(blocker, "gateway.db") })))
      assert.instanceOf(error, Gateway.DatabaseError)
      assert.include(error.message, blocker)
    }))
})

describe("the gateway's Postgres database", () => {
  it.live("is migrated once when two gateways start on it together, and kept by both", () =>
    Effect.gen(function*() {
      const server = yield* postgresServer
      const url = yield* server.database("together")
      const database = { postgres: Redacted.make(url) }
      yield* Effect.scoped(Effect.all([gatewayOn(database), gatewayOn(database)], { concurrency: 2 }))
      yield* Effect.scoped(gatewayOn(database))
      const PgClient = yield* Effect.promise(() => import("@effect/sql-pg/PgClient"))
      const Reactivity = yield* Effect.promise(() => import("effect/reactivity/Reactivity"))
      const rows = yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* PgClient.make({ url: Redacted.make(url) })
        const names = yield* sql<{ readonly tablename: string }>`SELECT tablename FROM pg_tables
          WHERE schemaname = 'public'`
        const versions = yield* sql<{ readonly migration_id: number }>`SELECT migration_id FROM effect_sql_migrations
          ORDER BY migration_id`
        return { names: names.map((row) => row.tablename), versions: versions.map((row) => row.migration_id) }
      })).pipe(Effect.provide(Reactivity.layer))
      for (const table of tables) assert.include(rows.names, table)
      assert.deepStrictEqual(rows.versions, migrationIds)
    }), 60_000)

  it.live(
    "keeps every window's spend when it keys spend by period, each given its budget's period",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const url = yield* server.database("spend_by_period")
        const PgClient = yield* Effect.promise(() => import("@effect/sql-pg/PgClient"))
        const onServer = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
          Effect.scoped(
            Effect.flatMap(
              PgClient.make({ url: Redacted.make(url) }),
              (sql) => Effect.provideService(effect, SqlClient.SqlClient, sql)
            )
          ).pipe(Effect.provide(Reactivity.layer))
        yield* onServer(beforeSpendByPeriod)
        yield* Effect.scoped(gatewayOn({ postgres: Redacted.make(url) }))
        assert.deepStrictEqual(yield* onServer(spendRows), migratedSpend)
        assert.deepStrictEqual(yield* onServer(keyIds), migratedKeyIds)
      }),
    60_000
  )

  // Within the test's time limit: connecting gives up after its timeout, never hangs.
  it.live("that is down refuses the start, naming the server but never the password", () =>
    Effect.gen(function*() {
      const server = yield* postgresServer
      const url = yield* server.database("away")
      yield* server.stop
      const withPassword = url.replace("postgres@", "postgres:hunter2-secret@")
      const error = yield* Effect.flip(Effect.scoped(gatewayOn({ postgres: Redacted.make(withPassword) })))
      assert.instanceOf(error, Gateway.DatabaseError)
      assert.include(error.message, `127.0.0.1:${server.port}/away`)
      assert.notInclude(error.message, "hunter2")
      assert.notInclude(JSON.stringify(error), "hunter2")
    }), 60_000)
})
