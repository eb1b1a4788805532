/**
 * The gateway's MCP endpoints, built with each configuration: `/mcp`, every configured server's tools as
 * `<server>__<tool>` (its resources, templates and prompts as `resources.ts` names them), and `/mcp/<server>`, one
 * server's under their own names. Each is an `effect/ai/McpServer` (`layerHttp`: Streamable HTTP, the 2025-11-25
 * revision with its sessions, the two before it for older clients, and the stateless 2026-07-28) on a router of its
 * own, whose tools call the upstream's (`rpc.ts`, with the caller's trace in `_meta`: `trace.ts`) and hand back its
 * whole result (every content block, `structuredContent`, `isError`). The gateway's route serves them through
 * `Serving.served` (the guard, the key), giving each request its caller's rule (`Visible`): what the rule does not
 * allow is hidden by its registration's `McpServer.visibility`, left out of lists and answered as unknown when called
 * or read, the same as what no server has; so is a tool whose definition is not the one pinned (`pins.ts`), for every
 * caller, until an admin approves it.
 *
 * A call is governed as a model call is (`Governed`, given by the route): the caller's rate limit taken and its
 * server's `pricePerCall` reserved from the caller's budget before it is sent, charged once the server answers
 * (nothing when it fails the call, or when it is cancelled before it was sent); then its server's own `RateLimiter`
 * (`maxConcurrency`, `rateLimit`), waited for. Its server, tool, the SHA-256 of its arguments, its cost and outcome go
 * to the request's log entry (its row and line), its span and metrics.
 */
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Headers from "effect/http/Headers"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { hash } from "node:crypto"
import type * as Gateway from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import * as OptionsErrors from "../../optionsError.js"
import type * as Errors from "../errorAnswer.js"
import type * as Auth from "../keys/auth.js"
import type * as Logs from "../observe/record.js"
import * as Allow from "./allow.js"
import * as Pins from "./pins.js"
import * as Resources from "./resources.js"
import * as Rpc from "./rpc.js"
import * as Trace from "./trace.js"
import * as Upstreams from "./upstream.js"

/** The tool rule of the request being served: its key's (`Auth.Caller.tools`), or every tool without keys. */
export class Visible extends Context.Service<Visible, Allow.Rule>()("effect-llm-router/gateway/mcp/Visible") {}

/** What governs the tool calls of the request being served, and where their outcomes go. */
export interface Governance {
  /** Takes the caller's rate limit and reserves `price` of its budget for `tool` (`Auth.reserve`), or the refusal. */
  readonly reserve: (tool: string, price: number) => Effect.Effect<Auth.Settle, Errors.ErrorAnswer, Scope.Scope>
  /** The request's log entry: a call's server, tool, cost and outcome go to its row and line. */
  readonly entry: Logs.Entry
  /** The gateway's metrics: a call's outcome and time, by server and tool. */
  readonly metrics: Pick<Logs.Metrics, "toolCall">
}

/** The governance of the request being served (the route gives every request one). */
export class Governed extends Context.Service<Governed, Governance>()("effect-llm-router/gateway/mcp/Governed") {}

/** The MCP endpoints of one configuration: the router that answers `/mcp` and `/mcp/<server>`. */
export interface Endpoints {
  /** The servers served, by name: those that answered when the configuration was built. */
  readonly servers: ReadonlyArray<string>
  /** Each server served, with its price and the tools the gateway took from it (`GET /admin/mcp/servers`). */
  readonly catalog: ReadonlyArray<{
    readonly name: string
    readonly price: number
    readonly tools: ReadonlyArray<McpSchema.Tool>
  }>
  /** The answer to a request on those paths (`Visible` read from its context); a path of no server fails. */
  readonly http: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    unknown,
    Scope.Scope | HttpServerRequest.HttpServerRequest
  >
}

// The revisions a client may speak: 2025-11-25 and the two before it, with sessions (a client that offers an earlier
// one, as the official SDK's older releases do, Gemini CLI's among them, is answered in it), and the stateless
// 2026-07-28.
const protocols = [
  McpProtocol.v2025_11_25,
  McpProtocol.v2025_06_18,
  McpProtocol.v2025_03_26,
  McpProtocol.v2026_07_28
] as const

/** A connected server with what governs its calls: its price and its own limiter, when it has them. */
interface Governable {
  readonly upstream: Upstreams.Upstream
  readonly price: number
  readonly limiter: RateLimiter.Service | undefined
}

