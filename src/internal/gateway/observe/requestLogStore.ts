/**
 * Where the request log's rows are kept: `RequestLogStore`, over the gateway's database (`layerSql`: the table
 * `requests`, its statements in `requestTable.ts`, on Postgres partitioned by day, `requestPartitions.ts`), which every
 * instance on it shares, or this process's memory (`layerMemory`), under one contract (`test/contract/requestLog.ts`),
 * so the writer (`requestLog.ts`) is written once over either.
 *
 * A sweep's grain is the backend's: memory and SQLite remove exactly the rows past the retention and bounds; Postgres
 * drops whole days' partitions, never deleting a row, so it keeps whole the day the retention starts in and the day in
 * which a bound is passed.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as SqlClient from "effect/sql/SqlClient"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../persistence/sql.js"
import * as Partitions from "./requestPartitions.js"
import * as Requests from "./requestTable.js"

/** The request log's store. */
export interface Service {
  /** `rows` written, in one step. */
  readonly write: (rows: ReadonlyArray<Requests.Row>) => Effect.Effect<void, StoreUnavailableError>
  /**
   * The rows that came in before `sweep.before` removed, then the oldest past `sweep.bounds` (`Requests.trim`), their
   * space given back, to the backend's grain (module header); the store readied for the next day.
   */
  readonly sweep: (sweep: Requests.Sweep) => Effect.Effect<void, StoreUnavailableError>
  /** The sums per group (and bucket) of the rows in the range (`Requests.spend`). */
  readonly spend: (query: Requests.SpendQuery) => Effect.Effect<ReadonlyArray<Requests.SpendRow>, StoreUnavailableError>
  /** Every MCP tool's calls, by server and tool. */
  readonly toolCalls: Effect.Effect<ReadonlyArray<Requests.ToolCalls>, StoreUnavailableError>
  /** The rows that match, newest first (ties by id), after `query.after` when given. */
  readonly list: (query: Requests.ListQuery) => Effect.Effect<ReadonlyArray<Requests.Row>, StoreUnavailableError>
}

/** The request log's store. */
export class RequestLogStore
  extends Context.Service<RequestLogStore, Service>()("effect-llm-router/gateway/observe/RequestLogStore")
{}

/**
 * How long one batch, or one sweep, may take in the database before it counts as unavailable: longer than a read's
 * bound, since a sweep of a large table takes its time, and nobody waits on either.
 */
export const writeTimeout = Duration.seconds(10)

/**
 * How a database writes and sweeps the log: on Postgres by day partitions, a batch in a transaction with its days'
 * counts; elsewhere rows deleted.
 */
const writing = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    pg: () => ({
      write: (rows: ReadonlyArray<Requests.Row>) => sql.withTransaction(Partitions.write(sql, rows)),
      sweep: (sweep: Requests.Sweep) => Partitions.sweep(sql, sweep)
    }),
    orElse: () => ({
      write: (rows: ReadonlyArray<Requests.Row>) => Requests.insert(sql, rows),
      sweep: ({ before, bounds }: Requests.Sweep) =>
        Requests.deleteBefore(sql, before).pipe(
          Effect.andThen(Requests.trim(sql, bounds)),
          Effect.andThen(Requests.reclaim(sql))
        )
    })
  })

/** The request log in the gateway's database, which every instance on it shares. */
export const layerSql: Layer.Layer<RequestLogStore, never, Sql.Database> = Layer.effect(
  RequestLogStore,
  Effect.map(Sql.steps, ({ bounds, sql, step }) => {
    const slow: Sql.Bounds = { address: bounds.address, timeout: writeTimeout }
    const steps = writing(sql)
    return RequestLogStore.of({
      write: (rows) =>
        rows.length === 0
          ? Effect.void
          : Effect.asVoid(Sql.step(slow, "writing the request log", steps.write(rows))),
      sweep: (sweep) => Sql.step(slow, "applying the request log's retention", steps.sweep(sweep)),
      spend: (query) => step("reading the request log", Requests.spend(sql, query)),
      toolCalls: step("reading the MCP calls of the request log", Requests.toolCalls(sql)),
      list: (query) => step("reading the request log", Requests.list(sql, query))
    })
  })
)

/** Whether `a` is newer than `b` in the log's order: later `at`, then larger id. */
function newerFirst(a: Requests.Row, b: Requests.Row): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

/** Whether `row` is among those `query` asks for (its `limit` aside). */
function matches(row: Requests.Row, query: Requests.ListQuery): boolean {
  const after = query.after
  return (query.key === undefined || row.key_id === query.key) &&
    (query.team === undefined || row.team_id === query.team) &&
    (query.model === undefined || row.model === query.model) &&
    (query.status === undefined || row.status === query.status) &&
    (after === undefined || row.at < after.at || (row.at === after.at && row.id < after.id))
}

