/**
 * The gateway's route table: every route, on the path as `intake.ts` normalised it, over the services of `serving/`
 * that `app.ts` provides. Every answer carries `x-request-id` (the client's when valid; a reply's id repeats it); a
 * failure is OpenAI's error JSON, except on Anthropic's and Google's paths, in their own wire. A request is refused
 * before anything is sent, or a key or permit taken, when the guard refuses it (`Intake.guard`, 403), its path or
 * method is not served (404, 405 with `Allow`), or its body is not declared JSON (415), too large (413), not the wire's
 * shape (400 naming the field) or names no model of the configuration (404). A stream is opened to its first batch
 * before the response starts, so a failure before it is a plain error answer with its status; after it, an error
 * event in the 200 stream, never a clean end (`chatAnswer.ts`).
 *
 * Each wire's routes have their own file; here are the open paths, the reload, the 404 and the 405s. Each admin route's
 * permission is in `identity/access.ts`' table, checked by `serving/adminCheck.ts`.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpMethod from "effect/http/HttpMethod"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { AdminCheck } from "../access/adminCheck.js"
import * as AdminAudit from "../admin/audit.js"
import * as AdminBatches from "../admin/batches.js"
import * as AdminGrants from "../admin/grants.js"
import * as AdminKeys from "../admin/keys.js"
import * as AdminMcpServers from "../admin/mcpServers.js"
import * as AdminPins from "../admin/pins.js"
import * as AdminSpend from "../admin/spend.js"
import * as AuditRecord from "../audit/record.js"
import type * as AuditRefusals from "../audit/refusals.js"
import type * as AuditLog from "../audit/store.js"
import * as BalancedCallRoutes from "../balancedCall/routes.js"
import * as Batching from "../batches/batching.js"
import type { Readiness } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as Access from "../identity/access.js"
import * as Grants from "../identity/grants.js"
import * as Intake from "../intake.js"
import * as KeyStore from "../keys/store.js"
import * as Dashboard from "../observe/dashboard/dashboard.js"
import { RequestContext } from "../request/context.js"
import type * as Socket from "../responses/socket.js"
import type * as ResponsesStore from "../responses/store.js"
import { errorResponse, json, notedFailure, refusal } from "../serving/answers.js"
import * as Configuration from "../serving/configuration.js"
import { ModelNames } from "../serving/modelNames.js"
import * as Requests from "../serving/requests.js"
import * as AnthropicRoute from "./anthropic.js"
import * as AnthropicBatches from "./anthropicBatches.js"
import * as GeminiRoutes from "./gemini.js"
import * as GeminiModels from "./geminiModels.js"
import * as Instance from "./instance.js"
import * as McpRoute from "./mcp.js"
import * as OpenAiBatches from "./openAiBatches.js"
import * as OpenAiRoutes from "./openAiChat.js"
import * as ResponsesRoute from "./openAiResponses.js"
import * as SignOn from "./signOn.js"

/** What the route table reads besides the services every route is served through. */
export interface TableOptions {
  /** The kept responses' store, for the gateway's life. */
  readonly responses: Context.Context<ResponsesStore.StoredResponses>
  /** The Responses WebSockets open, for the gateway's life: a reload keeps them open and counted. */
  readonly sockets: Socket.Sockets
  /** The admin audit log, and its count of refusals of nobody known. */
  readonly audit: AuditLog.AuditLog
  readonly auditRefusals: AuditRefusals.Refusals
  /** The dashboard of this configuration. */
  readonly dashboard: Dashboard.Dashboard
  /** The teams made at run time, when the keys are managed. */
  readonly teams: Access.Teams | undefined
}

/** What a route is matched on. */
type Matched = { readonly method: string; readonly path: HttpRouter.PathInput }

/** The gateway's routes over the configuration served (`Configuration`), and its answer to paths it does not serve. */
export const make = Effect.fnUntraced(function*(table: TableOptions) {
  // One batching for both wires' batch routes: one sweep settles the batches of either.
  const { engine, metrics, now, options } = yield* Configuration.Configuration
  const { notFoundAnswer } = yield* ModelNames
  const { auth, providerKeys } = options
  const batching = yield* Batching.make({ engine, metrics, now, auth, providerKeys, notFoundAnswer })
  const routes = [
    ...yield* wireRoutes(table.responses, table.sockets, batching),
    ...yield* BalancedCallRoutes.routes,
    ...yield* mcpRoutes,
    ...yield* adminRoutes(table, batching),
    ...yield* openRoutes(table)
  ]
  // An admin route whose rule is missing would be refused to everyone: a build that has one is a bug, caught here.
  const unruled = Access.unruled(routes.map((route) => ({ method: route.method, path: String(route.path) })))
  if (unruled.length > 0) return yield* Effect.die(`admin routes without a rule in identity/access.ts: ${unruled}`)
  const recorded = yield* audited(routes, table)
  // Matched exactly: `Intake.canonicalUrl` has normalised the path already, for this and for the key check alike.
  const router = yield* Effect.provideService(HttpRouter.make, HttpRouter.RouterConfig, {
    caseSensitive: true,
    ignoreTrailingSlash: false,
    ignoreDuplicateSlashes: false,
    // A batch's id and its files' carry what any instance needs to answer them (`batches/ids.ts`): longer than the
    // router's default bound of a path's parameter.
    maxParamLength: 1024
  })
  yield* router.addAll([...recorded, ...yield* wrongMethods(routes)])
  const unknown = yield* unknownPath
  const routed = router.asHttpEffect().pipe(
    Effect.catchIf(
      (error): error is HttpServerError.HttpServerError =>
        HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound",
      () => unknown
    )
  )
  // The request as the router and the key check see it: its path normalised once.
  return HttpServerRequest.HttpServerRequest.use((request) => {
    const url = Intake.canonicalUrl(request.url)
    return url === request.url
      ? routed
      : Effect.provideService(routed, HttpServerRequest.HttpServerRequest, request.modify({ url }))
  })
})

