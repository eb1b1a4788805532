/**
 * The gateway's MCP endpoints over loopback, as clients and servers of the protocol see them: the official SDK's
 * `Client` over its Streamable HTTP transport (the 2025-11-25 revision, with a session; and raw clients of the two
 * revisions before it) and Effect's `McpClient` (the stateless 2026-07-28) against `serve`'s `/mcp` and
 * `/mcp/<server>`, over three upstreams: an `effect/ai/McpServer` over HTTP, one over stdio that the gateway starts
 * (and stops), and the official SDK's own server. A key sees and calls what its `tools` allow, no more; a hidden tool
 * is answered as an absent one.
 */
import { expect, layer } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import * as McpClient from "effect/ai/McpClient"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { sdkClient, served } from "../utils/mcpClient.js"
import { initialized, mcpPost } from "../utils/mcpRaw.js"
import { alive, calcServer, effectServer, imageBytes, sdkServer } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-e2e-0001"
const filesToken = "files-upstream-token-7c1e"
const readerKey = "gw-mcp-reader-5e1d3c7a9b"
const bareKey = "gw-mcp-bare-2a4c6e8f0b"
process.env["MCP_E2E_FILES_TOKEN"] = filesToken
process.env["MCP_E2E_CALC_MODE"] = "exact"
process.env["MCP_E2E_READER_KEY"] = readerKey
// A variable of the gateway's own: a stdio server must not see it.
process.env["MCP_E2E_GATEWAY_ONLY"] = "not for tool servers"

const pidFile = join(tmpdir(), `mcp-e2e-calc-${process.pid}.pid`)

class Fixture extends Context.Service<Fixture, {
  /** With keys: `reader` (files__read and calc__*) and `bare` (no tools). */
  readonly keyed: Gateway.Service
  /** Without keys, on loopback: every tool. */
  readonly open: Gateway.Service
  readonly authorizations: ReadonlyArray<string | undefined>
  /** Closes the keyless gateway, whose stdio server the test then sees stopped. */
  readonly closeOpen: Effect.Effect<void>
}>()("test/GatewayMcpFixture") {}

const configJson = (simulator: Simulator.Simulator, files: string, sdk: string, keyed: boolean) => ({
  sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
  mcp_servers: {
    files: { url: files, headers: { authorization: "env:MCP_E2E_FILES_TOKEN" } },
    calc: {
      ...calcServer,
      env: { CALC_MODE: "env:MCP_E2E_CALC_MODE", ...(keyed ? {} : { CALC_PID_FILE: pidFile }) }
    },
    sdk: { url: sdk, tools: ["echo"] },
    // Refuses connections (port 1): left out, the others served.
    gone: { url: "http://127.0.0.1:1/mcp" }
  },
  ...(keyed
    ? { gateway: { keys: [{ name: "reader", key: "env:MCP_E2E_READER_KEY", tools: ["files__read", "calc__*"] }] } }
    : {})
})

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const files = yield* effectServer
    const sdk = yield* sdkServer
    const keyedConfig = yield* ProviderConfig.fromJson(configJson(simulator, files.url, sdk.url, true))
    const keyed = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(keyedConfig),
      port: 0,
      maxBodyBytes: 4096,
      keys: [{ name: "bare", key: Redacted.make(bareKey) }]
    })
    const openScope = yield* Scope.make()
    const openConfig = yield* ProviderConfig.fromJson(configJson(simulator, files.url, sdk.url, false))
    const open = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(openConfig), port: 0 }).pipe(
      Scope.provide(openScope)
    )
    // Each gateway's stdio server (`calc`) listed: on a loaded machine it may answer after the gateway has started.
    yield* served(keyed.url, ["calc__add"], readerKey)
    yield* served(open.url, ["calc__add"])
    return { keyed, open, authorizations: files.seen.authorizations, closeOpen: Scope.close(openScope, Exit.void) }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const names = (client: Client) =>
  Effect.promise(() => client.listTools()).pipe(Effect.map((list) => list.tools.map((tool) => tool.name).sort()))

