/**
 * The gateway's MCP upstreams kept connected, bounded and authenticated, seen by the official SDK's client at `/mcp`:
 * a stdio server (a real child process, `test/fixtures/mcp/unrulyServer.ts`) that crashes is restarted, its calls
 * failing at once meanwhile, and stopped when the gateway closes (its pid gone); its stderr reaches the log with the
 * secret of its `env` masked; a flood of its stdout and a reply past `max_reply_bytes` fail the call naming the bound
 * while another server's calls go on; a call past `call_timeout` is cancelled upstream; an HTTP server that forgot
 * the session is initialized again; an upstream in either revision (`protocol`); OAuth client credentials fetched,
 * held, renewed after a 401 and when they expire.
 */
import { expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as Logger from "effect/Logger"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as Stderr from "../../src/internal/gateway/mcp/stderr.js"
import * as Upstreams from "../../src/internal/gateway/mcp/upstream.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { conformanceUpstream } from "../utils/conformanceServer.js"
import { eventually } from "../utils/eventually.js"
import { listedTools, served } from "../utils/mcpClient.js"
import {
  alive,
  calcServer,
  oauthServers,
  type Received,
  refusingResumption,
  revisionServer,
  unrulyServer
} from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-upstreams-0001"
const secret = "unruly-secret-9f3b7d"
process.env["MCP_UP_SECRET"] = secret
process.env["MCP_UP_CLIENT_SECRET"] = "s3cret-client-value"

interface Called {
  readonly text: string
  readonly isError: boolean
  readonly millis: number
}

// A call of `name` at the gateway's `/mcp` by the official SDK's client (a session of its own): its text and isError.
const call = (url: string, name: string, args: Record<string, unknown> = {}) =>
  Effect.promise(async (): Promise<Called> => {
    const client = new Client({ name: "mcp-upstreams", version: "1.0.0" })
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
    try {
      const start = performance.now()
      const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })
      const content = result.content as ReadonlyArray<{ readonly type: string; readonly text?: string }>
      return {
        text: content.map((block) => block.text ?? "").join(""),
        isError: result.isError === true,
        millis: performance.now() - start
      }
    } finally {
      await client.close()
    }
  })

// A gateway over `mcpServers` (and a simulator for its one model), in a scope of its own the test may close; its stdio
// servers' tools (`unruly__pid`, `calc__add`) listed.
const gatewayOf = (mcpServers: Record<string, unknown>) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
      mcp_servers: mcpServers
    })
    const scope = yield* Scope.make()
    const gateway = yield* Scope.provide(Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }), scope)
    const stdio = { unruly: "unruly__pid", calc: "calc__add" } as const
    yield* served(gateway.url, Object.entries(stdio).filter(([name]) => name in mcpServers).map(([, tool]) => tool))
    return { gateway, close: Scope.close(scope, Exit.void) }
  })

// The info and warning lines logged while `effect` runs (the gateway's fibers among them).
const logging = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Array.isArray(options.message) ? options.message.join(" ") : String(options.message))
  })
  return { lines, layer: Logger.layer([logger]) }
}

const live = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  effect.pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))

