/**
 * The gateway's HTTP application: `HttpRouter` routes over the engine, on the
 * path as `intake.ts` normalised it. Every answer carries `x-request-id` (the
 * client's when valid; a streamed chat reply's id repeats it, after
 * `chatcmpl-` or `msg_`, as does a whole reply's on `/v1/messages`, and on
 * `/v1/chat/completions` when the provider gave it none); every failure is OpenAI's error JSON, except under
 * `/v1/messages`, which answers in Anthropic's wire, and on Google's paths, in Google's, over the same stream path.
 * A request is
 * refused before anything is sent when the guard refuses it (`Intake.guard`: on
 * a gateway listening on loopback, a `Host` that is not its loopback name; a
 * request from a page of another origin: 403), its path is unknown (404) or does not
 * take its method (405 with `Allow`), its body is not declared JSON (415), is
 * too large (413), not JSON or not the wire's shape (400 naming the field), or
 * names no model of the configuration (404); the engine's own check of the
 * request answers 400 too, before a key or a permit is taken.
 *
 * A stream is opened to its first batch before the response starts, so a
 * failure before it (a rate limit, every deployment down) is a plain error
 * answer with its status; after it, a failure is an error event in the 200
 * stream, never a clean end (`chatAnswer.ts`).
 *
 * This module is the route table: every route is built over the services of `serving/`, provided once here
 * (`Requests`: the guard and the key check, the request's context, the body; `AdminCheck`; `Admission`; `ModelNames`;
 * `Journal`: where each request's record goes);
 * OpenAI's
 * routes are `routes/openAiChat.ts` and `routes/openAiResponses.ts`, Anthropic's `routes/anthropic.ts`, Google's
 * `routes/gemini.ts` and `routes/geminiModels.ts`
 * (chats through `chatAnswer.ts`, embeddings through `embeddingAnswer.ts`),
 * LLM-API-BalancedCall's `balancedCall/routes.ts`; here are the open and admin
 * paths (each admin route's permission in `identity/access.ts`' table, checked by `serving/adminCheck.ts`; the
 * sign-on's in `routes/signOn.ts`), the 404 and the 405s.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpMethod from "effect/http/HttpMethod"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Router from "../../Router.js"
import type * as Store from "../../Store.js"
import type { StoreUnavailableError } from "../../Store.js"
import type * as Sql from "../persistence/sql.js"
import { AdminCheck } from "./access/adminCheck.js"
import * as AdminAudit from "./admin/audit.js"
import * as AdminBatches from "./admin/batches.js"
import * as AdminGrants from "./admin/grants.js"
import * as AdminKeys from "./admin/keys.js"
import * as AdminMcpServers from "./admin/mcpServers.js"
import * as AdminPins from "./admin/pins.js"
import * as AdminSpend from "./admin/spend.js"
import * as AuditRecord from "./audit/record.js"
import * as AuditRefusals from "./audit/refusals.js"
import * as AuditLog from "./audit/store.js"
import * as BalancedCallRoutes from "./balancedCall/routes.js"
import * as Batching from "./batches/batching.js"
import * as BatchRuns from "./batches/runs.js"
import * as BatchRunsRedis from "./batches/runsRedis.js"
import * as Settlements from "./batches/settlements.js"
import * as SettlementsRedis from "./batches/settlementsRedis.js"
import * as BatchStore from "./batches/store.js"
import * as BatchStoreRedis from "./batches/storeRedis.js"
import type { Engine, Readiness } from "./engine.js"
import * as Errors from "./errorAnswer.js"
import * as Access from "./identity/access.js"
import * as Grants from "./identity/grants.js"
import * as Sessions from "./identity/sessions.js"
import * as Intake from "./intake.js"
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
import { RequestContext } from "./request/context.js"
import * as Outcome from "./request/outcome.js"
import * as Socket from "./responses/socket.js"
import * as ResponsesStore from "./responses/store.js"
import * as ResponsesStoreRedis from "./responses/storeRedis.js"
import * as AnthropicRoute from "./routes/anthropic.js"
import * as AnthropicBatches from "./routes/anthropicBatches.js"
import * as GeminiRoutes from "./routes/gemini.js"
import * as GeminiModels from "./routes/geminiModels.js"
import * as Instance from "./routes/instance.js"
import * as McpRoute from "./routes/mcp.js"
import * as OpenAiBatches from "./routes/openAiBatches.js"
import * as OpenAiRoutes from "./routes/openAiChat.js"
import * as ResponsesRoute from "./routes/openAiResponses.js"
import * as SignOn from "./routes/signOn.js"
import * as AdminChecks from "./serving/adminCheck.js"
import * as Admission from "./serving/admission.js"
import { errorResponse, json, refusal } from "./serving/answers.js"
import * as Configuration from "./serving/configuration.js"
import * as ModelNames from "./serving/modelNames.js"
import * as Requests from "./serving/requests.js"

/**
 * `GET /ready`'s answer: 200 while some deployment can take a call, else 503 `not_ready`; either names the deployments
 * whose cloud credential gives no token (names only: what the credential said is the operator's, in `serve`'s start
 * line and `Gateway.Service.unavailableCredentials`).
 */