/** One tool as an endpoint serves it: the name it lists, the name a key's rule asks about, and where it goes. */
interface Served {
  readonly name: string
  readonly qualified: string
  readonly server: Governable
  readonly tool: McpSchema.Tool
  /** The definition as seen, which must be the one pinned for the tool to be served. */
  readonly seen: Pins.Seen
}

// A refusal of the caller's budget or rate limit, as the call's error: `McpServer` answers it as a tool's failure (a
// result with `isError`, this message its text), which a model reads and a client sees (docs/mcp.md).
function refused(answer: Errors.ErrorAnswer) {
  return new McpSchema.InternalError({ message: answer.message })
}

/** The SHA-256 (hex) of a call's arguments as JSON: what its row keeps of them. */
export function argumentsDigest(payload: Readonly<Record<string, unknown>> | undefined): string {
  return hash("sha256", JSON.stringify(payload ?? {}), "hex")
}

// How a call ended, for its metrics.
function outcomeOf(
  exit: Exit.Exit<McpSchema.CallToolResult, McpSchema.InternalError>,
  wasRefused: boolean
): Logs.ToolOutcome {
  if (Exit.isSuccess(exit)) return exit.value.isError === true ? "tool_error" : "ok"
  if (Cause.hasInterruptsOnly(exit.cause)) return "cancelled"
  return wasRefused ? "refused" : "failed"
}

// The call of `served`'s tool, forwarded with the client's arguments and the caller's trace (`trace.ts`), governed by
// the request's `Governed`; the upstream's result as it gave it. A call its client cancels is interrupted here, which
// cancels it upstream (`rpc.ts`).
function forward(served: Served) {
  const { limiter, price, upstream } = served.server
  type Arguments = Readonly<Record<string, unknown>> | undefined
  // `sending` is told the moment the call leaves for its server (its limits taken).
  const send = (payload: Arguments, meta: Readonly<Record<string, string>>, sending: () => void) =>
    Effect.suspend(() => {
      sending()
      return upstream.call(served.tool, payload, meta)
    }).pipe(Effect.mapError((error) => Rpc.failed(upstream.name, error)))
  const limited = limiter === undefined ? send : (
    payload: Arguments,
    meta: Readonly<Record<string, string>>,
    sending: () => void
  ) =>
    Effect.scoped(
      Effect.andThen(
        Effect.mapError(limiter.consume(), (error) => Rpc.failed(upstream.name, error)),
        send(payload, meta, sending)
      )
    )
  return Effect.fnUntraced(function*(payload: Readonly<Record<string, unknown>> | undefined) {
    const governance = yield* Effect.serviceOption(Governed)
    // The route gives every request its governance: a call without one is a bug, not a free call.
    if (governance._tag === "None") return yield* Effect.die("an MCP tool call without its request's governance")
    const { entry, metrics, reserve } = governance.value
    const context = yield* McpSchema.McpRequestContext
    const http = yield* Effect.serviceOption(HttpServerRequest.HttpServerRequest)
    const start = yield* Clock.currentTimeMillis
    entry.toolCall = { server: upstream.name, tool: served.tool.name, argumentsDigest: argumentsDigest(payload) }
    let wasRefused = false
    const call = (span: Trace.Span) =>
      Effect.scoped(Effect.gen(function*() {
        const settle = yield* Effect.mapError(reserve(served.qualified, price), (answer) => {
          wasRefused = true
          entry.error = answer.code ?? String(answer.status)
          return refused(answer)
        })
        let sent = false
        // Cancelled before it was sent (waiting for its server's limits), it cost nothing; once sent, its server may
        // have run it: the reservation is charged, as a model call interrupted in flight is.
        const result = yield* limited(payload, span.meta, () => void (sent = true)).pipe(
          Effect.onInterrupt(() => sent ? Effect.void : settle(0))
        )
        // The server ran the call, whatever its result says: it is charged its price.
        yield* settle(price)
        entry.cost = price > 0 ? price : undefined
        return result
      })).pipe(
        Effect.onExit((exit) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              const outcome = outcomeOf(exit, wasRefused)
              if (outcome === "tool_error") entry.error = "ToolError"
              if (outcome === "failed") entry.error = "McpServerError"
              if (outcome === "cancelled") entry.error = "Cancelled"
              span.outcome(outcome)
              metrics.toolCall(upstream.name, served.tool.name, outcome, (now - start) / 1000)
            }))
        )
      )
    return yield* Trace.traced(
      { server: upstream.name, tool: served.tool.name, name: served.name, keyId: entry.caller?.id },
      {
        meta: context.requestMetadata,
        headers: http._tag === "Some" ? http.value.headers : Headers.empty
      },
      call
    )
  })
}

