/**
 * The `count` tool the MCP progress tests put behind the gateway, on each kind of upstream (an `effect/ai/McpServer`
 * over HTTP or stdio, the official SDK's server): called with `{ n, tag, logs? }`, it first sends `logs` log messages
 * (`notifications/message`, level `info`, data `<tag> log <i>`), then reports progress `1..n` of total `n` (message
 * `<tag> <i>`) when its caller sent a progress token, 10 ms apart, and answers `<tag> counted <n>`. It records each
 * progress token it was sent. `progressStdioServer` is the command of the stdio fixture that serves it.
 */
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as McpSchema from "effect/ai/McpSchema"
import type * as McpServer from "effect/ai/McpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"

/** The stdio fixture serving `count` (`test/fixtures/mcp/progressServer.ts`), as a `command` server takes it. */
export const progressStdioServer = {
  command: process.execPath,
  args: ["--import", "tsx", fileURLToPath(new URL("../fixtures/mcp/progressServer.ts", import.meta.url))]
}

/** The arguments of `count`. */
export interface Count {
  readonly n: number
  readonly tag: string
  readonly logs?: number
}

const countArguments = {
  type: "object" as const,
  properties: { n: { type: "number" }, tag: { type: "string" }, logs: { type: "number" } },
  required: ["n", "tag"]
}

const description = "Counts to n, reporting progress, after sending some logs."

/** `count` as `effect/ai/McpServer` registers it on `server`, the tokens it is sent pushed to `tokens`. */
export function progressCount(server: McpServer.McpServer["Service"], tokens: Array<unknown>) {
  return {
    tool: new McpSchema.Tool({ name: "count", description, inputSchema: countArguments }),
    annotations: Context.empty(),
    handle: (payload: Count) =>
      Effect.gen(function*() {
        const context = yield* McpSchema.McpRequestContext
        const sent = context.requestMetadata?.progressToken
        const token = typeof sent === "string" || typeof sent === "number" ? sent : undefined
        tokens.push(token)
        for (let i = 1; i <= (payload.logs ?? 0); i++) {
          yield* Effect.ignore(
            server.notifications["notifications/message"]({ level: "info", data: `${payload.tag} log ${i}` })
          )
        }
        for (let i = 1; i <= payload.n && token !== undefined; i++) {
          yield* Effect.sleep("10 millis")
          yield* Effect.ignore(
            server.notifications["notifications/progress"]({
              progressToken: token,
              progress: i,
              total: payload.n,
              message: `${payload.tag} ${i}`
            })
          )
        }
        return new McpSchema.CallToolResult({
          content: [{ type: "text", text: `${payload.tag} counted ${payload.n}` }]
        })
      })
  }
}

/** `count` as the official SDK's `server` handles it (its only tool), the tokens it is sent pushed to `tokens`. */
export function sdkProgressCount(server: Server, tokens: Array<unknown>) {
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: "count", description, inputSchema: countArguments }]
  }))
  server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
    const { logs = 0, n, tag } = call.params.arguments as unknown as Count
    const token = call.params._meta?.progressToken
    tokens.push(token)
    for (let i = 1; i <= logs; i++) {
      await extra.sendNotification({
        method: "notifications/message",
        params: { level: "info", data: `${tag} log ${i}` }
      })
    }
    for (let i = 1; i <= n && token !== undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      await extra.sendNotification({
        method: "notifications/progress",
        params: { progressToken: token, progress: i, total: n, message: `${tag} ${i}` }
      })
    }
    return { content: [{ type: "text", text: `${tag} counted ${n}` }] }
  })
}
