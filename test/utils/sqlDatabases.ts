/**
 * The SQL databases a store's tests run on, each new and used by no other test: a SQLite file in a directory of its
 * own, removed when the scope closes; and a database on one real Postgres server a test file shares (`postgresFor`,
 * called at the file's top level: started before its tests, stopped after them). Each is a `Sql.Database`, what a
 * store's `sqlStore` takes.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { migrations } from "../../src/internal/databaseSchema.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as Database from "../../src/internal/sql/database.js"
import { type PostgresServer, postgresServer } from "./postgresServer.js"

/** A new SQLite database, its directory named after `prefix`. */
export const sqliteDatabase = (prefix: string): Effect.Effect<Sql.Database, never, Scope.Scope> =>
  Effect.gen(function*() {
    const directory = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), `${prefix}-`))),
      (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
    )
    const sql = yield* Effect.orDie(Database.connect({ sqlite: join(directory, "gateway.db") }, migrations))
    return { sql, bounds: { address: "test.db", timeout: Sql.defaultTimeout } }
  })

/**
 * One Postgres server for the test file that calls this, and a new database on it, named after `prefix`, each time
 * the effect it gives runs.
 */
export function postgresFor(prefix: string): Effect.Effect<Sql.Database, never, Scope.Scope> {
  const serverScope = Effect.runSync(Scope.make())
  let postgres: PostgresServer | undefined
  beforeAll(() =>
    Effect.runPromise(Effect.provideService(postgresServer, Scope.Scope, serverScope)).then((made) => {
      postgres = made
    }), 60_000)
  afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))
  return Effect.gen(function*() {
    const name = `${prefix}_${randomUUID().replaceAll("-", "")}`
    const url = yield* postgres!.database(name)
    const sql = yield* Effect.orDie(Database.connect({ postgres: Redacted.make(url) }, migrations))
    return { sql, bounds: { address: name, timeout: Sql.defaultTimeout } }
  })
}
