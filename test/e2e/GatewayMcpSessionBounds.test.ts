/**
 * MCP sessions bounded, over loopback with the official SDK's client against `serve`'s `/mcp`, idleness on a
 * `TestClock`: a key allowed no tool opens none (403); a key past `mcp_sessions_max_key` is refused (429, naming the
 * bound) while each of its sessions was used within the minute, and once one has been idle a minute it makes room
 * (the least recently used: a session a request named since is kept), the one let go of answered 404; past
 * `mcp_sessions_max` a key's own idlest makes room first, then the idlest of a key past its share, though another's
 * is idler; and a client's `initialize` is recorded as the session needs it, so 60 of them padded with megabytes leave
 * the database small.
 */
import { describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { statSync } from "node:fs"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { effectServer } from "../utils/mcpUpstreams.js"
import { temporary } from "../utils/requestLogHarness.js"

const providerKey = "sk-provider-mcp-bounds-0001"
const adaKey = "gw-mcp-bounds-ada-3c5e7a9b1d"
const bobKey = "gw-mcp-bounds-bob-8d0f2b4c6e"
const noneKey = "gw-mcp-bounds-none-5a7c9e1b3d"
const cyKey = "gw-mcp-bounds-cy-6f8a0c2e4b"
process.env["MCP_BOUNDS_ADA_KEY"] = adaKey
process.env["MCP_BOUNDS_BOB_KEY"] = bobKey
process.env["MCP_BOUNDS_NONE_KEY"] = noneKey
process.env["MCP_BOUNDS_CY_KEY"] = cyKey

// A client of `key` at `url`, connected (closed with the scope, before the gateway: its standalone stream ends on the
// clock, which a test's does not move); or why its `connect` failed. Its standalone stream, once ended at a clock's
// step, is not opened again: the SDK would open it a real second later, noting its session used at whatever time the
// test's clock shows by then, and which sessions are idle would depend on how fast the test runs.
const noReopening = {
  maxRetries: 0,
  initialReconnectionDelay: 1000,
  maxReconnectionDelay: 1000,
  reconnectionDelayGrowFactor: 1
}

const connect = (url: string, key: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "bounds-e2e", version: "1.0.0" })
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
        reconnectionOptions: noReopening
      })
      return client.connect(transport).then(() => client, (error: Error) => error.message)
    }),
    (client) => typeof client === "string" ? Effect.void : Effect.promise(() => client.close())
  )

// Whether `client`'s session still answers: its tools listed, or the failure's text.
const lists = (client: Client | string) =>
  Effect.promise(() =>
    typeof client === "string"
      ? Promise.resolve(`not connected: ${client}`)
      : client.listTools().then((listed) => listed.tools.length > 0, (error: Error) => error.message)
  )

// The status a `ping` in `client`'s session is answered with at `url` (the SDK's client, told 404, waits out its
// request's timeout rather than fail at once).
const pinged = (url: string, key: string, client: Client | string) =>
  typeof client === "string" ? Effect.succeed(0) : Effect.map(
    mcpPost(url, key, {
      "mcp-session-id": (client.transport as StreamableHTTPClientTransport).sessionId ?? "",
      "mcp-protocol-version": "2025-11-25"
    }, { id: 9, method: "ping" }),
    (answered) => answered.status
  )

const simulator = Simulator.make({ apiKeys: [providerKey] })

const configOf = (files: string, sim: string) =>
  ProviderConfig.fromJson({
    sim: [{ model_name: "gpt-4o-mini", base_url: `${sim}/v1`, api_keys: [providerKey] }],
    mcp_servers: { files: { url: files } },
    gateway: {
      mcp_sessions_max: 3,
      mcp_sessions_max_key: 2,
      keys: [
        { name: "ada", key: "env:MCP_BOUNDS_ADA_KEY", tools: ["files__*"] },
        { name: "bob", key: "env:MCP_BOUNDS_BOB_KEY", tools: ["files__*"] },
        { name: "none", key: "env:MCP_BOUNDS_NONE_KEY" },
        { name: "cy", key: "env:MCP_BOUNDS_CY_KEY", tools: ["files__*"] }
      ]
    }
  })

