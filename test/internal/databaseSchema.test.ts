/**
 * The gateway database's schema, each concept's migrations collected by `persistence/migrations.ts`: the ids and names the
 * single record of migrations had, in its order, so that a database migrated by the versions before is accepted as it
 * is, on SQLite and on Postgres (nothing run again, the same tables, columns and indexes as a database migrated anew);
 * and `collect` over every way of cutting the schema into concepts' parts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Budget from "../../src/Budget.js"
import type * as Gateway from "../../src/Gateway.js"
import { migrations, schemas } from "../../src/internal/gateway/databaseSchema.js"
import * as Database from "../../src/internal/persistence/database.js"
import { collect, type Migrations } from "../../src/internal/persistence/migrations.js"
import * as Before from "../fixtures/sql/migrationsBefore.js"
import { postgresServerFor } from "../utils/sqlDatabases.js"

const beforeNames = Object.keys(Before.migrations)

interface Ran {
  readonly migration_id: number | string
  readonly name: string
  readonly created_at: unknown
}

const ranOn = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<Ran>`SELECT migration_id, name, created_at FROM effect_sql_migrations ORDER BY migration_id`,
    (rows) => rows.map((row) => ({ id: Number(row.migration_id), name: row.name, at: String(row.created_at) }))
  )

/** A database's tables with their columns and its indexes, as its engine describes them. */
const shapeOf = (sql: SqlClient.SqlClient, engine: "sqlite" | "postgres") =>
  engine === "sqlite"
    ? Effect.map(
      sql<{ readonly type: string; readonly name: string; readonly sql: string | null }>`
        SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`,
      (rows) => rows.map((row) => `${row.type} ${row.name}: ${row.sql ?? ""}`)
    )
    : Effect.map(
      Effect.all([
        sql<{ readonly line: string }>`
          SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
            || COALESCE(column_default, '') AS line
          FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, column_name`,
        sql<{ readonly line: string }>`
          SELECT indexname || ': ' || indexdef AS line FROM pg_indexes WHERE schemaname = current_schema()
          ORDER BY indexname`
      ]),
      ([columns, indexes]) => [...columns, ...indexes].map((row) => row.line)
    )

/** What a migrated database holds besides its random identity: the audit chain's head, the rows of every table. */
const headOf = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<Record<string, unknown>>`SELECT * FROM admin_audit_head`,
    (rows) => rows.map((row) => JSON.stringify(Object.entries(row).map(([column, value]) => [column, String(value)])))
  )

/**
 * On `fresh()`'s databases: one migrated by the versions before, then connected with this schema, is left as it was
 * (each migration it ran kept, none run again, only newer ones run), and has the shape of one migrated anew.
 */
const acceptedUnchanged = (
  fresh: () => Effect.Effect<Gateway.Database, never, Scope.Scope>,
  engine: "sqlite" | "postgres"
) =>
  Effect.gen(function*() {
    const old = yield* fresh()
    const before = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.open(old))
      yield* Effect.orDie(Before.migrate(sql))
      return yield* Effect.orDie(ranOn(sql))
    }))
    assert.deepStrictEqual(before.map((ran) => ran.name), beforeNames.map((name) => name.replace(/^\d+_/, "")))
    const [after, oldShape, oldHead] = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect(old, schemas))
      return yield* Effect.orDie(Effect.all([ranOn(sql), shapeOf(sql, engine), headOf(sql)]))
    }))
    assert.deepStrictEqual(after.slice(0, before.length), before)
    assert.deepStrictEqual(
      after.slice(before.length).map((ran) => `${ran.id}_${ran.name}`),
      Object.keys(migrations).slice(before.length)
    )
    const [newShape, newHead] = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect(yield* fresh(), schemas))
      return yield* Effect.orDie(Effect.all([shapeOf(sql, engine), headOf(sql)]))
    }))
    assert.isAbove(newShape.length, 20)
    assert.deepStrictEqual(oldShape, newShape)
    assert.deepStrictEqual(oldHead, newHead)
  })

const sqliteFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "schema-"))),
    (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
  ),
  (directory): Gateway.Database => ({ sqlite: join(directory, "gateway.db") })
)

const postgresServer = postgresServerFor()

let made = 0
const postgresDatabase = Effect.map(
  Effect.flatMap(postgresServer, (server) => server.database(`schema_${made++}`)),
  (url): Gateway.Database => ({ postgres: Redacted.make(url) })
)

describe("the gateway database's schema", () => {
  it("has the ids and names of the single record before, in its order, and newer ones after them", () => {
    assert.deepStrictEqual(Object.keys(migrations).slice(0, beforeNames.length), beforeNames)
  })

  it.live("accepts a SQLite file migrated by the versions before as it is", () =>
    Effect.scoped(acceptedUnchanged(() => sqliteFile, "sqlite")))

  it.live(
    "accepts a Postgres database migrated by the versions before as it is",
    () => Effect.scoped(acceptedUnchanged(() => postgresDatabase, "postgres")),
    60_000
  )
})

