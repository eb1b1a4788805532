/**
 * An upstream's requests of its client during a call (sampling, elicitation, roots) reach the client that made the
 * call and its answer goes back, over loopback: the official SDK's server upstream (its tool `ask`,
 * `test/utils/mcpAsking.ts`, sends the request on the call's stream and says back what it was answered), the official
 * SDK's client through `serve`'s `/mcp` with its own handlers. A client that did not declare the capability is
 * answered -32601 for it, as is a request on the upstream's standalone stream; two clients' concurrent calls each
 * answer only their own. The same tool on the SDK's stdio server (`test/fixtures/mcp/askingServer.ts`): its requests
 * during a call relayed, the answer on its stdin, one with no call in flight refused. A 2026-07-28 client's call is
 * refused them, -32601 naming its revision; one that did not declare what the upstream asks for (any set it may
 * declare, any request) gets the protocol's -32021 (HTTP 400) naming it, and the call is counted refused. Progress and cancellation of a relayed request pass both ways, for both
 * upstreams: the client's progress reaches the upstream's `onprogress` (the client sees a token of the gateway's own),
 * the upstream's cancel (its `AbortSignal`) aborts the client's handler, and the client's cancel of the id it was sent
 * ends the upstream's request with an error. A call its client cancels (its `AbortSignal`) is cancelled at an HTTP and
 * a stdio upstream (the SDK server's handler aborted) and counted `cancelled`.
 */
import { expect, layer } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js"
import {
  type ClientCapabilities,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import type { ClientNotification, ClientRequest } from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { asking, type Kind } from "../utils/mcpAsking.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { askingStdioServer, sdkUpstream } from "../utils/mcpUpstreams.js"
import { scrape, valueOf } from "../utils/prometheus.js"

const providerKey = "sk-provider-mcp-asks-0001"
const adminKey = "gw-mcp-asks-admin-5c7e9a1b3d"

class Fixture extends Context.Service<Fixture, { readonly gateway: Gateway.Service }>()(
  "test/GatewayMcpServerRequestsFixture"
) {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const sim = [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }]
    const asker = yield* sdkUpstream("asker", { capabilities: { tools: {} } }, asking, { session: true })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(
        yield* ProviderConfig.fromJson({
          sim,
          mcp_servers: { asker: { url: asker.url }, local: askingStdioServer },
          gateway: { admin_keys: [{ name: "ops", key: adminKey }] }
        })
      ),
      port: 0
    })
    return { gateway }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

/** The official SDK's client at `url`, declaring `capabilities`, answering each request with what `who` says. */
const client = (url: string, who: string, capabilities: ClientCapabilities) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sdk = new Client({ name: "gateway-mcp-asks", version: "1.0.0" }, { capabilities })
      if (capabilities.sampling !== undefined) {
        sdk.setRequestHandler(CreateMessageRequestSchema, async (request) => {
          const asked = (request.params.messages[0]!.content as { text: string }).text
          await new Promise((resolve) => setTimeout(resolve, 20))
          return { role: "assistant", model: `${who}-model`, content: { type: "text", text: `${who} says ${asked}` } }
        })
      }
      if (capabilities.elicitation !== undefined) {
        sdk.setRequestHandler(ElicitRequestSchema, () => ({ action: "accept", content: { name: who } }))
      }
      if (capabilities.roots !== undefined) {
        sdk.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: `file:///${who}`, name: who }] }))
      }
      await sdk.connect(new StreamableHTTPClientTransport(new URL(url)))
      return sdk
    }),
    (sdk) => Effect.promise(() => sdk.close())
  )

type Extra = RequestHandlerExtra<ClientRequest, ClientNotification>
type Sampling = (
  request: { params: { _meta?: { progressToken?: string | number | undefined } | undefined } },
  extra: Extra
) => Promise<unknown>

/** The official SDK's client at `url`, declaring sampling only, whose requests `sampling` handles. */
const samplingClient = (url: string, sampling: Sampling) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sdk = new Client({ name: "gateway-mcp-asks", version: "1.0.0" }, { capabilities: { sampling: {} } })
      sdk.setRequestHandler(CreateMessageRequestSchema, (request, extra) => sampling(request, extra) as never)
      await sdk.connect(new StreamableHTTPClientTransport(new URL(url)))
      return sdk
    }),
    (sdk) => Effect.promise(() => sdk.close())
  )

// Resolves once `signal` aborts, or after `millis`: whether it aborted.
const abortedWithin = (signal: AbortSignal, millis: number) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), millis)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

const sampled = { role: "assistant", model: "m", content: { type: "text", text: "done" } }

