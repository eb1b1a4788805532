/**
 * The official MCP SDK's client, as the gateway's MCP tests connect it: over Streamable HTTP to a gateway's `/mcp`,
 * with a gateway key as its bearer token when given one, offering the SDK's newest revision or one it names (as the
 * clients built on older releases of the SDK do: Gemini CLI's offers 2025-06-18).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { eventually } from "./eventually.js"

// `transport`, its `initialize` offering `revision` in place of the SDK's newest.
function offering(transport: StreamableHTTPClientTransport, revision: string): StreamableHTTPClientTransport {
  const send = transport.send.bind(transport)
  transport.send = (message: JSONRPCMessage, options) =>
    send(
      "method" in message && message.method === "initialize"
        ? { ...message, params: { ...message.params, protocolVersion: revision } }
        : message,
      options
    )
  return transport
}

/**
 * The official SDK's client connected to `url` (with `key`, when given; offering `revision` when given), closed with
 * the scope.
 */
export const sdkClient = (url: string, key?: string, revision?: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "gateway-mcp-e2e", version: "1.0.0" })
      const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` }
      const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } })
      await client.connect(revision === undefined ? transport : offering(transport, revision))
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

/**
 * The tools `/mcp` (or the endpoint at `path`: `/mcp/<server>`) at `url` lists to a client without a key (or with
 * `key`), by name, sorted: each read a client of its own.
 */
export const listedTools = (url: string, key?: string, path = "/mcp") =>
  Effect.promise(async () => {
    const client = new Client({ name: "mcp-listed", version: "1.0.0" })
    const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` }
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}${path}`), { requestInit: { headers } }))
    try {
      return (await client.listTools()).tools.map((tool) => tool.name).sort()
    } finally {
      await client.close()
    }
  })

/**
 * Waits until `/mcp` (or the endpoint at `path`) at `url` lists each of `names` (to `key`, when given): a gateway
 * serves an MCP server slower to answer than its start (or a reload) waits for (a stdio server's process starting on a
 * loaded machine) from when it answers. `/mcp/<server>` is not there until `/mcp` lists its tools: wait there first.
 */
export const served = (url: string, names: ReadonlyArray<string>, key?: string, path = "/mcp") =>
  eventually(
    `${names.join(", ")} listed at ${path}`,
    listedTools(url, key, path),
    (tools) => names.every((name) => tools.includes(name)),
    {
      every: "100 millis",
      within: "2 minutes"
    }
  )
