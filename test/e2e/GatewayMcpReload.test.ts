/**
 * A reload of the gateway's configuration and its MCP servers: the servers of the new configuration are served at
 * `/mcp` (one added, one removed), and the stdio server of the configuration replaced is stopped; a call in flight
 * on a server the reload changes completes on the old one, and the next call goes to the new; a server name the
 * gateway cannot serve under is refused at start.
 */
import { expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { served } from "../utils/mcpClient.js"
import { alive, calcServer, namedTools, sdkServer, unrulyServer, waitingServer } from "../utils/mcpUpstreams.js"
import { expectOptionsError } from "../utils/optionsError.js"

const providerKey = "sk-provider-mcp-reload-0001"
const pidFile = join(tmpdir(), `mcp-reload-calc-${process.pid}.pid`)

// A call of `name` at `/mcp` by the official SDK's client: its text.
const called = (url: string, name: string, args: Record<string, unknown> = {}) =>
  Effect.promise(async () => {
    const client = new Client({ name: "mcp-reload", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
    try {
      const result = await client.callTool({ name, arguments: args })
      const content = result.content as ReadonlyArray<{ readonly text?: string }>
      return { text: content.map((block) => block.text ?? "").join(""), isError: result.isError === true }
    } finally {
      await client.close()
    }
  })

it.live(
  "a reload serves the new configuration's MCP servers and stops the stdio server it no longer has",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const files = yield* namedTools(["read"])
      const sdk = yield* sdkServer
      const model = { sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }] }
      const before = yield* ProviderConfig.fromJson({
        ...model,
        mcp_servers: { files: { url: files }, calc: { ...calcServer, env: { CALC_PID_FILE: pidFile } } }
      })
      const after = yield* ProviderConfig.fromJson({
        ...model,
        mcp_servers: { files: { url: files }, sdk: { url: sdk.url, tools: ["echo"] } }
      })
      let next = before
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(before),
        port: 0,
        source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
      })
      expect(yield* served(gateway.url, ["calc__add"])).toEqual(["calc__add", "calc__env", "calc__mul", "files__read"])
      const pid = Number(readFileSync(pidFile, "utf8"))
      expect(alive(pid)).toBe(true)

      next = after
      yield* gateway.reload
      expect(yield* served(gateway.url, ["sdk__echo"])).toEqual(["files__read", "sdk__echo"])
      yield* eventually("the replaced configuration's stdio server stopped", Effect.sync(() => alive(pid)), (up) => !up)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  { timeout: 120_000 }
)

it.live(
  "a reload that changes servers does not cut the calls in flight on them; the next calls go to the new configuration",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const waiting = yield* waitingServer(1500)
      // The same tool (its definition pinned), on another server.
      const replacement = yield* waitingServer(10)
      const model = { sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }] }
      const before = yield* ProviderConfig.fromJson({
        ...model,
        mcp_servers: { slow: { url: waiting.url }, unruly: { ...unrulyServer, env: { GENERATION: "1" } } }
      })
      const after = yield* ProviderConfig.fromJson({
        ...model,
        mcp_servers: { slow: { url: replacement.url }, unruly: { ...unrulyServer, env: { GENERATION: "2" } } }
      })
      let next = before
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(before),
        port: 0,
        source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
      })
      // The start (and the reload) waits a while for the stdio server, not until it answers: its tools are called once
      // listed.
      yield* served(gateway.url, ["slow__wait", "unruly__pid", "unruly__slow"])
      const oldPid = Number((yield* called(gateway.url, "unruly__pid")).text)
      const http = yield* Effect.forkChild(called(gateway.url, "slow__wait"))
      const stdio = yield* Effect.forkChild(called(gateway.url, "unruly__slow", { millis: 1500 }))
      yield* eventually("the HTTP call in flight upstream", Effect.sync(() => waiting.seen.inFlight), (n) => n === 1)
      yield* Effect.sleep("200 millis")

      next = after
      yield* gateway.reload
      expect(yield* Fiber.join(http)).toEqual({ text: "done", isError: false })
      expect(yield* Fiber.join(stdio)).toEqual({ text: "slept", isError: false })
      yield* served(gateway.url, ["slow__wait", "unruly__pid"])
      expect(yield* called(gateway.url, "slow__wait")).toEqual({ text: "done", isError: false })
      expect([waiting.seen.began.length, replacement.seen.began.length]).toEqual([1, 1])
      const newPid = Number((yield* called(gateway.url, "unruly__pid")).text)
      expect(newPid).not.toBe(oldPid)
      yield* eventually("the changed stdio server's old process stopped", Effect.sync(() => alive(oldPid)), (up) => !up)
      expect(alive(newPid)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  { timeout: 120_000 }
)

it.live("a server name the gateway cannot serve under (Gateway.Config given in code) fails its start naming it", () =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }]
    })
    const error = yield* Effect.flip(Gateway.make({
      config: { ...ProviderConfig.gatewayConfig(config), mcpServers: { "a__b": { url: "http://127.0.0.1:1/mcp" } } },
      port: 0
    }))
    expectOptionsError(error, { module: "Gateway", option: "config.mcpServers.a__b", value: "\"a__b\"" })
  }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
