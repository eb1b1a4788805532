import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { faulty, type Raw, rejection, send } from "../utils/gatewayHarness.js"
import { jsonLines, logLineOf } from "../utils/requestLines.js"

const key = "sk-gateway-http-key-0001"
const gatewayKey = "gw-http-key-0002"
const adminKey = "gw-http-admin-0003"
const admin = { authorization: `Bearer ${adminKey}` }

class Fixture extends Context.Service<Fixture, {
  readonly open: Gateway.Service
  readonly keyed: Gateway.Service
  readonly simulator: Simulator.Simulator
  readonly lines: ReadonlyArray<string>
  /** The port nothing listens on, which the `gone` deployment's base URL names. */
  readonly closedPort: number
}>()("test/GatewayHttpFixture") {}

// A loopback port that was free a moment ago: connecting to it is refused.
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 4 })
    const port = yield* closedPort
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }],
      gone: [{ model_name: "gpt-4o-mini", base_url: `http://127.0.0.1:${port}/v1`, api_keys: [key], max_retries: 0 }],
      down: faulty(simulator, key, "status=503;retry-after=none"),
      broken: faulty(simulator, key, "stream-error=2")
    })
    const lines: Array<string> = []
    const served = Effect.all({
      open: Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        adminKeys: [{ name: "admin", key: Redacted.make(adminKey) }],
        logRequests: true,
        modelLoadDetails: true
      }),
      keyed: Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        keys: [{ name: "app", key: Redacted.make(gatewayKey) }]
      })
    })
    const { keyed, open } = yield* served.pipe(
      Effect.provide(jsonLines(lines))
    )
    return { open, keyed, simulator, lines, closedPort: port }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const hello = JSON.stringify({ model: "sim/gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] })
const anthropicHello = JSON.stringify({
  model: "sim/gpt-4o-mini",
  max_tokens: 16,
  messages: [{ role: "user", content: "Hi" }]
})
// `body` asking for a stream.
const streaming = (body: string) => body.replace("{", `{"stream":true,`)
const json = { "content-type": "application/json" }

const post = (gateway: Gateway.Service, path: string, headers: Record<string, string>, body = hello) =>
  send(gateway, { method: "POST", path, headers, body })

const errorOf = (answer: Raw) => (JSON.parse(answer.text) as { readonly error: Record<string, unknown> }).error

// The gateway and the simulator run on the live clock; only each test's own fiber has a TestClock.
layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway's HTTP edges over loopback", (it) => {
  it.effect("a POST whose body is not declared JSON is a 415 in the route's shape, and nothing is sent", () =>
    Effect.gen(function*() {
      const { open, simulator } = yield* Fixture
      const before = (yield* simulator.stats).requests
      // A page's form or `fetch` without preflight: text/plain.
      const plain = yield* post(open, "/v1/chat/completions", { "content-type": "text/plain;charset=UTF-8" })
      expect(plain.status).toBe(415)
      expect(errorOf(plain)).toMatchObject({ type: "invalid_request_error", code: "unsupported_media_type" })
      expect(plain.headers["x-request-id"]).toBeDefined()
      const none = yield* post(open, "/llm/chat", {})
      expect(none.status).toBe(415)
      const form = yield* post(open, "/v1/embeddings", { "content-type": "application/x-www-form-urlencoded" })
      expect(form.status).toBe(415)
      const anthropic = yield* post(open, "/v1/messages", { "content-type": "text/plain" }, anthropicHello)
      expect(anthropic.status).toBe(415)
      expect(JSON.parse(anthropic.text)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
      expect((yield* simulator.stats).requests).toBe(before)
      // JSON with its charset, in any case, is JSON.
      const charset = yield* post(open, "/v1/chat/completions", { "content-type": "Application/JSON; charset=utf-8" })
      expect(charset.status).toBe(200)
    }))

  it.effect("on loopback, a Host other than the gateway's loopback names is refused (403) on every path", () =>
    Effect.gen(function*() {
      const { open, simulator } = yield* Fixture
      const before = (yield* simulator.stats).requests
      // DNS rebinding: the page's own name, resolved to 127.0.0.1.
      const foreign = { host: `attacker.example:${open.port}` }
      const chat = yield* post(open, "/v1/chat/completions", { ...json, ...foreign })
      expect(chat.status).toBe(403)
      expect(errorOf(chat)).toMatchObject({ code: "host_not_allowed" })
      for (const path of ["/metrics", "/dashboard/data", "/v1/models", "/health"]) {
        const answer = yield* send(open, { method: "GET", path, headers: foreign })
        expect([path, answer.status]).toEqual([path, 403])
        expect(answer.text).not.toContain("gpt-4o-mini")
      }
      const messages = yield* post(open, "/v1/messages", { ...json, ...foreign }, anthropicHello)
      expect(JSON.parse(messages.text)).toMatchObject({ type: "error", error: { type: "permission_error" } })
      // Another port is another origin.
      expect((yield* send(open, { method: "GET", path: "/health", headers: { host: "127.0.0.1:1" } })).status).toBe(403)
      expect((yield* simulator.stats).requests).toBe(before)
      const own = ["localhost", `localhost:${open.port}`, "127.0.0.1", `[::1]:${open.port}`, `LOCALHOST:${open.port}`]
      for (const host of own) {
        const answer = yield* send(open, { method: "GET", path: "/metrics", headers: { host, ...admin } })
        expect([host, answer.status]).toEqual([host, 200])
      }
    }))

  it.effect("with gateway keys too, a loopback gateway serves its own names only: a key does not lift the rule", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const key = { ...json, authorization: `Bearer ${gatewayKey}` }
      const foreign = yield* post(keyed, "/v1/chat/completions", { ...key, host: "gateway.internal.example" })
      expect(foreign.status).toBe(403)
      expect(errorOf(foreign)).toMatchObject({ code: "host_not_allowed" })
      expect((yield* post(keyed, "/v1/chat/completions", { ...key, host: `localhost:${keyed.port}` })).status).toBe(200)
    }))

  it.effect("the official clients still work: they send JSON and Host 127.0.0.1:port", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = new OpenAI({ baseURL: `${open.url}/v1`, apiKey: "unused", maxRetries: 0 })
      const reply = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "sim/gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      )
      expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0)
    }))

  it.effect("model-load of __proto__, constructor or toString is a 404 naming the deployments, with x-request-id", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
        const answer = yield* send(open, { method: "GET", path: `/llm/model-load/${name}`, headers: admin })
        expect([name, answer.status]).toEqual([name, 404])
        expect(errorOf(answer)).toMatchObject({ code: "model_not_found" })
        expect(answer.headers["x-request-id"]).toBeDefined()
        const model = yield* send(open, { method: "GET", path: `/v1/models/${name}` })
        expect([name, model.status]).toEqual([name, 404])
      }
      const found = yield* send(open, { method: "GET", path: "/llm/model-load/sim%2Fgpt-4o-mini", headers: admin })
      expect(found.status).toBe(200)
    }))

  it.effect("a refused connection is a 502 naming no address, deployment or upstream id; the log has them", () =>
    Effect.gen(function*() {
      const { closedPort, lines, open } = yield* Fixture
      const refused = yield* post(
        open,
        "/v1/chat/completions",
        json,
        JSON.stringify({
          model: "gone/gpt-4o-mini",
          messages: [{ role: "user", content: "Hi" }]
        })
      )
      expect(refused.status).toBe(502)
      const told = errorOf(refused)["message"] as string
      expect(told).toContain("could not be reached")
      for (const hidden of ["ECONNREFUSED", `127.0.0.1:${closedPort}`, "gone/", "gone ("]) {
        expect(told).not.toContain(hidden)
      }
      const logged = yield* logLineOf(lines, refused.headers["x-request-id"] as string)
      expect(logged["error"]).toBe("TransportError")
      expect(logged["error_message"]).toContain("ECONNREFUSED")

      // A provider's 503, and its request id, in either wire, whole or streamed.
      const down = JSON.stringify({ model: "down/gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
      const openAi = yield* post(open, "/v1/chat/completions", json, down)
      const anthropic = yield* post(open, "/v1/messages", json, down.replace("{", `{"max_tokens":16,`))
      const streamed = yield* post(open, "/v1/chat/completions", json, streaming(down))
      expect([openAi.status, anthropic.status, streamed.status]).toEqual([503, 529, 503])
      for (const answer of [openAi, anthropic, streamed]) {
        expect(answer.text).toContain("unavailable")
        expect(answer.text).not.toContain("req_sim")
        expect(answer.text).not.toContain("down/")
      }
      expect((yield* logLineOf(lines, openAi.headers["x-request-id"] as string))["error_message"]).toContain("req_sim")
      // A failure after the stream began: its error event.
      const broken = yield* post(open, "/v1/chat/completions", json, streaming(hello.replace("sim/", "broken/")))
      expect(broken.status).toBe(200)
      const event = broken.text.split("\n\n").find((event) => event.startsWith(`data: {"error"`))!
      expect(event).toContain("unavailable")
      expect(event).not.toContain("broken/")
      expect(event).not.toContain("req_sim")
    }))

  it.effect("the path is normalised once: the open paths and the router read it alike", () =>
    Effect.gen(function*() {
      const { keyed } = yield* Fixture
      const bearer = { authorization: `Bearer ${gatewayKey}` }
      // Open paths stay open however they are spelled, and without a key.
      for (const path of ["/health/", "//health", "/heal%74h", "/ready/", "/health?probe=1"]) {
        expect([path, (yield* send(keyed, { method: "GET", path })).status]).toEqual([path, 200])
      }
      // A keyed path needs the key however it is spelled.
      for (const path of ["/v1//models", "/v1/models/", "/v1/%6dodels"]) {
        expect([path, (yield* send(keyed, { method: "GET", path })).status]).toEqual([path, 401])
        expect([path, (yield* send(keyed, { method: "GET", path, headers: bearer })).status]).toEqual([path, 200])
      }
      const chat = yield* post(keyed, "//v1/chat/completions/", { ...json, ...bearer })
      expect(chat.status).toBe(200)
      // Matched with its case: another path.
      expect((yield* send(keyed, { method: "GET", path: "/HEALTH", headers: bearer })).status).toBe(404)
    }))

  it.effect("a valid x-request-id is kept in the answer and the log line, never in a reply's id; another is replaced", () =>
    Effect.gen(function*() {
      const { lines, open } = yield* Fixture
      const id = "trace-42.span_7:retry-1"
      const whole = yield* post(open, "/v1/chat/completions", { ...json, "x-request-id": id })
      expect(whole.headers["x-request-id"]).toBe(id)
      expect(JSON.parse(whole.text).id).toMatch(/^chatcmpl-/)
      const traced = { ...json, "x-request-id": `${id}.s` }
      const streamed = yield* post(open, "/v1/chat/completions", traced, streaming(hello))
      expect(streamed.headers["x-request-id"]).toBe(`${id}.s`)
      expect(streamed.text).not.toContain(id)
      expect(streamed.text).toMatch(/"id":"chatcmpl-[0-9a-f-]{36}"/)
      const message = yield* post(
        open,
        "/v1/messages",
        { ...json, "x-request-id": `${id}.m` },
        streaming(anthropicHello)
      )
      expect(message.headers["x-request-id"]).toBe(`${id}.m`)
      expect(message.text).toMatch(/"id":"msg_[0-9a-f]{32}"/)
      expect((yield* logLineOf(lines, id))["status"]).toBe(200)
      for (const bad of ["has space", "quote\"d", "x".repeat(129), "semi;colon", ""]) {
        const answer = yield* send(open, { method: "GET", path: "/health", headers: { "x-request-id": bad } })
        expect(answer.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
      }
      const longest = "y".repeat(128)
      const kept = yield* send(open, { method: "GET", path: "/health", headers: { "x-request-id": longest } })
      expect(kept.headers["x-request-id"]).toBe(longest)
    }))

  it.effect("a known path with another method is a 405 with Allow; under /v1/messages, in Anthropic's shape", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const get = yield* send(open, { method: "GET", path: "/v1/chat/completions" })
      expect(get.status).toBe(405)
      expect(get.headers["allow"]).toBe("POST")
      expect(errorOf(get)).toMatchObject({ type: "invalid_request_error", code: "method_not_allowed" })
      expect(get.headers["x-request-id"]).toBeDefined()
      const health = yield* send(open, { method: "DELETE", path: "/health" })
      expect([health.status, health.headers["allow"]]).toEqual([405, "GET, HEAD"])
      expect((yield* send(open, { method: "HEAD", path: "/health" })).status).toBe(200)
      const preflight = yield* send(open, { method: "OPTIONS", path: "/v1/chat/completions" })
      expect(preflight.status).toBe(405)
      const models = yield* send(open, { method: "DELETE", path: "/v1/models/sim/gpt-4o-mini" })
      expect([models.status, models.headers["allow"]]).toEqual([405, "POST, GET, HEAD"])
      // A POST under `/v1/models` is Google's (`@google/genai`'s default API version): without a method, its 404.
      const noMethod = yield* post(open, "/v1/models/sim/gpt-4o-mini", json, "{}")
      expect(noMethod.status).toBe(404)
      expect(JSON.parse(noMethod.text)).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } })
      const messages = yield* send(open, { method: "GET", path: "/v1/messages" })
      expect([messages.status, messages.headers["allow"]]).toEqual([405, "POST"])
      expect(JSON.parse(messages.text)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
      const unknown = yield* send(open, { method: "POST", path: "/v1/messages/nothing", headers: json, body: "{}" })
      expect(unknown.status).toBe(404)
      expect(JSON.parse(unknown.text)).toMatchObject({ type: "error", error: { type: "not_found_error" } })
      const bad = yield* post(open, "/v1/messages", json, "{not json")
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.text)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
      expect((yield* send(open, { method: "GET", path: "/v1/nothing" })).status).toBe(404)
    }))

  it.effect("the official Anthropic client still works: it sends JSON and Host 127.0.0.1:port", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const client = new Anthropic({ baseURL: open.url, apiKey: "unused", maxRetries: 0 })
      const reply = yield* Effect.promise(() =>
        client.messages.create(JSON.parse(anthropicHello) as Anthropic.MessageCreateParamsNonStreaming)
      )
      expect(reply.type).toBe("message")
      const refused = yield* rejection(() =>
        client.messages.create({ model: "nope", max_tokens: 16, messages: [{ role: "user", content: "Hi" }] })
      )
      expect(refused).toBeInstanceOf(Anthropic.NotFoundError)
    }))
})
