/**
 * MCP sessions (2025-11-25) that any gateway instance answers: two `serve` instances on one Postgres behind a
 * round-robin balancer serve one official SDK client, each of its requests going to the other instance from the one
 * before; and one gateway (no database) answers a session across a reload. A session is its key's and its path's
 * only: another key, or another path, naming it is answered as an unknown session (404). A session of an earlier
 * revision (2025-06-18) is answered across a reload in its own revision. An `initialize` of a session-ful revision
 * starts a recorded session whatever else it carries (the stateless revision's `Mcp-Method` and `Mcp-Name` headers).
 */
import { expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { balancer } from "../utils/balancer.js"
import { awaitFirstLine, startInProcess } from "../utils/cliHarness.js"
import { initialized, mcpPost } from "../utils/mcpRaw.js"
import { namedTools } from "../utils/mcpUpstreams.js"
import { postgresServer } from "../utils/postgresServer.js"
import { providerFile } from "../utils/serveCluster.js"

const providerKey = "sk-provider-mcp-sessions-0001"
const agentKey = "gw-mcp-sessions-agent-0001"
const otherKey = "gw-mcp-sessions-other-0001"

/** An official SDK client of `url`'s `/mcp` with `key`, connected (its session started), closed with the scope. */
const connected = (url: string, key?: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "mcp-sessions", version: "1.0.0" })
      const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }
      })
      await client.connect(transport)
      return { client, transport }
    }),
    ({ client }) => Effect.promise(() => client.close())
  )

/** A `tools/list` sent to `url` + `route` with the session `session` and `key`: its status. */
const listWith = (url: string, route: string, session: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${route}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": session
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} })
    })
    await response.text()
    return response.status
  })

it.live(
  "two serve instances on one Postgres answer one client's session, its requests alternating between them",
  () =>
    Effect.gen(function*() {
      const postgres = yield* postgresServer
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const files = yield* namedTools(["read", "write"])
      const file = yield* providerFile({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        mcp_servers: { files: { url: files } },
        store: { sql: yield* postgres.database("mcp_sessions") },
        gateway: {
          keys: [
            { name: "agent", key: agentKey, tools: ["files__read"] },
            { name: "other", key: otherKey, tools: ["files__*"] }
          ]
        }
      })
      const data = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-sessions-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(data, { recursive: true, force: true })))
      const start = (name: string) =>
        Effect.gen(function*() {
          const serving = yield* startInProcess((io) =>
            Serve.run(["--config", file, "--port", "0", "--data", path.join(data, name)], io)
          )
          return yield* awaitFirstLine(serving, "serve's first line (its URL)")
        })
      const one = yield* start("one")
      const other = yield* start("other")
      const balanced = yield* balancer([one, other])

      const { client, transport } = yield* connected(balanced.url, agentKey)
      const session = transport.sessionId!
      expect(session).toMatch(/^[0-9a-f-]{36}$/)
      const listed = yield* Effect.promise(() => client.listTools())
      expect(listed.tools.map((tool) => tool.name)).toEqual(["files__read"])
      for (let call = 0; call < 4; call++) {
        const result = yield* Effect.promise(() => client.callTool({ name: "files__read", arguments: {} }))
        expect(result.content).toEqual([{ type: "text", text: "read" }])
      }
      // A tool the key may not use stays unknown on both instances.
      const denied = yield* Effect.promise(() =>
        client.callTool({ name: "files__write", arguments: {} }).then(() => "called", (error: Error) => error.message)
      )
      expect(denied).toContain("Tool 'files__write' not found")
      expect(transport.sessionId).toBe(session)
      // Both instances answered requests of the session: neither held it alone.
      expect(balanced.sessionRequests[0]).toBeGreaterThanOrEqual(2)
      expect(balanced.sessionRequests[1]).toBeGreaterThanOrEqual(2)

      // The session is its key's and its path's: on either instance, another key or path naming it is unknown.
      for (const url of [one, other]) {
        expect(yield* listWith(url, "/mcp", session, agentKey)).toBe(200)
        expect(yield* listWith(url, "/mcp", session, otherKey)).toBe(404)
        expect(yield* listWith(url, "/mcp/files", session, agentKey)).toBe(404)
        expect(yield* listWith(url, "/mcp", "9b1c2a4e-0000-4000-8000-000000000000", agentKey)).toBe(404)
      }
    }).pipe(Effect.scoped),
  120_000
)

