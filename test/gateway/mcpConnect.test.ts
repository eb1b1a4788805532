/**
 * The opening of an MCP server's connection (`internal/gateway/mcp/upstream.ts`, `connect`), which the gateway's start
 * waits for, on a `TestClock`: however long each of its steps takes (the OAuth token's grant, `initialize`, each list),
 * it opens within `connectTimeout` or is given up then, the server left to the supervisor and served from when it
 * answers. The server and its token endpoint are an `HttpClient` answering in memory, each step after its delay.
 */
import { expect } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Credentials from "../../src/internal/gateway/mcp/credentials.js"
import * as Upstreams from "../../src/internal/gateway/mcp/upstream.js"
import { effectProp } from "../utils/effectProp.js"

/** The requests an opening waits for, in order. */
const steps = [
  "token",
  "initialize",
  "tools/list",
  "resources/list",
  "prompts/list",
  "resources/templates/list"
] as const

type Delays = Readonly<Record<(typeof steps)[number], number>>

const results: Readonly<Record<string, unknown>> = {
  initialize: {
    protocolVersion: "2025-11-25",
    capabilities: { tools: {}, resources: {}, prompts: {} },
    serverInfo: { name: "slow", version: "1.0.0" }
  },
  "tools/list": { tools: [{ name: "read", inputSchema: { type: "object" } }] },
  "resources/list": { resources: [] },
  "prompts/list": { prompts: [] },
  "resources/templates/list": { resourceTemplates: [] }
}

// An MCP server over Streamable HTTP and its token endpoint, answering each request of an opening after its delay.
function slowServer(delays: Delays) {
  return HttpClient.make((request) =>
    Effect.gen(function*() {
      const answer = (status: number, body?: unknown) =>
        HttpClientResponse.fromWeb(
          request,
          new Response(body === undefined ? null : JSON.stringify(body), {
            status,
            headers: { "content-type": "application/json" }
          })
        )
      if (request.url.endsWith("/token")) {
        yield* Effect.sleep(Duration.millis(delays.token))
        return answer(200, { access_token: "granted", expires_in: 3600 })
      }
      if (request.method !== "POST" || request.body._tag !== "Uint8Array") return answer(405)
      const message = JSON.parse(new TextDecoder().decode(request.body.body)) as {
        readonly id?: number
        readonly method: keyof typeof results
      }
      if (message.id === undefined) return answer(202)
      yield* Effect.sleep(Duration.millis(delays[message.method as keyof Delays] ?? 0))
      return answer(200, { jsonrpc: "2.0", id: message.id, result: results[message.method] })
    })
  )
}

const server = {
  url: "http://mcp.test/mcp",
  oauth: { tokenUrl: "http://auth.test/token", clientId: "gateway", clientSecret: Redacted.make("s3cret") }
}

const timeout = Duration.toMillis(Upstreams.connectTimeout)

// Each step quick or up to the whole bound, so that some openings fit within it and others do not.
const delay = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: timeout / 8 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: timeout - 1 }), weight: 1 }
)

const delays = fc.record(
  Object.fromEntries(steps.map((step) => [step, delay])) as {
    readonly [K in keyof Delays]: fc.Arbitrary<number>
  }
).filter((each) => steps.reduce((sum, step) => sum + each[step], 0) !== timeout)

effectProp(
  "an MCP server's connection opens within connectTimeout whatever each step takes, or is given up then",
  delays,
  (each) =>
    Effect.gen(function*() {
      const connecting = yield* Effect.forkScoped(
        Upstreams.connect("files", server, Credentials.make({ files: server })).pipe(
          Effect.provideService(HttpClient.HttpClient, slowServer(each))
        )
      )
      yield* TestClock.adjust(Upstreams.connectTimeout)
      const upstream = yield* Fiber.join(connecting)
      const total = steps.reduce((sum, step) => sum + each[step], 0)
      const listing = yield* upstream.listing
      expect(listing === Upstreams.unlisted ? "given up" : listing.tools.map((tool) => tool.name)).toEqual(
        total < timeout ? ["read"] : "given up"
      )
    }),
  40
)
