import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { abortedStall, faulty as faultyWith, rejection, settledAfterAbort } from "../utils/gatewayHarness.js"
import { serve } from "../utils/loopbackServer.js"

const key = "sk-gateway-e2e-key-0001"

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly simulator: Simulator.Simulator
  readonly client: OpenAI
}>()("test/GatewayFixture") {}

// Each fault is a deployment of its own, sent with the simulator's fault header.
const faulty = (simulator: Simulator.Simulator, fault: string, extra?: Record<string, unknown>) =>
  faultyWith(simulator, key, fault, extra)

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 8,
      models: [...Simulator.defaultModels, "tiny", "text-embedding-3-small"],
      contextWindows: { tiny: 40 }
    })
    const healthy = { base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }
    const config = yield* ProviderConfig.fromJson({
      sim: [
        { model_name: "gpt-4o-mini", ...healthy },
        { model_name: "tiny", ...healthy },
        { model_name: "text-embedding-3-small", ...healthy }
      ],
      limited: faulty(simulator, "status=429;retry-after=7"),
      down: faulty(simulator, "status=503;retry-after=none"),
      wrongkey: [{
        model_name: "gpt-4o-mini",
        base_url: `${simulator.url}/v1`,
        api_keys: ["sk-not-accepted-0002"],
        max_retries: 0
      }],
      broken: faulty(simulator, "stream-error=3"),
      cut: faulty(simulator, "reset=3"),
      stall: faulty(simulator, "stall=2"),
      silent: faulty(simulator, "silent=forever"),
      router: {
        // Restarting, not continuing (the gateway's default): a restart after text went out cannot be forwarded.
        flaky: { deployments: ["cut/gpt-4o-mini", "sim/gpt-4o-mini"], strategy: "priority", mid_stream: "restart" },
        // Routers whose first deployment answers, or fails before its first chunk (its breaker never opening here).
        main: { deployments: ["sim/gpt-4o-mini", "sim/tiny"], strategy: "priority" },
        "main-failover": {
          deployments: ["down/gpt-4o-mini", "sim/tiny"],
          strategy: "priority",
          cooldown: { failures: 100 }
        }
      }
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      maxBodyBytes: 64 * 1024
    })
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
    return { gateway, simulator, client }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const jsonType = { "content-type": "application/json" }

interface ErrorJson {
  readonly error: {
    readonly message: string
    readonly type: string
    readonly param: string | null
    readonly code: string | null
  }
}

// The OpenAI error JSON of a response.
const errorJson = (response: Response) => Effect.promise(() => response.json() as Promise<ErrorJson>)

type Params = Omit<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, "stream">

// One user message to `model`, with `extra` fields.
const ask = (model: string, extra: Partial<Params> = {}, content = "Hello"): Params => ({
  model,
  messages: [{ role: "user", content }],
  ...extra
})

const complete = (client: OpenAI, params: Params) => promise(() => client.chat.completions.create(params))

const refusal = (client: OpenAI, params: Params) => rejection(() => client.chat.completions.create(params))

const streamed = (client: OpenAI, params: Params, signal?: AbortSignal) =>
  promise(() => client.chat.completions.create({ ...params, stream: true }, signal === undefined ? {} : { signal }))

