/**
 * The SQL databases a store's tests run on, each new and used by no other test: a SQLite file in a directory of its
 * own, removed when the scope closes; and a database on one real Postgres server a test file shares (`postgresFor`,
 * called at the file's top level: started before its tests, stopped after them). Each is a `Sql.Database["Service"]`, what a
 * gateway store's `layerSql` takes; `storeBackends` gives a gateway store's service on each of its backends, as its
 * contract suite (`test/contract/`) runs over them.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { schemas } from "../../src/internal/gateway/databaseSchema.js"
import * as Database from "../../src/internal/persistence/database.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import { type PostgresServer, postgresServer } from "./postgresServer.js"

// A bound, not a wait: the tests on these databases test their stores' steps, not how long a step may take
// (`Sql.defaultTimeout`, set for a production database's host), which a large write on Postgres beside the whole
// suite, on a host loaded many times over its cores, was seen to pass.
const stepTimeout = Duration.seconds(60)

/** A new SQLite database, its directory named after `prefix`. */
export const sqliteDatabase = (prefix: string): Effect.Effect<Sql.Database["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), `${prefix}-`))),
      (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
    )
    const sql = yield* Effect.orDie(Database.connect({ sqlite: join(directory, "gateway.db") }, schemas))
    return { sql, bounds: { address: "test.db", timeout: stepTimeout } }
  })

/** A new SQLite database in this process's memory, as a gateway without a database keeps its records in. */
export const memoryDatabase: Effect.Effect<Sql.Database["Service"], never, Scope.Scope> = Effect.map(
  Effect.orDie(Database.connect({ sqlite: ":memory:" }, schemas)),
  (sql) => ({ sql, bounds: { address: "memory", timeout: stepTimeout } })
)

/** A gateway store's `layerSql` on a new database in this process's memory (`memoryDatabase`). */
export const inMemory = <I, E>(layerSql: Layer.Layer<I, E, Sql.Database>): Layer.Layer<I, E> =>
  Layer.provide(layerSql, Layer.effect(Sql.Database, memoryDatabase))

// A bound, not a wait: a new cluster's initdb and start was seen to take over a minute beside the agents' tests.
const serverStartBound = 300_000

// The test file's Postgres server, once it is asked for: started before its tests, stopped after them.
let shared: Effect.Effect<PostgresServer> | undefined

/**
 * One Postgres server for the test file that calls this (at its top level, once or more: the file has one): started
 * before its tests, stopped after them.
 */
export function postgresServerFor(): Effect.Effect<PostgresServer> {
  if (shared !== undefined) return shared
  const serverScope = Effect.runSync(Scope.make())
  let postgres: PostgresServer | undefined
  beforeAll(() =>
    Effect.runPromise(Effect.provideService(postgresServer, Scope.Scope, serverScope)).then((made) => {
      postgres = made
    }), serverStartBound)
  afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)), serverStartBound)
  shared = Effect.sync(() => postgres!)
  return shared
}

/** A new database, named after `prefix`, on the test file's Postgres server, each time the effect it gives runs. */
export function postgresFor(prefix: string): Effect.Effect<Sql.Database["Service"], never, Scope.Scope> {
  const server = postgresServerFor()
  return Effect.gen(function*() {
    const name = `${prefix}_${randomUUID().replaceAll("-", "")}`
    const url = yield* (yield* server).database(name)
    const sql = yield* Effect.orDie(Database.connect({ postgres: Redacted.make(url) }, schemas))
    return { sql, bounds: { address: name, timeout: stepTimeout } }
  })
}

/**
 * A gateway store on one of its backends (`Name`: the databases alone unless the store has a memory layer): its
 * service, each time the effect runs a new one, and its database.
 */
export interface StoreBackend<S, Name extends string = "SQLite" | "Postgres"> {
  readonly name: Name
  readonly store: Effect.Effect<S, never, Scope.Scope>
  /** The backend's database, which `sql` makes the store's service over; none in memory. */
  readonly sql:
    | {
      readonly database: Effect.Effect<Sql.Database["Service"], never, Scope.Scope>
      readonly store: (database: Sql.Database["Service"]) => Effect.Effect<S, never, Scope.Scope>
    }
    | undefined
}

