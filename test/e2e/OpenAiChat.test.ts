import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { awaitStats, fault, withSimulator } from "../utils/openAiChatSimulator.js"

const KEY = "sk-e2e-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }

const tools = AdapterE2e.weatherAndTimeTools

const comparable = (response: ChatResponse) => AdapterE2e.comparable(response)

const suite = { withClient: withSimulator, request: hello, key: KEY }

describe("OpenAiChat over the simulator", () => {
  it.live("a text reply", () =>
    withSimulator({ replyTokens: 12 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const response = yield* chat.chat(hello, credentials)
        assert.isAbove(response.text.length, 0)
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.model, "gpt-4o-mini")
        assert.strictEqual(response.provider, "openai")
        assert.match(response.id, /^chatcmpl-/)
        assert.strictEqual(response.usage.completionTokens, 12)
        assert.isAbove(response.usage.promptTokens, 0)
        assert.strictEqual(response.usage.totalTokens, response.usage.promptTokens + 12)
        assert.isFalse(response.usage.estimated)
        assert.strictEqual(response.keyId, credentials.keyId)
        assert.deepStrictEqual(response.toolCalls, [])
        assert.isTrue(Duration.isGreaterThanOrEqualTo(response.latency, Duration.zero))
      })))

  AdapterE2e.itStreamsTextThenUsageThenFinish(suite, "openai", (finish) => assert.match(finish.id, /^chatcmpl-/))

  it.live("streamed and whole replies collect to the same response (text, reasoning, cached tokens)", () =>
    withSimulator({ replyTokens: 30, reasoningTokens: 5 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-cached-tokens": "4" } })
        const request: ChatRequest.Input = { ...hello, reasoningEffort: "low" }
        const { whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, request, credentials, comparable)
        assert.isAbove(whole.reasoning?.length ?? 0, 0)
        assert.strictEqual(whole.usage.reasoningTokens, 5)
        assert.strictEqual(whole.usage.cachedPromptTokens, 4)
      })))

  it.live("a tool call, streamed and whole", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: { tool: "get_weather" } }
        const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(chat, request, credentials, comparable)
        assert.match(call.id, /^call_/)
        assert.property(JSON.parse(call.arguments), "city")
      })))

  it.live("parallel tool calls interleaved by index, streamed and whole", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-tool-calls": "3" } })
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: "required" }
        const whole = yield* chat.chat(request, credentials)
        assert.strictEqual(whole.toolCalls.length, 3)
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.name), ["get_weather", "get_time", "get_weather"])
        for (const call of whole.toolCalls) JSON.parse(call.arguments)
        const chunks = yield* Stream.runCollect(chat.chatStream(request, credentials))
        const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
        assert.deepStrictEqual([...new Set(deltas.map((d) => d.index))], [0, 1, 2])
        const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        assert.deepStrictEqual(comparable(streamed), comparable(whole))
      })))

  it.live("a tool result round trip", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const first = yield* chat.chat({ ...hello, tools, toolChoice: "required" }, credentials)
        const call = first.toolCalls[0]!
        const second = yield* chat.chat({
          messages: [
            ...hello.messages,
            Message.assistant(first.text, { toolCalls: first.toolCalls }),
            Message.toolResult(call, { temperature: 21 })
          ],
          tools
        }, credentials)
        assert.strictEqual(second.finishReason, "stop")
        assert.include(second.text, "The tool returned")
        assert.include(second.text, "21")
      })))
})

describe("OpenAiChat errors from the simulator", () => {
  AdapterE2e.itMapsARejectedKey(suite, "401 for a bad key -> AuthError, no key in it", {
    rightKey: "sk-the-right-key-0000",
    status: 401,
    provider: "openai"
  })

  AdapterE2e.itMapsAnUnknownModel(suite, "gpt-nope")

  AdapterE2e.itMapsAPromptOverTheContextWindow(suite, { ...hello, maxTokens: 100 })

  AdapterE2e.itMapsThePerKeyRateLimit(suite)

  it.live("injected statuses map to their tags", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const failWith = AdapterE2e.failWithFault(client, hello, credentials)

        const quota = yield* failWith("status=429;code=insufficient_quota")
        assert(quota._tag === "AuthError")
        assert.strictEqual(quota.reason, "quota_exhausted")

        const payment = yield* failWith("status=402")
        assert(payment._tag === "AuthError")
        assert.strictEqual(payment.reason, "payment_required")

        yield* AdapterE2e.unavailableStatuses(failWith, [500, 503, 529], 503)

        const html = yield* AdapterE2e.commonInjectedStatuses(failWith)
        assert.strictEqual(html.status, 502)

        const empty = yield* failWith("empty=400")
        assert(empty._tag === "InvalidRequestError")
        assert.strictEqual(empty.status, 400)
      })))
})

