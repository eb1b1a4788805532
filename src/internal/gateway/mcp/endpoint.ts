/**
 * The gateway's MCP endpoints, built with each configuration: `/mcp`, every configured server's tools as
 * `<server>__<tool>`, and `/mcp/<server>`, one server's tools under their own names. Each is an `effect/ai/McpServer`
 * (`layerHttp`: Streamable HTTP, the 2025-11-25 revision with its sessions and the stateless 2026-07-28) on a router
 * of its own, whose tools call the upstream's through its `McpClient` and hand back its whole result (every content
 * block, `structuredContent`, `isError`). The gateway's route serves them through `Serving.served` (the guard, the
 * key), giving each request its caller's tool rule (`Visible`): a tool the rule does not allow is hidden by
 * `McpServer.visibility`, left out of lists and answered as unknown when called, the same as a tool no server has; so is
 * a tool whose definition is not the one pinned (`pins.ts`), for every caller, until an admin approves it.
 */
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Gateway from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as OptionsErrors from "../../optionsError.js"
import * as Allow from "./allow.js"
import * as Pins from "./pins.js"
import * as Upstreams from "./upstream.js"

/** The tool rule of the request being served: its key's (`Auth.Caller.tools`), or every tool without keys. */
export class Visible extends Context.Service<Visible, Allow.Rule>()("effect-llm-router/gateway/mcp/Visible") {}

/** The MCP endpoints of one configuration: the router that answers `/mcp` and `/mcp/<server>`. */
export interface Endpoints {
  /** The servers served, by name: those that answered when the configuration was built. */
  readonly servers: ReadonlyArray<string>
  /** The answer to a request on those paths (`Visible` read from its context); a path of no server fails. */
  readonly http: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    unknown,
    Scope.Scope | HttpServerRequest.HttpServerRequest
  >
}

const protocols = [McpProtocol.v2025_11_25, McpProtocol.v2026_07_28] as const

/** One tool as an endpoint serves it: the name it lists, the name a key's rule asks about, and where it goes. */
interface Served {
  readonly name: string
  readonly qualified: string
  readonly upstream: Upstreams.Upstream
  readonly tool: McpSchema.Tool
  /** The definition as seen, which must be the one pinned for the tool to be served. */
  readonly seen: Pins.Seen
}

// An upstream's failure to answer a call, as the gateway's error to the client: the server named, no address.
function failed(server: string, error: { readonly message: string }) {
  return new McpSchema.InternalError({ message: `The MCP server \`${server}\` failed this call: ${error.message}` })
}

// The call of `served`'s tool, forwarded with the client's arguments; the upstream's result as it gave it.
function forward(served: Served) {
  return (payload: Readonly<Record<string, unknown>> | undefined) =>
    served.upstream.client.callTool({ tool: served.tool, ...(payload === undefined ? {} : { arguments: payload }) })
      .pipe(Effect.mapError((error) => failed(served.upstream.name, error)))
}

/**
 * An MCP endpoint at `path` on `router`, serving `tools`, each only to a request whose rule (`Visible`) allows its
 * qualified name and while its definition is the one pinned: `McpServer.visibility` asks both of each tool listed or
 * called. A request without a rule sees none.
 */
function endpoint(router: HttpRouter.HttpRouter, path: `/${string}`, tools: ReadonlyArray<Served>, pins: Pins.Pins) {
  return Effect.gen(function*() {
    const byName = new Map(tools.map((served) => [served.name, served]))
    const gate = McpServer.visibility(
      (options) =>
        Effect.flatMap(Effect.serviceOption(Visible), (rule) => {
          const served = byName.get(options.target)
          return rule._tag === "Some" && served !== undefined && rule.value(served.qualified)
            ? pins.trusted(served.seen)
            : Effect.succeed(false)
        }),
      { global: true }
    )
    const context = yield* Layer.build(
      Layer.provideMerge(
        gate,
        McpServer.layerHttp({ ...Upstreams.implementation, path, protocols })
      ).pipe(Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router)))
    ).pipe(Effect.orDie) // Its one failure is a bad `cacheHints`, which this gives none of.
    const server = Context.get(context, McpServer.McpServer)
    for (const served of tools) {
      yield* server.addTool({
        tool: new McpSchema.Tool({ ...served.tool, name: served.name }),
        annotations: Context.empty(),
        handle: forward(served)
      })
    }
  })
}

// The servers of `servers` with names the gateway cannot serve them under.
function misnamed(servers: Readonly<Record<string, Gateway.McpServer>>): OptionsError | undefined {
  const name = Object.keys(servers).find((candidate) => !Allow.isServerName(candidate))
  return name === undefined
    ? undefined
    : OptionsErrors.make("Gateway", `config.mcpServers.${name}`, name, `a name of ${Allow.serverNameRule}`)
}

/**
 * The endpoints of `servers`, each connected (concurrently) for as long as the scope is open; a server that cannot
 * be reached (or started) within `Upstreams.connectTimeout` is logged and left out of this configuration: its tools
 * are absent until a reload finds it. Every tool listed is seen by `pins` (pinned, or held back when it changed).
 */
export const make = Effect.fnUntraced(function*(
  servers: Readonly<Record<string, Gateway.McpServer>>,
  pins: Pins.Pins
) {
  const refused = misnamed(servers)
  if (refused !== undefined) return yield* refused
  const connected = yield* Effect.forEach(
    Object.entries(servers),
    ([name, server]) =>
      Upstreams.connect(name, server).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(
            `Gateway: the MCP server ${name} could not be reached (${error.message}); its tools are not served ` +
              "until a reload finds it"
          )
        ),
        Effect.option
      ),
    { concurrency: "unbounded" }
  )
  const upstreams = connected.flatMap((option) => option._tag === "Some" ? [option.value] : [])
  yield* Effect.forEach(upstreams, (upstream) => pins.observe(upstream.name, upstream.tools), { discard: true })
  const router = yield* HttpRouter.make
  const servedOf = (upstream: Upstreams.Upstream) =>
    upstream.tools.map((tool): Served => ({
      name: tool.name,
      qualified: Allow.qualified(upstream.name, tool.name),
      upstream,
      tool,
      seen: Pins.seen(upstream.name, tool)
    }))
  yield* endpoint(
    router,
    "/mcp",
    upstreams.flatMap(servedOf).map((served) => ({ ...served, name: served.qualified })),
    pins
  )
  for (const upstream of upstreams) yield* endpoint(router, `/mcp/${upstream.name}`, servedOf(upstream), pins)
  return { servers: upstreams.map((upstream) => upstream.name), http: router.asHttpEffect() } satisfies Endpoints
})
