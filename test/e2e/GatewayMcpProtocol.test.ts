/**
 * What an MCP call through the gateway carries besides a tool's result, over loopback with the official SDK's client
 * against `serve`'s `/mcp` and `/mcp/<server>`, over the three kinds of upstream (an `effect/ai/McpServer` over HTTP,
 * one over stdio, the official SDK's server): resources (text and binary), templates and prompts, qualified at `/mcp`
 * and hidden by a key's rule as tools are; the caller's trace carried to the upstream in `_meta` (`traceparent`) and a
 * span for each call; a call its client cancels cancelled upstream, its reservation given back; and the requests an
 * upstream makes of its client (sampling, roots) refused with a JSON-RPC error naming the method.
 */
import { expect, layer } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"
import { served } from "../utils/mcpClient.js"
import { askingServer, calcServer, effectServer, imageBytes, sdkServer, waitingServer } from "../utils/mcpUpstreams.js"
import { scrape, valueOf } from "../utils/prometheus.js"
import { recordingTracer } from "../utils/recordingTracer.js"
import { temporary } from "../utils/requestLogHarness.js"

const providerKey = "sk-provider-mcp-protocol-0001"
const readerKey = "gw-mcp-protocol-reader-4b6d8f0a2c"
const payerKey = "gw-mcp-protocol-payer-9e1c3a5b7d"
const adminKey = "gw-mcp-protocol-admin-2f4a6c8e0b"

// A client's trace: W3C trace and span ids.
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
const clientSpanId = "00f067aa0ba902b7"
const traceparent = `00-${traceId}-${clientSpanId}-01`

class Fixture extends Context.Service<Fixture, {
  /** Without keys, on loopback: everything. */
  readonly open: Gateway.Service
  /** With keys: `reader` (some resources, templates, prompts and tools), `payer` (the priced `slow__wait`). */
  readonly keyed: Gateway.Service
  readonly files: Effect.Success<typeof effectServer>
  readonly sdk: Effect.Success<typeof sdkServer>
  readonly slow: Effect.Success<ReturnType<typeof waitingServer>>
}>()("test/GatewayMcpProtocolFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const files = yield* effectServer
    const sdk = yield* sdkServer
    const asking = yield* askingServer
    const slow = yield* waitingServer(60_000)
    const dir = yield* temporary
    const servers = {
      files: { url: files.url },
      calc: calcServer,
      sdk: { url: sdk.url, tools: ["echo"] },
      asking: { url: asking.url },
      slow: { url: slow.url, price_per_call: 0.25, max_concurrency: 1 }
    }
    const sim = [{
      model_name: "gpt-4o-mini",
      base_url: `${simulator.url}/v1`,
      api_keys: [providerKey],
      pricing: { input_per_mtok: 1, output_per_mtok: 1 }
    }]
    const open = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(yield* ProviderConfig.fromJson({ sim, mcp_servers: servers })),
      port: 0
    })
    const keyed = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(
        yield* ProviderConfig.fromJson({
          sim,
          mcp_servers: { files: servers.files, sdk: servers.sdk, slow: servers.slow }
        })
      ),
      port: 0,
      database: { sqlite: join(dir, "gateway.db") },
      keys: [
        {
          name: "reader",
          key: Redacted.make(readerKey),
          tools: ["files__readme", "files__note", "sdk__greet", "files__read"]
        },
        { name: "payer", key: Redacted.make(payerKey), tools: ["slow__*"], budget: { limit: 1, period: "1 day" } }
      ],
      adminKeys: [{ name: "ops", key: Redacted.make(adminKey) }]
    })
    // The stdio server (`calc`) listed: on a loaded machine it may answer after the gateway has started.
    yield* served(open.url, ["calc__add"])
    return { open, keyed, files, sdk, slow }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

// The official SDK's client on `url`, with `key` as a Bearer token and `headers` when given, closed with the scope.
const sdkClient = (url: string, key?: string, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "gateway-mcp-protocol-e2e", version: "1.0.0" })
      const all = { ...headers, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) }
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: all } }))
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