function readyAnswer(readiness: Readiness): HttpServerResponse.HttpServerResponse {
  const names = Object.keys(readiness.unavailableCredentials)
  if (readiness.ready) {
    return json(
      200,
      JSON.stringify(
        names.length === 0 ? { status: "ready" } : {
          status: "ready",
          credential_unavailable: names
        }
      )
    )
  }
  const without = names.length === 0 ? "" : ` No working credential (no token): ${names.join(", ")}.`
  return errorResponse(
    Errors.answer(503, `No deployment can take a call now.${without}`, "server_error", null, "not_ready")
  )
}
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
 * records, the batches run as calls, the request log.
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
  | RequestLogStore.RequestLogStore

/**
 * The stores the routes read, in the gateway's database, which its instances share, else in its memory for its life;
 * with a database, failing when its keys cannot be read. The batches' settlements, files and records, and those run
 * as calls, are kept where every instance that answers a batch's id reads them (`batchStores`).
 */
export function storesLayer(
  database: Sql.Database | undefined,
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
      KeyStore.layerSql(database),
      Ledger.layerSql(database),
      McpPins.layerSql(database),
      McpSessions.layerSql(database),
      Sessions.layerSql(database),
      Grants.layerSql(database),
      batches,
      RequestLogStore.layerSql(database)
    )
}

/**
 * The batches' settlements, files and records, and those run as calls: in the shared `store`'s Redis when there is one
 * and no database every instance shares (none, or a SQLite file of each instance's own), as a batch's id is answered
 * by any instance serving its deployment; else in the database; else in memory.
 */
function batchStores(
  database: Sql.Database | undefined,
  store: Store.Store | undefined,
  options: { readonly sqlite: boolean }
): Layer.Layer<Settlements.SettlementStore | BatchStore.BatchStore | BatchRuns.RunStore> {
  if (store !== undefined && (database === undefined || options.sqlite)) {
    return Layer.mergeAll(
      SettlementsRedis.layerRedis(store),
      BatchStoreRedis.layerRedis(store),
      BatchRunsRedis.layerRedis(store)
    )
  }
  return database === undefined
    ? Layer.mergeAll(Settlements.layerMemory, BatchStore.layerMemory, BatchRuns.layerMemory)
    : Layer.mergeAll(Settlements.layerSql(database), BatchStore.layerSql(database), BatchRuns.layerSql(database))
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
  readonly database: Sql.Database | undefined
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
      : ResponsesStoreRedis.layerStoreRedis(options.store, options.responses)
  )
  const metrics = Metrics.makeMetrics(options.status, now, Context.get(responses, ResponsesStore.StoredResponses).usage)
  const audit = Context.get(
    yield* Layer.build(options.database === undefined ? AuditLog.layerMemory : AuditLog.layerSql(options.database)),
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
  return yield* Effect.provideContext(routesOf(lasting, dashboard, teams), serving)
})

