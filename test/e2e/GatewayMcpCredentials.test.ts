/**
 * The credentials the gateway holds for its MCP servers reach no caller, over loopback with the official SDK's client
 * against `serve`'s `/mcp` and `/mcp/<server>`: an upstream built with the official SDK that echoes the request it was
 * sent (its headers and URL) into every kind of answer (its tools' descriptions, a call's text, `structuredContent`
 * values and names, `_meta`, a JSON-RPC error's message and data, progress and log notifications, a request of its
 * client, a resource, a prompt, a completion), and a token endpoint that echoes its grant's form and its own address
 * when it refuses one. Every byte each caller received is read: it holds none of the static `headers` values, the
 * credentials in the server's URL, the OAuth access tokens, client secret or token endpoint, and holds their masked
 * ids where the upstream echoed them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { McpError } from "@modelcontextprotocol/sdk/types.js"
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ElicitRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Gateway from "../../src/Gateway.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sdkUpstream } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-credentials-0001"
const agentKey = "gw-mcp-credentials-agent-6b8d0f2a4c"
const apiKey = "hdr-api-key-5Yt7Qw2Ep9Lm"
const bearer = "hdr-bearer-token-Jk3Vn8Rs1Xc"
const urlSecret = "url-query-secret-Hb6Zp4Wd"
const clientSecret = "oauth-client-secret-Fg2Nq7Tu"
process.env["MCP_CREDENTIALS_AGENT_KEY"] = agentKey
process.env["MCP_CREDENTIALS_API_KEY"] = apiKey
process.env["MCP_CREDENTIALS_CLIENT_SECRET"] = clientSecret

// What the upstream was sent, as it echoes it: every header, and the URL.
const echoOf = (extra: { readonly requestInfo?: { readonly headers: object; readonly url?: URL } | undefined }) => ({
  headers: { ...extra.requestInfo?.headers } as Record<string, unknown>,
  url: extra.requestInfo?.url?.href ?? ""
})

// The official SDK's server with a session, echoing what it was sent into every answer it gives.
const echoingServer = sdkUpstream(
  "echoing",
  { capabilities: { tools: {}, resources: {}, prompts: {}, completions: {}, logging: {} } },
  (server) => {
    // Its listing says what the listing's request carried.
    server.setRequestHandler(ListToolsRequestSchema, (_list, extra) => ({
      tools: ["echo", "fail", "notify", "ask"].map((name) => ({
        name,
        description: `Sent: ${JSON.stringify(echoOf(extra))}`,
        inputSchema: { type: "object" as const }
      }))
    }))
    server.setRequestHandler(CallToolRequestSchema, async (call, extra) => {
      const echo = echoOf(extra)
      const text = JSON.stringify(echo)
      const related = { relatedRequestId: extra.requestId }
      switch (call.params.name) {
        case "fail":
          throw new McpError(-32000, `refused the request ${text}`, echo)
        case "notify": {
          const token = call.params._meta?.progressToken
          if (token !== undefined) {
            await extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken: token, progress: 1, total: 2, message: text }
            })
          }
          await extra.sendNotification({ method: "notifications/message", params: { level: "error", data: echo } })
          break
        }
        case "ask":
          await server.elicitInput({ message: text, requestedSchema: { type: "object", properties: {} } }, related)
            .catch(() => undefined)
          break
      }
      return {
        content: [{ type: "text", text }],
        structuredContent: {
          echo,
          byValue: Object.fromEntries(Object.values(echo.headers).map((v) => [String(v), 1]))
        },
        _meta: { echo: text }
      }
    })
    server.setRequestHandler(ListResourcesRequestSchema, () => ({
      resources: [{ uri: "memo://sent", name: "sent", mimeType: "text/plain" }]
    }))
    server.setRequestHandler(ReadResourceRequestSchema, (read, extra) => ({
      contents: [{ uri: read.params.uri, mimeType: "text/plain", text: JSON.stringify(echoOf(extra)) }]
    }))
    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: [{ name: "sent", arguments: [{ name: "who", required: true }] }]
    }))
    server.setRequestHandler(GetPromptRequestSchema, (_get, extra) => ({
      messages: [{ role: "user", content: { type: "text", text: JSON.stringify(echoOf(extra)) } }]
    }))
    server.setRequestHandler(CompleteRequestSchema, (_complete, extra) => ({
      completion: { values: [JSON.stringify(echoOf(extra)).slice(0, 100)] }
    }))
  },
  { session: true }
)

// A token endpoint: grants `at-<uuid>` tokens for a second (each kept), or, `refusing`, answers 400 quoting the grant's
// form and its own address.
const tokenEndpoint = Effect.acquireRelease(
  Effect.promise(async () => {
    const state = { refusing: false, tokens: [] as Array<string>, url: "" }
    const http = Http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk: Buffer) => void (body += chunk.toString()))
      request.on("end", () => {
        if (state.refusing) {
          return void response.writeHead(400, { "content-type": "text/plain" })
            .end(`invalid_client: ${body} (at ${state.url})`)
        }
        const token = `at-${randomUUID()}`
        state.tokens.push(token)
        response.writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 1 }))
      })
    })
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()))
    state.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/oauth/token?tenant=tok-tenant-Rw5Kc9`
    return { http, state }
  }),
  ({ http }) => Effect.promise(() => new Promise<void>((resolve) => http.close(() => resolve())))
)

// The official SDK's client at `url`, keeping every byte the gateway answered it in `received`.
const recordingClient = (url: string, received: Array<string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "credentials-e2e", version: "1.0.0" }, { capabilities: { elicitation: {} } })
      client.setRequestHandler(ElicitRequestSchema, () => ({ action: "decline" as const }))
      const recording: typeof fetch = async (input, init) => {
        const response = await fetch(input, init)
        if (response.body === null) return response
        const [kept, read] = response.body.tee()
        void new Response(read).text().then((text) => void received.push(text), () => undefined)
        return new Response(kept, response)
      }
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
          fetch: recording
        })
      )
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

// Every kind of answer the upstream gives, asked of it at an endpoint through `client`, tools named with `prefix`.
const askEverything = (client: Client, prefix: string, uri: string) =>
  Effect.promise(async () => {
    const tools = await client.listTools()
    expect(tools.tools.map((tool) => tool.name).filter((name) => name.startsWith(prefix)).sort()).toEqual(
      ["ask", "echo", "fail", "notify"].map((name) => `${prefix}${name}`)
    )
    const echoed = await client.callTool({ name: `${prefix}echo`, arguments: {} })
    const failed = await client.callTool({ name: `${prefix}fail`, arguments: {} })
    const progress: Array<unknown> = []
    await client.callTool({ name: `${prefix}notify`, arguments: {} }, undefined, {
      onprogress: (event) => void progress.push(event)
    })
    await client.callTool({ name: `${prefix}ask`, arguments: {} })
    await client.readResource({ uri })
    await client.getPrompt({ name: `${prefix}sent`, arguments: { who: "ada" } })
    await client.complete({ ref: { type: "ref/prompt", name: `${prefix}sent` }, argument: { name: "who", value: "a" } })
    return { echoed, failed, progress }
  })

describe("an MCP upstream's echo of its request", () => {
  it.live(
    "hands a caller none of the gateway's credentials for it, in any answer, at /mcp and /mcp/<server>",
    () =>
      Effect.gen(function*() {
        const upstream = yield* echoingServer
        const token = yield* tokenEndpoint
        const config = yield* ProviderConfig.fromJson({
          sim: [{
            model_name: "gpt-4o-mini",
            base_url: `${(yield* Simulator.make({ apiKeys: [providerKey] })).url}/v1`,
            api_keys: [providerKey]
          }],
          mcp_servers: {
            hdr: {
              url: `${upstream.url}?key=${urlSecret}`,
              headers: { "x-api-key": "env:MCP_CREDENTIALS_API_KEY", authorization: `Bearer ${bearer}` }
            },
            oauth: {
              url: upstream.url,
              token_url: token.state.url,
              client_id: "gateway-client",
              client_secret: "env:MCP_CREDENTIALS_CLIENT_SECRET"
            }
          },
          gateway: { keys: [{ name: "agent", key: "env:MCP_CREDENTIALS_AGENT_KEY", tools: ["*"] }] }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const received: Array<string> = []
        const places = [
          { path: "/mcp", prefix: "hdr__", uri: "mcp://hdr/memo://sent" },
          { path: "/mcp", prefix: "oauth__", uri: "mcp://oauth/memo://sent" },
          { path: "/mcp/hdr", prefix: "", uri: "memo://sent" },
          { path: "/mcp/oauth", prefix: "", uri: "memo://sent" }
        ]
        for (const place of places) {
          const client = yield* recordingClient(`${gateway.url}${place.path}`, received)
          const { echoed, failed, progress } = yield* askEverything(client, place.prefix, place.uri)
          expect(echoed.isError, place.path).not.toBe(true)
          expect(failed.isError, place.path).toBe(true)
          expect(progress, place.path).toHaveLength(1)
        }

        // The token endpoint refuses the next grant, quoting it, once the token held expired.
        token.state.refusing = true
        yield* Effect.sleep("1100 millis")
        const refusal = yield* Effect.scoped(Effect.flatMap(
          recordingClient(`${gateway.url}/mcp/oauth`, received),
          (client) => Effect.promise(() => client.callTool({ name: "echo", arguments: {} }))
        ))
        expect(refusal.isError).toBe(true)

        // Let the last events of the streams be read.
        yield* Effect.sleep("200 millis")
        const everything = received.join("\n")
        // Whole, nor a piece an upstream's cut left of it (the completion's value is cut at 100 characters): its first
        // or last eight characters (a masked id shows three and four).
        const secrets = [apiKey, bearer, urlSecret, clientSecret, "tok-tenant-Rw5Kc9", ...token.state.tokens]
        for (const secret of secrets) {
          for (const piece of [secret.slice(0, 8), secret.slice(-8)]) expect(everything, secret).not.toContain(piece)
        }
        expect(everything).not.toContain(token.state.url)
        expect(everything).not.toContain(JSON.stringify(token.state.url).slice(1, -1))
        // Each was echoed, and reached the caller masked.
        expect(token.state.tokens.length).toBeGreaterThan(0)
        for (const credential of [apiKey, bearer, urlSecret, clientSecret, token.state.url, ...token.state.tokens]) {
          expect(everything, credential).toContain(maskKey(credential))
        }
        expect(JSON.stringify(refusal.content)).toContain(
          "the OAuth token endpoint of the MCP server oauth answered 400"
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
