/**
 * The admin audit log: rows appended, never changed, each chained to the one before (`chain.ts`). `AuditLogStore` is
 * in the database (`layerSql`), which every instance shares, under one contract (`test/contract/auditLog.ts`).
 *
 * An append reads the head and writes the next rows and the head as one write (the entries waiting then, `appender`):
 * one transaction that first updates the head's row, so that it holds that row's lock (Postgres) or the write lock
 * (SQLite) until it commits, and appends from every instance queue there and form one chain. Pages are read
 * newest first, the page after a row found by its `seq` (stable while rows are appended); `verify` walks oldest first
 * in one snapshot, from the chain's base.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import * as SqlSchema from "effect/sql/SqlSchema"
import type { StoreUnavailableError } from "../../../Store.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"
import * as Chain from "./chain.js"

// A chain's row (`Chain.Row`), under its columns' names where they differ.
const Stored = tableRow("admin_audit", {
  seq: Numeric,
  at: Numeric,
  actor: Schema.String,
  action: Schema.String,
  object: Schema.NullOr(Schema.String),
  before: Schema.NullOr(Schema.String),
  after: Schema.NullOr(Schema.String),
  // Any text: a row edited to an outcome no gateway writes is for the chain's digest to find, not a failed read.
  outcome: Schema.String,
  status: Numeric,
  code: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String),
  digest: Schema.String
}).pipe(Schema.encodeKeys({ before: "before_value", after: "after_value", from: "origin" }))

const rowOf = (stored: typeof Stored.Type) => stored as Chain.Row

const HeadRow = tableRow("admin_audit_head", { seq: Numeric, digest: Schema.String })
const BaseRow = tableRow("admin_audit_head", { base_seq: Numeric, base_digest: Schema.String })
const Counted = tableRow("admin_audit", { n: Numeric })
const PageOf = Schema.Struct({
  actor: Schema.optional(Schema.String),
  action: Schema.optional(Schema.String),
  from: Schema.optional(Schema.Number),
  to: Schema.optional(Schema.Number),
  before: Schema.optional(Schema.Number),
  limit: Schema.Number
})
const After = Schema.Struct({ seq: Schema.Number, limit: Schema.Number })

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

/** What a walk of the whole chain found: its first break, if any, how many rows it read, the head and the base. */
export interface Verified {
  readonly broken: Chain.Break | undefined
  readonly rows: number
  readonly head: Chain.Head
  /** The last row deleted by retention, which the chain starts after (`seq` 0 while none was). */
  readonly base: Chain.Head
}

/** The admin audit log. */
export interface AuditLog {
  /** `entry` appended as the chain's next row. */
  readonly append: (entry: Chain.Entry) => Effect.Effect<Chain.Row, StoreUnavailableError>
  /** The rows `query` asks for, newest first. */
  readonly page: (query: Query) => Effect.Effect<ReadonlyArray<Chain.Row>, StoreUnavailableError>
  /** The chain's head: its last row's `seq` and digest. */
  readonly head: Effect.Effect<Chain.Head, StoreUnavailableError>
  /** The newest row written before `at` (epoch milliseconds): where retention would cut. */
  readonly lastBefore: (at: number) => Effect.Effect<Chain.Row | undefined, StoreUnavailableError>
  /** The rows up to `base` deleted, the chain starting after it from then on: how many were deleted. */
  readonly prune: (base: Chain.Head) => Effect.Effect<number, StoreUnavailableError>
  /** The whole chain walked oldest first in one snapshot, a batch at a time, checked against `anchors` too. */
  readonly verify: (anchors?: ReadonlyArray<Chain.Anchored>) => Effect.Effect<Verified, StoreUnavailableError>
}

/** The admin audit log's store. */
export class AuditLogStore
  extends Context.Service<AuditLogStore, AuditLog>()("effect-llm-router/gateway/audit/AuditLogStore")
{}

/** How many rows `verify` reads at a time. */
const batch = 1000

/** An entry waiting for the next append's write, and where its row goes. */
interface Waiting {
  readonly entry: Chain.Entry
  readonly row: Deferred.Deferred<Chain.Row, StoreUnavailableError>
}

/**
 * The log's `append`, `write` making the given entries' rows: entries wait their turn, and each write takes every entry
 * waiting when it begins (one head read, one transaction), so that appends made at once take the head's lock once, not
 * once each. An append is not interrupted once its entry waits, since a write may carry other appends' entries.
 */
function appender(
  write: (entries: ReadonlyArray<Chain.Entry>) => Effect.Effect<ReadonlyArray<Chain.Row>, StoreUnavailableError>
): AuditLog["append"] {
  const waiting: Array<Waiting> = []
  const turn = Semaphore.makeUnsafe(1)
  const writeWaiting = Effect.suspend(() => {
    const taken = waiting.splice(0)
    return Effect.flatMap(
      Effect.exit(write(taken.map((one) => one.entry))),
      (exit) => Effect.forEach(taken, (one, i) => Deferred.done(one.row, Exit.map(exit, (written) => written[i]!)))
    )
  })
  return (entry) =>
    Effect.uninterruptible(Effect.gen(function*() {
      const row = yield* Deferred.make<Chain.Row, StoreUnavailableError>()
      waiting.push({ entry, row })
      yield* Semaphore.withPermit(turn)(writeWaiting)
      return yield* Deferred.await(row)
    }))
}

