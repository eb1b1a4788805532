/**
 * The gateway's database (run-time keys and teams, spend ledger, request log): a SQLite file (`node:sqlite`,
 * `sqlite.ts`), or a Postgres server several instances share (`@effect/sql-pg`, an optional peer loaded only then).
 * `connect` opens it for the scope and migrates its schemas (`migrations.ts`, `effect/sql`'s `Migrator`: on Postgres
 * under a table lock, so instances starting together migrate once; on SQLite the loser of the write-lock race
 * migrates again after the winner). A schema newer than this version, or a database unreachable, is a `DatabaseError`
 * naming it (never its password).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import { closeSync, mkdirSync, openSync } from "node:fs"
import { dirname } from "node:path"
import { latest, migrate, type Schema as MigrationSchema } from "./migrations.js"
import * as Sqlite from "./sqlite.js"

/**
 * Where a gateway keeps run-time keys and teams, the spend ledger and the request log: a SQLite file (made when
 * missing, with its directory), or a Postgres server instances share (`postgres://`; needs the optional peer
 * `@effect/sql-pg`, else the start fails with `DatabaseError`). A database made by a newer version is refused.
 * @since 0.3.0
 * @category Models
 */
export type Database = { readonly sqlite: string } | { readonly postgres: Redacted.Redacted<string> }

/**
 * The gateway's database could not be opened, migrated or read at start: `database` says which (never a password).
 *
 * @since 0.3.0
 * @category Errors
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  database: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    const cause = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `The gateway's database (${this.database}) cannot be used: ${this.reason}${cause}`
  }
}

/** Where the database is, in words for messages and logs: never its password. */
export const describe = (database: Database): string => {
  if ("sqlite" in database) return `SQLite file ${database.sqlite}`
  try {
    const url = new URL(Redacted.value(database.postgres))
    return `Postgres at ${url.host}${url.pathname}`
  } catch {
    return "Postgres (an unreadable URL)"
  }
}

/** How long connecting to Postgres may take before the start (or a call needing a new connection) fails. */
const connectTimeout = Duration.seconds(5)

const client = (database: Database) =>
  "sqlite" in database
    ? Effect.andThen(
      Effect.try({
        try: () => {
          // Keys' digests, spend and the request log: a directory only its owner enters, a file only its owner reads
          // (SQLite gives -wal and -shm the file's mode). Only what is made here: existing ones keep their own mode.
          if (database.sqlite === ":memory:") return
          mkdirSync(dirname(database.sqlite), { recursive: true, mode: 0o700 })
          closeSync(openSync(database.sqlite, "a", 0o600))
        },
        catch: (cause) =>
          new DatabaseError({ database: describe(database), reason: "its directory or file could not be made", cause })
      }),
      Sqlite.make(database.sqlite)
    )
    // Loaded only here: a gateway on SQLite does not load the Postgres client, nor need it installed.
    : Effect.flatMap(
      Effect.tryPromise({
        try: () => import("@effect/sql-pg/PgClient"),
        catch: (cause) =>
          new DatabaseError({
            database: describe(database),
            reason: "Postgres needs the optional package @effect/sql-pg, which is not installed " +
              "(npm install @effect/sql-pg)",
            cause
          })
      }),
      (PgClient) => PgClient.make({ url: database.postgres, connectTimeout })
    )

/** The database opened for the scope with its schema left alone, for a reader: `audit verify` changes nothing. */
export const open = (database: Database): Effect.Effect<SqlClient.SqlClient, DatabaseError, Scope.Scope> =>
  client(database).pipe(
    Effect.mapError((error) =>
      error._tag === "DatabaseError"
        ? error
        : new DatabaseError({ database: describe(database), reason: "it could not be opened", cause: error })
    ),
    Effect.provide(Reactivity.layer)
  )

/** The database, opened for the scope, brought up to each of `schemas` in turn. */
export const connect = (
  database: Database,
  schemas: ReadonlyArray<MigrationSchema>
): Effect.Effect<SqlClient.SqlClient, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* open(database)
    for (const schema of schemas) yield* upTo(sql, describe(database), schema)
    return sql
  }).pipe(Effect.provide(Reactivity.layer))

/** `sql` brought up to `schema`, unless it ran a migration of `schema`'s table newer than this version knows. */
const upTo = Effect.fnUntraced(function*(sql: SqlClient.SqlClient, where: string, schema: MigrationSchema) {
  const failed = (reason: string) => (cause: unknown) => new DatabaseError({ database: where, reason, cause })
  yield* migrate(sql, schema).pipe(
    Effect.mapError(failed("its schema could not be brought up to date"))
  )
  const [row] = yield* Effect.mapError(
    sql<{ readonly newest: number | string | null }>`SELECT MAX(migration_id) AS newest FROM ${sql(schema.table)}`,
    failed("its schema version could not be read")
  )
  const version = Number(row?.newest ?? 0)
  const known = latest(schema.migrations)
  if (version > known) {
    return yield* new DatabaseError({
      database: where,
      reason: `its schema is version ${version}, newer than this version of effect-llm-router knows (${known}): ` +
        "upgrade effect-llm-router, or give it a database of its own"
    })
  }
})
