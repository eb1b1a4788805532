/**
 * The gateway's HTTP application over one configuration's engine: the services of `serving/` every route is served
 * through, provided once here to the route table (`routes/table.ts`) with the gateway's stores (`stores.ts`), and the
 * parts the gateway keeps across reloads (`lasting`).
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Router from "../../Router.js"
import * as AuditRefusals from "./audit/refusals.js"
import * as AuditLog from "./audit/store.js"
import type { Engine } from "./engine.js"
import * as Access from "./identity/access.js"
import * as KeyStore from "./keys/store.js"
import * as Dashboard from "./observe/dashboard/dashboard.js"
import * as Metrics from "./observe/metrics.js"
import * as Journal from "./observe/record.js"
import * as RefusalLines from "./observe/refusalLines.js"
import * as RequestLog from "./observe/requestLog.js"
import * as Socket from "./responses/socket.js"
import * as ResponsesStore from "./responses/store.js"
import * as RouteTable from "./routes/table.js"
import * as AdminChecks from "./serving/adminCheck.js"
import * as Admission from "./serving/admission.js"
import * as Configuration from "./serving/configuration.js"
import * as ModelNames from "./serving/modelNames.js"
import * as Requests from "./serving/requests.js"
import type * as Stores from "./stores.js"

/** What the application needs besides the engine. */
export type AppOptions = Configuration.AppOptions

/**
 * What the gateway keeps across reloads (generations, `server.ts`): its metrics, whose gauges read the generation
 * served at each scrape; its stores, so a `previous_response_id` continues whichever configuration answered it; and the
 * request log's writer, so nothing queued is lost to a reload.
 */
export interface Lasting {
  /** The time, in milliseconds, from the gateway's `Clock`. */
  readonly now: () => number
  readonly metrics: Metrics.Metrics
  /** The Responses WebSockets open, by key (`responses/socket.ts`): a reload keeps them open and counted. */
  readonly sockets: Socket.Sockets
  /** Every store of the gateway (`stores.ts`), built for its life: the kept responses among them. */
  readonly stores: Context.Context<Stores.Stores>
  /** The request log's writer, over the request log's store of `stores`. */
  readonly requestLog: RequestLog.RequestLog
  /** The admin audit log, in the database, or without one in this process's memory for its life. */
  readonly audit: AuditLog.AuditLog
  /** Its count of refusals of nobody known, one summary a window across every address. */
  readonly auditRefusals: AuditRefusals.Refusals
  /** The lines of requests refused before authentication, rate-limited for the gateway's life. */
  readonly refusalLines: RefusalLines.RefusalLines
}

/** The gateway's lasting parts over `status` (the generation's served now) and its `stores`. */
export const lasting = Effect.fnUntraced(function*(options: {
  readonly status: Effect.Effect<Router.Status>
  /** The bounds of the Responses WebSockets (`Gateway.Keys`' bounds); the defaults when unset. */
  readonly sockets: Socket.BoundsOptions
  /** Every store of the gateway (`stores.ts`), built for its life. */
  readonly stores: Context.Context<Stores.Stores>
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
  const now = () => clock.currentTimeMillisUnsafe()
  const { stores } = options
  const metrics = Metrics.makeMetrics(options.status, now, Context.get(stores, ResponsesStore.StoredResponses).usage)
  const audit = Context.get(stores, AuditLog.AuditLogStore)
  return {
    now,
    metrics,
    sockets: Socket.sockets(options.sockets),
    stores,
    refusalLines: yield* RefusalLines.refusalLines,
    audit,
    // One count for every instance on the database (or this process, without one) and every address.
    auditRefusals: yield* AuditRefusals.make(audit, { state: Context.get(stores, AuditRefusals.RefusalCount) }),
    requestLog: yield* Effect.provideContext(
      RequestLog.make({
        logPayloads: options.logPayloads,
        retention: options.requestLogRetention,
        maxRows: options.requestLogMaxRows,
        maxBytes: options.requestLogMaxBytes,
        secrets: options.secrets,
        dropped: metrics.requestLogDropped
      }),
      stores
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
      responses: lasting.stores,
      sockets: lasting.sockets,
      audit: lasting.audit,
      auditRefusals: lasting.auditRefusals,
      dashboard,
      teams
    }),
    serving
  )
})
