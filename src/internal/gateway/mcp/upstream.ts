/**
 * One MCP server of the configuration, connected: over Streamable HTTP with the gateway's headers (its credentials,
 * never a caller's), or a program the gateway starts and speaks to over its standard input and output, stopped when
 * the configuration's scope closes (its input closed, then SIGTERM: `effect/ai/McpClient`'s stdio transport). Each is
 * spoken to in the 2025-11-25 revision, the one every MCP server of this year answers, declaring no capability of a
 * client (no sampling, elicitation or roots). Its tools (those its entry's `tools` takes), resources, resource
 * templates and prompts are listed once, when the configuration is built, each then used through the same client.
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as McpClient from "effect/ai/McpClient"
import type * as McpClientError from "effect/ai/McpClientError"
import * as McpProtocol from "effect/ai/McpProtocol"
import type * as McpSchema from "effect/ai/McpSchema"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as ChildProcess from "effect/process/ChildProcess"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Gateway from "../../../Gateway.js"
import * as Allow from "./allow.js"
import * as Rpc from "./rpc.js"

/**
 * A connected server: its name, its client (and the client's transport, for the requests `rpc.ts` sends), the tools
 * the gateway takes from it, and its resources, resource templates and prompts.
 */
export interface Upstream {
  readonly name: string
  readonly client: McpClient.McpClient
  readonly transport: McpClient.Transport
  readonly tools: ReadonlyArray<McpSchema.Tool>
  readonly resources: ReadonlyArray<McpSchema.Resource>
  readonly templates: ReadonlyArray<McpSchema.ResourceTemplate>
  readonly prompts: ReadonlyArray<McpSchema.Prompt>
}

/** How long a server has to answer its initialization and its list of tools. */
export const connectTimeout = Duration.seconds(10)

/** The variables of the gateway's own environment a stdio server is given: never its keys. */
export const inheritedEnv = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR", "TZ"] as const

/** How the gateway names itself to MCP clients and servers: the release that added its MCP endpoints. */
export const implementation = { name: "effect-llm-router", version: "0.3.0" } as const

const clientInfo = { ...implementation, timeout: connectTimeout }

const spawner = NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))

// A stdio server's environment: the few variables a program needs to run, then the entry's own.
function environment(env: Gateway.McpStdioServer["env"]): Record<string, string | Redacted.Redacted<string>> {
  const out: Record<string, string | Redacted.Redacted<string>> = {}
  for (const name of inheritedEnv) {
    const value = process.env[name]
    if (value !== undefined) out[name] = value
  }
  return { ...out, ...env }
}

// The transport to `server`, held in the scope.
function transport(
  server: Gateway.McpServer
): Effect.Effect<McpClient.Transport, McpClientError.McpClientError, Scope.Scope | HttpClient.HttpClient> {
  const protocol = McpProtocol.v2025_11_25
  if ("url" in server) {
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(server.headers ?? {})) headers[name] = Redacted.value(value)
    return McpClient.http({ url: server.url, protocol, headers })
  }
  const command = ChildProcess.make(server.command, [...(server.args ?? [])], {
    env: environment(server.env),
    extendEnv: false
  })
  return Effect.provide(McpClient.stdio({ command, protocol }), spawner)
}

/** `server` (named `name`) connected and its tools listed, for as long as the scope is open. */
export const connect = Effect.fnUntraced(function*(name: string, server: Gateway.McpServer) {
  const connected = yield* transport(server)
  const client = yield* Effect.provideService(McpClient.make(clientInfo), McpClient.Transport, connected)
  const taken = server.tools === undefined ? Allow.everything : Allow.rule(server.tools)
  const tools = (yield* client.listTools()).filter((tool) => taken(tool.name))
  const resources = yield* client.listResources()
  const prompts = yield* client.listPrompts()
  const templates = yield* Rpc.listTemplates(connected, connectTimeout)
  return { name, client, transport: connected, tools, resources, templates, prompts } satisfies Upstream
})
