import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"
import { type Answer, postJson } from "../utils/rawHttp.js"

// ---------------------------------------------------------------------------
// The simulator's Messages format, read with plain fetch (no library code).
// ---------------------------------------------------------------------------

const KEY = "sk-ant-e2e-0123456789abcdef"
const MODEL = "sim-small"

const post = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  postJson(`${sim.url}/v1/messages`, body, { "x-api-key": KEY, "anthropic-version": "2023-06-01", ...headers })

interface SseEvent {
  readonly event: string
  readonly data: Record<string, unknown>
}

const sseEvents = (text: string): Array<SseEvent> =>
  text.split("\n\n").filter((chunk) => chunk !== "").map((chunk) => {
    const [eventLine, dataLine] = chunk.split("\n")
    return {
      event: eventLine!.replace(/^event: /, ""),
      data: JSON.parse(dataLine!.replace(/^data: /, "")) as Record<string, unknown>
    }
  })

const weather = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

const withSim = <A, E>(
  options: Simulator.Options,
  body: (sim: Simulator.Simulator) => Effect.Effect<A, E, Scope.Scope>
) => Effect.flatMap(Simulator.make({ models: [MODEL], ...options }), body)

const hello = { model: MODEL, max_tokens: 1024, messages: [{ role: "user", content: "Hello there" }] }

