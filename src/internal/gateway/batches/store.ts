/**
 * What the gateway keeps of its batches for every instance to read (docs/batch.md, "Shared by every instance"): the
 * input files clients upload to `/v1/files`, and a record of each batch made, for the batch lists. Each file and batch
 * is its owner's (the `Caller.id` that uploaded or made it), read and listed for that owner only. A batch's id carries
 * what answers for it (`ids.ts`); its record only lists it.
 *
 * The store is `BatchStore`: the database (`layerSql`), else the Redis the instances share (`storeRedis.ts`), under
 * one contract (`test/contract/batchStore.ts`) and the same `bounds`. Past an owner's bound only the owner's oldest are
 * let go of, so one key's uploads never push out another's below the whole's bound. SQL keeps the bounds by
 * `persistence/bounded.ts`; Redis, whose step is one script, by the same in Lua.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqlSchema from "effect/sql/SqlSchema"
import type * as Statement from "effect/sql/Statement"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Bounded from "../../persistence/bounded.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"
import type { BatchKind } from "./ids.js"

/** An uploaded input file. */
export interface InputFile {
  readonly id: string
  readonly filename: string
  readonly content: string
  /** Its content's UTF-8 bytes. */
  readonly bytes: number
  readonly createdAt: number
  /** The uploader's `Caller.id`; empty without gateway keys. */
  readonly owner: string
}

/** A batch made, as its lists show it. */
export interface BatchRecord {
  /** Its id as its client holds it (`ids.ts`). */
  readonly id: string
  readonly kind: BatchKind
  /** Its maker's `Caller.id`; empty without gateway keys. */
  readonly owner: string
  readonly createdAt: number
}

/** A page of an owner's batches of one kind: their ids, the newest first, and whether older ones follow. */
export interface Listed {
  readonly ids: ReadonlyArray<string>
  readonly hasMore: boolean
}

/** How long, how many and how large the files and the batches' records are kept (docs/batch.md). */
export const bounds = {
  /** An input file is kept a day: a batch reads it when it is made, and not again. */
  fileTtl: Duration.days(1),
  /**
   * The largest input file taken (the gateway's default `maxBodyBytes`); a larger one is refused (`FileTooLarge`).
   * Its row is read whole, and a Postgres client reads a row of at most 16 MiB.
   */
  fileBytes: 8 * 1024 * 1024,
  /** An owner's files: at most this many, of at most these bytes. */
  ownerFiles: 100,
  ownerFileBytes: 32 * 1024 * 1024,
  /** Every owner's files: at most this many, of at most these bytes. */
  files: 1_000,
  fileBytesInAll: 128 * 1024 * 1024,
  /** A batch's record is listed thirty days from its create. */
  batchTtl: Duration.days(30),
  /** An owner's batches of one kind listed: at most this many, the newest. */
  ownerBatches: 1_000,
  /** Every owner's batches' records: at most this many (each some hundreds of bytes: the count bounds their bytes). */
  batches: 100_000,
  /**
   * An owner's batches run as calls (`runs.ts`): at most this many kept, their lines (their requests while they run,
   * their custom ids once ended) of at most these bytes together.
   */
  ownerRuns: 100,
  ownerRunBytes: 64 * 1024 * 1024,
  /** Every owner's batches run as calls: at most this many kept, of at most these bytes. */
  runs: 1_000,
  runBytesInAll: 256 * 1024 * 1024
} as const

/** An input file larger than the gateway keeps (`bounds.fileBytes`): refused, nothing kept. */
export class FileTooLarge extends Data.TaggedError("FileTooLarge")<{
  readonly bytes: number
  readonly limit: number
}> {
  override get message() {
    return `The file is ${this.bytes} bytes; this gateway keeps input files of at most ${this.limit} bytes. ` +
      "Split its lines into several files and batches."
  }
}

/** The store of the batches' files and records: each operation one atomic step. */
export interface Store {
  /**
   * `file` kept (unless it is larger than `bounds.fileBytes`), the files older than `bounds.fileTtl` at `now` let go
   * of, and the oldest past a count or bytes bound (`persistence/bounded.ts`).
   */
  readonly putFile: (file: InputFile, now: number) => Effect.Effect<void, FileTooLarge | StoreUnavailableError>
  /** The file of `id` when `owner` uploaded it and it is kept at `now`. */
  readonly file: (id: string, owner: string, now: number) => Effect.Effect<InputFile | undefined, StoreUnavailableError>
  /** `batch` recorded (once: a record kept already stays), the records past their bounds at `now` let go of. */
  readonly record: (batch: BatchRecord, now: number) => Effect.Effect<void, StoreUnavailableError>
  /**
   * `owner`'s batches of `kind` kept at `now`, the newest first: at most `limit`, those older than the batch `after`
   * (from the newest when `undefined`; none when `after` is none of `owner`'s batches of `kind` kept).
   */
  readonly listed: (
    kind: BatchKind,
    owner: string,
    after: string | undefined,
    limit: number,
    now: number
  ) => Effect.Effect<Listed, StoreUnavailableError>
  /** The ids of the newest `limit` batches kept at `now`, of either kind and any owner: the admin's list. */
  readonly newest: (limit: number, now: number) => Effect.Effect<ReadonlyArray<string>, StoreUnavailableError>
}