/** The rows newest first that both bounds keep, counted from the newest. */
function trimmed(rows: ReadonlyArray<Requests.Row>, bounds: Requests.Bounds): Array<Requests.Row> {
  const kept: Array<Requests.Row> = []
  let bytes = 0
  for (const row of [...rows].sort(newerFirst)) {
    bytes += Requests.bytesOf(row)
    if (kept.length + 1 > bounds.rows || bytes > bounds.bytes) break
    kept.push(row)
  }
  return kept
}

const { summed } = Requests

/** A group's sums as they add up. */
type Sums =
  & { readonly group: string | null; readonly mcp_server: string | null; readonly bucket: number }
  & Record<"calls" | "other_requests" | typeof summed[number], number>

/** `Requests.spend` over rows in memory: the same groups, names, sums and order. */
function spendOf(rows: ReadonlyArray<Requests.Row>, query: Requests.SpendQuery): ReadonlyArray<Requests.SpendRow> {
  const column = Requests.groupColumns[query.groupBy]
  const size = query.bucket === undefined ? undefined : Requests.buckets[query.bucket]
  const byServer = query.groupBy === "model" || query.groupBy === "deployment"
  // A key's name is the one its newest row gives, in the list's order (`newerFirst`), whether in the range or not.
  const keyNames = new Map<string, { readonly row: Requests.Row }>()
  const groups = new Map<string, Sums>()
  const zeros = Object.fromEntries(summed.map((name) => [name, 0]))
  for (const row of rows) {
    if (query.groupBy === "key" && row.key_id !== null) {
      const named = keyNames.get(row.key_id)
      if (named === undefined || newerFirst(row, named.row) < 0) keyNames.set(row.key_id, { row })
    }
    if (row.at < query.from || row.at >= query.to) continue
    const group = row[column]
    const server = byServer ? row.mcp_server : null
    const bucket = size === undefined ? 0 : Math.floor(row.at / size) * size
    const id = JSON.stringify([group, server, bucket])
    const sums = groups.get(id) ??
      ({ group, mcp_server: server, bucket, calls: 0, other_requests: 0, ...zeros } as Sums)
    if (Requests.isCall(row)) sums.calls += 1
    else sums.other_requests += 1
    for (const name of summed) sums[name] += row[name] ?? 0
    groups.set(id, sums)
  }
  const ordered = [...groups.values()].sort((a, b) =>
    size === undefined ? b.cost - a.cost || b.calls - a.calls : a.bucket - b.bucket || b.cost - a.cost
  )
  return ordered.map(({ bucket, group, mcp_server, ...sums }): Requests.SpendRow => ({
    group,
    ...(query.groupBy === "key"
      ? { name: group === null ? null : keyNames.get(group)?.row.key_name ?? null }
      : {}),
    ...(byServer ? { mcp_server } : {}),
    ...(size === undefined ? {} : { bucket }),
    ...sums
  }))
}

/** `Requests.toolCalls` over rows in memory. */
function toolCallsOf(rows: ReadonlyArray<Requests.Row>): ReadonlyArray<Requests.ToolCalls> {
  const tools = new Map<string, Requests.ToolCalls>()
  for (const row of rows) {
    if (row.mcp_server === null) continue
    const tool = String(row.mcp_tool)
    const id = JSON.stringify([row.mcp_server, tool])
    const counted = tools.get(id) ?? { server: row.mcp_server, tool, calls: 0, errors: 0, cost: 0 }
    tools.set(id, {
      ...counted,
      calls: counted.calls + 1,
      errors: counted.errors + (row.error === null ? 0 : 1),
      cost: counted.cost + (row.cost ?? 0)
    })
  }
  return [...tools.values()]
}

/** The request log in this process's memory, for its life: a gateway without a database keeps it so. */
export const layerMemory: Layer.Layer<RequestLogStore> = Layer.sync(RequestLogStore, () => {
  let rows: Array<Requests.Row> = []
  return {
    write: (written) =>
      Effect.sync(() => {
        rows.push(...written)
      }),
    sweep: ({ before, bounds }) =>
      Effect.sync(() => {
        rows = trimmed(rows.filter((row) => row.at >= before), bounds).reverse()
      }),
    spend: (query) => Effect.sync(() => spendOf(rows, query)),
    toolCalls: Effect.sync(() => toolCallsOf(rows)),
    list: (query) => Effect.sync(() => rows.filter((row) => matches(row, query)).sort(newerFirst).slice(0, query.limit))
  }
})