describe("the simulator speaks Anthropic Messages", () => {
  it.live("a whole message: text block, stop_reason, usage without cached tokens in input_tokens", () =>
    withSim({ replyTokens: 7 }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, { ...hello, system: "Be brief." }, { "x-simulator-cached-tokens": "2" })
        assert.strictEqual(answer.status, 200)
        const body = JSON.parse(answer.text)
        assert.strictEqual(body.type, "message")
        assert.match(body.id, /^msg_/)
        assert.strictEqual(body.model, MODEL)
        assert.strictEqual(body.stop_reason, "end_turn")
        assert.strictEqual(body.content.length, 1)
        assert.strictEqual(body.content[0].type, "text")
        assert.strictEqual(body.usage.output_tokens, 7)
        assert.strictEqual(body.usage.cache_read_input_tokens, 2)
        assert.isAtLeast(body.usage.input_tokens, 1)
      })))

  it.live("a stream: every event in order, usage cumulative in message_delta, message_stop last", () =>
    withSim({ replyTokens: 5 }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, { ...hello, stream: true })
        assert.strictEqual(answer.status, 200)
        assert.match(answer.headers.get("content-type") ?? "", /^text\/event-stream/)
        const events = sseEvents(answer.text)
        assert.deepStrictEqual(
          events.map((e) => e.event),
          [
            "message_start",
            "ping",
            "content_block_start",
            ...Array(5).fill("content_block_delta"),
            "content_block_stop",
            "message_delta",
            "message_stop"
          ]
        )
        for (const e of events) assert.strictEqual(e.data.type, e.event)
        const text = events.filter((e) => e.event === "content_block_delta")
          .map((e) => (e.data.delta as { text: string }).text).join("")
        const whole = JSON.parse((yield* post(sim, hello)).text)
        assert.strictEqual(text, whole.content[0].text)
        const delta = events.at(-2)!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } }
        assert.strictEqual(delta.delta.stop_reason, "end_turn")
        assert.strictEqual(delta.usage.output_tokens, 5)
      })))

  it.live("tool_use blocks, parallel, their input streamed as input_json_delta pieces", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const request = { ...hello, tools: [weather], tool_choice: { type: "any" } }
        const whole = JSON.parse((yield* post(sim, request, { "x-simulator-tool-calls": "2" })).text)
        assert.strictEqual(whole.stop_reason, "tool_use")
        assert.strictEqual(whole.content.length, 2)
        for (const block of whole.content) {
          assert.strictEqual(block.type, "tool_use")
          assert.match(block.id, /^toolu_/)
          assert.deepStrictEqual(block.input, { city: "sim" })
        }
        const events = sseEvents(
          (yield* post(sim, { ...request, stream: true }, { "x-simulator-tool-calls": "2" })).text
        )
        const inputs = new Map<number, string>()
        for (const e of events) {
          const delta = e.data.delta as { type?: string; partial_json?: string } | undefined
          if (delta?.type === "input_json_delta") {
            const index = e.data.index as number
            inputs.set(index, (inputs.get(index) ?? "") + delta.partial_json)
          }
        }
        assert.deepStrictEqual([...inputs.values()].map((json) => JSON.parse(json)), [{ city: "sim" }, { city: "sim" }])
        assert.isAbove(
          events.filter((e) => (e.data.delta as { type?: string } | undefined)?.type === "input_json_delta").length,
          4
        )
      })))

  it.live("thinking: a signed block, which must come back first in a tool loop", () =>
    withSim({ reasoningTokens: 4 }, (sim) =>
      Effect.gen(function*() {
        const thinking = { type: "enabled", budget_tokens: 1024 }
        // A call asked for by name: thinking rules a forcing tool choice out.
        const messages = [{ role: "user", content: "What is the weather? Use get_weather." }]
        const request = { ...hello, messages, max_tokens: 2048, thinking, tools: [weather] }
        const first = JSON.parse((yield* post(sim, request)).text)
        assert.strictEqual(first.content[0].type, "thinking")
        assert.isString(first.content[0].signature)
        assert.strictEqual(first.content[1].type, "tool_use")
        assert.strictEqual(first.usage.output_tokens_details.thinking_tokens, 4)
        const result = {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: first.content[1].id, content: "sunny" }]
        }
        const next = (assistant: ReadonlyArray<unknown>) =>
          post(sim, { ...request, messages: [...messages, { role: "assistant", content: assistant }, result] })
        const good = yield* next(first.content)
        assert.strictEqual(good.status, 200)
        assert.include(JSON.parse(good.text).content.at(-1).text, "The tool returned sunny")
        const missing = yield* next(first.content.slice(1))
        assert.strictEqual(missing.status, 400)
        assert.include(missing.text, "must start with a thinking block")
        const forged = yield* next([{ ...first.content[0], signature: "forged" }, first.content[1]])
        assert.strictEqual(forged.status, 400)
        assert.include(forged.text, "signature")
      })))

  it.live("errors in Anthropic's shape", () =>
    withSim({ apiKeys: [KEY], contextWindow: 100 }, (sim) =>
      Effect.gen(function*() {
        const errorOf = (answer: Answer) =>
          JSON.parse(answer.text) as { type: string; error: { type: string; message: string } }
        const badKey = yield* post(sim, hello, { "x-api-key": "sk-ant-wrong-000000000" })
        assert.strictEqual(badKey.status, 401)
        assert.deepStrictEqual(errorOf(badKey), {
          type: "error",
          error: { type: "authentication_error", message: "invalid x-api-key" }
        })
        const noMax = yield* post(sim, { model: MODEL, messages: hello.messages })
        assert.strictEqual(noMax.status, 400)
        assert.include(errorOf(noMax).error.message, "max_tokens")
        const system = yield* post(sim, { ...hello, messages: [{ role: "system", content: "x" }] })
        assert.include(errorOf(system).error.message, "top-level `system`")
        const model = yield* post(sim, { ...hello, model: "claude-nope" })
        assert.strictEqual(model.status, 404)
        assert.deepStrictEqual(errorOf(model).error, { type: "not_found_error", message: "model: claude-nope" })
        const long = yield* post(sim, { ...hello, max_tokens: 200 })
        assert.strictEqual(long.status, 400)
        assert.match(errorOf(long).error.message, /^prompt is too long: \d+ tokens > 100 maximum$/)
        const overloaded = yield* post(sim, hello, { "x-simulator-fault": "status=529" })
        assert.strictEqual(overloaded.status, 529)
        assert.strictEqual(errorOf(overloaded).error.type, "overloaded_error")
        const orphan = yield* post(sim, {
          ...hello,
          messages: [...hello.messages, {
            role: "assistant",
            content: [{ type: "tool_use", id: "toolu_1", name: "x", input: {} }]
          }]
        })
        assert.include(errorOf(orphan).error.message, "without `tool_result` blocks")
      })))

  it.live("request-id and anthropic-ratelimit-* headers; 429 rate_limit_error with retry-after", () =>
    withSim({ requestsPerMinute: 2 }, (sim) =>
      Effect.gen(function*() {
        const first = yield* post(sim, hello)
        assert.strictEqual(first.status, 200)
        assert.match(first.headers.get("request-id") ?? "", /^req_sim\d+$/)
        assert.isNull(first.headers.get("x-request-id"))
        assert.isNull(first.headers.get("x-ratelimit-limit-requests"))
        assert.strictEqual(first.headers.get("anthropic-ratelimit-requests-limit"), "2")
        assert.strictEqual(first.headers.get("anthropic-ratelimit-requests-remaining"), "1")
        const reset = first.headers.get("anthropic-ratelimit-requests-reset") ?? ""
        assert.match(reset, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
        assert.isAbove(Date.parse(reset), Date.now() - 1000)
        yield* post(sim, hello)
        const limited = yield* post(sim, hello)
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(JSON.parse(limited.text).error.type, "rate_limit_error")
        assert.strictEqual(limited.headers.get("anthropic-ratelimit-requests-remaining"), "0")
        assert.isNotNull(limited.headers.get("retry-after"))
      })))

  it.live("a stream-error fault is an `error` event with no message_stop after it", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const events = sseEvents(
          (yield* post(sim, { ...hello, stream: true }, { "x-simulator-fault": "stream-error=3" })).text
        )
        assert.strictEqual(events.length, 4)
        assert.deepStrictEqual(events[3], {
          event: "error",
          data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }
        })
      })))
})