describe("OpenAiChat faults from the simulator", () => {
  AdapterE2e.itMapsAResetMidStream(
    suite,
    { fault: "reset=5", maxChunks: 4 },
    (error) => assert.strictEqual(error.provider, "openai")
  )

  AdapterE2e.itSkipsAMalformedEvent(suite, ({ whole }) => assert.isAbove(whole.raw.length, 0))

  it.live("a stream cut before [DONE] and any finish reason -> StreamTruncatedError", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("truncate=4"))
        const error = yield* Effect.flip(ChatChunk.collect(chat.chatStream(hello, credentials)))
        assert(error._tag === "StreamTruncatedError")
        assert.strictEqual(error.model, "gpt-4o-mini")
        // Half a body under the full content-length, then a reset: reached, then broken.
        const whole = yield* Effect.flip(chat.chat(hello, credentials))
        assert(whole._tag === "TransportError")
        assert.isTrue(whole.responseStarted)
        assert.include(whole.message, "broke the connection after the response had started")
      })))

  it.live("a host that refuses the connection -> TransportError: could not be reached", () =>
    withSimulator({}, ({ client, simulator }) =>
      Effect.gen(function*() {
        // A port that was just free: nothing listens on it.
        const closed = yield* Effect.scoped(Effect.map(Simulator.make(), (other) => other.url))
        const chat = yield* client({ baseUrl: `${closed}/v1` })
        const error = yield* Effect.flip(chat.chat(hello, credentials))
        assert(error._tag === "TransportError")
        assert.isUndefined(error.responseStarted)
        assert.include(error.message, "could not be reached")
        assert.notStrictEqual(closed, simulator.url)
      })))

  it.live("each error shape inside a 200 stream fails the stream", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const streamError = (shape: string) =>
          Effect.flatMap(client(fault(`stream-error=3;shape=${shape}`)), (chat) =>
            Effect.flip(ChatChunk.collect(chat.chatStream(hello, credentials))))

        const openai = yield* streamError("openai")
        assert(openai._tag === "ProviderUnavailableError")
        assert.isUndefined(openai.status)
        assert.include(openai.detail, "The server had an error")

        const vllm = yield* streamError("vllm")
        assert(vllm._tag === "ProviderUnavailableError")
        assert.strictEqual(vllm.status, 500)
        assert.include(vllm.detail, "engine failed")

        const openrouter = yield* streamError("openrouter")
        assert(openrouter._tag === "ProviderUnavailableError")
        assert.strictEqual(openrouter.status, 502)
        assert.include(openrouter.detail, "Provider returned error")

        // A non-streamed request gets the error object with status 200.
        const whole = yield* Effect.flatMap(client(fault("stream-error=0")), (chat) =>
          Effect.flip(chat.chat(hello, credentials)))
        assert.strictEqual(whole._tag, "ProviderUnavailableError")
      })))
})

describe("OpenAiChat timeouts and interruption", () => {
  // The client's 5 s would let the 3 s reply through: the TimeoutError (of 200 ms) is the request's own.
  AdapterE2e.itTimesOutAndAbandonsTheRequest(suite, { on: "request", clientTimeout: "5 seconds", stream: true })

  it.live("the client's timeout applies when the request sets none", () =>
    withSimulator({ latency: "3 seconds" }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ timeout: "300 millis" })
        const error = yield* Effect.flip(chat.chat(hello, credentials))
        assert(error._tag === "TimeoutError")
        assert.deepStrictEqual(error.timeout, Duration.millis(300))
      })))

  it.live("a stream's timeout bounds the wait for its first chunk, not the rest", () =>
    // 2 s of tokens (20 at 10 a second) against a second: the first chunk comes well within it on a loaded machine,
    // the whole stream never does.
    withSimulator({ tokensPerSecond: 10, replyTokens: 20 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ timeout: "1 second" })
        const response = yield* ChatChunk.collect(chat.chatStream(hello, credentials))
        assert.strictEqual(response.usage.completionTokens, 20)
        assert.strictEqual(response.finishReason, "stop")
      })))

  it.live("headers at once but no first chunk within the timeout -> TimeoutError, and the request is abandoned", () =>
    withSimulator({ timeToFirstToken: "3 seconds" }, ({ client, simulator }) =>
      Effect.gen(function*() {
        const chat = yield* client({ timeout: "200 millis" })
        const error = yield* Effect.flip(Stream.runDrain(chat.chatStream(hello, credentials)))
        assert.strictEqual(error._tag, "TimeoutError")
        yield* awaitStats(simulator, (stats) => stats.inFlight === 0)
      })))

  AdapterE2e.itClosesTheConnectionOnInterruption(suite)

  AdapterE2e.itClosesTheConnectionAfterAPrefix(suite)

  it.live("interrupting chat while it waits closes the connection", () =>
    withSimulator({ latency: "5 seconds" }, ({ client, simulator }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const fiber = yield* Effect.forkChild(chat.chat(hello, credentials))
        yield* awaitStats(simulator, (stats) => stats.inFlight === 1)
        yield* Fiber.interrupt(fiber)
        yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
      })))

  it.live("a stalled stream can be interrupted", () =>
    withSimulator({}, ({ client, simulator }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("stall=3"))
        const fiber = yield* Effect.forkChild(Stream.runDrain(chat.chatStream(hello, credentials)))
        yield* awaitStats(simulator, (stats) => stats.inFlight === 1)
        yield* Effect.sleep("100 millis")
        assert.isUndefined(fiber.pollUnsafe())
        yield* Fiber.interrupt(fiber)
        yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
      })))
})
