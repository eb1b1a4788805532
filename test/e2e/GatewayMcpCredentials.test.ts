/**
 * The credentials the gateway holds for its MCP servers reach no caller, over loopback with the official SDK's client
 * against `serve`'s `/mcp` and `/mcp/<server>`: an upstream built with the official SDK that echoes the request it was
 * sent (its headers and URL) into every kind of answer (its tools' descriptions, a call's text, `structuredContent`
 * values and names, `_meta`, a JSON-RPC error's message and data, progress and log notifications, a request of its
 * client, a resource, a prompt, a completion), and a token endpoint that echoes its grant's form and its own address
 * when it refuses one. Every byte each caller received is read: it holds none of the static `headers` values, the
 * credentials in the server's URL, the OAuth access tokens, client secret or token endpoint, and holds their masked
 * ids where the upstream echoed them.
 *
 * And the admin's views of the servers' definitions: a property over credentials put in every place a configuration
 * holds one (a header's value, bare and after its scheme; a URL's query value and password; an OAuth client's secret,
 * its token endpoint's query value and the tokens it grants; a stdio server's `env` value), the upstreams listing
 * definitions that hold them in each of their strings (an HTTP one echoing its request into its tools' descriptions, a
 * stdio one listing tools, prompts and resources named, described and addressed by every credential); none of them,
 * whole or the start or end an upstream's cut would leave, is in `GET /admin/mcp/servers` (the dashboard's MCP
 * section), `GET /admin/mcp/pins`, an approval's answer, `/mcp`'s listing or any line the gateway logged.
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
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, call } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { sdkUpstream, unrulyServer } from "../utils/mcpUpstreams.js"
import { jsonLines } from "../utils/requestLines.js"

const providerKey = "sk-provider-mcp-credentials-0001"
const agentKey = "gw-mcp-credentials-agent-6b8d0f2a4c"
const apiKey = "hdr-api-key-5Yt7Qw2Ep9Lm"
const bearer = "hdr-bearer-token-Jk3Vn8Rs1Xc"
const urlSecret = "url-query-secret-Hb6Zp4Wd"
const clientSecret = "oauth-client-secret-Fg2Nq7Tu"
process.env["MCP_CREDENTIALS_AGENT_KEY"] = agentKey
process.env["MCP_CREDENTIALS_API_KEY"] = apiKey
process.env["MCP_CREDENTIALS_CLIENT_SECRET"] = clientSecret
process.env["MCP_CREDENTIALS_ADMIN_KEY"] = adminKey

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
        // Each was echoed, and reached the caller masked. Of the access tokens, which live a second, the gateway may
        // have been granted some it sent only in its own requests (a ping, a listing replaced since), so at least one
        // reached the caller masked, and none unmasked (above).
        for (const credential of [apiKey, bearer, urlSecret, clientSecret, token.state.url]) {
          expect(everything, credential).toContain(maskKey(credential))
        }
        expect(token.state.tokens.filter((granted) => everything.includes(maskKey(granted))).length).toBeGreaterThan(0)
        expect(JSON.stringify(refusal.content)).toContain(
          "the OAuth token endpoint of the MCP server oauth answered 400"
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

// A credential as a configuration holds one: long enough to be told (a masked id keeps its first three and last four
// characters), letters and digits, `tag` first so that no two are alike.
const credential = (tag: string) => fc.stringMatching(/^[A-Za-z0-9]{10,24}$/).map((rest) => `${tag}${rest}`)

// The credentials of one run, one in each place a configuration holds one.
const credentials = fc.record({
  header: credential("hv"),
  bearer: credential("hb"),
  query: credential("uq"),
  password: credential("up"),
  clientSecret: credential("cs"),
  tenant: credential("tq"),
  env: credential("ev")
})

// A stdio server's catalog (`unrulyServer.ts`) whose every definition holds `secrets`, each in its name, its
// description and (a resource) its URI, as they are and as JSON writes them in a string.
function catalogOf(secrets: ReadonlyArray<string>) {
  const tools = secrets.map((secret, i) => ({ name: `t${i}-${secret}`, description: `holds {"v":"${secret}"}` }))
  return {
    tools,
    prompts: tools,
    resources: secrets.map((secret, i) => ({
      uri: `memo://r${i}?key=${secret}`,
      name: `r${i}-${secret}`,
      description: `holds ${JSON.stringify(JSON.stringify({ v: secret }))}`
    }))
  }
}

describe("the admin's views of the MCP servers' definitions", () => {
  it.live(
    "hold none of the credentials the configuration gives, wherever it gives them and wherever a definition holds them",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(credentials, (secrets) =>
            Effect.runPromise(Effect.scoped(
              Effect.gen(function*() {
                const upstream = yield* echoingServer
                const token = yield* tokenEndpoint
                const directory = yield* Effect.acquireRelease(
                  Effect.sync(() => mkdtempSync(join(tmpdir(), "mcp-admin-credentials-"))),
                  (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
                )
                const tokenUrl = token.state.url.replace(/tenant=[^&]*/, `tenant=${secrets.tenant}`)
                token.state.url = tokenUrl
                const catalog = join(directory, "catalog.json")
                const configured = Object.values(secrets)
                writeFileSync(catalog, JSON.stringify(catalogOf([...configured, tokenUrl])))
                const lines: Array<string> = []
                const config = yield* ProviderConfig.fromJson({
                  sim: [{
                    model_name: "gpt-4o-mini",
                    base_url: `${(yield* Simulator.make({ apiKeys: [providerKey] })).url}/v1`,
                    api_keys: [providerKey]
                  }],
                  mcp_servers: {
                    hdr: {
                      url: `${upstream.url}?key=${secrets.query}`,
                      headers: { "x-api-key": secrets.header, authorization: `Bearer ${secrets.bearer}` }
                    },
                    oauth: {
                      url: upstream.url,
                      token_url: tokenUrl,
                      client_id: "gateway-client",
                      client_secret: secrets.clientSecret
                    },
                    // Never reached (nothing listens on port 9): its URL's password is a credential all the same.
                    down: { url: `http://gateway:${secrets.password}@127.0.0.1:9/mcp` },
                    local: { ...unrulyServer, env: { UNRULY_CATALOG: catalog, TOKEN: secrets.env } }
                  },
                  gateway: {
                    keys: [{ name: "agent", key: "env:MCP_CREDENTIALS_AGENT_KEY", tools: ["*"] }],
                    admin_keys: [{ name: "ops", key: "env:MCP_CREDENTIALS_ADMIN_KEY" }]
                  }
                })
                const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
                  Effect.provide(jsonLines(lines))
                )
                const listed = yield* eventually(
                  "the servers hdr, oauth and local listed",
                  call(gateway.url, "GET", "/admin/mcp/servers"),
                  (answer) => {
                    const servers =
                      (answer.body as { servers?: Array<{ name: string; tools: Array<unknown> }> }).servers
                    return ["hdr", "oauth", "local"].every((name) =>
                      (servers ?? []).some((server) => server.name === name && server.tools.length > 0)
                    )
                  }
                )
                const pins = yield* call(gateway.url, "GET", "/admin/mcp/pins")
                const pin = (pins.body as { pins: Array<{ server: string; kind: string; name: string }> }).pins
                  .find((one) => one.server === "local" && one.kind === "tool" && one.name.startsWith("t0-"))!
                const approval = yield* call(
                  gateway.url,
                  "POST",
                  `/admin/mcp/pins/local/tool/${encodeURIComponent(pin.name)}/approve`
                )
                const received: Array<string> = []
                const client = yield* recordingClient(`${gateway.url}/mcp`, received)
                const tools = yield* Effect.promise(() => client.listTools())
                expect(tools.tools.length).toBeGreaterThan(0)

                const outputs = {
                  servers: JSON.stringify(listed.body),
                  pins: JSON.stringify(pins.body),
                  approval: JSON.stringify(approval.body),
                  listing: received.join("\n"),
                  log: lines.join("\n")
                }
                for (const secret of [...configured, ...token.state.tokens]) {
                  for (const [output, text] of Object.entries(outputs)) {
                    for (const piece of [secret, secret.slice(0, 8), secret.slice(-8)]) {
                      expect(text, `${output}: ${secret}`).not.toContain(piece)
                    }
                  }
                }
                for (const text of Object.values(outputs)) expect(text).not.toContain(tokenUrl)
                // Masked where a definition held them.
                expect(outputs.pins).toContain(maskKey(secrets.env))
              }).pipe(Effect.provide(UndiciHttpClient.layer()))
            ))),
          { numRuns: 3, endOnFailure: true }
        )
      ),
    120_000
  )
})