// The routes over the configuration served (`Configuration`), each built with the services every route is served
// through; and the answer to paths the gateway does not serve.
const routesOf = Effect.fnUntraced(function*(
  lasting: Lasting,
  dashboard: Dashboard.Dashboard,
  teams: Access.Teams | undefined
) {
  const { engine, metrics, now, options } = yield* Configuration.Configuration
  const { plain, served } = yield* Requests.Requests
  const admin = yield* AdminCheck
  const { adminAs, adminOnly } = admin
  const openAi = yield* OpenAiRoutes.routes
  // One batching for both wires' batch routes: one sweep settles the batches of either.
  const batching = yield* Batching.make
  const batches = yield* OpenAiBatches.routes(batching)
  const messageBatches = yield* AnthropicBatches.routes(batching)
  const responses = yield* Effect.provide(ResponsesRoute.routes(lasting.sockets), lasting.responses)
  const gemini = yield* GeminiRoutes.route
  const anthropic = yield* AnthropicRoute.routes

  // `POST /admin/reload`: the configuration read again and served, or 400 naming why not (the running one stays).
  const reload = served(() =>
    adminOnly(
      Effect.matchEffect(options.reload, {
        onFailure: (error) => {
          const answer = Errors.answer(
            400,
            `The configuration was not reloaded; the running one stays. ${error.message}`,
            "invalid_request_error",
            null,
            "invalid_configuration"
          )
          return RequestContext.useSync((context) => {
            Outcome.failed(context.outcome, answer.code ?? undefined, answer)
            return errorResponse(answer)
          })
        },
        onSuccess: (models) => Effect.succeed(json(200, JSON.stringify({ status: "reloaded", models })))
      })
    )
  )

  // A path the gateway does not serve: 404, in the wire of the path asked for.
  const unknownPath = served(({ request }) =>
    RequestContext.useSync((context) =>
      refusal(
        context,
        Errors.answer(404, `Invalid URL (${request.method} ${context.path})`, "invalid_request_error", null, null)
      )
    )
  )
  // A path the gateway serves, asked with a method it does not take there: 405, the ones it takes in `Allow`.
  function notAllowed(allow: string) {
    return served(({ request }) =>
      RequestContext.useSync((context) => {
        const answer = Errors.answer(
          405,
          `${request.method} is not served on ${context.path}, which takes ${allow}.`,
          "invalid_request_error",
          null,
          "method_not_allowed"
        )
        Outcome.failed(context.outcome, answer.code ?? undefined, answer)
        return HttpServerResponse.setHeader(refusal(context, answer), "allow", allow)
      })
    )
  }

  // Matched exactly: `Intake.canonicalUrl` has normalised the path already, for this and for the key check alike.
  const router = yield* Effect.provideService(HttpRouter.make, HttpRouter.RouterConfig, {
    caseSensitive: true,
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    // A batch's id and its files' carry what any instance needs to answer them (`batches/ids.ts`): longer than the
    // router's default bound of a path's parameter.
    maxParamLength: 1024
  })
  const routes = [
    HttpRouter.route("POST", "/v1/chat/completions", openAi.chatCompletions),
    HttpRouter.route("POST", "/v1/responses", responses.create),
    HttpRouter.route("GET", "/v1/responses", responses.socket),
    HttpRouter.route("POST", "/v1/responses/input_tokens", responses.inputTokens),
    HttpRouter.route("POST", "/v1/responses/compact", responses.compact),
    HttpRouter.route("GET", "/v1/responses/:id", responses.retrieve),
    HttpRouter.route("DELETE", "/v1/responses/:id", responses.remove),
    HttpRouter.route("POST", "/v1/embeddings", openAi.embeddings),
    HttpRouter.route("POST", "/v1/files", batches.upload),
    HttpRouter.route("GET", "/v1/files/:id", batches.file),
    HttpRouter.route("GET", "/v1/files/:id/content", batches.content),
    HttpRouter.route("POST", "/v1/batches", batches.create),
    HttpRouter.route("GET", "/v1/batches", batches.list),
    HttpRouter.route("GET", "/v1/batches/:id", batches.retrieve),
    HttpRouter.route("POST", "/v1/batches/:id/cancel", batches.cancel),
    HttpRouter.route("POST", "/v1/messages", anthropic.messages),
    HttpRouter.route("POST", "/v1/messages/count_tokens", anthropic.countTokens),
    HttpRouter.route("POST", "/v1/messages/batches", messageBatches.create),
    HttpRouter.route("GET", "/v1/messages/batches", messageBatches.list),
    HttpRouter.route("GET", "/v1/messages/batches/:id", messageBatches.retrieve),
    HttpRouter.route("POST", "/v1/messages/batches/:id/cancel", messageBatches.cancel),
    HttpRouter.route("GET", "/v1/messages/batches/:id/results", messageBatches.results),
    ...GeminiRoutes.paths.map((path) => HttpRouter.route("POST", path, gemini)),
    HttpRouter.route("GET", "/v1beta/models/*", yield* GeminiModels.route),
    HttpRouter.route("GET", "/v1/models/*", openAi.models),
    ...yield* BalancedCallRoutes.routes,
    ...(options.mcp === undefined ? [] : yield* McpRoute.routes(options.mcp)),
    ...yield* AdminPins.routes(options.mcpPins),
    ...yield* AdminMcpServers.routes(options.mcp, options.mcpPins),
    ...yield* AdminBatches.routes(batching, teams),
    HttpRouter.route("GET", "/health", plain(Effect.succeed(json(200, `{"status":"ok"}`)))),
    HttpRouter.route("GET", "/metrics", plain(adminOnly(metrics.scrape))),
    HttpRouter.route("GET", "/dashboard", plain(Effect.succeed(Dashboard.pageResponse))),
    HttpRouter.route(
      "GET",
      "/dashboard/data",
      // A key's budget is the keys' data (`keys.read`): shown to those who may read its key.
      plain(
        adminAs((principal) =>
          dashboard.data((budget) =>
            Access.sees(principal, "keys.read", budget.team === undefined ? undefined : teams?.byId(budget.team))
          )
        )
      )
    ),
    HttpRouter.route("POST", "/admin/reload", reload),
    ...yield* AdminAudit.routes(lasting.audit),
    ...yield* AdminSpend.routes(teams),
    ...(options.database === undefined ? yield* AdminKeys.unmanaged : yield* AdminKeys.routes),
    ...yield* AdminGrants.routes,
    ...yield* SignOn.routes,
    HttpRouter.route(
      "GET",
      "/admin/instance",
      plain(
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => Instance.answer(options.instance, request))
      )
    ),
    HttpRouter.route(
      "GET",
      "/ready",
      plain(Effect.map(engine.ready, readyAnswer))
    )
  ]
  // An admin route whose rule is missing would be refused to everyone: a build that has one is a bug, caught here.
  const unruled = Access.unruled(routes.map((route) => ({ method: route.method, path: String(route.path) })))
  if (unruled.length > 0) return yield* Effect.die(`admin routes without a rule in identity/access.ts: ${unruled}`)
  // Every admin action recorded, once, here (`audit/record.ts`): each mutating admin route's subject named.
  const recorded = yield* AuditRecord.recorded(routes, {
    log: lasting.audit,
    refusals: lasting.auditRefusals,
    actor: (request) =>
      Effect.match(admin.principal(request), {
        onFailure: () => undefined,
        onSuccess: (principal) => ({ name: principal.name, roles: principal.roles })
      }),
    now,
    subjects: {
      ...AdminKeys.subjects(yield* KeyStore.KeyStore, options.auth),
      ...AdminPins.subjects(options.mcpPins),
      ...AdminGrants.subjects(yield* Grants.GrantStore),
      ...SignOn.subjects,
      "POST /admin/reload": {
        object: () => undefined,
        state: () => Effect.succeed({ models: engine.models.map((model) => model.id) }),
        // The models served after are the answer's: this configuration's engine is the one replaced.
        after: (_, answer) => answer
      }
    }
  })
  // Each path's other methods; a path served on GET takes HEAD too (the router answers it as GET).
  const wrongMethods = [...methodsByPath(routes)].flatMap(([path, methods]) => {
    const allowed = methods.includes("GET") ? [...methods, "HEAD"] : methods
    const refusal = notAllowed(allowed.join(", "))
    return [...HttpMethod.all].filter((method) => !allowed.includes(method)).map((method) =>
      HttpRouter.route(method, path, refusal)
    )
  })
  yield* router.addAll([...recorded, ...wrongMethods])
  const routed = router.asHttpEffect().pipe(
    Effect.catchIf(
      (error): error is HttpServerError.HttpServerError =>
        HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound",
      () => unknownPath
    )
  )
  // The request as the router and the key check see it: its path normalised once.
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const url = Intake.canonicalUrl(request.url)
    return url === request.url
      ? routed
      : Effect.provideService(routed, HttpServerRequest.HttpServerRequest, request.modify({ url }))
  })
})

// The methods each route's path is served on.
function methodsByPath(
  routes: ReadonlyArray<{ readonly method: string; readonly path: HttpRouter.PathInput }>
): Map<HttpRouter.PathInput, Array<string>> {
  const methods = new Map<HttpRouter.PathInput, Array<string>>()
  for (const route of routes) methods.set(route.path, [...(methods.get(route.path) ?? []), route.method])
  return methods
}