/** The service of `tag` that `layer` builds. */
export const serviceOf = <I, S, E, R>(
  tag: Context.Key<I, S>,
  layer: Layer.Layer<I, E, R>
): Effect.Effect<S, E, R | Scope.Scope> => Effect.map(Layer.build(layer), Context.get(tag))

/** A gateway store's service, of its `layerSql`, on `database`. */
export const storeOn = <I, S, E>(
  tag: Context.Key<I, S>,
  layerSql: Layer.Layer<I, E, Sql.Database>,
  database: Sql.Database["Service"]
): Effect.Effect<S, E, Scope.Scope> => serviceOf(tag, Layer.provide(layerSql, Layer.succeed(Sql.Database, database)))

/**
 * The backends of a gateway store (the service `tag`, its layers those of its module): in memory when it has
 * `layerMemory` (the MCP sessions' store alone), then in a new SQLite file and in a new database on the test file's
 * Postgres server (call it at the file's top level), each named after `prefix` (letters and underscores). A layer that
 * fails to build (a store read at start) fails the test as a defect.
 */
export function storeBackends<I, S, E = never>(
  prefix: string,
  tag: Context.Key<I, S>,
  layers: { readonly layerMemory: Layer.Layer<I>; readonly layerSql: Layer.Layer<I, E, Sql.Database> }
): ReadonlyArray<StoreBackend<S, "memory" | "SQLite" | "Postgres">>
export function storeBackends<I, S, E = never>(
  prefix: string,
  tag: Context.Key<I, S>,
  layers: { readonly layerSql: Layer.Layer<I, E, Sql.Database> }
): ReadonlyArray<StoreBackend<S>>
export function storeBackends<I, S, E = never>(
  prefix: string,
  tag: Context.Key<I, S>,
  layers: {
    readonly layerMemory?: Layer.Layer<I> | undefined
    readonly layerSql: Layer.Layer<I, E, Sql.Database>
  }
): ReadonlyArray<StoreBackend<S, "memory" | "SQLite" | "Postgres">> {
  const store = (database: Sql.Database["Service"]) =>
    Effect.orDie(serviceOf(tag, Layer.provide(layers.layerSql, Layer.succeed(Sql.Database, database))))
  const onDatabase = (
    name: "SQLite" | "Postgres",
    database: Effect.Effect<Sql.Database["Service"], never, Scope.Scope>
  ) => ({
    name,
    store: Effect.flatMap(database, store),
    sql: { database, store }
  })
  const memory = layers.layerMemory
  return [
    ...(memory === undefined ? [] : [{ name: "memory" as const, store: serviceOf(tag, memory), sql: undefined }]),
    onDatabase("SQLite", sqliteDatabase(prefix.replaceAll("_", "-"))),
    onDatabase("Postgres", postgresFor(prefix))
  ]
}

/**
 * What `read` fails with on a store of `sql` over a new database, once `write` put a row there the store never writes;
 * `asText` (a table and column) made to hold text first: SQLite's columns take any value, Postgres' once retyped.
 */
export function unreadableRow<S, E>(
  sql: NonNullable<StoreBackend<S>["sql"]>,
  options: {
    readonly asText?: readonly [table: string, column: string]
    readonly write: (database: Sql.Database["Service"], store: S) => Effect.Effect<unknown, unknown>
    readonly read: (store: S) => Effect.Effect<unknown, E>
  }
): Effect.Effect<E, never, Scope.Scope> {
  return Effect.gen(function*() {
    const database = yield* sql.database
    const store = yield* sql.store(database)
    const [table, column] = options.asText ?? []
    if (table !== undefined && column !== undefined) {
      yield* Effect.orDie(database.sql.onDialectOrElse({
        pg: () => database.sql`ALTER TABLE ${database.sql(table)} ALTER COLUMN ${database.sql(column)} TYPE TEXT`,
        orElse: () => Effect.void
      }))
    }
    yield* Effect.orDie(options.write(database, store))
    return yield* Effect.orDie(Effect.flip(options.read(store)))
  })
}
