/**
 * An upstream's progress and logs during a call reach the client that made it, over loopback with the official SDK's
 * client (its `onprogress`) against `serve`'s `/mcp` and `/mcp/<server>`, over the three kinds of upstream (an
 * `effect/ai/McpServer` over HTTP in 2025-11-25 and in 2026-07-28, one over stdio, the official SDK's server), each
 * with the `count` tool
 * (`test/utils/mcpProgress.ts`): the client's progress token is not what the upstream sees (the gateway's own is), its
 * progress comes back under its own token, two clients' progress never crosses, and a flood of logs is cut at the
 * bound.
 */
import { expect, layer } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as Relay from "../../src/internal/gateway/mcp/relay.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sdkClient, served } from "../utils/mcpClient.js"
import { progressCount, progressStdioServer, sdkProgressCount } from "../utils/mcpProgress.js"
import { effectUpstream, sdkUpstream } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-progress-0001"

// Each upstream: at `/mcp` under its qualified name, at `/mcp/<server>` under its own.
const upstreams = ["steps", "sdk", "counter", "modern"] as const

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  /** The progress tokens each HTTP upstream was sent, by server. */
  readonly tokens: Readonly<Record<"steps" | "sdk" | "modern", ReadonlyArray<unknown>>>
}>()("test/GatewayMcpProgressFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const sim = [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }]
    const tokens = { steps: [] as Array<unknown>, sdk: [] as Array<unknown>, modern: [] as Array<unknown> }
    const steps = yield* effectUpstream("steps", (server) => server.addTool(progressCount(server, tokens.steps)))
    const modern = yield* effectUpstream(
      "modern",
      (server) => server.addTool(progressCount(server, tokens.modern)),
      [McpProtocol.v2026_07_28]
    )
    const sdk = yield* sdkUpstream(
      "sdk",
      { capabilities: { tools: {}, logging: {} } },
      (server) => sdkProgressCount(server, tokens.sdk)
    )
    const servers = {
      steps: { url: steps.url },
      sdk: { url: sdk.url },
      counter: progressStdioServer,
      modern: { url: modern.url, protocol: "2026-07-28" }
    }
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(yield* ProviderConfig.fromJson({ sim, mcp_servers: servers })),
      port: 0
    })
    // Each upstream's `count` served at both endpoints before any test calls it: the start waits a while, not until
    // every server answers (the stdio one may start slower than that on a loaded machine).
    yield* served(gateway.url, upstreams.map((server) => `${server}__count`))
    for (const server of upstreams) yield* served(gateway.url, ["count"], undefined, `/mcp/${server}`)
    return { gateway, tokens }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

interface Progress {
  readonly progress: number
  readonly total?: number | undefined
  readonly message?: string | undefined
}

/** What one call of `count` brought its client: its progress, the logs during it, and its result's text. */
const counted = (client: Client, name: string, args: { n: number; tag: string; logs?: number }, progress = true) =>
  Effect.promise(async () => {
    const seen: Array<Progress> = []
    const logs: Array<unknown> = []
    client.setNotificationHandler(LoggingMessageNotificationSchema, (log) => void logs.push(log.params.data))
    const result = await client.callTool(
      { name, arguments: args },
      undefined,
      progress ? { onprogress: (one) => void seen.push(one) } : {}
    )
    return { progress: seen, logs, text: (result.content as Array<{ text: string }>)[0]!.text }
  })

const expected = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({ progress: i + 1, total: n, message: `${tag} ${i + 1}` }))

layer(fixture, { timeout: 120_000, excludeTestServices: true })("Gateway /mcp: progress and logs relayed", (it) => {
  it.effect("each upstream's progress and logs reach the client under its own token, at /mcp and /mcp/<server>", () =>
    Effect.gen(function*() {
      const { gateway, tokens } = yield* Fixture
      for (const server of upstreams) {
        for (const [path, name] of [["/mcp", `${server}__count`], [`/mcp/${server}`, "count"]] as const) {
          const client = yield* sdkClient(`${gateway.url}${path}`)
          const tag = `${server}${path.length}`
          const call = yield* counted(client, name, { n: 3, tag, logs: 2 })
          expect(call.text).toBe(`${tag} counted 3`)
          expect(call.progress, `${server} at ${path}`).toEqual(expected(3, tag))
          // A 2026-07-28 upstream logs to a call only when its client named a level (this client has a session).
          const logs = server === "modern" ? [] : [`${tag} log 1`, `${tag} log 2`]
          expect(call.logs, `${server} at ${path}`).toEqual(logs)
        }
      }
      // The upstreams were sent the gateway's tokens, never a client's (the SDK's are its request ids, numbers).
      const sent = [...tokens.steps, ...tokens.sdk, ...tokens.modern]
      for (const token of sent) expect(String(token)).toMatch(/^progress-[0-9a-f-]{36}$/)
      expect(new Set(sent).size).toBe(sent.length)
    }).pipe(Effect.scoped))

  it.effect("a call without a progress token is sent none; its logs still reach its client", () =>
    Effect.gen(function*() {
      const { gateway, tokens } = yield* Fixture
      const client = yield* sdkClient(`${gateway.url}/mcp`)
      const before = tokens.sdk.length
      const call = yield* counted(client, "sdk__count", { n: 3, tag: "quiet", logs: 1 }, false)
      expect(tokens.sdk.slice(before)).toEqual([undefined])
      expect(call.progress).toEqual([])
      expect(call.logs).toEqual(["quiet log 1"])
    }).pipe(Effect.scoped))

  it.effect("two clients' concurrent calls each get only their own progress, on every upstream (a table)", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      // Both clients' tokens are the same number (each SDK client counts its own requests from 0): only the gateway's
      // tokens keep them apart at the upstream.
      const table = [[3, 5], [6, 2], [4, 4]] as const
      for (const server of upstreams) {
        for (const [a, b] of table) {
          const first = yield* sdkClient(`${gateway.url}/mcp`)
          const second = yield* sdkClient(`${gateway.url}/mcp/${server}`)
          const [one, two] = yield* Effect.all([
            counted(first, `${server}__count`, { n: a, tag: "first" }),
            counted(second, "count", { n: b, tag: "second" })
          ], { concurrency: 2 })
          expect(one.progress, `${server} ${a}/${b}`).toEqual(expected(a, "first"))
          expect(two.progress, `${server} ${a}/${b}`).toEqual(expected(b, "second"))
        }
      }
    }).pipe(Effect.scoped))

  it.effect("an upstream's flood of logs during one call is cut at the relay's bound", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const server of ["sdk", "steps"] as const) {
        const client = yield* sdkClient(`${gateway.url}/mcp`)
        const call = yield* counted(client, `${server}__count`, { n: 1, tag: "flood", logs: Relay.maxLogs + 50 })
        expect(call.logs, server).toEqual(Array.from({ length: Relay.maxLogs }, (_, i) => `flood log ${i + 1}`))
        expect(call.progress).toEqual(expected(1, "flood"))
      }
    }).pipe(Effect.scoped))
})