describe("collect", () => {
  const names = Object.keys(migrations)
  // Every way of cutting the schema into parts, each part's entries in any order, the parts in any order.
  const cuts = fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }).chain((order) =>
    fc.array(fc.nat({ max: order.length }), { maxLength: 6 }).map((at) => {
      const bounds = [0, ...[...new Set(at)].sort((a, b) => a - b), order.length]
      return bounds.slice(1).map((end, index) =>
        Object.fromEntries(order.slice(bounds[index], end).map((name) => [name, migrations[name]!])) as Migrations
      )
    })
  )

  it("gives the schema in the order of its ids however it is cut", () => {
    fc.assert(fc.property(cuts, (parts) => {
      assert.deepStrictEqual(Object.keys(collect(...parts)), names)
    }))
  })

  it("refuses an id given twice and an id missing below the newest", () => {
    fc.assert(fc.property(cuts, fc.nat({ max: names.length - 2 }), (parts, index) => {
      const name = names[index]!
      const twice = { [`${name.split("_")[0]}_again`]: migrations[name]! }
      assert.throws(() => collect(...parts, twice), /Two migrations have the id/)
      const without = parts.map((part) => Object.fromEntries(Object.entries(part).filter(([key]) => key !== name)))
      assert.throws(() => collect(...without), /No migration has the id/)
    }))
  })
})

/** A database's tables, as its engine lists them, in code unit order. */
const tablesOf = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql.onDialectOrElse({
      pg: () =>
        sql<{ readonly name: string }>`SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema()`,
      orElse: () =>
        sql<{ readonly name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
    }),
    (rows) => rows.map((row) => row.name).sort()
  )

// A day's window from 0 starts a month too: the gateway's reshape of an older ledger would have keyed it by the month.
const team: Budget.Counter = { name: "team", period: "1 day" }

/**
 * On `sql`, through `Budget.layerStoreSql` (a library user's): a call's reservation of $1 settled at $0.25, and the
 * team's spend after it, all at one instant (a `TestClock` left at 0), so no window ends between them.
 */
const spendThroughTheLibrary = (sql: SqlClient.SqlClient) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(
      Budget.layerStoreSql({ address: "a library user's database" }).pipe(
        Layer.provide(Layer.succeed(SqlClient.SqlClient, sql))
      )
    )
    const store = Context.get(context, Budget.BudgetStore)
    const held: Budget.Held = { id: randomUUID(), counters: [{ ...team, limit: 5 }], estimate: 1, at: 0 }
    assert.strictEqual((yield* store.reserve(held))._tag, "Reserved")
    yield* store.settle(held, 0.25)
    const [spend] = yield* store.spend([team])
    return spend!.spent
  })).pipe(Effect.provideServiceEffect(Clock.Clock, TestClock.make()))

const budgetTables = ["effect_llm_router_budget_migrations", "reservations", "spend"]

/**
 * On `fresh()`'s databases: `Budget.layerStoreSql` makes only the budget's tables in a library user's new one, which
 * the gateway migrates whole later, the spend kept; and it opens one the versions before migrated whole (as the layer
 * did until it migrated only its own), adding only the record of its own schema.
 */
const budgetAlone = (fresh: () => Effect.Effect<Gateway.Database, never, Scope.Scope>) =>
  Effect.gen(function*() {
    const library = yield* fresh()
    const spent = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.open(library))
      const spent = yield* Effect.orDie(spendThroughTheLibrary(sql))
      assert.deepStrictEqual(yield* Effect.orDie(tablesOf(sql)), budgetTables)
      return spent
    }))
    assert.strictEqual(spent, 0.25)
    const [gatewayTables, ran] = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect(library, schemas))
      return yield* Effect.orDie(Effect.all([tablesOf(sql), ranOn(sql)]))
    }))
    assert.deepStrictEqual(ran.map((migration) => `${migration.id}_${migration.name}`), Object.keys(migrations))
    const wholeTables = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect(yield* fresh(), schemas))
      return yield* Effect.orDie(tablesOf(sql))
    }))
    assert.deepStrictEqual(gatewayTables, wholeTables)
    assert.includeMembers(wholeTables, budgetTables)
    // The library's spend is there for the gateway's ledger, and the library's layer opens the database again.
    assert.strictEqual(
      yield* Effect.scoped(
        Effect.flatMap(Effect.orDie(Database.open(library)), (sql) => Effect.orDie(spendThroughTheLibrary(sql)))
      ),
      0.5
    )

    const older = yield* fresh()
    const opened = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.open(older))
      yield* Effect.orDie(Before.migrate(sql))
      const before = yield* Effect.orDie(tablesOf(sql))
      const spent = yield* Effect.orDie(spendThroughTheLibrary(sql))
      return { before, spent, after: yield* Effect.orDie(tablesOf(sql)), ran: yield* Effect.orDie(ranOn(sql)) }
    }))
    assert.strictEqual(opened.spent, 0.25)
    assert.deepStrictEqual(opened.after, [...opened.before, "effect_llm_router_budget_migrations"].sort())
    assert.deepStrictEqual(
      opened.ran.map((migration) => migration.name),
      beforeNames.map((name) => name.replace(/^\d+_/, ""))
    )
  })

describe("the budget's own schema (Budget.layerStoreSql)", () => {
  it.live("SQLite: a library user's database holds only the budget's tables; the gateway migrates it whole later", () =>
    Effect.scoped(budgetAlone(() => sqliteFile)))

  it.live(
    "Postgres: a library user's database holds only the budget's tables; the gateway migrates it whole later",
    () => Effect.scoped(budgetAlone(() => postgresDatabase)),
    60_000
  )
})