/** The routes of the wires the gateway speaks: OpenAI's, Anthropic's and Google's calls, files and batches. */
const wireRoutes = Effect.fnUntraced(function*(
  kept: Context.Context<ResponsesStore.StoredResponses>,
  sockets: Socket.Sockets,
  batching: Batching.Batching
) {
  const openAi = yield* OpenAiRoutes.routes
  const batches = yield* OpenAiBatches.routes(batching)
  const messageBatches = yield* AnthropicBatches.routes(batching)
  const responses = yield* Effect.provide(ResponsesRoute.routes(sockets), kept)
  const gemini = yield* GeminiRoutes.route
  const anthropic = yield* AnthropicRoute.routes
  return [
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
    HttpRouter.route("GET", "/v1/models/*", openAi.models)
  ]
})

/** The MCP endpoints, when the configuration has MCP servers, and the admin routes of their servers and tools' pins. */
const mcpRoutes = Effect.gen(function*() {
  const { options } = yield* Configuration.Configuration
  return [
    ...(options.mcp === undefined ? [] : yield* McpRoute.routes(options.mcp)),
    ...yield* AdminPins.routes(options.mcpPins),
    ...yield* AdminMcpServers.routes(options.mcp, options.mcpPins)
  ]
})

/** The admin API's routes: the batches, the reload, the audit log, spend, keys, grants and the sign-on. */
const adminRoutes = Effect.fnUntraced(function*(table: TableOptions, batching: Batching.Batching) {
  const { options } = yield* Configuration.Configuration
  return [
    ...yield* AdminBatches.routes(batching, table.teams),
    HttpRouter.route("POST", "/admin/reload", yield* reload),
    ...yield* AdminAudit.routes(table.audit),
    ...yield* AdminSpend.routes(table.teams),
    ...(options.database === undefined ? yield* AdminKeys.unmanaged : yield* AdminKeys.routes),
    ...yield* AdminGrants.routes,
    ...yield* SignOn.routes
  ]
})

/** The gateway's own paths: its health, metrics, dashboard, instance and readiness. */
const openRoutes = Effect.fnUntraced(function*(table: TableOptions) {
  const { dashboard, teams } = table
  const { engine, metrics, options } = yield* Configuration.Configuration
  const { plain } = yield* Requests.Requests
  const { adminAs, adminOnly } = yield* AdminCheck
  return [
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
    HttpRouter.route(
      "GET",
      "/admin/instance",
      plain(
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => Instance.answer(options.instance, request))
      )
    ),
    HttpRouter.route("GET", "/ready", plain(Effect.map(engine.ready, readyAnswer)))
  ]
})

/**
 * `GET /ready`'s answer: 200 while some deployment can take a call, else 503 `not_ready`; either names the deployments
 * whose cloud credential gives no token, but not what it said: that is the operator's (`unavailableCredentials`).
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

/** `POST /admin/reload`: the configuration read again and served, or 400 naming why not (the running one stays). */
const reload = Effect.gen(function*() {
  const { options } = yield* Configuration.Configuration
  const { served } = yield* Requests.Requests
  const { adminOnly } = yield* AdminCheck
  return served(() =>
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
          return RequestContext.useSync((context) => notedFailure(context, answer))
        },
        onSuccess: (models) => Effect.succeed(json(200, JSON.stringify({ status: "reloaded", models })))
      })
    )
  )
})

/** Every admin action recorded, once, here (`audit/record.ts`): each mutating admin route's subject named. */
const audited = Effect.fnUntraced(function*<E, R>(routes: ReadonlyArray<HttpRouter.Route<E, R>>, table: TableOptions) {
  const { engine, metrics, now, options } = yield* Configuration.Configuration
  const admin = yield* AdminCheck
  return yield* AuditRecord.recorded(routes, {
    unrecorded: metrics.auditUnrecorded,
    log: table.audit,
    refusals: table.auditRefusals,
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
})

/** A path the gateway does not serve: 404, in the wire of the path asked for. */
const unknownPath = Effect.map(
  Requests.Requests,
  ({ served }) =>
    served(({ request }) =>
      RequestContext.useSync((context) =>
        refusal(
          context,
          Errors.answer(404, `Invalid URL (${request.method} ${context.path})`, "invalid_request_error", null, null)
        )
      )
    )
)

/** Each path's other methods, 405 with `Allow`; a path served on GET takes HEAD too (the router answers it as GET). */
const wrongMethods = Effect.fnUntraced(function*(routes: ReadonlyArray<Matched>) {
  const { served } = yield* Requests.Requests
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
        return HttpServerResponse.setHeader(notedFailure(context, answer), "allow", allow)
      })
    )
  }
  return [...methodsByPath(routes)].flatMap(([path, methods]) => {
    const allowed = methods.includes("GET") ? [...methods, "HEAD"] : methods
    const refusal = notAllowed(allowed.join(", "))
    return [...HttpMethod.all].filter((method) => !allowed.includes(method)).map((method) =>
      HttpRouter.route(method, path, refusal)
    )
  })
})

// The methods each route's path is served on.
function methodsByPath(routes: ReadonlyArray<Matched>): Map<HttpRouter.PathInput, Array<string>> {
  const methods = new Map<HttpRouter.PathInput, Array<string>>()
  for (const route of routes) methods.set(route.path, [...(methods.get(route.path) ?? []), route.method])
  return methods
}
