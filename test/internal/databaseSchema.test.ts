/**
 * The gateway database's schema, each concept's migrations collected by `sql/migrations.ts`: the ids and names the
 * single record of migrations had, in its order, so that a database migrated by the versions before is accepted as it
 * is, on SQLite and on Postgres (nothing run again, the same tables, columns and indexes as a database migrated anew);
 * and `collect` over every way of cutting the schema into concepts' parts.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as fc from "fast-check"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Gateway from "../../src/Gateway.js"
import { migrations } from "../../src/internal/databaseSchema.js"
import * as Database from "../../src/internal/sql/database.js"
import { collect, type Migrations } from "../../src/internal/sql/migrations.js"
import * as Before from "../fixtures/sql/migrationsBefore.js"
import { type PostgresServer, postgresServer } from "../utils/postgresServer.js"

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
      const sql = yield* Effect.orDie(Database.connect(old, migrations))
      return yield* Effect.orDie(Effect.all([ranOn(sql), shapeOf(sql, engine), headOf(sql)]))
    }))
    assert.deepStrictEqual(after.slice(0, before.length), before)
    assert.deepStrictEqual(
      after.slice(before.length).map((ran) => `${ran.id}_${ran.name}`),
      Object.keys(migrations).slice(before.length)
    )
    const [newShape, newHead] = yield* Effect.scoped(Effect.gen(function*() {
      const sql = yield* Effect.orDie(Database.connect(yield* fresh(), migrations))
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

const serverScope = Effect.runSync(Scope.make())
let postgres: PostgresServer | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(postgresServer, Scope.Scope, serverScope)).then((made) => {
    postgres = made
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

let made = 0
const postgresDatabase = Effect.map(
  Effect.suspend(() => postgres!.database(`schema_${made++}`)),
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