// ---------------------------------------------------------------------------
// The Anthropic adapter against the simulator over loopback.
// ---------------------------------------------------------------------------

const credentials = ProviderClient.credentials(KEY)
const ask: ChatRequest.Input = {
  messages: [Message.system("Be brief."), Message.user("Tell me about Effect in one paragraph.")]
}

const tools = AdapterE2e.weatherAndTimeTools

// A request that asks for a tool by name (the simulated model calls one only when asked).
const askForWeather: ChatRequest.Input = {
  messages: [Message.system("Be brief."), Message.user("What is the weather in Paris? Use get_weather.")]
}

const withClient = AdapterE2e.adapterHarness<Anthropic.Options>(
  (simulator, options) => Anthropic.make({ baseUrl: simulator.url, model: MODEL, ...options }),
  { models: [MODEL] }
)

const fault = AdapterE2e.simulatorFault

const suite = { withClient, request: ask, key: KEY }

const comparable = (response: ChatResponse) =>
  AdapterE2e.comparable(response, { id: (id) => id.slice(0, 4), providerMetadata: true })

describe("Anthropic over the simulator", () => {
  it.live("a text reply", () =>
    withClient({ replyTokens: 12 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const response = yield* chat.chat(ask, credentials)
        assert.isAbove(response.text.length, 0)
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.model, MODEL)
        assert.strictEqual(response.provider, "anthropic")
        assert.match(response.id, /^msg_/)
        assert.strictEqual(response.usage.completionTokens, 12)
        assert.isAbove(response.usage.promptTokens, 0)
        assert.strictEqual(response.usage.totalTokens, response.usage.promptTokens + 12)
        assert.strictEqual(response.keyId, credentials.keyId)
        assert.deepStrictEqual(response.toolCalls, [])
        assert.isUndefined(response.providerMetadata)
      })))

  AdapterE2e.itStreamsTextThenUsageThenFinish(suite, "anthropic", (finish) => assert.match(finish.id, /^msg_/))

  it.live("streamed and whole replies collect to the same response (thinking, cached tokens)", () =>
    withClient({ replyTokens: 30, reasoningTokens: 5 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-cached-tokens": "4" } })
        const request: ChatRequest.Input = { ...ask, reasoningEffort: "low" }
        const { whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, request, credentials, comparable)
        assert.isAbove(whole.reasoning?.length ?? 0, 0)
        assert.strictEqual(whole.usage.reasoningTokens, 5)
        assert.strictEqual(whole.usage.cachedPromptTokens, 4)
        const blocks =
          (whole.providerMetadata?.["anthropic"] as { thinking: Array<{ type: string; signature: string }> }).thinking
        assert.strictEqual(blocks.length, 1)
        assert.strictEqual(blocks[0]!.type, "thinking")
        assert.isAbove(blocks[0]!.signature.length, 0)
      })))

  it.live("a tool call, streamed and whole", () =>
    withClient({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const request: ChatRequest.Input = { ...ask, tools, toolChoice: { tool: "get_weather" } }
        const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(chat, request, credentials, comparable)
        assert.match(call.id, /^toolu_/)
        assert.deepStrictEqual(JSON.parse(call.arguments), { city: "sim" })
      })))

  it.live("parallel tool calls: dense indexes, arguments split across events, streamed and whole", () =>
    withClient({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-tool-calls": "3" } })
        // The calls asked for by name: thinking rules a forcing tool choice out.
        const request: ChatRequest.Input = { ...askForWeather, tools, reasoningEffort: "minimal" }
        const whole = yield* chat.chat(request, credentials)
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.name), ["get_weather", "get_weather", "get_weather"])
        const chunks = yield* Stream.runCollect(chat.chatStream(request, credentials))
        const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
        // The thinking block is content block 0, so wire indexes start at 1; tool calls start at 0.
        assert.deepStrictEqual([...new Set(deltas.map((d) => d.index))], [0, 1, 2])
        assert.isAbove(deltas.filter((d) => d.index === 0 && d.arguments !== "").length, 1)
        const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        assert.deepStrictEqual(comparable(streamed), comparable(whole))
      })))

  it.live("a tool loop with thinking sends the signed blocks back first; without them it goes on unthinking", () =>
    withClient({ reasoningTokens: 3 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const request: ChatRequest.Input = { ...askForWeather, tools, reasoningEffort: "low" }
        for (const streamed of [false, true]) {
          const first = streamed
            ? yield* ChatChunk.collect(chat.chatStream(request, credentials))
            : yield* chat.chat(request, credentials)
          assert.strictEqual(first.finishReason, "tool_calls")
          const second = yield* chat.chat({
            ...request,
            messages: [
              ...request.messages,
              Message.fromResponse(first),
              ...first.toolCalls.map((call) => Message.toolResult(call, { temperature: 21 }))
            ]
          }, credentials)
          assert.strictEqual(second.finishReason, "stop")
          assert.include(second.text, "The tool returned")
          assert.include(second.text, "21")
        }
        // Without the blocks (another provider's turn, a client's that drops them) the API would refuse thinking:
        // the turn goes on without it.
        const first = yield* chat.chat(request, credentials)
        const unsigned = yield* chat.chat({
          ...request,
          messages: [
            ...request.messages,
            Message.assistant(first.text, { toolCalls: first.toolCalls }),
            Message.toolResult(first.toolCalls[0]!, "x")
          ]
        }, credentials)
        assert.include(unsigned.text, "The tool returned x")
        assert.isUndefined(unsigned.reasoning)
      })))
})

