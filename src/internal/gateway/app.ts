/**
 * The gateway's HTTP application over one configuration's engine: the services of `serving/` every route is served
 * through (`Requests`: the guard and the key check, the request's context, the body; `AdminCheck`; `Admission`;
 * `ModelNames`; `Journal`: where each request's record goes), provided once here to the route table
 * (`routes/table.ts`); the stores the routes read (`storesLayer`); and the parts the gateway keeps across reloads
 * (`lasting`).
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Router from "../../Router.js"
import type * as Store from "../../Store.js"
import type { StoreUnavailableError } from "../../Store.js"
import * as Sql from "../persistence/sql.js"
import { SharedStore } from "../store/sharedStore.js"
import * as AuditRefusals from "./audit/refusals.js"
import * as AuditLog from "./audit/store.js"
import * as IdSecret from "./batches/idSecret.js"
import * as BatchRuns from "./batches/runs.js"
import * as BatchRunsRedis from "./batches/runsRedis.js"
import * as Settlements from "./batches/settlements.js"
import * as SettlementsRedis from "./batches/settlementsRedis.js"
import * as BatchStore from "./batches/store.js"
import * as BatchStoreRedis from "./batches/storeRedis.js"
import type { Engine } from "./engine.js"
import * as Access from "./identity/access.js"
import * as Grants from "./identity/grants.js"
import * as Sessions from "./identity/sessions.js"
import * as Ledger from "./keys/ledger.js"
import * as KeyStore from "./keys/store.js"
import * as McpPins from "./mcp/pins.js"
import * as McpSessions from "./mcp/sessions.js"
import * as Dashboard from "./observe/dashboard/dashboard.js"
import * as Metrics from "./observe/metrics.js"
import * as Journal from "./observe/record.js"
import * as RefusalLines from "./observe/refusalLines.js"
import * as RequestLog from "./observe/requestLog.js"
import * as RequestLogStore from "./observe/requestLogStore.js"
import * as Socket from "./responses/socket.js"
import * as ResponsesStore from "./responses/store.js"
import * as ResponsesStoreRedis from "./responses/storeRedis.js"
import * as RouteTable from "./routes/table.js"
import * as AdminChecks from "./serving/adminCheck.js"
import * as Admission from "./serving/admission.js"
import * as Configuration from "./serving/configuration.js"
import * as ModelNames from "./serving/modelNames.js"
import * as Requests from "./serving/requests.js"

/** What the application needs besides the engine. */
export type AppOptions = Configuration.AppOptions

/**
 * What the gateway keeps across reloads (generations, `server.ts`): its metrics, whose status gauges read the
 * generation served at each scrape, the responses it keeps, so a `previous_response_id` continues whichever
 * configuration answered it, and the request log's writer, one for the gateway's life, so that nothing queued is lost
 * to a reload.
 */
export interface Lasting {
  /** The time, in milliseconds, from the gateway's `Clock`. */
  readonly now: () => number
  readonly metrics: Metrics.Metrics
  /** The kept responses' store, built from the layer the gateway is configured with. */
  readonly responses: Context.Context<ResponsesStore.StoredResponses>
  /** The Responses WebSockets open, by key (`responses/socket.ts`): a reload keeps them open and counted. */
  readonly sockets: Socket.Sockets
  /** The stores every configuration's routes read, built for the gateway's life (`storesLayer`). */
  readonly stores: Context.Context<Stores>
  /** The request log's writer, over the request log's store of `stores`. */
  readonly requestLog: RequestLog.RequestLog
  /** The admin audit log, in the database, or without one in this process's memory for its life. */
  readonly audit: AuditLog.AuditLog
  /** Its count of refusals of nobody known, one summary a window across every address. */
  readonly auditRefusals: AuditRefusals.Refusals
  /** The lines of requests refused before authentication, rate-limited for the gateway's life. */
  readonly refusalLines: RefusalLines.RefusalLines
}