// The gateway and the simulator run on the live clock; only each test's own fiber has a TestClock.
layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway over loopback, with the official openai client",
  (it) => {
    it.effect("chat: the reply, its usage and x-request-id", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { data, response } = yield* promise(() =>
          client.chat.completions.create(ask("sim/gpt-4o-mini")).withResponse()
        )
        expect(data.object).toBe("chat.completion")
        expect(data.choices[0]!.message.role).toBe("assistant")
        expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0)
        expect(data.choices[0]!.finish_reason).toBe("stop")
        expect(data.usage!.completion_tokens).toBe(8)
        expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
        // The gateway's own id, as its stream has (the simulator upstream names its replies `chatcmpl-sim…`).
        expect(data.id).toMatch(/^chatcmpl-[0-9a-f-]{36}$/)
        expect(data.id).not.toBe(`chatcmpl-${response.headers.get("x-request-id")}`)
        const routed = yield* complete(client, ask("flaky"))
        expect(routed.id).toMatch(/^chatcmpl-[0-9a-f-]{36}$/)
        expect(routed.id).not.toBe(data.id)
      }))

    it.effect("a model name routes over every deployment serving it; a router's name goes to that router", () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* Fixture
        const models = yield* promise(() => client.models.list())
        const ids = models.data.map((model) => model.id)
        expect(ids).toEqual(gateway.models)
        expect(ids).toContain("flaky")
        expect(ids).toContain("sim/gpt-4o-mini")
        expect(ids).toContain("tiny")
        const reply = yield* complete(client, ask("tiny"))
        expect(reply.model).toBe("tiny")
        const one = yield* promise(() => client.models.retrieve("sim/gpt-4o-mini"))
        expect(one).toMatchObject({ id: "sim/gpt-4o-mini", object: "model", owned_by: "sim" })
        const missing = yield* rejection(() => client.models.retrieve("nope"))
        expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found")
      }))

    it.effect("stream: deltas, [DONE], and the usage chunk with include_usage", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { data: stream, response } = yield* promise(() =>
          client.chat.completions.create({
            ...ask("sim/gpt-4o-mini"),
            stream: true,
            stream_options: { include_usage: true }
          })
            .withResponse()
        )
        expect(response.headers.get("content-type")).toBe("text/event-stream")
        expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
        // The simulator sends an unpaced reply in one write: its answer is still a stream, ended with the upstream's.
        expect(response.headers.get("content-length")).toBeNull()
        expect(response.headers.get("transfer-encoding")).toBe("chunked")
        const chunks = yield* promise(async () => {
          const out = []
          for await (const chunk of stream) out.push(chunk)
          return out
        })
        const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
        expect(text.length).toBeGreaterThan(0)
        expect(chunks.some((chunk) => chunk.choices[0]?.finish_reason === "stop")).toBe(true)
        const last = chunks[chunks.length - 1]!
        expect(last.choices).toEqual([])
        expect(last.usage!.completion_tokens).toBe(8)
        // One id for the whole reply: the gateway's own, never the request's (which a client may choose).
        const ids = new Set(chunks.map((chunk) => chunk.id))
        expect(ids.size).toBe(1)
        expect([...ids][0]).toMatch(/^chatcmpl-[0-9a-f-]{36}$/)
        expect([...ids][0]).not.toBe(`chatcmpl-${response.headers.get("x-request-id")}`)
      }))

    for (
      const { answerer, router } of [
        { router: "main", answerer: "gpt-4o-mini" },
        { router: "main-failover", answerer: "tiny" }
      ]
    ) {
      it.effect(
        `through router ${router}, every stream chunk names the answering deployment's model (${answerer}) from the ` +
          "first, as the whole reply does; so do the Responses stream's response.created and Gemini's first chunk",
        () =>
          Effect.gen(function*() {
            const { client, gateway } = yield* Fixture
            const whole = yield* complete(client, ask(router))
            expect(whole.model).toBe(answerer)
            const stream = yield* streamed(client, ask(router, { stream_options: { include_usage: true } }))
            const chunks = yield* promise(async () => {
              const out: Array<OpenAI.Chat.ChatCompletionChunk> = []
              for await (const chunk of stream) out.push(chunk)
              return out
            })
            expect(chunks.length).toBeGreaterThan(2)
            expect(new Set(chunks.map((chunk) => chunk.model))).toEqual(new Set([answerer]))
            expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe(
              whole.choices[0]!.message.content
            )
            const responses = yield* promise(async () => {
              const out: Array<OpenAI.Responses.ResponseStreamEvent> = []
              for await (
                const event of await client.responses.create({ model: router, input: "Hello", stream: true })
              ) {
                out.push(event)
              }
              return out
            })
            const created = responses[0]
            if (created?.type !== "response.created") return expect.unreachable("no response.created first")
            expect(created.response.model).toBe(answerer)
            const { google } = gatewayClients(gateway.url)
            const gemini = yield* promise(async () => {
              const out: Array<string | undefined> = []
              for await (
                const chunk of await google.models.generateContentStream({ model: router, contents: "Hello" })
              ) {
                out.push(chunk.modelVersion)
              }
              return out
            })
            expect(gemini.length).toBeGreaterThan(0)
            expect(new Set(gemini)).toEqual(new Set([answerer]))
          })
      )
    }

    it.effect("tools: the call comes back whole, streamed and not", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const tools = [{
          type: "function" as const,
          function: {
            name: "get_weather",
            description: "The weather in a city",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
          }
        }]
        const reply = yield* complete(
          client,
          ask("sim/gpt-4o-mini", { tools, tool_choice: "required" }, "Weather in Paris?")
        )
        const call = reply.choices[0]!.message.tool_calls![0]!
        expect(reply.choices[0]!.finish_reason).toBe("tool_calls")
        expect(call.type === "function" && call.function.name).toBe("get_weather")
        expect(call.type === "function" && typeof JSON.parse(call.function.arguments).city).toBe("string")

        const runner = client.chat.completions.stream(
          ask(
            "sim/gpt-4o-mini",
            { tools, tool_choice: { type: "function", function: { name: "get_weather" } } },
            "Weather?"
          )
        )
        const final = yield* promise(() => runner.finalChatCompletion())
        const streamed = final.choices[0]!.message.tool_calls![0]!
        expect(streamed.type === "function" && streamed.function.name).toBe("get_weather")
        expect(streamed.type === "function" && typeof JSON.parse(streamed.function.arguments).city).toBe("string")
      }))

    it.effect("response_format json_schema: the reply conforms", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const reply = yield* complete(
          client,
          ask("sim/gpt-4o-mini", {
            response_format: {
              type: "json_schema",
              json_schema: {
                name: "person",
                strict: true,
                schema: {
                  type: "object",
                  properties: { name: { type: "string" }, age: { type: "integer" } },
                  required: ["name", "age"],
                  additionalProperties: false
                }
              }
            }
          })
        )
        const person = JSON.parse(reply.choices[0]!.message.content!)
        expect(typeof person.name).toBe("string")
        expect(Number.isInteger(person.age)).toBe(true)
      }))

    it.effect("embeddings: one vector per input (the client asks for base64)", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const result = yield* promise(() =>
          client.embeddings.create({ model: "text-embedding-3-small", input: ["one", "two", "one"] })
        )
        expect(result.data.map((item) => item.index)).toEqual([0, 1, 2])
        expect(result.data[0]!.embedding).toHaveLength(16)
        expect(result.data[0]!.embedding).toEqual(result.data[2]!.embedding)
        expect(result.data[0]!.embedding).not.toEqual(result.data[1]!.embedding)
        expect(result.usage.prompt_tokens).toBeGreaterThan(0)
        const floats = yield* promise(() =>
          client.embeddings.create({ model: "text-embedding-3-small", input: "one", encoding_format: "float" })
        )
        // base64 carries float32s: the same vector within float32 precision.
        floats.data[0]!.embedding.forEach((value, i) => expect(result.data[0]!.embedding[i]).toBeCloseTo(value, 5))
      }))

    it.effect("429 with Retry-After is the client's RateLimitError", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const error = yield* refusal(client, ask("limited/gpt-4o-mini"))
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        const rateLimit = error as InstanceType<typeof OpenAI.RateLimitError>
        expect(rateLimit.status).toBe(429)
        expect(rateLimit.headers.get("retry-after")).toBe("7")
        expect(rateLimit.code).toBe("rate_limit_exceeded")
        expect(rateLimit.headers.get("x-request-id")).not.toBeNull()
        expect(rateLimit.message).not.toContain(key)
      }))

    it.effect("a key the provider refuses is the client's AuthenticationError, the key not shown", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const error = yield* refusal(client, ask("wrongkey/gpt-4o-mini"))
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError)
        expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("invalid_api_key")
        expect((error as Error).message).not.toContain("sk-not-accepted-0002")
      }))

    it.effect("an unknown model is the client's NotFoundError with code model_not_found; nothing is sent", () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* Fixture
        const before = (yield* simulator.stats).requests
        const error = yield* refusal(client, ask("no-such-model"))
        expect(error).toBeInstanceOf(OpenAI.NotFoundError)
        expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found")
        expect((yield* simulator.stats).requests).toBe(before)
      }))

    it.effect("a prompt over the context window is a BadRequestError with code context_length_exceeded", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const error = yield* refusal(client, ask("tiny", {}, "word ".repeat(200)))
        expect(error).toBeInstanceOf(OpenAI.BadRequestError)
        expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("context_length_exceeded")
      }))

    it.effect("a provider that is down is a 503, the client's InternalServerError", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const error = yield* refusal(client, ask("down/gpt-4o-mini"))
        expect(error).toBeInstanceOf(OpenAI.InternalServerError)
        expect((error as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503)
      }))

    it.effect("a stream that fails mid-way raises in the client after the text it got", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const stream = yield* streamed(client, ask("broken/gpt-4o-mini"))
        const seen: Array<string> = []
        const error = yield* rejection(async () => {
          for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? "")
        })
        expect(error).toBeInstanceOf(OpenAI.APIError)
        expect(seen.join("").length).toBeGreaterThan(0)
      }))

    it.effect("a router's restart after text went out ends the stream with an error event, not a second answer", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const stream = yield* streamed(client, ask("flaky"))
        const error = yield* rejection(async () => {
          for await (const chunk of stream) void chunk
        })
        expect(error).toBeInstanceOf(OpenAI.APIError)
        expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("stream_restarted")
      }))

    it.effect("a bad field is a 400 naming it, and nothing reaches the provider", () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* Fixture
        const before = (yield* simulator.stats).requests
        const role = yield* refusal(client, {
          model: "sim/gpt-4o-mini",
          messages: [{ role: "user", content: "Hi" }, { role: "robot", content: "Hi" } as never]
        })
        expect(role).toBeInstanceOf(OpenAI.BadRequestError)
        expect((role as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("messages[1].role")
        expect((role as Error).message).toContain("messages[1].role")
        const temperature = yield* refusal(client, ask("sim/gpt-4o-mini", { temperature: 5 }))
        expect(temperature).toBeInstanceOf(OpenAI.BadRequestError)
        expect((temperature as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("temperature")
        const tool = yield* refusal(
          client,
          ask("sim/gpt-4o-mini", { tools: [{ type: "function", function: { name: "not a name!", parameters: {} } }] })
        )
        expect((tool as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("tools[0].function.name")
        // The reply's limit, by either of its names, is refused under the name the client sent.
        for (const field of ["max_completion_tokens", "max_tokens"] as const) {
          const limit = yield* refusal(client, ask("sim/gpt-4o-mini", { [field]: -3 }))
          expect(limit).toBeInstanceOf(OpenAI.BadRequestError)
          expect((limit as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(field)
          expect((limit as Error).message).toMatch(new RegExp(`^400 ${field}: `))
        }
        expect((yield* simulator.stats).requests).toBe(before)
      }))

    it.effect("not JSON is a 400; a body over the limit is a 413, with or without a content-length", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const url = `${gateway.url}/v1/chat/completions`
        const bad = yield* promise(() => fetch(url, { method: "POST", headers: jsonType, body: "{not json" }))
        expect(bad.status).toBe(400)
        expect((yield* errorJson(bad)).error.type).toBe("invalid_request_error")
        const big = JSON.stringify({
          model: "sim/gpt-4o-mini",
          messages: [{ role: "user", content: "x".repeat(100_000) }]
        })
        const declared = yield* promise(() => fetch(url, { method: "POST", headers: jsonType, body: big }))
        expect(declared.status).toBe(413)
        expect(declared.headers.get("x-request-id")).not.toBeNull()
        expect((yield* errorJson(declared)).error.code).toBe("request_too_large")
        const chunked = yield* promise(() =>
          fetch(url, {
            method: "POST",
            headers: jsonType,
            body: new Blob([big]).stream(),
            duplex: "half"
          } as RequestInit)
        )
        expect(chunked.status).toBe(413)
      }))

    it.effect("health, readiness, and an unknown path in OpenAI's shape, each with x-request-id", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const health = yield* promise(() => fetch(`${gateway.url}/health`))
        expect(health.status).toBe(200)
        const ready = yield* promise(() => fetch(`${gateway.url}/ready`))
        expect(ready.status).toBe(200)
        expect(yield* gateway.ready).toBe(true)
        const missing = yield* promise(() => fetch(`${gateway.url}/v1/nothing`))
        expect(missing.status).toBe(404)
        expect((yield* errorJson(missing)).error.message).toContain("/v1/nothing")
        for (const response of [health, ready, missing]) expect(response.headers.get("x-request-id")).not.toBeNull()
      }))

    it.effect("a client that goes away aborts the upstream call and frees the key and the in-flight count", () =>
      Effect.gen(function*() {
        const served = yield* Fixture
        const { client } = served
        const { before, during, settled } = yield* abortedStall(
          served,
          (signal) => client.chat.completions.create({ ...ask("stall/gpt-4o-mini"), stream: true }, { signal })
        )
        // The stall leaves the upstream stream open after two chunks: the call was in flight.
        expect(during.inFlight).toBe(1)
        expect(during.keys[0]!.current).toBe(1)
        expect(settled.stats.inFlight).toBe(before.inFlight)
      }))

    it.effect("a client that goes away before the reply aborts the upstream call too", () =>
      Effect.gen(function*() {
        const { client, gateway, simulator } = yield* Fixture
        const before = yield* simulator.stats
        const controller = new AbortController()
        const pending = client.chat.completions.create(ask("silent/gpt-4o-mini"), { signal: controller.signal })
          .then(() => "answered", () => "aborted")
        // The simulator holds the request unanswered: wait until it is there.
        yield* eventually("the request at the simulator", simulator.stats, (stats) => stats.inFlight > before.inFlight)
        expect((yield* gateway.status).details["silent/gpt-4o-mini"]!.inFlight).toBe(1)
        controller.abort()
        expect(yield* promise(() => pending)).toBe("aborted")
        const settled = yield* settledAfterAbort(gateway, simulator, "silent/gpt-4o-mini", before.clientClosed)
        expect(settled.stats.inFlight).toBe(before.inFlight)
      }))
  }
)