describe("MCP sessions bounded", () => {
  it.effect(
    "per key and in all: refused while every session is used, the idlest let go of once idle a minute",
    () =>
      Effect.gen(function*() {
        const files = yield* effectServer
        const config = yield* configOf(files.url, (yield* simulator).url)
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          database: { sqlite: join(yield* temporary, "gateway.db") }
        })
        const url = `${gateway.url}/mcp`

        // A key allowed no tool opens no session.
        expect(yield* connect(url, noneKey)).toMatch(/may use no MCP tool, prompt or resource/)

        // Two of ada's at 0 s; a third is refused while both are used within the minute.
        const ada1 = yield* connect(url, adaKey)
        const ada2 = yield* connect(url, adaKey)
        expect([yield* lists(ada1), yield* lists(ada2)]).toEqual([true, true])
        expect(yield* connect(url, adaKey)).toMatch(/This gateway key holds its most MCP sessions \(2,/)

        // 61 s on, ada1 is used: ada2 is the idle one, and makes room for ada3.
        yield* TestClock.adjust("61 seconds")
        expect(yield* lists(ada1)).toBe(true)
        const ada3 = yield* connect(url, adaKey)
        expect(yield* lists(ada3)).toBe(true)
        expect(yield* pinged(url, adaKey, ada2)).toBe(404)
        expect(yield* lists(ada1)).toBe(true)

        // 20 s on, ada3 is used and bob opens one: three in all. His second is refused while none has been idle.
        yield* TestClock.adjust("20 seconds")
        expect(yield* lists(ada3)).toBe(true)
        const bob1 = yield* connect(url, bobKey)
        expect(yield* lists(bob1)).toBe(true)
        expect(yield* connect(url, bobKey)).toMatch(/This gateway holds its most MCP sessions \(3,/)

        // A minute on, every session is idle: bob's second takes the place of his own, not of ada1, the idlest of all.
        yield* TestClock.adjust("61 seconds")
        const bob2 = yield* connect(url, bobKey)
        expect(yield* lists(bob2)).toBe(true)
        expect(yield* pinged(url, bobKey, bob1)).toBe(404)
        expect([yield* lists(ada1), yield* lists(ada3)]).toEqual([true, true])

        // Ada's two are used after bob2 (16 s on, then 2 s: each request notes its session used at most every 15 s),
        // and a minute on all three are idle, bob2 the idlest. Cy, a third key with none of its own, takes the place
        // of ada1: three keys share three sessions, and ada holds two, past her share.
        yield* TestClock.adjust("16 seconds")
        expect(yield* lists(ada1)).toBe(true)
        yield* TestClock.adjust("2 seconds")
        expect(yield* lists(ada3)).toBe(true)
        yield* TestClock.adjust("61 seconds")
        const cy1 = yield* connect(url, cyKey)
        expect(yield* lists(cy1)).toBe(true)
        expect(yield* pinged(url, adaKey, ada1)).toBe(404)
        expect([yield* lists(ada3), yield* lists(bob2)]).toEqual([true, true])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("60 initialize calls padded with a megabyte each leave the database small", () =>
    Effect.gen(function*() {
      const files = yield* effectServer
      const config = yield* configOf(files.url, (yield* simulator).url)
      const dir = yield* temporary
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        database: { sqlite: join(dir, "gateway.db") }
      })
      const pad = "x".repeat(1024 * 1024)
      const answers: Array<number> = []
      for (let i = 0; i < 60; i++) {
        const started = yield* mcpPost(`${gateway.url}/mcp`, adaKey, {}, {
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" }, pad }
        })
        answers.push(started.status)
        // The session's record past a key's bytes is refused alone.
        if (i === 0) {
          const large = yield* mcpPost(`${gateway.url}/mcp`, bobKey, {}, {
            id: 1,
            method: "initialize",
            params: {
              protocolVersion: "2025-11-25",
              capabilities: { experimental: { pad: { text: pad } } },
              clientInfo: { name: "raw", version: "1" }
            }
          })
          expect(large.status).toBe(413)
        }
      }
      // Two kept (the key's bound), the rest refused: none idle.
      expect(answers.filter((status) => status === 200)).toHaveLength(2)
      expect(answers.filter((status) => status === 429)).toHaveLength(58)
      const bytes = ["gateway.db", "gateway.db-wal"].reduce((sum, name) => {
        try {
          return sum + statSync(join(dir, name)).size
        } catch {
          return sum
        }
      }, 0)
      // Each padded with a megabyte, as they were kept whole, they took 60 MB.
      expect(bytes).toBeLessThan(2 * 1024 * 1024)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 120_000)
})