/** The batches' files and records. */
export class BatchStore extends Context.Service<BatchStore, Store>()("effect-llm-router/gateway/batches/BatchStore") {}

/** The bounds of `owner`'s files, then of every owner's. */
function fileBounds(owner: string): ReadonlyArray<Bounded.Bound<string>> {
  return [
    { scope: owner, count: bounds.ownerFiles, bytes: bounds.ownerFileBytes },
    { scope: undefined, count: bounds.files, bytes: bounds.fileBytesInAll }
  ]
}

/** A list's batches: of one kind, made by one owner. */
interface Lister {
  readonly kind: BatchKind
  readonly owner: string
}

/** The bounds of the records of a list's batches, then of every owner's. */
function batchBounds(lister: Lister): ReadonlyArray<Bounded.Bound<Lister>> {
  return [
    { scope: lister, count: bounds.ownerBatches, bytes: Infinity },
    { scope: undefined, count: bounds.batches, bytes: Infinity }
  ]
}

/** `file` refused when it is larger than the gateway keeps. */
export function checked(file: InputFile): Effect.Effect<void, FileTooLarge> {
  return file.bytes > bounds.fileBytes
    ? Effect.fail(new FileTooLarge({ bytes: file.bytes, limit: bounds.fileBytes }))
    : Effect.void
}

const FileRow = tableRow("batch_input_files", {
  id: Schema.String,
  owner: Schema.String,
  filename: Schema.String,
  content: Schema.String,
  bytes: Numeric,
  created_at: Numeric
})
const RecordId = tableRow("batch_records", { id: Schema.String, created_at: Numeric })
const Listing = Schema.Struct({
  kind: Schema.String,
  owner: Schema.String,
  since: Schema.Number,
  after: Schema.UndefinedOr(Schema.Struct({ id: Schema.String, created_at: Schema.Number })),
  limit: Schema.Number
})

type SqlFailure = SqlError | Schema.SchemaError

/**
 * The rows of `table` in the database as a room of the bounds, `scoped` telling those of a scope, their column `bytes`
 * their size (unless not `sized`), the column `madeAt` when each was made: the oldest `removable` (a condition, when
 * given) let go of first, by `remove` (its row deleted, when not given).
 */
export function sqlRoom<S>(
  sql: SqlClient.SqlClient,
  table: string,
  { madeAt = "created_at", remove, removable, scoped, sized = true }: {
    readonly scoped: (scope: S) => Statement.Fragment
    readonly sized?: boolean
    readonly madeAt?: string
    readonly removable?: string
    readonly remove?: (id: string) => Effect.Effect<void, SqlError>
  }
): Bounded.Room<S, SqlFailure> {
  // `SUM` of no rows is null: none held.
  const Held = tableRow(table, { count: Numeric, bytes: Schema.NullOr(Numeric) })
  const Id = tableRow(table, { id: Schema.String })
  const where = (scope: S | undefined, removable?: string) =>
    sql.and([scope === undefined ? undefined : scoped(scope), removable].filter(Predicate.isNotUndefined))
  const from = sql.literal(table)
  return {
    held: (scope) =>
      Effect.map(
        Sql.rows(
          Held,
          sql`SELECT COUNT(*) AS count, ${sql.literal(sized ? "SUM(bytes)" : "0")} AS bytes FROM ${from}
            WHERE ${where(scope)}`
        ),
        ([row]) => ({ count: row?.count ?? 0, bytes: row?.bytes ?? 0 })
      ),
    oldest: (scope) =>
      Effect.map(
        Sql.rows(
          Id,
          sql`SELECT id FROM ${from} WHERE ${where(scope, removable)}
            ORDER BY ${sql.literal(madeAt)}, id LIMIT 1`
        ),
        ([row]) => row?.id
      ),
    remove: remove ?? ((id) => Effect.asVoid(sql`DELETE FROM ${from} WHERE id = ${id}`))
  }
}