// `upstream` with its entry's governance: its price, and its own limiter when it has a cap or a rate limit (kept for
// the configuration's life, in this instance's memory).
const governable = Effect.fnUntraced(function*(upstream: Upstreams.Upstream, server: Gateway.McpServer) {
  const { maxConcurrency, rateLimit } = server
  const limiter = maxConcurrency === undefined && rateLimit === undefined ? undefined : yield* RateLimiter.make({
    capacity: rateLimit?.capacity ?? Number.MAX_SAFE_INTEGER,
    refillRate: rateLimit?.refillRate ?? Number.MAX_SAFE_INTEGER,
    maxConcurrency
  })
  return { upstream, price: server.pricePerCall ?? 0, limiter } satisfies Governable
})

// What a registration is served to: a request whose rule (`Visible`) allows `qualified`, and for which `check` (a
// tool's pin) holds; as `McpServer.visibility` middleware of that registration alone, asked on list and on call.
function gate(qualified: string, check: Effect.Effect<boolean> = Effect.succeed(true)) {
  return Layer.build(
    McpServer.visibility(() =>
      Effect.flatMap(
        Effect.serviceOption(Visible),
        (rule) => rule._tag === "Some" && rule.value(qualified) ? check : Effect.succeed(false)
      )
    ).layer
  )
}

/**
 * An MCP endpoint at `path` on `router`, serving `tools` and the resources, templates and prompts of `upstreams`
 * (named as `naming` says), each only to a request whose rule (`Visible`) allows its qualified name and, for a tool,
 * while its definition is the one pinned. A request without a rule sees none.
 */
function endpoint(
  router: HttpRouter.HttpRouter,
  path: `/${string}`,
  served: { readonly tools: ReadonlyArray<Served>; readonly upstreams: ReadonlyArray<Upstreams.Upstream> },
  naming: Resources.Naming,
  pins: Pins.Pins
) {
  return Effect.gen(function*() {
    const context = yield* Layer.build(
      McpServer.layerHttp({ ...Upstreams.implementation, path, protocols }).pipe(
        Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router))
      )
    ).pipe(Effect.orDie) // Its one failure is a bad `cacheHints`, which this gives none of.
    const server = Context.get(context, McpServer.McpServer)
    for (const tool of served.tools) {
      yield* server.addTool({
        tool: new McpSchema.Tool({ ...tool.tool, name: tool.name }),
        annotations: Context.empty(),
        services: yield* gate(tool.qualified, pins.trusted(tool.seen)),
        handle: forward(tool)
      })
    }
    for (const upstream of served.upstreams) {
      yield* Resources.register(server, upstream, naming, (qualified) => gate(qualified))
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

// The first server of `servers` whose price is not a positive number (a `RateLimiter` checks the limits).
function mispriced(servers: Readonly<Record<string, Gateway.McpServer>>): OptionsError | undefined {
  for (const [name, server] of Object.entries(servers)) {
    const option = `config.mcpServers.${name}.pricePerCall`
    const refused = OptionsErrors.positive("Gateway", option, server.pricePerCall, { optional: true })
    if (refused !== undefined) return refused
  }
  return undefined
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
  const refused = misnamed(servers) ?? mispriced(servers)
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
  const upstreams = yield* Effect.forEach(
    connected.flatMap((option) => option._tag === "Some" ? [option.value] : []),
    (upstream) => governable(upstream, servers[upstream.name]!)
  )
  yield* Effect.forEach(
    upstreams,
    (server) => pins.observe(server.upstream.name, server.upstream.tools),
    { discard: true }
  )
  const router = yield* HttpRouter.make
  const servedOf = (server: Governable) =>
    server.upstream.tools.map((tool): Served => ({
      name: tool.name,
      qualified: Allow.qualified(server.upstream.name, tool.name),
      server,
      tool,
      seen: Pins.seen(server.upstream.name, tool)
    }))
  yield* endpoint(
    router,
    "/mcp",
    {
      tools: upstreams.flatMap(servedOf).map((served) => ({ ...served, name: served.qualified })),
      upstreams: upstreams.map((server) => server.upstream)
    },
    "qualified",
    pins
  )
  for (const server of upstreams) {
    yield* endpoint(
      router,
      `/mcp/${server.upstream.name}`,
      { tools: servedOf(server), upstreams: [server.upstream] },
      "own",
      pins
    )
  }
  return {
    servers: upstreams.map((server) => server.upstream.name),
    catalog: upstreams.map((server) => ({
      name: server.upstream.name,
      price: server.price,
      tools: server.upstream.tools
    })),
    http: router.asHttpEffect()
  } satisfies Endpoints
})
