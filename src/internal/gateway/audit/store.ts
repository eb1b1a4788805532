/**
 * The admin audit log in the gateway's database (`admin_audit`, `admin_audit_head`: migration `12_admin_audit`): rows
 * appended, never changed, each chained to the one before (`chain.ts`). An append is one transaction that first
 * updates the chain's head row, so it holds that row's lock (Postgres) or the file's write lock (SQLite) until it
 * commits: appends from every instance sharing one database queue there and form one chain. Rows are read newest
 * first a page at a time, the page after a row found by its `seq` (stable while rows are appended), or walked oldest
 * first for `verify`, from the chain's base (the last row deleted by retention, `prune`: its `seq` and digest, kept on
 * the head's row, migration 17). The log is the service `AuditLogStore`, of one layer (`layerSql`), which keeps one
 * contract (`test/contract/auditLog.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../persistence/sql.js"
import * as Chain from "./chain.js"

/** A row as the table holds it (Postgres gives `BIGINT`s as strings: read with `Number`). */
type Stored = {
  readonly seq: number | string
  readonly at: number | string
  readonly actor: string
  readonly action: string
  readonly object: string | null
  readonly before_value: string | null
  readonly after_value: string | null
  readonly outcome: string
  readonly status: number | string
  readonly code: string | null
  readonly origin: string | null
  readonly digest: string
}

function rowOf(stored: Stored): Chain.Row {
  return {
    seq: Number(stored.seq),
    at: Number(stored.at),
    actor: stored.actor,
    action: stored.action,
    object: stored.object,
    before: stored.before_value,
    after: stored.after_value,
    outcome: stored.outcome as Chain.Outcome,
    status: Number(stored.status),
    code: stored.code,
    from: stored.origin,
    digest: stored.digest
  }
}

/** Which rows a page is of; every field optional but `limit`. */
export interface Query {
  readonly actor?: string | undefined
  readonly action?: string | undefined
  /** Rows at or after this time (epoch milliseconds). */
  readonly from?: number | undefined
  /** Rows before this time (epoch milliseconds). */
  readonly to?: number | undefined
  /** Rows older than this one (a cursor's `seq`). */
  readonly before?: number | undefined
  readonly limit: number
}

/** The admin audit log. */
export interface AuditLog {
  /** `entry` appended as the chain's next row. */
  readonly append: (entry: Chain.Entry) => Effect.Effect<Chain.Row, StoreUnavailableError>
  /** The rows `query` asks for, newest first. */
  readonly page: (query: Query) => Effect.Effect<ReadonlyArray<Chain.Row>, StoreUnavailableError>
  /** The chain's head: its last row's `seq` and digest. */
  readonly head: Effect.Effect<Chain.Head, StoreUnavailableError>
  /** The newest row written before `at` (epoch milliseconds), as a head: where retention would cut. */
  readonly lastBefore: (at: number) => Effect.Effect<Chain.Head | undefined, StoreUnavailableError>
  /** The rows up to `base` deleted, the chain starting after it from then on: how many were deleted. */
  readonly prune: (base: Chain.Head) => Effect.Effect<number, StoreUnavailableError>
}

/** The admin audit log's store. */
export class AuditLogStore
  extends Context.Service<AuditLogStore, AuditLog>()("effect-llm-router/gateway/audit/AuditLogStore")
{}

/** The audit log in the gateway's database, which every instance on it shares (one chain). */
export const layerSql = (database: Sql.Database): Layer.Layer<AuditLogStore> =>
  Layer.sync(AuditLogStore, () => sqlLog(database))

function headOf(sql: SqlClient.SqlClient): Effect.Effect<Chain.Head, SqlError> {
  return Effect.map(
    sql<{ readonly seq: number | string; readonly digest: string }>`SELECT seq, digest FROM admin_audit_head
      WHERE id = 1`,
    ([head]) => head === undefined ? Chain.emptyHead : { seq: Number(head.seq), digest: head.digest }
  )
}

// The chain's base: the last row deleted by retention (`emptyHead` while none was).
function baseOf(sql: SqlClient.SqlClient): Effect.Effect<Chain.Head, SqlError> {
  return Effect.map(
    sql<{ readonly base_seq: number | string; readonly base_digest: string }>`SELECT base_seq, base_digest
      FROM admin_audit_head WHERE id = 1`,
    ([head]) => head === undefined ? Chain.emptyHead : { seq: Number(head.base_seq), digest: head.base_digest }
  )
}

