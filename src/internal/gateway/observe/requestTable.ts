/**
 * The statements of the request log's table (`requests`), its SQL store's (`requestLogStore.ts`): rows written in
 * batches, trimmed on SQLite (Postgres drops whole days instead, `requestPartitions.ts`), spend summed per group, MCP
 * tool calls counted, and rows read a page at a time after a row's `(at, id)` (keyset pagination, so a page stays right
 * while rows are written). One set of statements serves SQLite and Postgres; Postgres gives sums and counts as strings,
 * read with `Number`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqlSchema from "effect/sql/SqlSchema"
import { Numeric, tableRow } from "../../persistence/columns.js"
import type { Permission } from "../access/roles.js"

const NumberOrNull = Schema.NullOr(Numeric)
const TextOrNull = Schema.NullOr(Schema.String)

// A row as a database gives it back.
const Stored = tableRow("requests", {
  /** Unique per row (a client may send the same `x-request-id` twice); a UUIDv7, so later rows' ids sort after. */
  id: Schema.String,
  request_id: Schema.String,
  /** Epoch milliseconds when the request came in. */
  at: Numeric,
  /** The key's id (`Caller.id`, `access/caller.ts`): what the row is the key's by. */
  key_id: TextOrNull,
  /** The key's name when the call was made. */
  key_name: TextOrNull,
  team_id: TextOrNull,
  /** The path asked (`/v1/chat/completions`). */
  route: Schema.String,
  /** The model asked for. */
  model: TextOrNull,
  /** The deployment that answered (`provider/model`). */
  deployment: TextOrNull,
  status: Numeric,
  input_tokens: NumberOrNull,
  output_tokens: NumberOrNull,
  cached_tokens: NumberOrNull,
  cache_write_tokens: NumberOrNull,
  /** Of `cache_write_tokens`, those written for an hour (migration `18_cache_savings`). */
  cache_write_1h_tokens: NumberOrNull,
  /** US dollars, when the deployment has a price. */
  cost: NumberOrNull,
  /**
   * US dollars the provider's prompt cache saved the call (what its prompt would have cost uncached less what it cost),
   * when the deployment has a price and the call read or wrote cached tokens.
   */
  cache_savings: NumberOrNull,
  latency_ms: Numeric,
  first_token_ms: NumberOrNull,
  /** The error's tag or the gateway's refusal code. */
  error: TextOrNull,
  /** The request's body and reply text, keys masked, when payloads are logged (`Gateway.Options.logPayloads`). */
  payload: TextOrNull,
  /** An MCP tool call's server (migration `8_mcp_calls`). */
  mcp_server: TextOrNull,
  /** An MCP tool call's tool, its own name on its server. */
  mcp_tool: TextOrNull,
  /** The SHA-256 (hex) of an MCP tool call's arguments as JSON: never the arguments. */
  arguments_digest: TextOrNull
})

/** One call, as the table keeps it (a type, not an interface: `sql.insert` takes records). */
export type Row = typeof Stored.Type

/** What a read of the table fails with: the database's error, or a row read back unlike its columns. */
export type Failure = SqlError | Schema.SchemaError

/** The groups spend is summed by, and the column each reads. */
export const groupColumns = {
  key: "key_id",
  team: "team_id",
  model: "model",
  deployment: "deployment"
} as const

export type GroupBy = keyof typeof groupColumns

/**
 * What a grouping of the spend names besides the figures, and the permission that reads it over the whole gateway (a
 * key's name is the keys' data, a team's the teams'; a viewer sees spend by model or deployment). The dashboard and
 * `GET /admin/spend` offer a grouping only to those it grants (`dashboard/spend.ts`, `../admin/spend.ts`).
 */
export const groupPermissions: Readonly<Partial<Record<GroupBy, Permission>>> = {
  key: "keys.read",
  team: "teams.read"
}

/** The spans a chart's spend is summed per, in milliseconds. */
export const buckets = { hour: 3_600_000, day: 86_400_000 } as const

export type Bucket = keyof typeof buckets

/** Writes `rows` in one statement. */
export const insert = (sql: SqlClient.SqlClient, rows: ReadonlyArray<Row>): Effect.Effect<unknown, SqlError> =>
  sql`INSERT INTO requests ${sql.insert(rows as readonly [Row, ...Array<Row>])}`

/** Deletes the rows of requests that came in before `before` (epoch milliseconds). */
export const deleteBefore = (sql: SqlClient.SqlClient, before: number): Effect.Effect<unknown, SqlError> =>
  sql`DELETE FROM requests WHERE at < ${before}`

// A row's size: its text columns' lengths, and a fixed share for its numbers and its entries in the indexes.
const textColumns = [
  "id",
  "request_id",
  "route",
  "key_id",
  "key_name",
  "team_id",
  "model",
  "deployment",
  "error",
  "payload",
  "mcp_server",
  "mcp_tool",
  "arguments_digest"
] as const satisfies ReadonlyArray<keyof Row>
const rowOverhead = 160