describe("Gateway options", () => {
  it.effect("listens on loopback only, without gateway keys; as a layer it serves while built", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({ sim: [{ model_name: "gpt-4o-mini", api_keys: [key] }] })
      const error = yield* Effect.flip(
        Gateway.make({ config: ProviderConfig.gatewayConfig(config), host: "0.0.0.0", port: 0 })
      )
      expect(error._tag).toBe("OptionsError")
      expect(error._tag === "OptionsError" && error.option).toBe("host")
      const served = yield* Layer.build(Gateway.layer({ config: ProviderConfig.gatewayConfig(config), port: 0 }))
      const health = yield* promise(() => fetch(`${Context.get(served, Gateway.Gateway).url}/health`))
      expect(health.status).toBe(200)
      const empty = yield* ProviderConfig.fromJson({})
      const nothing = yield* Effect.flip(Gateway.make({ config: ProviderConfig.gatewayConfig(empty), port: 0 }))
      expect(nothing._tag === "OptionsError" && nothing.message).toBe(
        "Gateway: config must be a configuration with at least one model, got \"no models\""
      )
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("a trickling upstream's stream is forwarded batch by batch, and parses the same", () =>
    Effect.gen(function*() {
      // Four tokens at 20 a second: the first batch comes 50 ms before the next, the Finish last.
      const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 4, tokensPerSecond: 20 })
      const config = yield* ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }]
      })
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      const { data: stream, response } = yield* promise(() =>
        client.chat.completions.create({ ...ask("gpt-4o-mini"), stream: true, stream_options: { include_usage: true } })
          .withResponse()
      )
      expect(response.headers.get("content-type")).toBe("text/event-stream")
      expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
      expect(response.headers.get("content-length")).toBeNull()
      expect(response.headers.get("transfer-encoding")).toBe("chunked")
      const chunks = yield* promise(async () => {
        const out = []
        for await (const chunk of stream) out.push(chunk)
        return out
      })
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("").length).toBeGreaterThan(0)
      expect(chunks.some((chunk) => chunk.choices[0]?.finish_reason === "stop")).toBe(true)
      expect(chunks[chunks.length - 1]!.usage!.completion_tokens).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "an upstream that holds its body open after the whole reply: the answer goes out at once, the end with the " +
      "upstream's",
    () =>
      Effect.gen(function*() {
        const event = (delta: object, finish: string | null) =>
          `data: ${
            JSON.stringify({
              id: "c1",
              object: "chat.completion.chunk",
              created: 1,
              model: "m",
              choices: [{ index: 0, delta, finish_reason: finish }]
            })
          }\n\n`
        const reply = event({ role: "assistant", content: "" }, null) + event({ content: "Hello" }, null) +
          event({}, "stop") +
          "data: [DONE]\n\n"
        // The whole reply in one write; the body ends only when the test says so.
        const ends: Array<() => void> = []
        const upstream = yield* serve((req, res) => {
          req.resume()
          req.on("end", () => {
            res.writeHead(200, { "content-type": "text/event-stream" })
            res.write(reply)
            ends.push(() => res.end())
          })
        })
        const config = yield* ProviderConfig.fromJson({
          up: [{ model_name: "m", base_url: `${upstream.url}/v1`, api_keys: [key], max_retries: 0 }]
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const response = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "up/m", stream: true, messages: [{ role: "user", content: "hi" }] })
          })
        )
        expect(response.status).toBe(200)
        expect(response.headers.get("content-length")).toBeNull()
        const reader = response.body!.getReader()
        let answer = ""
        while (!answer.endsWith("data: [DONE]\n\n")) {
          const read = yield* promise(() => reader.read())
          expect(read.done).toBe(false)
          answer += new TextDecoder().decode(read.value)
        }
        // The whole answer came while the upstream body is still open.
        expect(answer).toContain(`"content":"Hello"`)
        expect(ends).toHaveLength(1)
        ends[0]!()
        expect((yield* promise(() => reader.read())).done).toBe(true)
      }).pipe(Effect.timeout("20 seconds"), Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
  )

  it.effect("ready turns 503 once no deployment can take a call (its only key refused)", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const config = yield* ProviderConfig.fromJson({
        sim: [{
          model_name: "gpt-4o-mini",
          base_url: `${simulator.url}/v1`,
          api_keys: ["sk-refused-key-000003"],
          max_retries: 0
        }]
      })
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      const readiness = () => fetch(`${gateway.url}/ready`).then((response) => response.status)
      expect(yield* promise(readiness)).toBe(200)
      const refused = yield* promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: jsonType,
          body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
        })
      )
      expect(refused.status).toBe(401)
      expect(yield* promise(readiness)).toBe(503)
      expect(yield* gateway.ready).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