/** The audit log in the gateway's database, which every instance on it shares (one chain). */
export const layerSql: Layer.Layer<AuditLogStore, never, Sql.Database> = Layer.effect(
  AuditLogStore,
  Effect.map(Sql.steps, ({ sql, transaction }): AuditLog => {
    const headOf = SqlSchema.findOneOption({
      Request: Schema.Void,
      Result: HeadRow,
      execute: () => sql`SELECT seq, digest FROM admin_audit_head WHERE id = 1`
    })
    const baseOf = SqlSchema.findOneOption({
      Request: Schema.Void,
      Result: BaseRow,
      execute: () => sql`SELECT base_seq, base_digest FROM admin_audit_head WHERE id = 1`
    })
    const pageOf = SqlSchema.findAll({
      Request: PageOf,
      Result: Stored,
      execute: (query) =>
        sql`SELECT * FROM admin_audit WHERE ${
          sql.and([
            ...(query.actor === undefined ? [] : [sql`actor = ${query.actor}`]),
            ...(query.action === undefined ? [] : [sql`action = ${query.action}`]),
            ...(query.from === undefined ? [] : [sql`at >= ${query.from}`]),
            ...(query.to === undefined ? [] : [sql`at < ${query.to}`]),
            ...(query.before === undefined ? [] : [sql`seq < ${query.before}`])
          ])
        } ORDER BY seq DESC LIMIT ${query.limit}`
    })
    const lastBefore = SqlSchema.findOneOption({
      Request: Schema.Number,
      Result: Stored,
      execute: (at) => sql`SELECT * FROM admin_audit WHERE at < ${at} ORDER BY seq DESC LIMIT 1`
    })
    const countedTo = SqlSchema.findAll({
      Request: Schema.Number,
      Result: Counted,
      execute: (seq) => sql`SELECT COUNT(*) AS n FROM admin_audit WHERE seq <= ${seq}`
    })
    const after = SqlSchema.findAll({
      Request: After,
      Result: Stored,
      execute: ({ limit, seq }) => sql`SELECT * FROM admin_audit WHERE seq > ${seq} ORDER BY seq LIMIT ${limit}`
    })
    /** `effect` as one write: no other write of the log between its steps. */
    const write = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
      transaction(
        what,
        // The head's row written first: its lock held to the commit, so no other write reads the head meanwhile.
        Effect.andThen(sql`UPDATE admin_audit_head SET seq = seq WHERE id = 1`, effect)
      )
    const head = Effect.map(headOf(undefined), Option.getOrElse(() => Chain.emptyHead))
    return {
      append: appender((entries) =>
        write(
          "appending to the admin audit log",
          Effect.gen(function*() {
            const written: Array<Chain.Row> = []
            let last = yield* head
            for (const entry of entries) {
              const row = Chain.next(last, entry)
              // The row added, and made the head.
              yield* sql`INSERT INTO admin_audit (seq, at, actor, action, object, before_value, after_value, outcome,
                status, code, origin, digest) VALUES (${row.seq}, ${row.at}, ${row.actor}, ${row.action}, ${row.object},
                ${row.before}, ${row.after}, ${row.outcome}, ${row.status}, ${row.code}, ${row.from}, ${row.digest})`
              yield* sql`UPDATE admin_audit_head SET seq = ${row.seq}, digest = ${row.digest} WHERE id = 1`
              written.push(row)
              last = row
            }
            return written
          })
        )
      ),
      page: (query) => transaction("reading the admin audit log", Effect.map(pageOf(query), (rows) => rows.map(rowOf))),
      head: transaction("reading the admin audit log's head", head),
      lastBefore: (at) =>
        transaction(
          "reading the admin audit log",
          Effect.map(lastBefore(at), (row) => Option.getOrUndefined(Option.map(row, rowOf)))
        ),
      // The rows up to `base` deleted, `base` kept as the base when it is past the one kept.
      prune: (base) =>
        write(
          "pruning the admin audit log",
          Effect.gen(function*() {
            const [counted] = yield* countedTo(base.seq)
            yield* sql`DELETE FROM admin_audit WHERE seq <= ${base.seq}`
            yield* sql`UPDATE admin_audit_head SET base_seq = ${base.seq}, base_digest = ${base.digest}
              WHERE id = 1 AND base_seq < ${base.seq}`
            return counted?.n ?? 0
          })
        ),
      verify: (anchors = []) =>
        transaction(
          "verifying the admin audit log",
          Effect.gen(function*() {
            const last = yield* head
            const base = Option.match(yield* baseOf(undefined), {
              onNone: () => Chain.emptyHead,
              onSome: (row) => ({ seq: row.base_seq, digest: row.base_digest })
            })
            const walk = Chain.walk(anchors, base)
            // Below any `seq`, so a row whose `seq` was edited down is read too.
            let seq = Number.MIN_SAFE_INTEGER
            while (true) {
              const read = (yield* after({ seq, limit: batch })).map(rowOf)
              const broken = walk.feed(read)
              if (broken !== undefined) return { broken, rows: walk.end(last).rows, head: last, base }
              if (read.length < batch) break
              seq = read.at(-1)!.seq
            }
            return { ...walk.end(last), head: last, base }
          })
        )
    }
  })
)