/** A row's size as the retention counts it (`trim`): its text's length plus a fixed share. */
export const bytesOf = (row: Row): number =>
  textColumns.reduce((total, column) => total + (row[column]?.length ?? 0), rowOverhead)

/** The most rows, and bytes of them (`bytesOf`), that `trim` leaves. */
export interface Bounds {
  readonly rows: number
  readonly bytes: number
}

/** What a sweep is asked: at `now`, the rows that came in before `before` go, then the oldest past `bounds`. */
export interface Sweep {
  readonly now: number
  readonly before: number
  readonly bounds: Bounds
}

/** A row's size as `bytesOf` counts it, as a SQL expression over the table's columns. */
export const sizeExpression = `(${rowOverhead}${
  textColumns.map((column) => ` + COALESCE(LENGTH(${column}), 0)`).join("")
})`

const Cut = tableRow("requests", { at: Numeric, id: Schema.String })

/** Deletes the oldest rows until at most `bounds.rows` are left, their bytes (`bytesOf`) at most `bounds.bytes`. */
export const trim = (sql: SqlClient.SqlClient, bounds: Bounds): Effect.Effect<void, Failure> =>
  Effect.gen(function*() {
    const size = sql.literal(sizeExpression)
    // The newest row past either bound, counting from the newest: it and every older row go.
    const [cut] = yield* SqlSchema.findAll({
      Request: Schema.Struct({ rows: Schema.Number, bytes: Schema.Number }),
      Result: Cut,
      execute: ({ bytes, rows }) =>
        sql`SELECT at, id FROM (
          SELECT at, id, ROW_NUMBER() OVER (ORDER BY at DESC, id DESC) AS n,
            SUM(${size}) OVER (ORDER BY at DESC, id DESC) AS total
          FROM requests
        ) AS sized WHERE n > ${rows} OR total > ${bytes} ORDER BY at DESC, id DESC LIMIT 1`
    })(bounds)
    if (cut === undefined) return
    yield* sql`DELETE FROM requests WHERE at < ${cut.at} OR (at = ${cut.at} AND id <= ${cut.id})`
  })

/**
 * The space of deleted rows given back: on SQLite (made `auto_vacuum = INCREMENTAL`, `sqlite.ts`) the file's free pages
 * dropped and its write-ahead log emptied into it; Postgres' autovacuum keeps its own.
 */
export const reclaim = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({
    sqlite: () => Effect.asVoid(Effect.andThen(sql`PRAGMA incremental_vacuum`, sql`PRAGMA wal_checkpoint(TRUNCATE)`)),
    orElse: () => Effect.void
  })

/** A spend query: the group, the range `[from, to)` in epoch milliseconds, and optionally a bucket. */
export interface SpendQuery {
  readonly groupBy: GroupBy
  readonly from: number
  readonly to: number
  readonly bucket?: Bucket | undefined
}

/** One group's sums (within one bucket, when asked per bucket). */
export interface SpendRow {
  readonly group: string | null
  /** Grouped by key: the key's name in its newest row (a team's name is the keys store's: `admin/spend.ts`). */
  readonly name?: string | null
  /**
   * Grouped by model or deployment: the MCP server of the tool calls the group sums (which have no model), apart from
   * the other calls without one; `null` for calls that are not MCP tool calls.
   */
  readonly mcp_server?: string | null
  /** Epoch milliseconds of the bucket's start, when asked per bucket. */
  readonly bucket?: number
  /** Its model calls and MCP tool calls (`callColumn`). */
  readonly calls: number
  /** Its other requests: MCP protocol messages, file uploads and reads, batch reads, requests refused unread. */
  readonly other_requests: number
  readonly cost: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cached_tokens: number
  readonly cache_write_tokens: number
  /** US dollars the prompt cache saved the calls, net of the premiums of its writes. */
  readonly cache_savings: number
}

/** The columns a group's sums add up besides its calls, in `SpendRow`'s order. */
export const summed = [
  "cost",
  "input_tokens",
  "output_tokens",
  "cached_tokens",
  "cache_write_tokens",
  "cache_savings"
] as const

/**
 * Whether a row is a call of a model or of an MCP tool, as a column: 1 for a call, else 0; the rest of the log (MCP
 * protocol messages, file uploads, batch reads, refusals) is spent on neither and counted apart.
 */
const callColumn = "CASE WHEN model IS NULL AND mcp_server IS NULL THEN 0 ELSE 1 END"

const Sums = tableRow("requests", {
  grp: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  mcp: Schema.NullOr(Schema.String),
  bucket_start: Numeric,
  calls: Numeric,
  other_requests: Numeric,
  cost: Numeric,
  input_tokens: Numeric,
  output_tokens: Numeric,
  cached_tokens: Numeric,
  cache_write_tokens: Numeric,
  cache_savings: Numeric
})