it.live("one gateway without a database answers a session across a reload", () =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const before = yield* namedTools(["read"])
    const after = yield* namedTools(["read", "stat"])
    const model = { sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }] }
    const first = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: before } } })
    let next = first
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(first),
      port: 0,
      source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
    })
    const { client, transport } = yield* connected(gateway.url)
    const session = transport.sessionId!
    expect((yield* Effect.promise(() => client.listTools())).tools.map((tool) => tool.name)).toEqual(["files__read"])

    next = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: after } } })
    yield* gateway.reload
    // The same session, answered by the new configuration's endpoint: its tools, without a new `initialize`.
    expect((yield* Effect.promise(() => client.listTools())).tools.map((tool) => tool.name).sort()).toEqual([
      "files__read",
      "files__stat"
    ])
    const result = yield* Effect.promise(() => client.callTool({ name: "files__stat", arguments: {} }))
    expect(result.content).toEqual([{ type: "text", text: "stat" }])
    expect(transport.sessionId).toBe(session)
  }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), { timeout: 60_000 })

it.live(
  "a session of an earlier revision (2025-06-18) is answered across a reload in its own revision",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const before = yield* namedTools(["read"])
      const after = yield* namedTools(["read", "stat"])
      const model = { sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }] }
      const first = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: before } } })
      let next = first
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(first),
        port: 0,
        source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
      })
      const url = `${gateway.url}/mcp`
      const { headers, started } = yield* initialized(url, undefined, "2025-06-18")
      expect(started.body?.result?.protocolVersion).toBe("2025-06-18")
      const list = mcpPost(url, undefined, headers, { id: 2, method: "tools/list", params: {} }).pipe(
        Effect.map((listed) => [listed.status, listed.body?.result?.tools?.map((tool) => tool.name).sort()])
      )
      expect(yield* list).toEqual([200, ["files__read"]])

      next = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: after } } })
      yield* gateway.reload
      // Started again as the client started it: in 2025-06-18, so its requests' `MCP-Protocol-Version` still matches.
      expect(yield* list).toEqual([200, ["files__read", "files__stat"]])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  { timeout: 60_000 }
)

it.live(
  "an initialize of a session-ful revision is a session whatever headers it carries (Mcp-Method, Mcp-Name, any case)",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const before = yield* namedTools(["read"])
      const after = yield* namedTools(["read", "stat"])
      const model = { sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }] }
      const first = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: before } } })
      let next = first
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(first),
        port: 0,
        source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
      })
      const extra = fc.record({
        method: fc.option(fc.constantFrom("Mcp-Method", "mcp-method", "MCP-METHOD"), { nil: undefined }),
        methodValue: fc.constantFrom("initialize", "server/discover", "tools/list", ""),
        name: fc.option(fc.constantFrom("Mcp-Name", "mcp-name"), { nil: undefined }),
        path: fc.constantFrom("/mcp", "/mcp/files"),
        revision: fc.constantFrom("2025-03-26", "2025-06-18", "2025-11-25")
      })
      const samples = fc.sample(extra, { numRuns: 24, seed: 75 })
      const started = yield* Effect.forEach(samples, (sample) =>
        Effect.gen(function*() {
          const url = `${gateway.url}${sample.path}`
          const headers: Record<string, string> = {
            ...(sample.method === undefined ? {} : { [sample.method]: sample.methodValue }),
            ...(sample.name === undefined ? {} : { [sample.name]: "raw" })
          }
          const begun = yield* mcpPost(url, undefined, headers, {
            id: 1,
            method: "initialize",
            params: { protocolVersion: sample.revision, capabilities: {}, clientInfo: { name: "raw", version: "1" } }
          })
          expect([begun.status, begun.body?.result?.protocolVersion], JSON.stringify(sample)).toEqual([
            200,
            sample.revision
          ])
          expect(begun.session, JSON.stringify(sample)).not.toBeNull()
          const inSession = { "mcp-session-id": begun.session!, "mcp-protocol-version": sample.revision }
          const notified = yield* mcpPost(url, undefined, inSession, { method: "notifications/initialized" })
          expect(notified.status, JSON.stringify(sample)).toBe(202)
          return { sample, url, inSession }
        }))
      const listed = (url: string, inSession: Record<string, string>) =>
        Effect.map(
          mcpPost(url, undefined, inSession, { id: 2, method: "tools/list", params: {} }),
          (answer) => [answer.status, answer.body?.result?.tools?.map((tool) => tool.name).sort()]
        )
      const read = (path: string) => path === "/mcp" ? "files__read" : "read"
      const stat = (path: string) => path === "/mcp" ? "files__stat" : "stat"
      for (const { inSession, sample, url } of started) {
        expect(yield* listed(url, inSession), JSON.stringify(sample)).toEqual([200, [read(sample.path)]])
      }
      // Recorded as any session is: answered by the configuration a reload brings, started again as it began.
      next = yield* ProviderConfig.fromJson({ ...model, mcp_servers: { files: { url: after } } })
      yield* gateway.reload
      for (const { inSession, sample, url } of started) {
        expect(yield* listed(url, inSession), JSON.stringify(sample)).toEqual([
          200,
          [read(sample.path), stat(sample.path)].sort()
        ])
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  { timeout: 60_000 }
)
