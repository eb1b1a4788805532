/**
 * The official MCP SDK's client, as the gateway's MCP tests connect it: over Streamable HTTP to a gateway's `/mcp`,
 * with a gateway key as its bearer token when given one.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"

/** The official SDK's client connected to `url` (with `key`, when given), closed with the scope. */
export const sdkClient = (url: string, key?: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "gateway-mcp-e2e", version: "1.0.0" })
      const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` }
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )
