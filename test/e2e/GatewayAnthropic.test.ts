import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { type Recorder, recorder } from "../utils/cliHarness.js"
import { abortedStall, drain, faulty, rejection, type Served } from "../utils/gatewayHarness.js"

const key = "sk-gateway-anthropic-key-01"

// The recorder in front of the simulator (set by the fixture).
let recorded: Recorder

class Fixture extends Context.Service<Fixture, Served<Anthropic>>()("test/GatewayAnthropicFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 8,
      models: [...Simulator.defaultModels, "claude-sim"]
    })
    recorded = yield* recorder(simulator.url)
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }],
      // The bodies the provider gets, recorded on their way.
      recorded: [{ model_name: "gpt-4o-mini", base_url: recorded.baseUrl, api_keys: [key], max_retries: 0 }],
      // The simulator playing Anthropic behind the gateway: its signed thinking blocks make the round trip.
      claude: [{
        model_name: "claude-sim",
        api: "anthropic",
        base_url: simulator.url,
        api_keys: [key],
        max_retries: 0
      }],
      limited: faulty(simulator, key, "status=429;retry-after=7"),
      down: faulty(simulator, key, "status=503;retry-after=none"),
      wrongkey: [{
        model_name: "gpt-4o-mini",
        base_url: `${simulator.url}/v1`,
        api_keys: ["sk-not-accepted-0003"],
        max_retries: 0
      }],
      broken: faulty(simulator, key, "stream-error=3"),
      stall: faulty(simulator, key, "stall=2"),
      cut: faulty(simulator, key, "reset=3"),
      // Restarting, not continuing (the gateway's default): a restart after text went out cannot be forwarded.
      router: {
        flaky: { deployments: ["cut/gpt-4o-mini", "sim/gpt-4o-mini"], strategy: "priority", mid_stream: "restart" },
        // Routers whose first deployment answers, or fails before its first chunk (its breaker never opening here).
        main: { deployments: ["sim/gpt-4o-mini", "claude/claude-sim"], strategy: "priority" },
        "main-failover": {
          deployments: ["down/gpt-4o-mini", "claude/claude-sim"],
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
    const client = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 })
    return { gateway, simulator, client }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

type Params = Anthropic.MessageCreateParamsNonStreaming

// One user message to `model`, with `extra` fields.
const ask = (model: string, extra: Partial<Params> = {}, content = "Hello"): Params => ({
  model,
  max_tokens: 256,
  messages: [{ role: "user", content }],
  ...extra
})

const create = (client: Anthropic, params: Params) => promise(() => client.messages.create(params))

const refusal = (client: Anthropic, params: Params) => rejection(() => client.messages.create(params))

// `client.messages.stream` of `params`, with the text of its `text` events as they come.
const textStream = (client: Anthropic, params: Params) => {
  const stream = client.messages.stream(params)
  const pieces: Array<string> = []
  stream.on("text", (text) => pieces.push(text))
  return { stream, pieces }
}

const tools: Array<Anthropic.Tool> = [{
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}]

const textOf = (message: Anthropic.Message) =>
  message.content.map((block) => (block.type === "text" ? block.text : "")).join("")

// The Anthropic error object of an APIError (`{type: "error", error: {type, message}}`).
const errorObject = (error: unknown) =>
  (error as { readonly error: { readonly error: { readonly type: string; readonly message: string } } }).error.error

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/messages, with the official @anthropic-ai/sdk",
  (it) => {
    it.effect("messages.create: a text message, its usage, and x-request-id", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { data, response } = yield* promise(() => client.messages.create(ask("sim/gpt-4o-mini")).withResponse())
        expect(data.type).toBe("message")
        expect(data.role).toBe("assistant")
        expect(data.id).toMatch(/^(msg_|chatcmpl)/)
        expect(data.content).toHaveLength(1)
        expect(textOf(data).length).toBeGreaterThan(0)
        expect(data.stop_reason).toBe("end_turn")
        expect(data.usage.output_tokens).toBe(8)
        expect(data.usage.input_tokens).toBeGreaterThan(0)
        expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
      }))

    it.effect("the system prompt (a string or text blocks) reaches the provider: it counts in the input tokens", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const bare = yield* create(client, ask("claude-sim"))
        const system = "You answer in one short sentence, always. ".repeat(5)
        const withString = yield* create(client, ask("claude-sim", { system }))
        const withBlocks = yield* create(client, ask("claude-sim", { system: [{ type: "text", text: system }] }))
        expect(withString.usage.input_tokens).toBeGreaterThan(bare.usage.input_tokens + 10)
        expect(withBlocks.usage.input_tokens).toBe(withString.usage.input_tokens)
      }))

    it.effect("stream: client.messages.stream gives the text events and the final message", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { pieces, stream } = textStream(client, ask("sim/gpt-4o-mini"))
        const final = yield* promise(() => stream.finalMessage())
        expect(pieces.length).toBeGreaterThan(1)
        expect(textOf(final)).toBe(pieces.join(""))
        expect(final.stop_reason).toBe("end_turn")
        expect(final.usage.output_tokens).toBe(8)
        expect(final.usage.input_tokens).toBeGreaterThan(0)
      }))

    it.effect("stream: true gives Anthropic's events in order", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { data: stream, response } = yield* promise(() =>
          client.messages.create({ ...ask("sim/gpt-4o-mini"), stream: true }).withResponse()
        )
        expect(response.headers.get("content-type")).toBe("text/event-stream")
        // An unpaced reply, whole by its first batch: still a stream, ended with the upstream's.
        expect(response.headers.get("content-length")).toBeNull()
        expect(response.headers.get("transfer-encoding")).toBe("chunked")
        expect(response.headers.get("x-request-id")).not.toBeNull()
        const events = yield* promise(async () => {
          const out: Array<Anthropic.MessageStreamEvent> = []
          for await (const event of stream) out.push(event)
          return out
        })
        const types = [...new Set(events.map((event) => event.type))]
        expect(types).toEqual([
          "message_start",
          "content_block_start",
          "content_block_delta",
          "content_block_stop",
          "message_delta",
          "message_stop"
        ])
        const deltas = events.flatMap((event) =>
          event.type === "content_block_delta" && event.delta.type === "text_delta" ? [event.delta.text] : []
        )
        expect(deltas.join("").length).toBeGreaterThan(0)
        const last = events.find((event) => event.type === "message_delta")
        expect(last?.type === "message_delta" && last.delta.stop_reason).toBe("end_turn")
      }))

    it.effect("tools: tool_use with its input parsed, then the tool_result round trip, streamed and not", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const question: Anthropic.MessageParam = { role: "user", content: "Weather in Paris?" }
        const called = yield* create(
          client,
          ask("sim/gpt-4o-mini", { tools, tool_choice: { type: "any" }, messages: [question] })
        )
        expect(called.stop_reason).toBe("tool_use")
        const use = called.content.find((block) => block.type === "tool_use")!
        expect(use.type === "tool_use" && use.name).toBe("get_weather")
        expect(use.type === "tool_use" && typeof (use.input as { city: unknown }).city).toBe("string")

        const answered = yield* create(
          client,
          ask("sim/gpt-4o-mini", {
            tools,
            messages: [
              question,
              { role: "assistant", content: called.content },
              {
                role: "user",
                content: [{
                  type: "tool_result",
                  tool_use_id: use.type === "tool_use" ? use.id : "",
                  content: "Sunny, 21 C"
                }]
              }
            ]
          })
        )
        expect(answered.stop_reason).toBe("end_turn")
        expect(textOf(answered).length).toBeGreaterThan(0)

        const streamed = yield* promise(() =>
          client.messages.stream(ask("sim/gpt-4o-mini", { tools, tool_choice: { type: "tool", name: "get_weather" } }))
            .finalMessage()
        )
        const streamedUse = streamed.content.find((block) => block.type === "tool_use")!
        expect(streamed.stop_reason).toBe("tool_use")
        expect(streamedUse.type === "tool_use" && typeof (streamedUse.input as { city: unknown }).city).toBe("string")
      }))

    it.effect("Anthropic's ids: msg_ for a message, toolu_ for a tool use, whose id the provider gets back", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const question: Anthropic.MessageParam = { role: "user", content: "Weather in Paris?" }
        const toolCall = ask("recorded/gpt-4o-mini", { tools, tool_choice: { type: "any" }, messages: [question] })
        const called = yield* create(client, toolCall)
        expect(called.id).toMatch(/^msg_/)
        const use = called.content.find((block) => block.type === "tool_use")
        if (use?.type !== "tool_use") return expect.unreachable("no tool_use block")
        expect(use.id).toMatch(/^toolu_/)
        const before = recorded.bodies.length
        const answered = yield* create(
          client,
          ask("recorded/gpt-4o-mini", {
            tools,
            messages: [
              question,
              { role: "assistant", content: called.content },
              { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "Sunny, 21 C" }] }
            ]
          })
        )
        expect(answered.id).toMatch(/^msg_/)
        // The provider's own call id, in the assistant turn and in the tool result, not the id the client was given.
        const sent = recorded.bodies.slice(before).at(-1)!["messages"] as ReadonlyArray<Record<string, unknown>>
        const callId = (sent[1]!["tool_calls"] as ReadonlyArray<{ readonly id: string }>)[0]!.id
        expect(callId).toMatch(/^call_/)
        expect(sent[2]).toMatchObject({ role: "tool", tool_call_id: callId })
        expect(use.id).not.toBe(callId)

        const stream = client.messages.stream(toolCall)
        const events = yield* promise(async () => {
          const out: Array<Anthropic.MessageStreamEvent> = []
          for await (const event of stream) out.push(event)
          return out
        })
        const start = events.find((event) => event.type === "message_start")
        if (start?.type !== "message_start") return expect.unreachable("no message_start")
        expect(start.message.id).toMatch(/^msg_/)
        // The prompt's tokens before the provider has said: estimated from the request.
        expect(start.message.usage.input_tokens).toBeGreaterThan(0)
        const useIds = events.flatMap((event) =>
          event.type === "content_block_start" && event.content_block.type === "tool_use"
            ? [event.content_block.id]
            : []
        )
        expect(useIds).toHaveLength(1)
        expect(useIds[0]).toMatch(/^toolu_/)
      }))

    for (
      const { answerer, router } of [
        { router: "main", answerer: "gpt-4o-mini" },
        { router: "main-failover", answerer: "claude-sim" }
      ]
    ) {
      it.effect(
        `through router ${router}, message_start names the answering deployment's model (${answerer}), as the ` +
          "whole message does, not the router's name",
        () =>
          Effect.gen(function*() {
            const { client } = yield* Fixture
            const whole = yield* create(client, ask(router))
            expect(whole.model).toBe(answerer)
            const stream = client.messages.stream(ask(router))
            const events = yield* promise(async () => {
              const out: Array<Anthropic.MessageStreamEvent> = []
              for await (const event of stream) out.push(event)
              return out
            })
            const start = events[0]
            if (start?.type !== "message_start") return expect.unreachable("the stream did not open with message_start")
            expect(start.message.model).toBe(answerer)
            const message = yield* promise(() => stream.finalMessage())
            expect(message.model).toBe(answerer)
            expect(textOf(message)).toBe(textOf(whole))
          })
      )
    }

    it.effect(
      "thinking from an Anthropic deployment: signed blocks come out, and go back accepted with a tool " +
        "loop",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const thinking = { type: "enabled" as const, budget_tokens: 2048 }
          const question: Anthropic.MessageParam = { role: "user", content: "Weather in Oslo?" }
          const called = yield* create(
            client,
            ask("claude-sim", {
              max_tokens: 4096,
              thinking,
              tools,
              tool_choice: { type: "auto" },
              messages: [question]
            })
          )
          const first = called.content[0]!
          expect(first.type).toBe("thinking")
          expect(first.type === "thinking" && first.signature).toMatch(/^sim-sig-/)
          const use = called.content.find((block) => block.type === "tool_use")
          // The simulator checks the thinking block's signature on the way back: a changed block would be a 400.
          const answered = yield* create(
            client,
            ask("claude-sim", {
              max_tokens: 4096,
              thinking,
              tools,
              messages: [
                question,
                { role: "assistant", content: called.content },
                ...(use?.type === "tool_use"
                  ? [{
                    role: "user" as const,
                    content: [{ type: "tool_result" as const, tool_use_id: use.id, content: "Snow" }]
                  }]
                  : [{ role: "user" as const, content: "And tomorrow?" }])
              ]
            })
          )
          expect(answered.content.some((block) => block.type === "text")).toBe(true)
          const streamed = client.messages.stream(ask("claude-sim", { max_tokens: 4096, thinking }))
          const thoughts: Array<string> = []
          streamed.on("thinking", (delta) => thoughts.push(delta))
          const final = yield* promise(() => streamed.finalMessage())
          expect(thoughts.join("").length).toBeGreaterThan(0)
          expect(final.content.map((block) => block.type)).toEqual(["thinking", "text"])
        })
    )

    it.effect(
      "failures are the SDK's error classes: 429 with Retry-After, 401, 404 (nothing sent), 529 for a " +
        "provider down",
      () =>
        Effect.gen(function*() {
          const { client, simulator } = yield* Fixture
          const cases = [
            { model: "limited/gpt-4o-mini", kind: Anthropic.RateLimitError, status: 429, type: "rate_limit_error" },
            {
              model: "wrongkey/gpt-4o-mini",
              kind: Anthropic.AuthenticationError,
              status: 401,
              type: "authentication_error"
            },
            { model: "claude-nope", kind: Anthropic.NotFoundError, status: 404, type: "not_found_error" },
            { model: "down/gpt-4o-mini", kind: Anthropic.OverloadedError, status: 529, type: "overloaded_error" }
          ]
          const seen = new Map<string, InstanceType<typeof Anthropic.APIError>>()
          for (const { kind, model, status, type } of cases) {
            const before = (yield* simulator.stats).requests
            const error = (yield* refusal(client, ask(model))) as InstanceType<typeof Anthropic.APIError>
            expect(error, model).toBeInstanceOf(kind)
            expect(error.status).toBe(status)
            expect(error.type).toBe(type)
            expect(errorObject(error).type).toBe(type)
            expect(error.headers?.get("x-request-id")).not.toBeNull()
            for (const secret of [key, "sk-not-accepted-0003"]) expect(error.message).not.toContain(secret)
            if (status === 404) expect((yield* simulator.stats).requests).toBe(before)
            seen.set(type, error)
          }
          expect(seen.get("rate_limit_error")!.headers?.get("retry-after")).toBe("7")
          expect(errorObject(seen.get("not_found_error")).message).toContain("claude-nope")
          expect(seen.get("overloaded_error")).toBeInstanceOf(Anthropic.InternalServerError)
        })
    )

    it.effect("a bad field is a BadRequestError naming it as Anthropic does, and nothing reaches the provider", () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* Fixture
        const before = (yield* simulator.stats).requests
        const role = yield* refusal(client, {
          ...ask("sim/gpt-4o-mini"),
          messages: [
            { role: "user", content: "Hi" },
            { role: "assistant", content: "Hello" },
            // A role Anthropic has not (OpenAI's); `system` is taken anywhere (GatewayAnthropicAgents.test.ts).
            { role: "developer", content: "x" } as never
          ]
        })
        expect(role).toBeInstanceOf(Anthropic.BadRequestError)
        expect(errorObject(role).type).toBe("invalid_request_error")
        expect(errorObject(role).message).toMatch(/^messages\.2\.role: expected/)
        const missing = yield* refusal(
          client,
          { model: "sim/gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] } as never
        )
        expect(errorObject(missing).message).toMatch(/^max_tokens: missing/)
        // The engine's own check (ranges), named by the body's fields.
        const temperature = yield* refusal(client, ask("sim/gpt-4o-mini", { temperature: 5 } as Partial<Params>))
        expect(errorObject(temperature).message).toMatch(/^temperature: /)
        const zero = yield* refusal(client, ask("sim/gpt-4o-mini", { max_tokens: 0 }))
        expect(errorObject(zero).message).toMatch(/^max_tokens: /)
        const tool = yield* refusal(client, ask("sim/gpt-4o-mini", { tools: [{ ...tools[0]!, name: "not a name!" }] }))
        expect(errorObject(tool).message).toMatch(/^tools\.0\.name: /)
        const misplaced = yield* refusal(client, {
          ...ask("sim/gpt-4o-mini"),
          messages: [{ role: "user", content: [{ type: "tool_use", id: "t1", name: "f", input: {} }] }]
        })
        expect(errorObject(misplaced).message).toMatch(/^messages\.0\.content\.0\.type: tool_use blocks/)
        expect((yield* simulator.stats).requests).toBe(before)
      }))

    it.effect("not JSON is a 400 and a body over the limit a 413, in Anthropic's shape", () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* Fixture
        const bad = yield* promise(() =>
          fetch(`${gateway.url}/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{not json"
          })
        )
        expect(bad.status).toBe(400)
        expect(yield* promise(() => bad.json())).toMatchObject({
          type: "error",
          error: { type: "invalid_request_error" }
        })
        const big = yield* refusal(client, ask("sim/gpt-4o-mini", {}, "x".repeat(100_000)))
        expect(big).toBeInstanceOf(Anthropic.ContentTooLargeError)
        expect(errorObject(big).type).toBe("request_too_large")
      }))

    it.effect("a stream that fails mid-way raises in the SDK after the text it got", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { pieces, stream } = textStream(client, ask("broken/gpt-4o-mini"))
        const error = yield* rejection(() => stream.finalMessage())
        expect(error).toBeInstanceOf(Anthropic.APIError)
        expect(pieces.join("").length).toBeGreaterThan(0)
        const raw = yield* promise(() => client.messages.create({ ...ask("broken/gpt-4o-mini"), stream: true }))
        const failed = yield* drain(raw)
        expect(failed).toBeInstanceOf(Anthropic.APIError)
        // The provider's stream ended in its own overloaded error, which the event carries on.
        expect((failed as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error")
      }))

    it.effect(
      "a restart of the router after text was forwarded is an error event the SDK raises, never a second " +
        "answer",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const error = yield* rejection(() => client.messages.stream(ask("flaky")).finalMessage())
          expect(error).toBeInstanceOf(Anthropic.APIError)
          expect((error as Error).message).toContain("another deployment")
        })
    )

    it.effect("an SDK stream aborted mid-way frees the upstream call, its key and the in-flight count", () =>
      Effect.gen(function*() {
        const served = yield* Fixture
        const { before, during, settled } = yield* abortedStall(
          served,
          (signal) => served.client.messages.create({ ...ask("stall/gpt-4o-mini"), stream: true }, { signal })
        )
        expect({ inFlight: during.inFlight, current: during.keys[0]!.current }).toEqual({ inFlight: 1, current: 1 })
        expect(settled.stats.inFlight).toBe(before.inFlight)
      }))
  }
)