/** The sums per group (and bucket) of the rows in the range, the costliest group first (per bucket, oldest first). */
export const spend = (sql: SqlClient.SqlClient, query: SpendQuery): Effect.Effect<ReadonlyArray<SpendRow>, Failure> => {
  const column = sql(groupColumns[query.groupBy])
  // Whole milliseconds of a fixed list: written into the statement, so both databases divide integers.
  const size = query.bucket === undefined ? undefined : sql.literal(String(buckets[query.bucket]))
  const bucket = size === undefined ? sql.literal("0") : sql`(at / ${size}) * ${size}`
  // A key's group is its id; its name is the one its newest row gives.
  const named = query.groupBy === "key"
  const name = named
    ? sql`(SELECT named.key_name FROM requests AS named WHERE named.key_id = requests.key_id
      ORDER BY named.at DESC, named.id DESC LIMIT 1)`
    : sql.literal("NULL")
  // By model or deployment, MCP tool calls (which have neither) are summed per server, apart from each other and
  // from the other calls without a model.
  const byServer = query.groupBy === "model" || query.groupBy === "deployment"
  const mcp = byServer ? sql.literal("mcp_server") : sql.literal("NULL")
  const statement = sql`SELECT ${column} AS grp, ${name} AS name, ${mcp} AS mcp, ${bucket} AS bucket_start,
      SUM(${sql.literal(callColumn)}) AS calls, COUNT(*) - SUM(${sql.literal(callColumn)}) AS other_requests,
      ${sql.literal(summed.map((name) => `COALESCE(SUM(${name}), 0) AS ${name}`).join(", "))}
    FROM requests WHERE at >= ${query.from} AND at < ${query.to}
    GROUP BY ${column}${byServer ? sql.literal(", mcp_server") : sql.literal("")}${
    size === undefined ? sql.literal("") : sql`, ${bucket}`
  }
    ORDER BY ${size === undefined ? sql.literal("cost DESC, calls DESC") : sql.literal("bucket_start, cost DESC")}`
  const sums = SqlSchema.findAll({ Request: Schema.Void, Result: Sums, execute: () => statement })
  return Effect.map(
    sums(undefined),
    (rows) =>
      rows.map(({ bucket_start, grp, mcp, name: keyName, ...sums }): SpendRow => ({
        group: grp,
        ...(named ? { name: keyName } : {}),
        ...(byServer ? { mcp_server: mcp } : {}),
        ...(size === undefined ? {} : { bucket: bucket_start }),
        ...sums
      }))
  )
}

const ToolSums = tableRow("requests", {
  server: Schema.String,
  tool: Schema.String,
  calls: Numeric,
  errors: Numeric,
  cost: Numeric
})

/** One MCP tool's calls in the log. */
export interface ToolCalls {
  readonly server: string
  /** The tool's own name on its server. */
  readonly tool: string
  readonly calls: number
  /** Calls that ended in an error: an `isError` result, a server that failed the call, or a refusal. */
  readonly errors: number
  /** US dollars charged. */
  readonly cost: number
}

export const toolCalls = (sql: SqlClient.SqlClient): Effect.Effect<ReadonlyArray<ToolCalls>, Failure> =>
  SqlSchema.findAll({
    Request: Schema.Void,
    Result: ToolSums,
    execute: () =>
      sql`SELECT mcp_server AS server, mcp_tool AS tool, COUNT(*) AS calls,
        SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS errors, SUM(COALESCE(cost, 0)) AS cost
        FROM requests WHERE mcp_server IS NOT NULL GROUP BY mcp_server, mcp_tool`
  })(undefined)

/** A page of rows: the filters, how many, and the row the page follows (the last of the page before). */
export interface ListQuery {
  /** A key's id. */
  readonly key?: string | undefined
  readonly team?: string | undefined
  readonly model?: string | undefined
  readonly status?: number | undefined
  readonly limit: number
  readonly after?: { readonly at: number; readonly id: string } | undefined
}

/** The rows that match, newest first (ties by id), after `query.after` when given. */
export const list = (sql: SqlClient.SqlClient, query: ListQuery): Effect.Effect<ReadonlyArray<Row>, Failure> => {
  const { after } = query
  const clauses = [
    ...(query.key === undefined ? [] : [sql`key_id = ${query.key}`]),
    ...(query.team === undefined ? [] : [sql`team_id = ${query.team}`]),
    ...(query.model === undefined ? [] : [sql`model = ${query.model}`]),
    ...(query.status === undefined ? [] : [sql`status = ${query.status}`]),
    ...(after === undefined ? [] : [sql`(at < ${after.at} OR (at = ${after.at} AND id < ${after.id}))`])
  ]
  const where = clauses.length === 0 ? sql.literal("") : sql`WHERE ${sql.and(clauses)}`
  return SqlSchema.findAll({
    Request: Schema.Number,
    Result: Stored,
    execute: (limit) => sql`SELECT * FROM requests ${where} ORDER BY at DESC, id DESC LIMIT ${limit}`
  })(query.limit)
}