const ask = (
  sdk: Client,
  name: string,
  kind: Kind,
  text: string,
  how: {
    readonly standalone?: boolean
    readonly detached?: boolean
    readonly report?: boolean
    readonly progress?: boolean
    readonly cancelAfter?: number
  } = {}
) =>
  Effect.promise(async () => {
    const result = await sdk.callTool({ name, arguments: { kind, text, ...how } })
    return {
      isError: result.isError === true,
      answer: JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Record<string, unknown>
    }
  })

layer(fixture, { timeout: 120_000, excludeTestServices: true })("Gateway /mcp: a server's requests relayed", (it) => {
  it.effect("sampling, elicitation and roots reach the calling client; its answers reach the tool", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const path of ["/mcp", "/mcp/asker"]) {
        const name = path === "/mcp" ? "asker__ask" : "ask"
        const sdk = yield* client(`${gateway.url}${path}`, "ada", { sampling: {}, elicitation: {}, roots: {} })
        const sampled = yield* ask(sdk, name, "sampling", "hello")
        expect(sampled, path).toEqual({
          isError: false,
          answer: { role: "assistant", model: "ada-model", content: { type: "text", text: "ada says hello" } }
        })
        const elicited = yield* ask(sdk, name, "elicitation", "who?")
        expect(elicited, path).toEqual({ isError: false, answer: { action: "accept", content: { name: "ada" } } })
        const roots = yield* ask(sdk, name, "roots", "")
        expect(roots, path).toEqual({ isError: false, answer: { roots: [{ uri: "file:///ada", name: "ada" }] } })
      }
    }).pipe(Effect.scoped))

  it.effect("a client that did not declare a capability is answered -32601 for its requests", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const capabilities of [{}, { roots: {} }]) {
        const sdk = yield* client(`${gateway.url}/mcp`, "bob", capabilities)
        for (const kind of ["sampling", "elicitation"] as const) {
          const refused = yield* ask(sdk, "asker__ask", kind, "hello")
          expect(refused.isError, kind).toBe(true)
          expect(refused.answer["code"], kind).toBe(-32601)
        }
      }
    }).pipe(Effect.scoped))

  it.effect("a request on the upstream's standalone stream (no call's) is answered -32601, not left waiting", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      const sdk = yield* client(`${gateway.url}/mcp`, "dee", { roots: {} })
      const refused = yield* ask(sdk, "asker__ask", "roots", "", { standalone: true })
      expect(refused).toEqual({
        isError: true,
        answer: { code: -32601, message: "MCP error -32601: Unsupported MCP method: roots/list" }
      })
    }).pipe(Effect.scoped))

  it.effect("two clients' concurrent calls each answer only their own requests", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      const ada = yield* client(`${gateway.url}/mcp`, "ada", { sampling: {} })
      const cy = yield* client(`${gateway.url}/mcp/asker`, "cy", { sampling: {} })
      const rounds = yield* Effect.all(
        Array.from({ length: 4 }, (_, i) =>
          Effect.all([ask(ada, "asker__ask", "sampling", `a${i}`), ask(cy, "ask", "sampling", `c${i}`)], {
            concurrency: 2
          })),
        { concurrency: 4 }
      )
      rounds.forEach(([one, two], i) => {
        expect(one.answer["content"]).toEqual({ type: "text", text: `ada says a${i}` })
        expect(two.answer["content"]).toEqual({ type: "text", text: `cy says c${i}` })
      })
    }).pipe(Effect.scoped))

  it.effect("a stdio upstream's requests during a call reach the calling client; its answers go back on stdin", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const path of ["/mcp", "/mcp/local"]) {
        const name = path === "/mcp" ? "local__ask" : "ask"
        const sdk = yield* client(`${gateway.url}${path}`, "eve", { sampling: {}, elicitation: {}, roots: {} })
        expect(yield* ask(sdk, name, "sampling", "hi"), path).toEqual({
          isError: false,
          answer: { role: "assistant", model: "eve-model", content: { type: "text", text: "eve says hi" } }
        })
        expect(yield* ask(sdk, name, "elicitation", "who?"), path).toEqual({
          isError: false,
          answer: { action: "accept", content: { name: "eve" } }
        })
        expect(yield* ask(sdk, name, "roots", ""), path).toEqual({
          isError: false,
          answer: { roots: [{ uri: "file:///eve", name: "eve" }] }
        })
      }
    }).pipe(Effect.scoped))

  it.effect("a stdio upstream's request is answered -32601 for a client without the capability, or with no call", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      const sdk = yield* client(`${gateway.url}/mcp`, "fay", { roots: {} })
      const refused = yield* ask(sdk, "local__ask", "sampling", "hello")
      expect(refused).toEqual({
        isError: true,
        answer: { code: -32601, message: "MCP error -32601: Unsupported MCP method: sampling/createMessage" }
      })
      expect(yield* ask(sdk, "local__ask", "roots", "")).toEqual({
        isError: false,
        answer: { roots: [{ uri: "file:///fay", name: "fay" }] }
      })
      yield* ask(sdk, "local__ask", "roots", "", { detached: true })
      yield* Effect.sleep("1 second")
      expect(yield* ask(sdk, "local__ask", "roots", "", { report: true })).toEqual({
        isError: true,
        answer: { code: -32601, message: "MCP error -32601: Unsupported MCP method: roots/list" }
      })
    }).pipe(Effect.scoped))

  it.effect("a 2026-07-28 client is refused its upstream's requests, -32601 naming its revision", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const name of ["asker__ask", "local__ask"]) {
        for (const kind of ["sampling", "elicitation", "roots"] as const) {
          const answered = yield* mcpPost(`${gateway.url}/mcp`, undefined, {
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": name
          }, {
            id: 1,
            method: "tools/call",
            params: {
              name,
              arguments: { kind, text: "hello" },
              _meta: {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
                "io.modelcontextprotocol/clientCapabilities": { sampling: {}, elicitation: {}, roots: {} }
              }
            }
          })
          const method =
            { sampling: "sampling/createMessage", elicitation: "elicitation/create", roots: "roots/list" }[kind]
          const result = answered.body?.result as { isError?: boolean; content: Array<{ text: string }> }
          expect(result.isError, `${name} ${kind}`).toBe(true)
          const { code, message } = JSON.parse(result.content[0]!.text) as { code: number; message: string }
          expect(code, `${name} ${kind}`).toBe(-32601)
          expect(message, `${name} ${kind}`).toContain(
            `Unsupported MCP method: ${method} (the calling client is on MCP 2026-07-28`
          )
        }
      }
    }).pipe(Effect.scoped))
  it.effect("a 2026-07-28 client that did not declare what its call's upstream asks for is answered -32021 (400)", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      const kinds = ["sampling", "elicitation", "roots"] as const
      const method = { sampling: "sampling/createMessage", elicitation: "elicitation/create", roots: "roots/list" }
      // Every set of capabilities a client may declare, and every request an HTTP and a stdio upstream may make.
      const declarations = [0, 1, 2, 3, 4, 5, 6, 7].map((bits) => kinds.filter((_, n) => (bits & (1 << n)) !== 0))
      const refused = { asker: 0, local: 0 }
      for (const [server, name] of [["asker", "asker__ask"], ["local", "local__ask"]] as const) {
        for (const declared of declarations) {
          for (const kind of kinds) {
            const answered = yield* mcpPost(`${gateway.url}/mcp`, undefined, {
              "mcp-protocol-version": "2026-07-28",
              "mcp-method": "tools/call",
              "mcp-name": name
            }, {
              id: 1,
              method: "tools/call",
              params: {
                name,
                arguments: { kind, text: "hello" },
                _meta: {
                  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
                  "io.modelcontextprotocol/clientCapabilities": Object.fromEntries(declared.map((one) => [one, {}]))
                }
              }
            })
            const label = `${name} ${kind} declaring [${declared.join(", ")}]`
            const body = answered.body as {
              readonly result?: { readonly isError?: boolean; readonly content: Array<{ readonly text: string }> }
              readonly error?: { readonly code: number; readonly data?: unknown }
            }
            if (declared.includes(kind)) {
              // Declared: the gateway cannot ask it in this revision (no multi round-trip result), as before.
              expect(body.result?.isError, label).toBe(true)
              expect(body.result?.content[0]?.text, label).toContain(`Unsupported MCP method: ${method[kind]}`)
            } else {
              refused[server] += 1
              expect([answered.status, body.error?.code, body.error?.data], label).toEqual([
                400,
                -32021,
                { requiredCapabilities: { [kind]: kind === "elicitation" ? { form: {} } : {} } }
              ])
            }
          }
        }
      }
      const { samples } = yield* scrape(gateway.url, adminKey)
      for (const server of ["asker", "local"] as const) {
        expect(valueOf(samples, "llm_gateway_mcp_calls_total", { server, tool: "ask", outcome: "refused" }), server)
          .toBe(refused[server])
      }
    }).pipe(Effect.scoped))

  it.effect("a client's progress for a relayed request reaches its upstream under the upstream's own token", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const name of ["asker__ask", "local__ask"]) {
        const tokens: Array<unknown> = []
        const sdk = yield* samplingClient(`${gateway.url}/mcp`, async (request, extra) => {
          const progressToken = request.params._meta?.progressToken
          tokens.push(progressToken)
          if (progressToken !== undefined) {
            for (const [progress, message] of [[1, "half"], [2, "done"]] as const) {
              await extra.sendNotification({
                method: "notifications/progress",
                params: { progressToken, progress, total: 2, message }
              })
            }
            // The official SDK's server handles a notification a tick after a response read with it (one chunk of a
            // stdio server's input): a progress right before its answer would find its handler gone.
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
          return sampled
        })
        const reported = yield* ask(sdk, name, "sampling", "p", { progress: true })
        expect(reported.answer, name).toEqual({
          answer: sampled,
          isError: false,
          progress: [{ progress: 1, total: 2, message: "half" }, { progress: 2, total: 2, message: "done" }]
        })
        // The client is sent a token of the gateway's own, never the upstream's (the SDK numbers its own from 0).
        expect(String(tokens[0]), name).toMatch(/^progress-[0-9a-f-]{36}$/)
        // A request that asked for no progress carries no token to the client.
        yield* ask(sdk, name, "sampling", "q")
        expect(tokens[1], name).toBeUndefined()
      }
    }).pipe(Effect.scoped))

  it.effect("an upstream's cancel of its request aborts the client's handler of it; the relay stops waiting", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const name of ["asker__ask", "local__ask"]) {
        const aborted: Array<boolean> = []
        const sdk = yield* samplingClient(`${gateway.url}/mcp`, async (_, extra) => {
          aborted.push(await abortedWithin(extra.signal, 20_000))
          return sampled
        })
        const cancelled = yield* ask(sdk, name, "sampling", "c", { cancelAfter: 500 })
        expect(cancelled.isError, name).toBe(true)
        // The client was told (`notifications/cancelled` of the id the gateway sent it), long before its 20 s.
        expect(
          yield* eventually(`${name}: the client's handler ended`, Effect.sync(() => aborted), (a) => a.length > 0)
        )
          .toEqual([true])
        // The upstream is answered nothing: its next request is relayed and answered as usual.
        const sdk2 = yield* samplingClient(`${gateway.url}/mcp`, async () => sampled)
        expect((yield* ask(sdk2, name, "sampling", "again")).answer, name).toEqual(sampled)
      }
    }).pipe(Effect.scoped))

  it.effect("a client's cancel of a relayed request (the id it was sent) ends the upstream's request with an error", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      for (const name of ["asker__ask", "local__ask"]) {
        const ended: Array<boolean> = []
        const sdk = yield* samplingClient(`${gateway.url}/mcp`, async (_, extra) => {
          await extra.sendNotification({
            method: "notifications/cancelled",
            params: { requestId: extra.requestId, reason: "the user declined" }
          })
          ended.push(await abortedWithin(extra.signal, 20_000))
          return sampled
        })
        const refused = yield* ask(sdk, name, "sampling", "x")
        expect(refused, name).toEqual({
          isError: true,
          answer: { code: -32603, message: "MCP error -32603: The client cancelled sampling/createMessage" }
        })
        expect(yield* eventually(`${name}: the client's handler ended`, Effect.sync(() => ended), (a) => a.length > 0))
          .toEqual([true])
      }
    }).pipe(Effect.scoped))

  it.effect("a call its client cancels is cancelled at its upstream, HTTP and stdio, and counted cancelled", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Fixture
      const sdk = yield* client(`${gateway.url}/mcp`, "gus", {})
      for (const [server, name] of [["asker", "asker__ask"], ["local", "local__ask"]] as const) {
        const abort = new AbortController()
        const call = sdk.callTool({ name, arguments: { kind: "roots", text: "", hold: 20_000 } }, undefined, {
          signal: abort.signal
        }).then(() => "answered", () => "rejected")
        yield* Effect.sleep("300 millis")
        abort.abort()
        expect(yield* Effect.promise(() => call), name).toBe("rejected")
        // The upstream's handler of the call was aborted: it got `notifications/cancelled` of its request's id.
        const held = Effect.map(
          Effect.promise(() => sdk.callTool({ name, arguments: { kind: "roots", text: "", held: true } })),
          (result) => JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as { cancelled: number }
        )
        expect(yield* eventually(`${name} told of the cancel`, held, (seen) => seen.cancelled === 1), name).toEqual({
          cancelled: 1
        })
        const { samples } = yield* scrape(gateway.url, adminKey)
        expect(valueOf(samples, "llm_gateway_mcp_calls_total", { server, tool: "ask", outcome: "cancelled" }), name)
          .toBe(1)
      }
    }).pipe(Effect.scoped))
})
