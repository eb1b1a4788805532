/**
 * A 2026-07-28 upstream that needs input of its client (`roundTripServer`'s `sample` tool: a multi round-trip result
 * asking its client's model) through `serve`'s `/mcp`, over loopback. The upstream is told, in each call's `_meta`,
 * what the calling client declared of what the gateway relays (sampling, elicitation, roots), not nothing. A
 * 2026-07-28 client (posting as the revision has it) that did not declare sampling gets the upstream's own -32021 with
 * its `data.requiredCapabilities` and HTTP 400; one that did gets the upstream's `input_required` result as the
 * revision defines it, and its retry with the answer and the state gets the tool's result. A 2025-11-25 client (the
 * official SDK's) that declared sampling is asked the upstream's input request itself, and gets the tool's result; one
 * that did not gets the upstream's refusal as the call's failure.
 */
import { expect, layer } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { roundTripServer, sampleRequest, type Seen } from "../utils/mcpUpstreams.js"
import { scrape, valueOf } from "../utils/prometheus.js"

// How many calls of `modern`'s `sample` the gateway counted as ending `outcome`.
const counted = (url: string, outcome: string) =>
  Effect.map(
    scrape(url, adminKey),
    ({ samples }) => valueOf(samples, "llm_gateway_mcp_calls_total", { server: "modern", tool: "sample", outcome })
  )

const providerKey = "sk-provider-mcp-round-trips-0001"
const adminKey = "gw-mcp-round-trips-admin-3e8b1c"

class Fixture extends Context.Service<Fixture, { readonly gateway: Gateway.Service; readonly seen: Seen }>()(
  "test/GatewayMcpRoundTripsFixture"
) {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const upstream = yield* roundTripServer
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(
        yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
          mcp_servers: { modern: { url: upstream.url, protocol: "2026-07-28" } },
          gateway: { admin_keys: [{ name: "ops", key: adminKey }] }
        })
      ),
      port: 0
    })
    return { gateway, seen: upstream.seen }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const capabilitiesKey = "io.modelcontextprotocol/clientCapabilities"

// A 2026-07-28 client's call of `modern__sample` at `url`, declaring `capabilities`, carrying `more` in its params.
const post = (url: string, capabilities: object, more: object = {}) =>
  mcpPost(`${url}/mcp`, undefined, {
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "modern__sample"
  }, {
    id: 1,
    method: "tools/call",
    params: {
      name: "modern__sample",
      arguments: {},
      ...more,
      _meta: {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
        [capabilitiesKey]: capabilities
      }
    }
  })

interface Body {
  readonly result?: {
    readonly resultType?: string
    readonly inputRequests?: unknown
    readonly requestState?: string
    readonly isError?: boolean
    readonly content?: ReadonlyArray<{ readonly text?: string }>
  }
  readonly error?: { readonly code: number; readonly message: string; readonly data?: unknown }
}

// The official SDK's client at `url` (2025-11-25), declaring sampling when `answer` is given, its model saying it.
const legacyCall = (url: string, answer: string | undefined) =>
  Effect.promise(async () => {
    const sdk = new Client(
      { name: "gateway-mcp-round-trips", version: "1.0.0" },
      { capabilities: answer === undefined ? {} : { sampling: {} } }
    )
    if (answer !== undefined) {
      sdk.setRequestHandler(CreateMessageRequestSchema, (request) => {
        const asked = (request.params.messages[0]!.content as { text: string }).text
        return { role: "assistant", model: "m", content: { type: "text", text: `${answer} to ${asked}` } }
      })
    }
    await sdk.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)))
    try {
      const result = await sdk.callTool({ name: "modern__sample", arguments: {} })
      const content = result.content as ReadonlyArray<{ readonly text?: string }>
      return { isError: result.isError === true, text: content.map((block) => block.text ?? "").join("") }
    } finally {
      await sdk.close()
    }
  })

layer(fixture, { timeout: 60_000 })("a 2026-07-28 upstream's multi round-trip calls through the gateway", (it) => {
  it.effect("a 2026-07-28 client without sampling gets the upstream's -32021 with its data, HTTP 400", () =>
    Effect.gen(function*() {
      const { gateway, seen } = yield* Fixture
      const refusedBefore = yield* counted(gateway.url, "refused")
      for (const declared of [{}, { elicitation: {}, roots: { listChanged: true } }]) {
        const before = seen.metas.length
        const answered = yield* post(gateway.url, declared)
        const body = answered.body as Body
        expect([answered.status, body.error?.code, body.error?.data]).toEqual([
          400,
          -32021,
          { requiredCapabilities: { sampling: {} } }
        ])
        // The upstream was told what the client declared of what the gateway relays.
        expect(seen.metas.slice(before).map((meta) => meta[capabilitiesKey])).toEqual([declared])
      }
      expect((yield* counted(gateway.url, "refused")) - refusedBefore).toBe(2)
    }))

  it.effect("a 2026-07-28 client that declared sampling gets the input_required result; its retry, the result", () =>
    Effect.gen(function*() {
      const { gateway, seen } = yield* Fixture
      const before = seen.metas.length
      const okBefore = yield* counted(gateway.url, "ok")
      const first = yield* post(gateway.url, { sampling: {} })
      const asked = (first.body as Body).result
      expect(first.status).toBe(200)
      expect(asked).toMatchObject({
        resultType: "input_required",
        inputRequests: { answer: sampleRequest },
        requestState: "round-1"
      })
      const answer = { role: "assistant", model: "m", content: { type: "text", text: "four" } }
      const second = yield* post(gateway.url, { sampling: {} }, {
        inputResponses: { answer },
        requestState: asked?.requestState
      })
      const result = (second.body as Body).result
      expect(result?.resultType).toBe("complete")
      expect(result?.content?.[0]?.text).toBe("the model said four (state round-1)")
      expect(seen.metas.slice(before).map((meta) => meta[capabilitiesKey])).toEqual([{ sampling: {} }, {
        sampling: {}
      }])
      // Each round is a call of its own.
      expect((yield* counted(gateway.url, "ok")) - okBefore).toBe(2)
    }))

  it.effect("a 2025-11-25 client is asked the upstream's input request itself; one that cannot be is refused", () =>
    Effect.gen(function*() {
      const { gateway, seen } = yield* Fixture
      const before = seen.metas.length
      expect(yield* legacyCall(gateway.url, "four")).toEqual({
        isError: false,
        text: "the model said four to 2+2? (state round-1)"
      })
      expect(seen.metas.slice(before).map((meta) => meta[capabilitiesKey])).toEqual([{ sampling: {} }, {
        sampling: {}
      }])
      const refused = yield* legacyCall(gateway.url, undefined)
      expect(refused.isError).toBe(true)
      expect(refused.text).toContain("The MCP server `modern` failed this request")
      expect(refused.text).toContain("sampling")
    }))
})
