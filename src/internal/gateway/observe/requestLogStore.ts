/**
 * Where the request log's rows are kept: `RequestLogStore`, over the gateway's database (`layerSql`: the table
 * `requests`, its statements in `requestTable.ts`, on Postgres partitioned by day, `requestPartitions.ts`), which every
 * instance on it shares, under one contract (`test/contract/requestLog.ts`).
 *
 * A sweep's grain is the backend's: SQLite removes exactly the rows past the retention and bounds; Postgres
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

export interface Service {
  /** `rows` written, in one step; it answers what its statement gives, which the writer does not read. */
  readonly write: (rows: ReadonlyArray<Requests.Row>) => Effect.Effect<unknown, StoreUnavailableError>
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
      write: (rows) => rows.length === 0 ? Effect.void : Sql.step(slow, "writing the request log", steps.write(rows)),
      sweep: (sweep) => Sql.step(slow, "applying the request log's retention", steps.sweep(sweep)),
      spend: (query) => step("reading the request log", Requests.spend(sql, query)),
      toolCalls: step("reading the MCP calls of the request log", Requests.toolCalls(sql)),
      list: (query) => step("reading the request log", Requests.list(sql, query))
    })
  })
)