// What a request ended in: its result, or its error's code and message.
const outcome = <A>(request: () => Promise<A>) =>
  Effect.promise(() =>
    request().then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({
        ok: false as const,
        code: (error as { code?: unknown }).code,
        message: (error as Error).message
      })
    )
  )

// The message with `name` put for the name it speaks of, so a hidden thing's and an absent one's compare.
const named = (message: string, name: string) => message.replaceAll(name, "NAME")

const base64 = Buffer.from(imageBytes).toString("base64")

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway /mcp: resources, prompts, traces", (it) => {
  it.effect("/mcp lists every server's resources, templates and prompts, qualified, and reads them", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp`)
      const resources = (yield* Effect.promise(() => client.listResources())).resources
      expect(resources.map((resource) => [resource.name, resource.uri]).sort()).toEqual([
        ["files__logo", "mcp://files/file:///logo.png"],
        ["files__readme", "mcp://files/file:///readme.md"],
        ["sdk__memo", "mcp://sdk/memo://today"]
      ])
      const readme = yield* Effect.promise(() => client.readResource({ uri: "mcp://files/file:///readme.md" }))
      expect(readme.contents).toEqual([{
        uri: "mcp://files/file:///readme.md",
        mimeType: "text/markdown",
        text: "# Files"
      }])
      const logo = yield* Effect.promise(() => client.readResource({ uri: "mcp://files/file:///logo.png" }))
      expect(logo.contents).toEqual([{ uri: "mcp://files/file:///logo.png", mimeType: "image/png", blob: base64 }])
      const memo = yield* Effect.promise(() => client.readResource({ uri: "mcp://sdk/memo://today" }))
      expect(memo.contents).toEqual([{
        uri: "mcp://sdk/memo://today",
        mimeType: "text/plain",
        text: "memo at memo://today"
      }])

      const templates = (yield* Effect.promise(() => client.listResourceTemplates())).resourceTemplates
      expect(templates.map((template) => [template.name, template.uriTemplate])).toEqual([
        ["files__note", "mcp://files/file:///notes/{name}"]
      ])
      const note = yield* Effect.promise(() => client.readResource({ uri: "mcp://files/file:///notes/monday" }))
      expect(note.contents).toEqual([{
        uri: "mcp://files/file:///notes/monday",
        mimeType: "text/plain",
        text: "note monday"
      }])

      const prompts = (yield* Effect.promise(() => client.listPrompts())).prompts
      expect(prompts.map((prompt) => prompt.name).sort()).toEqual(["files__review", "sdk__greet"])
      expect(prompts.find((prompt) => prompt.name === "files__review")!.arguments).toEqual([
        { name: "path", description: "The file.", required: true }
      ])
      const review = yield* Effect.promise(() =>
        client.getPrompt({ name: "files__review", arguments: { path: "a.ts" } })
      )
      expect(review.description).toBe("A review of a.ts")
      expect(review.messages).toEqual([
        { role: "user", content: { type: "text", text: "Review a.ts." } },
        {
          role: "user",
          content: { type: "resource", resource: { uri: "file:///a.ts", mimeType: "text/plain", text: "the file" } }
        },
        { role: "assistant", content: { type: "image", data: base64, mimeType: "image/png" } }
      ])
      const greet = yield* Effect.promise(() => client.getPrompt({ name: "sdk__greet", arguments: { name: "Ada" } }))
      expect(greet.messages).toEqual([{ role: "user", content: { type: "text", text: "Hello, Ada!" } }])
    }).pipe(Effect.scoped))

  it.effect("/mcp/<server> serves one server's resources, templates and prompts under their own names and URIs", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp/files`)
      const resources = (yield* Effect.promise(() => client.listResources())).resources
      expect(resources.map((resource) => [resource.name, resource.uri]).sort()).toEqual([
        ["logo", "file:///logo.png"],
        ["readme", "file:///readme.md"]
      ])
      const note = yield* Effect.promise(() => client.readResource({ uri: "file:///notes/friday" }))
      expect(note.contents).toEqual([{ uri: "file:///notes/friday", mimeType: "text/plain", text: "note friday" }])
      const templates = (yield* Effect.promise(() => client.listResourceTemplates())).resourceTemplates
      expect(templates.map((template) => template.uriTemplate)).toEqual(["file:///notes/{name}"])
      const prompts = (yield* Effect.promise(() => client.listPrompts())).prompts
      expect(prompts.map((prompt) => prompt.name)).toEqual(["review"])
    }).pipe(Effect.scoped))

  it.effect("a template's read is sent in its normal form; one that leaves the template is answered as an absent one", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      for (const [path, prefix] of [["/mcp/files", ""], ["/mcp", "mcp://files/"]] as const) {
        const client = yield* sdkClient(`${open.url}${path}`)
        const read = (uri: string) =>
          Effect.promise(() =>
            client.readResource({ uri: `${prefix}${uri}` }).then(
              (result) => ({ contents: result.contents, error: undefined }),
              (error: Error) => ({ contents: undefined, error: named(error.message, `${prefix}${uri}`) })
            )
          )
        // Escapes of unreserved characters: the server is sent the normal form.
        for (const uri of ["file:///notes/%6Donday", "file:///notes/mon%64%61y"]) {
          expect((yield* read(uri)).contents, uri).toEqual([
            { uri: `${prefix}file:///notes/monday`, mimeType: "text/plain", text: "note monday" }
          ])
        }
        const absent = (yield* read("file:///nothing/here")).error
        expect(absent).toBeDefined()
        for (
          const uri of [
            // More segments than `{name}` holds as written, which `McpServer`'s router matches before the gateway.
            "file:///notes/x/../monday",
            "file:///notes/..%2Fsecret",
            "file:///notes/%2e%2e%2fsecret",
            "file:///notes/..%5Csecret",
            "file:///notes/monday?raw=1",
            "file:///notes/monday#top"
          ]
        ) {
          expect((yield* read(uri)).error, uri).toBe(absent)
        }
      }
    }).pipe(Effect.scoped))

  it.effect("a key sees and reads only what its tools allow; a hidden resource or prompt is answered as an absent one", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const client = yield* sdkClient(`${keyed.url}/mcp`, readerKey)
      const resources = (yield* Effect.promise(() => client.listResources())).resources
      expect(resources.map((resource) => resource.name)).toEqual(["files__readme"])
      const templates = (yield* Effect.promise(() => client.listResourceTemplates())).resourceTemplates
      expect(templates.map((template) => template.name)).toEqual(["files__note"])
      const prompts = (yield* Effect.promise(() => client.listPrompts())).prompts
      expect(prompts.map((prompt) => prompt.name)).toEqual(["sdk__greet"])
      expect((yield* outcome(() => client.readResource({ uri: "mcp://files/file:///readme.md" }))).ok).toBe(true)
      expect((yield* outcome(() => client.readResource({ uri: "mcp://files/file:///notes/x" }))).ok).toBe(true)

      const hidden = yield* outcome(() => client.readResource({ uri: "mcp://files/file:///logo.png" }))
      const absent = yield* outcome(() => client.readResource({ uri: "mcp://files/file:///nothing.png" }))
      expect(hidden.ok).toBe(false)
      expect(absent.ok).toBe(false)
      if (hidden.ok || absent.ok) return
      expect(hidden.code).toBe(absent.code)
      expect(named(hidden.message, "mcp://files/file:///logo.png")).toBe(
        named(absent.message, "mcp://files/file:///nothing.png")
      )
      const hiddenPrompt = yield* outcome(() => client.getPrompt({ name: "files__review", arguments: { path: "a" } }))
      const absentPrompt = yield* outcome(() => client.getPrompt({ name: "files__nothing", arguments: { path: "a" } }))
      expect(hiddenPrompt.ok).toBe(false)
      expect(absentPrompt.ok).toBe(false)
      if (hiddenPrompt.ok || absentPrompt.ok) return
      expect(hiddenPrompt.code).toBe(absentPrompt.code)
      expect(named(hiddenPrompt.message, "files__review")).toBe(named(absentPrompt.message, "files__nothing"))

      // The same rule at /mcp/<server>, over the qualified names.
      const files = yield* sdkClient(`${keyed.url}/mcp/files`, readerKey)
      expect((yield* Effect.promise(() => files.listResources())).resources.map((resource) => resource.name)).toEqual([
        "readme"
      ])
      expect((yield* Effect.promise(() => files.listPrompts())).prompts).toEqual([])
    }).pipe(Effect.scoped))

  it.effect("each upstream kind receives the caller's trace id in _meta.traceparent, under a span of the gateway", () =>
    Effect.gen(function*() {
      const { files, open, sdk } = yield* Fixture
      const client = yield* sdkClient(`${open.url}/mcp`)
      const before = { files: files.seen.metas.length, sdk: sdk.metas.length }
      yield* Effect.promise(() =>
        client.callTool({ name: "files__read", arguments: { path: "a" }, _meta: { traceparent, tracestate: "k=v" } })
      )
      yield* Effect.promise(() =>
        client.callTool({ name: "sdk__echo", arguments: { text: "t" }, _meta: { traceparent } })
      )
      const sent = [files.seen.metas[before.files]!, sdk.metas[before.sdk]!]
      for (const meta of sent) {
        const [version, trace, span, flags] = String(meta["traceparent"]).split("-")
        expect([version, trace, flags]).toEqual(["00", traceId, "01"])
        expect(span).toMatch(/^[0-9a-f]{16}$/)
        // The gateway's own span, a child of the client's.
        expect(span).not.toBe(clientSpanId)
      }
      expect(sent[0]!["tracestate"]).toBe("k=v")

      // Over stdio, the trace from the HTTP request's own traceparent header.
      const headed = yield* sdkClient(`${open.url}/mcp`, undefined, { traceparent })
      // A stdio server's start may pass its initialization deadline on a loaded machine: it is started again, and
      // its tools served once it answers.
      yield* eventually(
        "calc's tools are served",
        Effect.promise(() => headed.listTools()),
        (listed) => listed.tools.some((tool) => tool.name === "calc__add")
      )
      const sum = yield* Effect.promise(() => headed.callTool({ name: "calc__add", arguments: { a: 1, b: 2 } }))
      expect(String((sum._meta as { seenTraceparent: string }).seenTraceparent).split("-")[1]).toBe(traceId)
      // A call without a trace starts one: the upstream is sent a traceparent of its own.
      yield* Effect.promise(() => client.callTool({ name: "files__read", arguments: { path: "b" } }))
      const fresh = String(files.seen.metas.at(-1)!["traceparent"]).split("-")
      expect(fresh[1]).toMatch(/^[0-9a-f]{32}$/)
      expect(fresh[1]).not.toBe(traceId)
    }).pipe(Effect.scoped))

  it.effect("a call its client cancels is cancelled upstream; charged once sent, not while waiting for limits", () =>
    Effect.gen(function*() {
      const { keyed, slow } = yield* Fixture
      const client = yield* sdkClient(`${keyed.url}/mcp`, payerKey)
      // `slow` takes one call at a time: the second waits for the first at the gateway.
      const aborts = [new AbortController(), new AbortController()]
      const calls = aborts.map((abort) =>
        client.callTool({ name: "slow__wait", arguments: {} }, undefined, { signal: abort.signal })
          .then(() => "answered", () => "rejected")
      )
      yield* eventually("the first call reached its server", Effect.sync(() => slow.seen.began.length), (n) => n === 1)
      const spend = Effect.map(
        get(keyed, "/admin/keys/config:payer", adminKey),
        (answer) =>
          (JSON.parse(answer.text) as { readonly spend: { readonly spent: number; readonly reserved: number } }).spend
      )
      yield* eventually("both calls reserved", spend, (spend) => spend.reserved === 0.5)
      // The waiting one: never sent, so nothing charged.
      aborts[1]!.abort()
      expect(yield* Effect.promise(() => calls[1]!)).toBe("rejected")
      expect(yield* eventually("its reservation given back", spend, (spend) => spend.reserved === 0.25)).toEqual({
        ...(yield* spend),
        spent: 0,
        reserved: 0.25
      })
      // The one its server is running: cancelled there, and charged its price.
      aborts[0]!.abort()
      expect(yield* Effect.promise(() => calls[0]!)).toBe("rejected")
      yield* eventually("the upstream call was cancelled", Effect.sync(() => slow.seen.cancelled), (n) => n === 1)
      expect(slow.seen.inFlight).toBe(0)
      expect(slow.seen.began).toHaveLength(1)
      const settled = yield* eventually("the call settled", spend, (spend) => spend.reserved === 0)
      expect(settled.spent).toBe(0.25)
      const { samples } = yield* scrape(keyed.url, adminKey)
      expect(valueOf(samples, "llm_gateway_mcp_calls_total", { server: "slow", tool: "wait", outcome: "cancelled" }))
        .toBe(2)
    }).pipe(Effect.scoped))

  it.effect("an upstream's sampling and roots requests reach the calling client; its own refusal goes back as given", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      // The client declares sampling and roots but handles neither: the official client refuses each itself.
      const client = new Client({ name: "asks", version: "1.0.0" }, { capabilities: { sampling: {}, roots: {} } })
      yield* Effect.acquireRelease(
        Effect.promise(() => client.connect(new StreamableHTTPClientTransport(new URL(`${open.url}/mcp`)))),
        () => Effect.promise(() => client.close())
      )
      const result = yield* Effect.promise(() => client.callTool({ name: "asking__ask", arguments: {} }))
      const content = result.structuredContent as Record<string, Record<string, unknown>>
      // The client's own words, not the gateway's `Unsupported MCP method` of a request it did not relay.
      expect(content["sampling"]).toEqual({ code: -32601, message: "MCP error -32601: Method not found" })
      expect(content["roots"]).toEqual({ code: -32601, message: "MCP error -32601: Method not found" })
      // The gateway's one connection declares the three it relays, for every session.
      expect(Object.keys(content["capabilities"] ?? {}).sort()).toEqual(["elicitation", "roots", "sampling"])
    }).pipe(Effect.scoped))
})

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway /mcp: spans", (it) => {
  it.effect("a proxied call is a span under the caller's: server, tool, key id, outcome; never the key", () =>
    Effect.gen(function*() {
      const { files } = yield* Fixture
      const { spans, tracer } = recordingTracer()
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const sim = [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }]
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(
          yield* ProviderConfig.fromJson({ sim, mcp_servers: { files: { url: files.url } } })
        ),
        port: 0,
        keys: [{ name: "reader", key: Redacted.make(readerKey), tools: ["files__*"] }]
      }).pipe(Effect.withTracer(tracer))
      const client = yield* sdkClient(`${gateway.url}/mcp`, readerKey)
      yield* Effect.promise(() =>
        client.callTool({ name: "files__read", arguments: { path: "a" }, _meta: { traceparent } })
      )
      yield* Effect.promise(() => client.callTool({ name: "files__fail", arguments: { path: "a" } }))
      const calls = spans.filter((span) => span.name.startsWith("tools/call "))
      expect(calls.map((span) => span.name)).toEqual(["tools/call files__read", "tools/call files__fail"])
      expect(calls[0]!.parent).toBe(clientSpanId)
      expect(Object.fromEntries(calls[0]!.attributes)).toEqual({
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "read",
        "llm_router.mcp_server": "files",
        "llm_router.key_id": "config:reader",
        "llm_router.mcp_outcome": "ok"
      })
      expect(calls[1]!.attributes.get("llm_router.mcp_outcome")).toBe("tool_error")
      expect(calls.every((span) => span.ended)).toBe(true)
      expect(JSON.stringify(calls.map((span) => Object.fromEntries(span.attributes)))).not.toContain(readerKey)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