it.live(
  "a stdio server that exits is restarted; calls meanwhile fail at once naming it; its stderr is logged, the " +
    "secret of its env masked; closing the gateway stops it (its pid gone)",
  () => {
    const log = logging()
    return live(Effect.gen(function*() {
      const { close, gateway } = yield* gatewayOf({
        unruly: { ...unrulyServer, env: { UNRULY_SECRET: "env:MCP_UP_SECRET" } }
      })
      const first = yield* call(gateway.url, "unruly__pid")
      expect(first.isError).toBe(false)
      const pid = Number(first.text)
      expect(alive(pid)).toBe(true)

      const shout = yield* call(gateway.url, "unruly__shout")
      expect(shout.text).toBe("shouted")
      // 302 lines at once: a burst of them logged, the rest dropped.
      const logged = yield* eventually(
        "the server's stderr in the log",
        Effect.sync(() => log.lines.filter((line) => line.includes("the MCP server unruly wrote to stderr"))),
        (lines) => lines.length >= Stderr.lineBurst
      )
      expect(logged.length).toBeLessThan(Stderr.lineBurst + 50)
      const stderr = logged.join("\n")
      expect(stderr).toContain(`the secret is ${maskKey(secret)}`)
      expect(stderr).not.toContain(secret)
      expect(stderr).toContain("[line cut]")
      expect(stderr).not.toContain("y".repeat(1001))

      const crashed = yield* call(gateway.url, "unruly__crash")
      expect(crashed.isError).toBe(true)
      expect(crashed.text).toMatch(/^The MCP server `unruly` failed this request: .*exited.*3/)
      const meanwhile = yield* call(gateway.url, "unruly__pid")
      expect(meanwhile.isError).toBe(true)
      expect(meanwhile.text).toMatch(
        /The MCP server `unruly` failed this request: it is not running \(it exited with code 3/
      )
      expect(meanwhile.millis).toBeLessThan(1000)
      yield* eventually(
        "the restart in the log",
        Effect.sync(() => log.lines.filter((line) => line.includes("is down"))),
        (lines) =>
          lines.some((line) => /the MCP server unruly is down \(exited with code 3\); it is started again/.test(line))
      )

      const restarted = yield* eventually(
        "the server restarted",
        call(gateway.url, "unruly__pid"),
        (called) => !called.isError
      )
      const second = Number(restarted.text)
      expect(second).not.toBe(pid)
      expect(alive(pid)).toBe(false)

      yield* close
      yield* eventually("the restarted server stopped with the gateway", Effect.sync(() => alive(second)), (up) => !up)
    })).pipe(Effect.provide(log.layer))
  },
  { timeout: 90_000 }
)

it.live(
  "a flood of stdout and a reply past max_reply_bytes fail the call naming the bound, another server's calls go on, " +
    "and the server is restarted",
  () =>
    live(Effect.gen(function*() {
      const { gateway } = yield* gatewayOf({
        unruly: { ...unrulyServer, max_reply_bytes: 1_048_576 },
        calc: calcServer
      })
      const before = Number((yield* call(gateway.url, "unruly__pid")).text)
      const heapBefore = process.memoryUsage().heapUsed
      const [flooded, added] = yield* Effect.all([
        call(gateway.url, "unruly__flood", { megabytes: 64 }),
        Effect.delay(call(gateway.url, "calc__add", { a: 2, b: 3 }), "50 millis")
      ], { concurrency: "unbounded" })
      expect(flooded.isError).toBe(true)
      expect(flooded.text).toContain("max_reply_bytes (1048576 bytes)")
      expect(added).toMatchObject({ text: "5", isError: false })
      // 64 MiB were written at the gateway; it read no more than its bound (and the pipe) of them.
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(48 * 1024 * 1024)
      const after = yield* eventually("the flooding server restarted", call(gateway.url, "unruly__pid"), (c) =>
        !c.isError)
      expect(Number(after.text)).not.toBe(before)

      const garbled = yield* call(gateway.url, "unruly__garbage")
      expect(garbled.isError).toBe(true)
      expect(garbled.text).toContain("its output is not MCP (Invalid MCP JSON)")
      yield* eventually("the garbling server restarted", call(gateway.url, "unruly__pid"), (c) =>
        !c.isError)

      const big = yield* call(gateway.url, "unruly__big", { bytes: 2_000_000 })
      expect(big.isError).toBe(true)
      expect(big.text).toContain("its reply was larger than its max_reply_bytes (1048576 bytes)")
      const small = yield* eventually("the server restarted", call(gateway.url, "unruly__big", { bytes: 10 }), (c) =>
        !c.isError)
      expect(small.text).toBe("x".repeat(10))
    })),
  { timeout: 120_000 }
)

it.live("a call past call_timeout fails naming it and is cancelled upstream", () =>
  live(Effect.gen(function*() {
    const events = join(tmpdir(), `mcp-upstreams-events-${process.pid}.log`)
    rmSync(events, { force: true })
    const { gateway } = yield* gatewayOf({
      unruly: { ...unrulyServer, env: { UNRULY_EVENTS: events }, call_timeout: "1 second" }
    })
    const slow = yield* call(gateway.url, "unruly__slow", { millis: 20_000 })
    expect(slow.isError).toBe(true)
    expect(slow.text).toContain("it did not answer within its call_timeout (1s); the call was cancelled")
    expect(slow.millis).toBeLessThan(5000)
    yield* eventually(
      "the upstream told of the cancellation",
      Effect.sync(() => existsSync(events) ? readFileSync(events, "utf8") : ""),
      (text) => text.includes("cancelled")
    )
    const quick = yield* call(gateway.url, "unruly__slow", { millis: 10 })
    expect(quick).toMatchObject({ text: "slept", isError: false })
  })), { timeout: 60_000 })

it.live(
  "an HTTP server that forgot the gateway's session (404) is initialized again and the call sent once more",
  () =>
    live(Effect.gen(function*() {
      const upstream = yield* revisionServer([McpProtocol.v2025_11_25])
      const { gateway } = yield* gatewayOf({ rev: { url: upstream.url } })
      expect(yield* call(gateway.url, "rev__whoami")).toMatchObject({ text: "revision", isError: false })
      expect(upstream.sessionless).toBe(1)
      yield* upstream.forget
      expect(yield* call(gateway.url, "rev__whoami")).toMatchObject({ text: "revision", isError: false })
      expect(upstream.sessionless).toBe(2)
      expect(yield* call(gateway.url, "rev__whoami")).toMatchObject({ text: "revision", isError: false })
      expect(upstream.sessionless).toBe(2)
    })),
  { timeout: 60_000 }
)

it.live(
  "protocol chooses the revision an upstream is spoken to in: 2026-07-28 (stateless) or 2025-11-25",
  () =>
    live(Effect.gen(function*() {
      const modern = yield* revisionServer([McpProtocol.v2026_07_28])
      const legacy = yield* revisionServer([McpProtocol.v2025_11_25])
      const { gateway } = yield* gatewayOf({
        modern: { url: modern.url, protocol: "2026-07-28" },
        legacy: { url: legacy.url, protocol: "2025-11-25" },
        // The default, 2025-11-25, which this server does not speak: left out.
        mismatched: { url: modern.url }
      })
      // Each is listed once reached: on a loaded machine, maybe after the gateway's start gave up waiting for it.
      yield* eventually("both servers listed", listedTools(gateway.url), (names) => names.length === 2)
      expect(yield* listedTools(gateway.url)).toEqual(["legacy__whoami", "modern__whoami"])
      // The calls of each server's tool, by the revision each was sent in (the mismatched entry's attempts at the
      // modern server's URL, on the supervisor's backoff, are initializations, and come whenever they come).
      const calls = (server: { readonly received: ReadonlyArray<Received> }) =>
        server.received.filter((one) => one.method === "tools/call").map((one) => one.version)
      expect(yield* call(gateway.url, "modern__whoami")).toMatchObject({ text: "revision", isError: false })
      expect(calls(modern)).toEqual(["2026-07-28"])
      expect(modern.sessionless).toBeGreaterThan(0)
      expect(yield* call(gateway.url, "legacy__whoami")).toMatchObject({ text: "revision", isError: false })
      expect(calls(legacy)).toEqual(["2025-11-25"])
      expect(new Set(legacy.received.map((one) => one.version).filter((version) => version !== undefined)))
        .toEqual(new Set(["2025-11-25"]))
    })),
  { timeout: 60_000 }
)

it.live(
  "an HTTP server that ends a call's stream before its answer (SSE polling) has it resumed: the call gets its answer " +
    "and the server stays up; one that refuses the resumption fails the call naming that, and stays up too",
  () => {
    const log = logging()
    return live(Effect.gen(function*() {
      const upstream = yield* conformanceUpstream
      const refusing = yield* refusingResumption(upstream.url)
      const { gateway } = yield* gatewayOf({ polling: { url: upstream.url }, refusing: { url: refusing } })
      yield* eventually(
        "both servers listed",
        listedTools(gateway.url),
        (names) => names.includes("polling__test_reconnection") && names.includes("refusing__test_reconnection")
      )
      expect(yield* call(gateway.url, "polling__test_reconnection")).toMatchObject({
        text: "Reconnection test completed successfully",
        isError: false
      })
      // The gateway's connection resumed the call's stream (the suite's client never called the fixture here).
      expect(upstream.resumedBy).toEqual([Upstreams.implementation.name])
      const refused = yield* call(gateway.url, "refusing__test_reconnection")
      expect(refused).toMatchObject({
        text: "The MCP server `refusing` failed this request: it ended the call's stream before its answer, then " +
          "answered 405 to the stream's resumption",
        isError: true
      })
      expect(yield* call(gateway.url, "refusing__test_simple_text")).toMatchObject({ isError: false })
      expect(yield* call(gateway.url, "polling__test_simple_text")).toMatchObject({ isError: false })
      expect(log.lines.filter((line) => line.includes("is down"))).toEqual([])
    })).pipe(Effect.provide(log.layer))
  },
  { timeout: 60_000 }
)

it.live(
  "OAuth client credentials: a token granted (form-encoded client_credentials), held across calls, renewed after " +
    "a 401 and the call sent again; the secret in no log line",
  () => {
    const log = logging()
    return live(Effect.gen(function*() {
      const oauth = yield* oauthServers(3600)
      const { gateway } = yield* gatewayOf({
        guarded: {
          url: oauth.url,
          token_url: oauth.tokenUrl,
          client_id: "gateway-client",
          client_secret: "env:MCP_UP_CLIENT_SECRET",
          scope: "tools.call tools.list"
        }
      })
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(oauth.grants.length).toBe(1)
      expect(Object.fromEntries(oauth.grants[0]!)).toEqual({
        grant_type: "client_credentials",
        client_id: "gateway-client",
        client_secret: "s3cret-client-value",
        scope: "tools.call tools.list"
      })
      yield* oauth.revoke
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(oauth.grants.length).toBe(2)
      expect(oauth.refused).toContain("token-1")
      expect(log.lines.join("\n")).not.toContain("s3cret-client-value")
    })).pipe(Effect.provide(log.layer))
  },
  { timeout: 60_000 }
)

// On the `TestClock` (the gateway's, in this process): a token's renewal falls at a time of the test's choosing, not of
// how long the machine took to start the gateway and make the first call.
it.effect(
  "OAuth client credentials: a token asked for again shortly before it expires",
  () =>
    live(Effect.gen(function*() {
      const oauth = yield* oauthServers(2)
      const { gateway } = yield* gatewayOf({
        guarded: {
          url: oauth.url,
          token_url: oauth.tokenUrl,
          client_id: "gateway-client",
          client_secret: "env:MCP_UP_CLIENT_SECRET"
        }
      })
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(oauth.grants.length).toBe(1)
      // A token of 2 seconds is held until halfway to its expiry...
      yield* TestClock.adjust("999 millis")
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(oauth.grants.length).toBe(1)
      // ...and asked for again by the first call past it, which is sent with the new one.
      yield* TestClock.adjust("2 millis")
      expect(yield* call(gateway.url, "guarded__ping")).toMatchObject({ text: "pong", isError: false })
      expect(oauth.grants.length).toBe(2)
      expect(oauth.refused).toEqual([])
    })),
  { timeout: 60_000 }
)