describe("Anthropic errors from the simulator", () => {
  AdapterE2e.itMapsARejectedKey(suite, "401 for a bad key -> AuthError, no key in it", {
    rightKey: "sk-ant-the-right-key-00",
    status: 401,
    provider: "anthropic"
  })

  AdapterE2e.itMapsAnUnknownModel(suite, "claude-nope", (error) => assert.match(error.requestId ?? "", /^req_sim/))

  AdapterE2e.itMapsAPromptOverTheContextWindow(suite, ask)

  AdapterE2e.itMapsThePerKeyRateLimit(suite)

  it.live("injected statuses map to their tags", () =>
    withClient({}, ({ client }) =>
      Effect.gen(function*() {
        const failWith = AdapterE2e.failWithFault(client, ask, credentials)

        const payment = yield* failWith("status=402")
        assert(payment._tag === "AuthError")
        assert.strictEqual(payment.reason, "payment_required")

        const tooLarge = yield* failWith("status=413")
        assert(tooLarge._tag === "ContextLengthError")
        assert.strictEqual(tooLarge.status, 413)

        yield* AdapterE2e.unavailableStatuses(failWith, [500, 504, 529], 529)
        const overloaded = yield* failWith("status=529")
        assert.include(overloaded.detail, "Overloaded")

        yield* AdapterE2e.commonInjectedStatuses(failWith)

        const empty = yield* failWith("empty=400")
        assert(empty._tag === "InvalidRequestError")
        assert.strictEqual(empty.status, 400)
      })))

  it.live("tool call arguments that are not JSON fail before any request, naming the call", () =>
    withClient({}, ({ client, simulator }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const broken = { id: "toolu_bad", name: "get_weather", arguments: "{not json" }
        const request: ChatRequest.Input = {
          messages: [
            Message.user("hi"),
            Message.assistant("", { toolCalls: [broken] }),
            Message.toolResult(broken, "x")
          ]
        }
        const error = yield* Effect.flip(chat.chat(request, credentials))
        assert(error._tag === "InvalidRequestError")
        assert.include(error.detail, "toolu_bad")
        assert.include(error.detail, "get_weather")
        const streamError = yield* Effect.flip(Stream.runDrain(chat.chatStream(request, credentials)))
        assert.strictEqual(streamError._tag, "InvalidRequestError")
        assert.strictEqual(yield* simulator.requestCount, 0)
      })))
})

describe("Anthropic's 1M-token context window over the simulator", () => {
  // 900,000 characters: 225,000 tokens as the simulator counts them.
  const long = (model: string): ChatRequest.Input => ({ model, messages: [Message.user("x".repeat(900_000))] })

  it.live("Claude Sonnet 4.5 takes a prompt over 200,000 tokens with longContext only; a later model without it", () =>
    withClient(
      { models: ["claude-sonnet-4-5-20250929", "claude-sonnet-4-6"], contextWindow: 1_000_000 },
      ({ client }) =>
        Effect.gen(function*() {
          const chat = yield* client()
          const refused = yield* Effect.flip(chat.chat(long("claude-sonnet-4-5-20250929"), credentials))
          assert(refused._tag === "ContextLengthError")
          assert.include(refused.detail, "prompt is too long")
          assert.include(refused.detail, "> 200000 maximum")
          const taken = yield* chat.chat({ ...long("claude-sonnet-4-5-20250929"), longContext: true }, credentials)
          assert.isAbove(taken.usage.promptTokens, 200_000)
          const native = yield* chat.chat(long("claude-sonnet-4-6"), credentials)
          assert.isAbove(native.usage.promptTokens, 200_000)
        })
    ))
})

describe("Anthropic faults from the simulator", () => {
  AdapterE2e.itMapsAResetMidStream(suite, { fault: "reset=6", maxChunks: 3 })

  AdapterE2e.itSkipsAMalformedEvent(suite)

  it.live("a stream cut before message_stop -> StreamTruncatedError", () =>
    withClient({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("truncate=8"))
        const error = yield* Effect.flip(ChatChunk.collect(chat.chatStream(ask, credentials)))
        assert(error._tag === "StreamTruncatedError")
        assert.strictEqual(error.model, MODEL)
        assert.include(error.detail, "message_stop")
        const whole = yield* Effect.flip(chat.chat(ask, credentials))
        assert.strictEqual(whole._tag, "TransportError")
      })))

  it.live("an error event mid-stream (overloaded_error) -> ProviderUnavailableError after the chunks before it", () =>
    withClient({ replyTokens: 10 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("stream-error=5"))
        const seen: Array<ChatChunk.ChatChunk> = []
        const error = yield* Effect.flip(
          Stream.runForEach(chat.chatStream(ask, credentials), (c) => Effect.sync(() => seen.push(c)))
        )
        assert(error._tag === "ProviderUnavailableError")
        assert.isUndefined(error.status)
        assert.include(error.detail, "Overloaded")
        assert.strictEqual(seen.filter((c) => c._tag === "TextDelta").length, 2)
        const other = yield* Effect.flatMap(client(fault("stream-error=2;shape=vllm")), (c) =>
          Effect.flip(ChatChunk.collect(c.chatStream(ask, credentials))))
        assert(other._tag === "ProviderUnavailableError")
        assert.include(other.detail, "Internal server error")
        const whole = yield* Effect.flatMap(client(fault("stream-error=0")), (c) =>
          Effect.flip(c.chat(ask, credentials)))
        assert.strictEqual(whole._tag, "ProviderUnavailableError")
      })))
})

describe("Anthropic timeouts and interruption", () => {
  AdapterE2e.itTimesOutAndAbandonsTheRequest(suite, { on: "request", clientTimeout: "5 seconds", stream: true })

  AdapterE2e.itClosesTheConnectionOnInterruption(suite)

  AdapterE2e.itClosesTheConnectionAfterAPrefix(suite)
})

describe("Llm over Anthropic", () => {
  it.live("a rejected key is rotated away; chat and chatStream go through the whole stack", () =>
    Effect.gen(function*() {
      const good = "sk-ant-good-key-0000000001"
      const simulator = yield* Simulator.make({ models: [MODEL], apiKeys: [good], replyTokens: 6 })
      const pool = yield* poolInMemory({ providerId: "anthropic-sim", keys: ["sk-ant-revoked-key-00002", good] })
      const llm = yield* AdapterE2e.llmOver(
        Anthropic.layer({ baseUrl: simulator.url, model: MODEL }),
        pool,
        { retry: RetryPolicy.make({ maxRetries: 3, baseDelay: "10 millis" }) }
      )
      yield* AdapterE2e.aRejectedKeyIsRotatedAway(llm, pool, "anthropic")
    }))
})
