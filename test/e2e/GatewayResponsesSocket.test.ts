/**
 * The Responses API's WebSocket mode on `GET /v1/responses` (as Codex speaks it), with a WebSocket client over
 * loopback against the gateway over the simulator (each deployment behind a recorder of the bodies it gets): a
 * warm-up (`generate: false`) calls no model and holds its input, which the next frame continues by
 * `previous_response_id`; each
 * `response.create` frame is answered with the HTTP stream's events, one text frame each, as a request of its own (a
 * row of the request log, counted in the metrics; the socket and the warm-up are none), continuing the socket's last
 * response with `store: false` as the gateway's kept ones; a refusal before the stream is the API's `error` event and
 * the socket goes on; the handshake is refused as a request is (no key, a page of another origin, no upgrade); and the
 * bounds, each named: a frame past the body limit, the sockets a key holds at once, the time a socket waits idle.
 */
import { expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, call } from "../utils/adminApi.js"
import { type Recorder, recorder } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { promise, tools } from "../utils/responsesHarness.js"
import { openSocket, type ServerEvent } from "../utils/responsesSocket.js"

const providerKey = "sk-socket-provider-0001"
const key = "gw-socket-key-0001"
const otherKey = "gw-socket-key-0002"
// The key of the test of frames' sizes: the bound test's sockets may still be closing on the server.
const framesKey = "gw-socket-key-0003"
const maxBodyBytes = 64 * 1024

const configOf = (baseUrl: string, gateway: Record<string, unknown> = {}) =>
  ProviderConfig.fromJson({
    chat: [{
      model_name: "gpt-4o-mini",
      api: "chat-completions",
      base_url: baseUrl,
      api_keys: [providerKey],
      max_retries: 0
    }],
    gateway: {
      keys: [{ name: "agent", key }, { name: "other", key: otherKey }, { name: "frames", key: framesKey }],
      admin_keys: [{ name: "ops", key: adminKey }],
      responses_sockets_max_key: 2,
      ...gateway
    }
  })

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly recorded: Recorder
  readonly socketUrl: string
}>()("test/GatewayResponsesSocketFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 6 })
    const recorded = yield* recorder(simulator.url)
    const config = yield* configOf(recorded.baseUrl)
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, maxBodyBytes })
    return { gateway, recorded, socketUrl: `${gateway.url.replace(/^http/, "ws")}/v1/responses` }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const model = "chat/gpt-4o-mini"
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The response a stream of events completed with. */
const completed = (events: ReadonlyArray<ServerEvent>) => {
  const last = events[events.length - 1]!
  expect(last.type, JSON.stringify(last)).toBe("response.completed")
  return last["response"] as OpenAI.Responses.Response
}