// The message a refused call fails with (a call that succeeds fails the test).
const refusal = (client: Client, name: string) =>
  Effect.promise(() =>
    client.callTool({ name, arguments: { path: "a" } }).then(
      () => Promise.reject(new Error(`expected ${name} to be refused`)),
      (error: unknown) => ({ code: (error as { code?: unknown }).code, message: (error as Error).message })
    )
  )

const everyTool = [
  "calc__add",
  "calc__env",
  "calc__mul",
  "files__fail",
  "files__read",
  "sdk__echo"
]

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway /mcp", (it) => {
  it.effect("without keys, on loopback: every server's tools as <server>__<tool>, those an entry's tools takes", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp`)
      expect(yield* names(client)).toEqual(everyTool)
      const listed = yield* Effect.promise(() => client.listTools())
      const add = listed.tools.find((tool) => tool.name === "calc__add")!
      expect(add.description).toBe("Adds a and b.")
      expect(add.inputSchema).toMatchObject({ type: "object", required: ["a", "b"] })
    }).pipe(Effect.scoped))

  it.effect("a call gives the upstream's whole result: every content block, structuredContent, isError", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp`)
      const read = yield* Effect.promise(() => client.callTool({ name: "files__read", arguments: { path: "notes" } }))
      const base64 = Buffer.from(imageBytes).toString("base64")
      expect(read.content).toEqual([
        { type: "text", text: "contents of notes" },
        { type: "image", data: base64, mimeType: "image/png" },
        { type: "audio", data: base64, mimeType: "audio/wav" },
        { type: "resource", resource: { uri: "file:///notes", mimeType: "text/plain", text: "embedded" } },
        { type: "resource_link", uri: "file:///notes.md", name: "notes.md" }
      ])
      expect(read.structuredContent).toEqual({ path: "notes", size: 42 })
      expect(read.isError ?? false).toBe(false)
      const failed = yield* Effect.promise(() => client.callTool({ name: "files__fail", arguments: { path: "x" } }))
      expect(failed.isError).toBe(true)
      expect(failed.content).toEqual([{ type: "text", text: "no such file: x" }])
      const echoed = yield* Effect.promise(() => client.callTool({ name: "sdk__echo", arguments: { text: "hi" } }))
      expect(echoed.content).toEqual([{ type: "text", text: "echo: hi" }])
      expect(echoed.structuredContent).toEqual({ echoed: "hi" })
    }).pipe(Effect.scoped))

  it.effect("a stdio server is started with its env (env: read, masked in answers), none of the gateway's own", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp`)
      const sum = yield* Effect.promise(() => client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } }))
      expect(sum.structuredContent).toEqual({ value: 5 })
      const env = yield* Effect.promise(() => client.callTool({ name: "calc__env", arguments: {} }))
      // The value it was given reaches the caller masked, as every credential of an MCP server does: its masked id.
      expect(env.structuredContent).toEqual({ mode: maskKey("exact"), leaked: false })
    }).pipe(Effect.scoped))

  it.effect("/mcp/<server> serves one server's tools under their own names; another path is 404", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const calc = yield* sdkClient(`${open.url}/mcp/calc`)
      expect(yield* names(calc)).toEqual(["add", "env", "mul"])
      const product = yield* Effect.promise(() => calc.callTool({ name: "mul", arguments: { a: 6, b: 7 } }))
      expect(product.content).toEqual([{ type: "text", text: "42" }])
      const sdk = yield* sdkClient(`${open.url}/mcp/sdk`)
      expect(yield* names(sdk)).toEqual(["echo"])
      const missing = yield* Effect.promise(() =>
        fetch(`${open.url}/mcp/nowhere`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
        })
      )
      expect(missing.status).toBe(404)
    }).pipe(Effect.scoped))

  it.effect("a key lists and calls what its tools allow; a hidden tool is refused as an absent one", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const client = yield* sdkClient(`${keyed.url}/mcp`, readerKey)
      expect(yield* names(client)).toEqual(["calc__add", "calc__env", "calc__mul", "files__read"])
      const read = yield* Effect.promise(() => client.callTool({ name: "files__read", arguments: { path: "a" } }))
      expect(read.structuredContent).toEqual({ path: "a", size: 42 })
      const hidden = yield* refusal(client, "files__fail")
      const absent = yield* refusal(client, "files__nothing")
      expect(hidden.code).toBe(absent.code)
      expect(hidden.message.replace("files__fail", "NAME")).toBe(absent.message.replace("files__nothing", "NAME"))
      // Not taken from its server at all (the entry's tools): absent for everyone.
      const untaken = yield* refusal(client, "sdk__secret")
      expect(untaken.message.replace("sdk__secret", "NAME")).toBe(absent.message.replace("files__nothing", "NAME"))
      const calc = yield* sdkClient(`${keyed.url}/mcp/calc`, readerKey)
      expect(yield* names(calc)).toEqual(["add", "env", "mul"])
      const files = yield* sdkClient(`${keyed.url}/mcp/files`, readerKey)
      expect(yield* names(files)).toEqual(["read"])
    }).pipe(Effect.scoped))

  it.effect("a key without tools opens no session, sees none and calls none; no key, or a wrong one, is 401", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const started = yield* mcpPost(`${keyed.url}/mcp`, bareKey, {}, {
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } }
      })
      expect(started.status).toBe(403)
      expect(started.session).toBeNull()
      expect(JSON.stringify(started.body)).toContain("may use no MCP tool, prompt or resource")
      // Without a session (2026-07-28): nothing listed, nothing called.
      const stateless = (method: string, params: object, name?: string) =>
        mcpPost(`${keyed.url}/mcp`, bareKey, {
          "mcp-protocol-version": "2026-07-28",
          "mcp-method": method,
          ...(name === undefined ? {} : { "mcp-name": name })
        }, {
          id: 2,
          method,
          params: {
            ...params,
            _meta: {
              "io.modelcontextprotocol/protocolVersion": "2026-07-28",
              "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
              "io.modelcontextprotocol/clientCapabilities": {}
            }
          }
        })
      expect((yield* stateless("tools/list", {})).body?.result?.tools).toEqual([])
      const called = yield* stateless("tools/call", { name: "files__read", arguments: {} }, "files__read")
      expect(JSON.stringify(called.body)).toContain("Tool 'files__read' not found")
      for (const key of [undefined, "gw-not-a-key-0000"]) {
        const answer = yield* Effect.promise(() =>
          fetch(`${keyed.url}/mcp`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              ...(key === undefined ? {} : { authorization: `Bearer ${key}` })
            },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
          })
        )
        expect(answer.status).toBe(401)
      }
    }).pipe(Effect.scoped))

  it.effect("the caller's key never goes upstream: the upstream is sent the gateway's own header", () =>
    Effect.gen(function*() {
      const { authorizations, keyed } = yield* Fixture
      const client = yield* sdkClient(`${keyed.url}/mcp`, readerKey)
      yield* Effect.promise(() => client.callTool({ name: "files__read", arguments: { path: "b" } }))
      expect(authorizations.length).toBeGreaterThan(0)
      expect(new Set(authorizations)).toEqual(new Set([filesToken]))
      expect(authorizations.join(" ")).not.toContain(readerKey)
    }).pipe(Effect.scoped))

  it.effect("the guard: a Host that is not the gateway's own, or a page of another origin, is 403", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" })
      const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" }
      // node:http, which sends the Host it is given (fetch sends the URL's).
      const rebound = yield* Effect.promise(() =>
        new Promise<{ readonly status: number | undefined }>((resolve, reject) => {
          const request = Http.request(
            {
              host: "127.0.0.1",
              port: open.port,
              path: "/mcp",
              method: "POST",
              headers: { ...headers, host: `evil.example:${open.port}` }
            },
            (response) => {
              response.resume()
              resolve({ status: response.statusCode })
            }
          )
          request.on("error", reject)
          request.end(body)
        })
      )
      expect(rebound.status).toBe(403)
      const crossOrigin = yield* Effect.promise(() =>
        fetch(`${open.url}/mcp`, { method: "POST", headers: { ...headers, origin: "https://evil.example" }, body })
      )
      expect(crossOrigin.status).toBe(403)
    }).pipe(Effect.scoped))

  it.effect("Effect's McpClient, stateless (2026-07-28), lists and calls through /mcp with a key", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const transport = yield* McpClient.http({
        url: `${keyed.url}/mcp`,
        protocol: McpProtocol.v2026_07_28,
        headers: { authorization: `Bearer ${readerKey}` }
      })
      const client = yield* McpClient.make({ name: "gateway-mcp-e2e", version: "1.0.0" }).pipe(
        Effect.provideService(McpClient.Transport, transport)
      )
      const tools = yield* client.listTools()
      expect(tools.map((tool) => tool.name).sort()).toEqual(["calc__add", "calc__env", "calc__mul", "files__read"])
      const result = yield* client.callTool({
        tool: tools.find((tool) => tool.name === "calc__mul")!,
        arguments: { a: 3, b: 4 }
      })
      expect(result.structuredContent).toEqual({ value: 12 })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.effect("a body declared larger than the gateway takes is 413; Mcp-Method must name the body's method", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const post = (headers: Record<string, string>, body: string) =>
        Effect.promise(() =>
          fetch(`${keyed.url}/mcp`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              authorization: `Bearer ${readerKey}`,
              ...headers
            },
            body
          }).then(async (response) => ({ status: response.status, text: await response.text() }))
        )
      const large = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { pad: "x".repeat(5000) } })
      expect((yield* post({}, large)).status).toBe(413)
      const call = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "files__read",
          arguments: { path: "a" },
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": {}
          }
        }
      })
      const mismatch = yield* post(
        { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list", "mcp-name": "files__read" },
        call
      )
      expect(mismatch.status).toBe(400)
      expect(mismatch.text).toContain("-32020")
    }))

  it.effect("a client that offers 2025-06-18 or 2025-03-26 is answered in it, with a session; another, in 2025-11-25", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      for (
        const [offered, answered] of [
          ["2025-06-18", "2025-06-18"],
          ["2025-03-26", "2025-03-26"],
          ["2025-11-25", "2025-11-25"],
          ["2024-11-05", "2025-11-25"]
        ] as const
      ) {
        const { headers, notified, started } = yield* initialized(`${keyed.url}/mcp`, readerKey, offered)
        expect([offered, started.status, started.body?.result?.protocolVersion]).toEqual([offered, 200, answered])
        expect(started.session).toMatch(/./)
        expect(notified.status).toBe(202)
        const listed = yield* mcpPost(`${keyed.url}/mcp`, readerKey, headers, {
          id: 2,
          method: "tools/list",
          params: {}
        })
        expect(listed.body?.result?.tools?.map((tool) => tool.name).sort()).toEqual([
          "calc__add",
          "calc__env",
          "calc__mul",
          "files__read"
        ])
      }
    }))

  // Last: it closes the keyless gateway.
  it.effect("on close, the stdio servers the gateway started are stopped", () =>
    Effect.gen(function*() {
      const { closeOpen } = yield* Fixture
      const pid = Number(readFileSync(pidFile, "utf8"))
      expect(alive(pid)).toBe(true)
      yield* closeOpen
      yield* eventually("the stdio server stopped", Effect.sync(() => alive(pid)), (running) => !running)
    }))
})