/** The files and records in the gateway's database, which every instance on it shares. */
export const layerSql: Layer.Layer<BatchStore, never, Sql.Database> = Layer.effect(
  BatchStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Store => {
    const fileRoom = sqlRoom(sql, "batch_input_files", { scoped: (owner: string) => sql`owner = ${owner}` })
    const batchRoom = sqlRoom(sql, "batch_records", {
      scoped: ({ kind, owner }: Lister) => sql`kind = ${kind} AND owner = ${owner}`,
      sized: false
    })
    const fileOf = SqlSchema.findOneOption({
      Request: Schema.Struct({ id: Schema.String, owner: Schema.String, since: Schema.Number }),
      Result: FileRow,
      execute: ({ id, owner, since }) =>
        sql`SELECT id, owner, filename, content, bytes, created_at FROM batch_input_files
          WHERE id = ${id} AND owner = ${owner} AND created_at >= ${since}`
    })
    const mine = (kind: string, owner: string, since: number) =>
      sql`kind = ${kind} AND owner = ${owner} AND created_at >= ${since}`
    const cursorOf = SqlSchema.findOneOption({
      Request: Schema.Struct({ id: Schema.String, kind: Schema.String, owner: Schema.String, since: Schema.Number }),
      Result: RecordId,
      execute: ({ id, kind, owner, since }) =>
        sql`SELECT id, created_at FROM batch_records WHERE id = ${id} AND ${mine(kind, owner, since)}`
    })
    const pageOf = SqlSchema.findAll({
      Request: Listing,
      Result: RecordId,
      execute: ({ after, kind, limit, owner, since }) => {
        const older = after === undefined ? [] : [
          sql`(created_at < ${after.created_at} OR (created_at = ${after.created_at} AND id < ${after.id}))`
        ]
        return sql`SELECT id, created_at FROM batch_records WHERE ${sql.and([mine(kind, owner, since), ...older])}
          ORDER BY created_at DESC, id DESC LIMIT ${limit}`
      }
    })
    const newestOf = SqlSchema.findAll({
      Request: Schema.Struct({ since: Schema.Number, limit: Schema.Number }),
      Result: RecordId,
      execute: ({ limit, since }) =>
        sql`SELECT id, created_at FROM batch_records WHERE created_at >= ${since}
          ORDER BY created_at DESC, id DESC LIMIT ${limit}`
    })
    const filesBefore = (now: number) => now - Duration.toMillis(bounds.fileTtl)
    const batchesBefore = (now: number) => now - Duration.toMillis(bounds.batchTtl)
    return {
      putFile: (file, now) =>
        Effect.andThen(
          checked(file),
          transaction(
            "keeping a batch's input file",
            Effect.gen(function*() {
              yield* sql`DELETE FROM batch_input_files WHERE created_at < ${filesBefore(now)}`
              yield* sql`INSERT INTO batch_input_files (id, owner, filename, content, bytes, created_at)
                VALUES (${file.id}, ${file.owner}, ${file.filename}, ${file.content}, ${file.bytes}, ${file.createdAt})`
              yield* Bounded.keep(fileRoom, fileBounds(file.owner))
            })
          )
        ),
      file: (id, owner, now) =>
        step(
          "reading a batch's input file",
          Effect.map(fileOf({ id, owner, since: filesBefore(now) }), (row) =>
            Option.getOrUndefined(Option.map(row, ({ created_at, ...file }) => ({ ...file, createdAt: created_at }))))
        ),
      record: (batch, now) =>
        transaction(
          "recording a batch",
          Effect.gen(function*() {
            yield* sql`DELETE FROM batch_records WHERE created_at < ${batchesBefore(now)}`
            const inserted = yield* sql`INSERT INTO batch_records (id, kind, owner, created_at)
              VALUES (${batch.id}, ${batch.kind}, ${batch.owner}, ${batch.createdAt})
              ON CONFLICT (id) DO NOTHING RETURNING id, created_at`
            if (inserted.length > 0) yield* Bounded.keep(batchRoom, batchBounds(batch))
          })
        ),
      listed: (kind, owner, after, limit, now) =>
        transaction(
          "listing batches",
          Effect.gen(function*() {
            const since = batchesBefore(now)
            const cursor = after === undefined
              ? undefined
              : Option.getOrUndefined(yield* cursorOf({ id: after, kind, owner, since }))
            if (after !== undefined && cursor === undefined) return { ids: [], hasMore: false }
            const rows = yield* pageOf({ kind, owner, since, after: cursor, limit: limit + 1 })
            return { ids: rows.slice(0, limit).map((row) => row.id), hasMore: rows.length > limit }
          })
        ),
      newest: (limit, now) =>
        step(
          "listing the newest batches",
          Effect.map(newestOf({ since: batchesBefore(now), limit }), (rows) => rows.map((row) => row.id))
        )
    }
  })
)
