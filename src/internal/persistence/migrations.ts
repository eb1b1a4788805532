/**
 * Migrations, as a registry that names no concept. A schema is numbered migrations (`<id>_<name>`) plus the table
 * where `effect/sql`'s `Migrator` records which ran (it runs those past the newest id, so each schema has its own
 * table). A concept declares its migrations in its folder; `collect` makes one schema of several concepts' parts.
 * A library layer runs its concept's schema alone, so it makes only the tables it uses; the gateway runs its own, then
 * those (`gateway/databaseSchema.ts`). A released migration never changes its id or effect (a change is a new id).
 * The same statements serve SQLite and Postgres: times are epoch milliseconds in `BIGINT` (Postgres reads them back as
 * strings: read with `Number`), dollars `DOUBLE PRECISION`, lists and records JSON in `TEXT`.
 */
import * as Effect from "effect/Effect"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { isContention, retryContended } from "./sql.js"

/** One migration: what it does to the database it is given. */
export type Migration = Effect.Effect<unknown, SqlError, SqlClient.SqlClient>

/** Migrations by `<id>_<name>`, as `Migrator.fromRecord` reads them. */
export type Migrations = Readonly<Record<string, Migration>>

/** Migrations and the table a database records which of them ran. */
export interface Schema {
  readonly table: string
  readonly migrations: Migrations
}

/** A migration of plain statements, run in turn. */
export function statements(...list: ReadonlyArray<string>): Migration {
  return Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(list, (statement) => sql.unsafe(statement)))
}

const named = /^([1-9]\d*)_[a-z0-9_]+$/

/** The id of a migration's `<id>_<name>`. */
function idOf(name: string): number {
  const match = named.exec(name)
  if (match === null) throw new Error(`A migration is named <id>_<name> (lower case): ${name}`)
  return Number(match[1])
}

/**
 * The schema of `parts`: a defect (found by the first test that opens a database) when a name is not `<id>_<name>`, an
 * id is given twice, or one is missing between 1 and the newest.
 */
export function collect(...parts: ReadonlyArray<Migrations>): Migrations {
  const byId = new Map<number, string>()
  for (const name of parts.flatMap((part) => Object.keys(part))) {
    const id = idOf(name)
    const taken = byId.get(id)
    if (taken !== undefined) throw new Error(`Two migrations have the id ${id}: ${taken} and ${name}`)
    byId.set(id, name)
  }
  for (let id = 1; id <= byId.size; id++) {
    if (!byId.has(id)) throw new Error(`No migration has the id ${id}, below the newest (${byId.size})`)
  }
  return Object.fromEntries(parts.flatMap((part) => Object.entries(part)).sort(([a], [b]) => idOf(a) - idOf(b)))
}

/** The newest migration's id: a database whose schema is newer was made by a newer version of the gateway. */
export function latest(migrations: Migrations): number {
  return Math.max(0, ...Object.keys(migrations).map(idOf))
}

/**
 * Whether a migration lost the race for a SQLite file's write lock to another starting process (busy at once, since
 * `sqlite.ts` does not wait, or a transaction that read the schema before the other wrote it): it is run again,
 * finding what the other wrote. On Postgres the `Migrator` takes a table lock first, so a competitor waits instead.
 */
function contended(error: Migrator.MigrationError | SqlError): boolean {
  return isContention(error._tag === "SqlError" ? error : error.cause)
}

/** `sql` brought up to `schema`: each of its migrations not yet run there, in order, once. */
export const migrate = (
  sql: SqlClient.SqlClient,
  schema: Schema
): Effect.Effect<void, Migrator.MigrationError | SqlError> =>
  retryContended(
    Migrator.make({})({ loader: Migrator.fromRecord(schema.migrations), table: schema.table }).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.asVoid
    ),
    contended
  )