/**
 * The stores every configuration's routes read: the keys and teams made at run time, the spend ledger, the MCP tools'
 * pins, the MCP sessions, the dashboard's sessions, the roles granted to people, the batches' settlements, files and
 * records, the batches run as calls, the batches' ids' secret, the request log.
 */
export type Stores =
  | KeyStore.KeyStore
  | Ledger.SpendLedger
  | McpPins.PinStore
  | McpSessions.SessionStore
  | Sessions.SessionStore
  | Grants.GrantStore
  | Settlements.SettlementStore
  | BatchStore.BatchStore
  | BatchRuns.RunStore
  | IdSecret.IdSecretStore
  | RequestLogStore.RequestLogStore

/**
 * The stores the routes read, in the gateway's database, which its instances share, else in its memory for its life;
 * with a database, failing when its keys cannot be read. The batches' settlements, files and records, those run as
 * calls, and their ids' secret, are kept where every instance that answers a batch's id reads them (`batchStores`).
 */
export function storesLayer(
  database: Sql.Database["Service"] | undefined,
  store: Store.Store | undefined,
  options: {
    /** Whether the database is a SQLite file, each instance's own. */
    readonly sqlite: boolean
  }
): Layer.Layer<Stores, StoreUnavailableError> {
  const batches = batchStores(database, store, options)
  return database === undefined
    ? Layer.mergeAll(
      KeyStore.layerMemory,
      Ledger.layerMemory,
      McpPins.layerMemory,
      McpSessions.layerMemory,
      Sessions.layerMemory,
      Grants.layerMemory,
      batches,
      RequestLogStore.layerMemory
    )
    : Layer.mergeAll(
      KeyStore.layerSql,
      Ledger.layerSql,
      McpPins.layerSql,
      McpSessions.layerSql,
      Sessions.layerSql,
      Grants.layerSql,
      batches,
      RequestLogStore.layerSql
    ).pipe(Layer.provide(Layer.succeed(Sql.Database, database)))
}

/**
 * The batches' settlements, files and records, those run as calls, and their ids' secret: in the shared `store`'s
 * Redis when there is one and no database every instance shares (none, or a SQLite file of each instance's own), as a
 * batch's id is answered by any instance serving its deployment; else in the database; else in memory.
 */
function batchStores(
  database: Sql.Database["Service"] | undefined,
  store: Store.Store | undefined,
  options: { readonly sqlite: boolean }
): Layer.Layer<Settlements.SettlementStore | BatchStore.BatchStore | BatchRuns.RunStore | IdSecret.IdSecretStore> {
  if (store !== undefined && (database === undefined || options.sqlite)) {
    return Layer.mergeAll(
      SettlementsRedis.layerRedis,
      BatchStoreRedis.layerRedis,
      BatchRunsRedis.layerRedis,
      IdSecret.layerRedis
    ).pipe(Layer.provide(Layer.succeed(SharedStore, store)))
  }
  return database === undefined
    ? Layer.mergeAll(Settlements.layerMemory, BatchStore.layerMemory, BatchRuns.layerMemory, IdSecret.layerMemory)
    : Layer.mergeAll(Settlements.layerSql, BatchStore.layerSql, BatchRuns.layerSql, IdSecret.layerSql).pipe(
      Layer.provide(Layer.succeed(Sql.Database, database))
    )
}

/**
 * The gateway's lasting parts over `status` (the generation's served now), the responses kept in `store` when it
 * has one, so that every instance continues every response, else in memory, and the request log's writer over its
 * store in `stores`.
 */