// The audit log of `database`.
function sqlLog(database: Sql.Database): AuditLog {
  const { bounds, sql } = database
  return {
    append: (entry) =>
      Sql.transaction(
        sql,
        bounds,
        "appending to the admin audit log",
        Effect.gen(function*() {
          // The head's row written first: its lock held to the commit, so no other append reads the head meanwhile.
          yield* sql`UPDATE admin_audit_head SET seq = seq WHERE id = 1`
          const row = Chain.next(yield* headOf(sql), entry)
          yield* sql`INSERT INTO admin_audit (seq, at, actor, action, object, before_value, after_value, outcome,
            status, code, origin, digest) VALUES (${row.seq}, ${row.at}, ${row.actor}, ${row.action}, ${row.object},
            ${row.before}, ${row.after}, ${row.outcome}, ${row.status}, ${row.code}, ${row.from}, ${row.digest})`
          yield* sql`UPDATE admin_audit_head SET seq = ${row.seq}, digest = ${row.digest} WHERE id = 1`
          return row
        })
      ),
    page: (query) =>
      Sql.step(
        bounds,
        "reading the admin audit log",
        Effect.map(
          sql<Stored>`SELECT * FROM admin_audit WHERE ${
            sql.and([
              ...(query.actor === undefined ? [] : [sql`actor = ${query.actor}`]),
              ...(query.action === undefined ? [] : [sql`action = ${query.action}`]),
              ...(query.from === undefined ? [] : [sql`at >= ${query.from}`]),
              ...(query.to === undefined ? [] : [sql`at < ${query.to}`]),
              ...(query.before === undefined ? [] : [sql`seq < ${query.before}`])
            ])
          } ORDER BY seq DESC LIMIT ${query.limit}`,
          (rows) => rows.map(rowOf)
        )
      ),
    head: Sql.step(bounds, "reading the admin audit log's head", headOf(sql)),
    lastBefore: (at) =>
      Sql.step(
        bounds,
        "reading the admin audit log",
        Effect.map(
          sql<{ readonly seq: number | string; readonly digest: string }>`SELECT seq, digest FROM admin_audit
            WHERE at < ${at} ORDER BY seq DESC LIMIT 1`,
          ([row]) => row === undefined ? undefined : { seq: Number(row.seq), digest: row.digest }
        )
      ),
    prune: (base) =>
      Sql.transaction(
        sql,
        bounds,
        "pruning the admin audit log",
        Effect.gen(function*() {
          // The head's row written first, as an append does: one prune or append at a time.
          yield* sql`UPDATE admin_audit_head SET seq = seq WHERE id = 1`
          const [counted] = yield* sql<{ readonly n: number | string }>`SELECT COUNT(*) AS n FROM admin_audit
            WHERE seq <= ${base.seq}`
          yield* sql`DELETE FROM admin_audit WHERE seq <= ${base.seq}`
          yield* sql`UPDATE admin_audit_head SET base_seq = ${base.seq}, base_digest = ${base.digest}
            WHERE id = 1 AND base_seq < ${base.seq}`
          return Number(counted?.n ?? 0)
        })
      )
  }
}

/** How many rows `verify` reads at a time. */
const batch = 1000

/** What a walk of the whole chain found: its first break, if any, how many rows it read, the head and the base. */
export interface Verified {
  readonly broken: Chain.Break | undefined
  readonly rows: number
  readonly head: Chain.Head
  /** The last row deleted by retention, which the chain starts after (`seq` 0 while none was). */
  readonly base: Chain.Head
}

/**
 * The whole chain of `sql`'s database walked oldest first, a batch at a time, in one transaction (one snapshot),
 * checked against `anchors` (heads written outside it) too.
 */
export function verify(
  sql: SqlClient.SqlClient,
  anchors: ReadonlyArray<Chain.Head> = []
): Effect.Effect<Verified, SqlError> {
  return sql.withTransaction(Effect.gen(function*() {
    const head = yield* headOf(sql)
    const base = yield* baseOf(sql)
    const walk = Chain.walk(anchors, base)
    // Below any `seq`, so a row whose `seq` was edited down is read too.
    let after = Number.MIN_SAFE_INTEGER
    while (true) {
      const rows = (yield* sql<Stored>`SELECT * FROM admin_audit WHERE seq > ${after} ORDER BY seq LIMIT ${batch}`)
        .map(rowOf)
      const broken = walk.feed(rows)
      if (broken !== undefined) return { broken, rows: walk.end(head).rows, head, base }
      if (rows.length < batch) break
      after = rows.at(-1)!.seq
    }
    return { ...walk.end(head), head, base }
  }))
}
