/**
 * The gateway's MCP routes: `/mcp` and `/mcp/<server>` (POST for JSON-RPC; GET and DELETE as Streamable HTTP says),
 * through `Requests.served` like every route: the guard and the gateway key, which goes no further (an upstream is sent
 * the gateway's own headers only). The endpoints get the request as one service (`McpRequest.Request`): the caller's
 * tool rule and the governance of its calls. A session is answered on any instance and across reloads (`sessions.ts`).
 * The endpoints get the request without its `Origin`: the guard has judged it, and `McpServer` refuses every origin it
 * is not given a list of.
 */
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Allow from "../access/tools.js"
import * as Errors from "../errorAnswer.js"
import type * as Endpoint from "../mcp/endpoint.js"
import * as McpRequest from "../mcp/request.js"
import * as Sessions from "../mcp/sessions.js"
import { RequestContext } from "../request/context.js"
import type * as Request from "../request/context.js"
import { refusal, tooLarge } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"

export const paths = ["/mcp", "/mcp/:server"] as const

// The seconds a client of a server not answered yet is told to wait (`Retry-After`).
const unansweredRetry = 5

// `request` without its `Origin`, which the guard has accepted.
function withoutOrigin(request: HttpServerRequest.HttpServerRequest) {
  return request.headers["origin"] === undefined
    ? request
    : request.modify({ headers: Headers.remove(request.headers, "origin") })
}

/**
 * The routes of `endpoints` over the configuration served, their sessions (`Sessions`) recorded in the
 * `Sessions.SessionStore` provided, which every configuration (and every instance on the gateway's database) shares.
 */
export const routes = Effect.fnUntraced(function*(endpoints: Endpoint.Endpoints) {
  const serving = yield* Configuration
  const sessions = yield* Sessions.SessionStore
  const requests = yield* Requests
  const { maxBodyBytes } = serving.options
  // Its sweep runs in the configuration's scope: stopped when a reload replaces it, or the gateway stops.
  const held = yield* Sessions.make(
    sessions,
    endpoints.http,
    endpoints.subscriptionsVersion,
    serving.options.mcpSessionBounds
  )
  const answer = requests.served(({ request }) => RequestContext.use((context) => answered(request, context)))
  function answered(request: HttpServerRequest.HttpServerRequest, context: Request.Service) {
    if (Number(request.headers["content-length"]) > maxBodyBytes) {
      return Effect.succeed(refusal(context, tooLarge(maxBodyBytes)))
    }
    return held.answer({
      request: withoutOrigin(request),
      path: context.path,
      caller: context.caller?.id ?? null
    }).pipe(
      Effect.provideService(
        McpRequest.Request,
        McpRequest.called(context.caller?.tools ?? Allow.everything, {
          reserve: (tool, price) => serving.options.auth.reserve(context.caller, tool, price),
          context,
          metrics: serving.metrics
        })
      ),
      Effect.catch(() => Effect.map(endpoints.catalog, (servers) => refusal(context, notServed(context.path, servers))))
    )
  }
  // The answer at `path`, of no server served: a server configured that has not answered since the start is not
  // there yet (503, so a client tries again); else there is none of that name.
  function notServed(path: string, servers: ReadonlyArray<Endpoint.Catalogued>) {
    const server = path.slice("/mcp/".length)
    if (endpoints.unanswered().includes(server)) {
      return Errors.answer(
        503,
        `The MCP server ${server} has not answered since the gateway started; ${path} is served once it answers: ` +
          "try again shortly.",
        "server_error",
        null,
        "mcp_server_unavailable",
        unansweredRetry
      )
    }
    return Errors.answer(
      404,
      `No MCP server is served at ${path}; this gateway serves ${
        ["/mcp", ...servers.map((one) => `/mcp/${one.name}`)].join(", ")
      }.`,
      "invalid_request_error",
      null,
      "mcp_server_not_found"
    )
  }
  return paths.flatMap((path) =>
    (["POST", "GET", "DELETE"] as const).map((method) => HttpRouter.route(method, path, answer))
  )
})