/** The request log's rows of `key`'s calls. */
const rowsOf = (url: string) =>
  Effect.map(
    call(url, "GET", "/admin/requests"),
    (answer) => (answer.body as { data?: ReadonlyArray<Record<string, unknown>> }).data ?? []
  )

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway: the Responses WebSocket mode", (it) => {
  it.effect("a warm-up, then responses continued from the socket's own (store: false), each a request of its own", () =>
    Effect.gen(function*() {
      const { gateway, recorded, socketUrl } = yield* Fixture
      const rowsBefore = (yield* rowsOf(gateway.url)).length
      const socket = yield* openSocket(socketUrl, bearer(key))
      expect(socket.refused).toBeUndefined()
      const before = recorded.bodies.length

      // The warm-up: no model is called; its input is held under the response id it answers with.
      const developer = { role: "developer", content: "You are terse. Policy 7 applies." }
      yield* socket.send({ type: "response.create", model, generate: false, store: false, input: [developer], tools })
      const warm = yield* socket.response
      expect(warm.map((event) => event.type)).toEqual(["response.created", "response.completed"])
      const warmed = completed(warm)
      expect(warmed.output).toEqual([])
      expect(recorded.bodies.length).toBe(before)

      // The first turn continues the warm-up: the model gets its input and the turn's.
      const ask = { role: "user", content: "Weather in Paris? Use get_weather." }
      yield* socket.send({
        type: "response.create",
        model,
        store: false,
        previous_response_id: warmed.id,
        input: [ask],
        tools
      })
      const first = yield* socket.response
      expect(first[0]!.type).toBe("response.created")
      expect(first.map((event) => event.type)).toContain("response.function_call_arguments.delta")
      const called = completed(first).output.find((item) => item.type === "function_call")
      if (called?.type !== "function_call") return expect(called?.type).toBe("function_call")
      const sentFirst = JSON.stringify(recorded.bodies[before])
      expect(sentFirst).toContain("Policy 7 applies")
      expect(sentFirst).toContain("Weather in Paris?")

      // The next turn sends only the tool's output, continuing the socket's last response (kept nowhere else).
      yield* socket.send({
        type: "response.create",
        model,
        store: false,
        previous_response_id: completed(first).id,
        input: [{ type: "function_call_output", call_id: called.call_id, output: "cloudy" }],
        tools
      })
      const second = completed(yield* socket.response)
      expect(second.output.find((item) => item.type === "message")).toBeDefined()
      const sentSecond = JSON.stringify(recorded.bodies[before + 1])
      for (const part of ["Policy 7 applies", "Weather in Paris?", called.call_id, "cloudy"]) {
        expect(sentSecond).toContain(part)
      }
      expect(recorded.bodies.length).toBe(before + 2)
      // Not kept by the gateway (`store: false`): over HTTP it is unknown.
      const http = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
      const unknown = yield* promise(() =>
        http.responses.retrieve(second.id).then(() => 200, (e: InstanceType<typeof OpenAI.APIError>) => e.status)
      )
      expect(unknown).toBe(404)

      // Each response a request of the log, counted in the metrics; the warm-up and the socket none.
      yield* socket.close
      yield* socket.closed
      const rows = yield* eventually("the two calls' rows", rowsOf(gateway.url), (all) => all.length >= rowsBefore + 3)
      // The retrieval's 404 above is a request too.
      const fresh = rows.slice(0, rows.length - rowsBefore).filter((row) => row["route"] === "/v1/responses")
      expect(fresh.map((row) => [row["route"], row["status"], row["model"]])).toEqual([
        ["/v1/responses", 200, model],
        ["/v1/responses", 200, model]
      ])
      const metrics = yield* promise(() =>
        fetch(`${gateway.url}/metrics`, { headers: bearer(adminKey) }).then((answer) => answer.text())
      )
      expect(metrics).toMatch(
        /llm_gateway_requests_total\{route="\/v1\/responses",model="chat\/gpt-4o-mini",status="200"\} [2-9]/
      )
    }).pipe(Effect.scoped))

  it.effect("a refusal before the stream is the API's error event, and the socket goes on", () =>
    Effect.gen(function*() {
      const { gateway, socketUrl } = yield* Fixture
      const socket = yield* openSocket(socketUrl, bearer(key))
      yield* socket.send({ type: "response.create", model, previous_response_id: "resp_unknown", input: "Hi" })
      const [unknown] = yield* socket.response
      expect(unknown).toMatchObject({
        type: "error",
        status: 404,
        error: { code: "previous_response_not_found", param: "previous_response_id" }
      })
      yield* socket.send("not json")
      expect((yield* socket.response)[0]).toMatchObject({ type: "error", status: 400 })
      yield* socket.send({ type: "response.cancel" })
      expect((yield* socket.response)[0]).toMatchObject({ type: "error", status: 400, error: { param: "type" } })
      yield* socket.send({ type: "response.create", model: "no-such-model", input: "Hi" })
      expect((yield* socket.response)[0]).toMatchObject({
        type: "error",
        status: 404,
        error: { code: "model_not_found" }
      })

      // A response the gateway keeps (made over HTTP, `store` on) is continued over the socket too.
      const http = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
      const kept = yield* promise(() => http.responses.create({ model, input: "Remember: the code word is kiwi." }))
      yield* socket.send({ type: "response.create", model, previous_response_id: kept.id, input: "And now?" })
      expect(completed(yield* socket.response).status).toBe("completed")
    }).pipe(Effect.scoped))

  it.effect("the handshake refused as a request is (key, origin, no upgrade), and past 2 sockets a key", () =>
    Effect.gen(function*() {
      const { gateway, socketUrl } = yield* Fixture
      expect((yield* openSocket(socketUrl, {})).refused?.status).toBe(401)
      const page = yield* openSocket(socketUrl, { ...bearer(key), origin: "https://evil.example" })
      expect(page.refused?.status).toBe(403)
      const plain = yield* promise(() =>
        fetch(`${gateway.url}/v1/responses`, { headers: bearer(key) }).then(async (answer) => ({
          status: answer.status,
          body: await answer.json() as { error: { code: string } }
        }))
      )
      expect(plain).toMatchObject({ status: 426, body: { error: { code: "upgrade_required" } } })

      // `responses_sockets_max_key: 2`: a third socket of the key is refused, naming the setting; another key's is not.
      const first = yield* openSocket(socketUrl, bearer(key))
      yield* openSocket(socketUrl, bearer(key))
      const third = yield* openSocket(socketUrl, bearer(key))
      expect(third.refused?.status).toBe(429)
      expect(third.refused?.body).toContain("gateway.responses_sockets_max_key")
      expect(JSON.parse(third.refused!.body)).toMatchObject({ error: { code: "too_many_websockets" } })
      expect((yield* openSocket(socketUrl, bearer(otherKey))).refused).toBeUndefined()
      // One closed, the key may open another.
      yield* first.close
      yield* first.closed
      yield* eventually(
        "a socket of the key, once one closed",
        Effect.scoped(Effect.map(openSocket(socketUrl, bearer(key)), (socket) => socket.refused === undefined)),
        (open) => open
      )
    }).pipe(Effect.scoped))

  it.effect("a frame past the body limit is refused as a body is (413, naming it); one far past it closes (1009)", () =>
    Effect.gen(function*() {
      const { socketUrl } = yield* Fixture
      const socket = yield* openSocket(socketUrl, bearer(framesKey))
      yield* socket.send({ type: "response.create", model, input: "x".repeat(maxBodyBytes + 1024) })
      const [refused] = yield* socket.response
      expect(refused).toMatchObject({ type: "error", status: 413, error: { code: "request_too_large" } })
      expect(JSON.stringify(refused)).toContain("--max-body-bytes")
      // The socket goes on.
      yield* socket.send({ type: "response.create", model, input: "Hi" })
      expect(completed(yield* socket.response).status).toBe("completed")
      yield* socket.send({ type: "response.create", model, input: "x".repeat(4 * maxBodyBytes) })
      expect((yield* socket.closed).code).toBe(1009)
    }).pipe(Effect.scoped))
})

it.effect(
  "a socket idle past gateway.responses_socket_idle is closed (1000), naming the setting",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const config = yield* configOf(`${simulator.url}/v1`, { responses_socket_idle: "1 minute" })
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      const socket = yield* openSocket(`${gateway.url.replace(/^http/, "ws")}/v1/responses`, bearer(key))
      yield* socket.send({ type: "response.create", model, input: "Hi" })
      expect(completed(yield* socket.response).status).toBe("completed")
      // A minute passes on the gateway's clock with no frame (again until its wait has begun): the socket is closed.
      const closed = yield* eventually(
        "the idle socket's close",
        Effect.andThen(TestClock.adjust("61 seconds"), socket.closedNow),
        (state) => state !== undefined
      )
      expect(closed).toEqual({ code: 1000, reason: expect.stringContaining("gateway.responses_socket_idle") })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  60_000
)