export const lasting = Effect.fnUntraced(function*(options: {
  readonly status: Effect.Effect<Router.Status>
  readonly store: Store.Store | undefined
  /** How long and how much of the responses are kept (`Gateway.Keys`' bounds); the defaults when unset. */
  readonly responses: ResponsesStore.StoreOptions
  /** The bounds of the Responses WebSockets (`Gateway.Keys`' bounds); the defaults when unset. */
  readonly sockets: Socket.BoundsOptions
  readonly database: Sql.Database["Service"] | undefined
  /** The stores the routes read (`storesLayer`), built for the gateway's life. */
  readonly stores: Context.Context<Stores>
  /** Whether the request log keeps each call's request body and reply text, keys masked. */
  readonly logPayloads: boolean
  /** How long the request log keeps its rows (`Gateway.Options.requestLogRetention`); its default when unset. */
  readonly requestLogRetention: Duration.Input | undefined
  /** How many rows and bytes of them the request log keeps (`Gateway.Keys`); the defaults when unset. */
  readonly requestLogMaxRows: number | undefined
  readonly requestLogMaxBytes: number | undefined
  /** The keys a logged payload has masked: the served configuration's gateway keys and its provider keys. */
  readonly secrets: () => ReadonlyArray<Redacted.Redacted<string>>
}) {
  const clock = yield* Clock.Clock
  function now() {
    return clock.currentTimeMillisUnsafe()
  }
  const responses = yield* Layer.build(
    options.store === undefined
      ? ResponsesStore.layerStoreMemory(options.responses)
      : Layer.provide(ResponsesStoreRedis.layerStoreRedis(options.responses), Layer.succeed(SharedStore, options.store))
  )
  const metrics = Metrics.makeMetrics(options.status, now, Context.get(responses, ResponsesStore.StoredResponses).usage)
  const audit = Context.get(
    yield* Layer.build(
      options.database === undefined
        ? AuditLog.layerMemory
        : Layer.provide(AuditLog.layerSql, Layer.succeed(Sql.Database, options.database))
    ),
    AuditLog.AuditLogStore
  )
  return {
    now,
    metrics,
    responses,
    sockets: Socket.sockets(options.sockets),
    stores: options.stores,
    refusalLines: yield* RefusalLines.refusalLines,
    audit,
    // One count for every instance on the database (or this process, without one) and every address.
    auditRefusals: yield* AuditRefusals.make(audit, {
      state: options.database === undefined ? undefined : AuditRefusals.sqlState(options.database)
    }),
    requestLog: yield* Effect.provideContext(
      RequestLog.make({
        logPayloads: options.logPayloads,
        retention: options.requestLogRetention,
        maxRows: options.requestLogMaxRows,
        maxBytes: options.requestLogMaxBytes,
        secrets: options.secrets,
        dropped: metrics.requestLogDropped
      }),
      options.stores
    )
  } satisfies Lasting
})

/** The gateway's routes over one configuration's engine, and its answer to paths it does not serve. */
export const make = Effect.fnUntraced(function*(engine: Engine, options: AppOptions, lasting: Lasting) {
  const { metrics, now, refusalLines, requestLog } = lasting
  const teams = Access.teamsOf(Context.get(lasting.stores, KeyStore.KeyStore))
  const dashboard = yield* Dashboard.make({
    status: engine.status,
    budgets: options.auth.budgetStatus,
    teamName: (id) => teams?.byId(id)?.name,
    now
  })
  // What every route is served through, built once for this configuration and read by each route as it is built.
  const serving = yield* Layer.build(
    Layer.mergeAll(
      Requests.layer(refusalLines),
      AdminChecks.layer,
      Admission.layer.pipe(Layer.provideMerge(ModelNames.layer))
    ).pipe(
      Layer.provideMerge(
        Layer.succeed(
          Journal.Journal,
          Journal.make({ stats: dashboard.stats, requestLog, logRequests: options.logRequests })
        )
      ),
      Layer.provideMerge(Layer.succeed(Configuration.Configuration, { engine, options, now, metrics })),
      Layer.provideMerge(Layer.succeedContext(lasting.stores))
    )
  )
  return yield* Effect.provideContext(
    RouteTable.make({
      responses: lasting.responses,
      sockets: lasting.sockets,
      audit: lasting.audit,
      auditRefusals: lasting.auditRefusals,
      dashboard,
      teams
    }),
    serving
  )
})
