import { assert, describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import { type ChatResponse, emptyUsage } from "../src/ChatResponse.js"
import { timeoutFail } from "../src/internal/time/watchdog.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { fakeHttpClient, jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"
import { chunk, completion, splitBytes, sse, usage, usageChunk } from "./utils/openAiChatWire.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { recordingTracer } from "./utils/recordingTracer.js"
import { skippedCounts, withWarnings } from "./utils/warnings.js"

const KEY = "sk-test-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const harness = adapterHarness({
  make: OpenAiChat.make,
  defaults: { baseUrl: "https://api.test/v1", model: "gpt-test" },
  credentials
})
const { chatWith, setup } = harness

const streamWith = (
  pieces: ReadonlyArray<string | Uint8Array>,
  options?: Partial<OpenAiChat.Options>,
  request: ChatRequest.Input = hello
) => harness.streamWith(() => streamResponse(pieces), request, options)

const collectChunks = (pieces: ReadonlyArray<string | Uint8Array>, options?: Partial<OpenAiChat.Options>) =>
  Stream.runCollect(streamWith(pieces, options).stream)

/** Runs a stream to its end, returning the chunks it emitted and how it ended. */
const outcome = (pieces: ReadonlyArray<string | Uint8Array>, options?: Partial<OpenAiChat.Options>) =>
  Effect.gen(function*() {
    const chunks: Array<ChatChunk.ChatChunk> = []
    const exit = yield* Stream.runForEach(streamWith(pieces, options).stream, (c) => Effect.sync(() => chunks.push(c)))
      .pipe(
        Effect.result
      )
    return { chunks, exit }
  })

const collected = (pieces: ReadonlyArray<string | Uint8Array>, options?: Partial<OpenAiChat.Options>) =>
  ChatChunk.collect(streamWith(pieces, options).stream)

const failure = (pieces: ReadonlyArray<string | Uint8Array>, options?: Partial<OpenAiChat.Options>) =>
  Effect.flip(collected(pieces, options))

const toolDeltas = (chunks: ReadonlyArray<ChatChunk.ChatChunk>) => chunks.filter((c) => c._tag === "ToolCallDelta")

const assertNoKey = (error: Error) => {
  assert.notInclude(error.message, KEY)
  assert.notInclude(JSON.stringify(error), KEY)
  assert.notInclude(String(error), KEY)
}

describe("OpenAiChat request mapping", () => {
  it.effect("maps every message kind, tools, tool choice, response format and sampling fields", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), {
        messages: [
          Message.system("Be terse."),
          Message.user([Message.text("What is this?"), Message.image("https://img.test/a.png", "low")]),
          Message.assistant("", {
            toolCalls: [{ id: "call_1", name: "look", arguments: "{\"x\":1}" }],
            reasoning: "I should look."
          }),
          Message.toolResult({ id: "call_1", name: "look" }, { seen: "cat" }),
          Message.assistant("A cat.", { reasoning: "not sent back" }),
          Message.user("Thanks")
        ],
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 100,
        stop: ["END"],
        tools: [
          { name: "look", description: "Look at it", parameters: { type: "object", properties: {} }, strict: true },
          { name: "plain", parameters: { type: "object" } }
        ],
        toolChoice: { tool: "look" },
        responseFormat: { type: "json_schema", name: "Answer", schema: { type: "object" } },
        reasoningEffort: "low",
        seed: 7,
        user: "user-1"
      })
      yield* run
      assert.strictEqual(requests.length, 1)
      const request = requests[0]!
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url, "https://api.test/v1/chat/completions")
      assert.deepStrictEqual(request.body, {
        model: "gpt-test",
        messages: [
          { role: "system", content: "Be terse." },
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "https://img.test/a.png", detail: "low" } }
            ]
          },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{\"x\":1}" } }],
            reasoning_content: "I should look."
          },
          { role: "tool", tool_call_id: "call_1", content: "{\"seen\":\"cat\"}" },
          { role: "assistant", content: "A cat." },
          { role: "user", content: "Thanks" }
        ],
        temperature: 0.2,
        top_p: 0.9,
        max_completion_tokens: 100,
        stop: ["END"],
        tools: [
          {
            type: "function",
            function: {
              name: "look",
              description: "Look at it",
              parameters: { type: "object", properties: {} },
              strict: true
            }
          },
          { type: "function", function: { name: "plain", parameters: { type: "object" } } }
        ],
        tool_choice: { type: "function", function: { name: "look" } },
        response_format: {
          type: "json_schema",
          json_schema: { name: "Answer", schema: { type: "object" }, strict: true }
        },
        reasoning_effort: "low",
        seed: 7,
        user: "user-1"
      })
    }))

  it.effect("sends max_tokens when configured, and string tool choices and simple formats as they are", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), {
        ...hello,
        maxTokens: 5,
        tools: [{ name: "f", parameters: { type: "object" } }],
        toolChoice: "required",
        parallelToolCalls: false,
        responseFormat: { type: "json_object" }
      }, { maxTokensField: "max_tokens" })
      yield* run
      const body = requests[0]!.body
      assert.strictEqual(body["max_tokens"], 5)
      assert.notProperty(body, "max_completion_tokens")
      assert.strictEqual(body["tool_choice"], "required")
      assert.strictEqual(body["parallel_tool_calls"], false)
      assert.deepStrictEqual(body["response_format"], { type: "json_object" })
      assert.notProperty(body, "stream")
      assert.notProperty(body, "stream_options")
    }))

  it.effect("keeps an explicit strict: false and merges providerOptions last", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), {
        ...hello,
        temperature: 0.5,
        responseFormat: { type: "json_schema", name: "A", description: "d", schema: {}, strict: false },
        providerOptions: { temperature: 1.5, logprobs: true, thinking: { type: "enabled" } }
      })
      yield* run
      const body = requests[0]!.body
      assert.deepStrictEqual(body["response_format"], {
        type: "json_schema",
        json_schema: { name: "A", description: "d", schema: {}, strict: false }
      })
      assert.strictEqual(body["temperature"], 1.5)
      assert.strictEqual(body["logprobs"], true)
      assert.deepStrictEqual(body["thinking"], { type: "enabled" })
    }))

  it.effect("sets the key, organization, project and extra headers", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), hello, {
        organization: "org-1",
        project: "proj-1",
        headers: { "X-Title": "tests", "cf-aig-authorization": Redacted.make("gateway-secret") }
      })
      yield* run
      const headers = requests[0]!.headers
      assert.strictEqual(headers["authorization"], `Bearer ${KEY}`)
      assert.strictEqual(headers["openai-organization"], "org-1")
      assert.strictEqual(headers["openai-project"], "proj-1")
      assert.strictEqual(headers["x-title"], "tests")
      assert.strictEqual(headers["cf-aig-authorization"], "gateway-secret")
      assert.strictEqual(headers["content-type"], "application/json")
    }))

  it.effect("layerConfig reads the options from Config, secrets as Redacted", () =>
    Effect.gen(function*() {
      const fake = fakeHttpClient(() => jsonResponse(completion({ content: "ok" })))
      const layer = OpenAiChat.layerConfig({
        baseUrl: Config.String("OPENAI_BASE_URL"),
        model: Config.String("OPENAI_MODEL"),
        provider: Config.String("PROVIDER_NAME").pipe(Config.withDefault(undefined)),
        maxTokensField: Config.Literals(["max_completion_tokens", "max_tokens"], "MAX_TOKENS_FIELD"),
        timeout: Config.Duration("OPENAI_TIMEOUT"),
        headers: { "x-gateway-key": Config.Redacted("GATEWAY_KEY") }
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
      const provider = ConfigProvider.fromEnv({
        env: {
          OPENAI_BASE_URL: "https://gateway.test/v1/",
          OPENAI_MODEL: "from-config",
          MAX_TOKENS_FIELD: "max_tokens",
          OPENAI_TIMEOUT: "2 seconds",
          GATEWAY_KEY: "gw-secret"
        }
      })
      const response = yield* Effect.flatMap(ProviderClient.ProviderClient, (client) =>
        client.chat({ ...hello, maxTokens: 9 }, credentials)).pipe(
          Effect.provide(layer),
          Effect.provideService(ConfigProvider.ConfigProvider, provider)
        )
      assert.strictEqual(response.provider, "openai")
      const request = fake.requests[0]!
      assert.strictEqual(request.url, "https://gateway.test/v1/chat/completions")
      assert.strictEqual(request.body["model"], "from-config")
      assert.strictEqual(request.body["max_tokens"], 9)
      assert.strictEqual(request.headers["x-gateway-key"], "gw-secret")

      const missing = yield* Effect.flip(
        Effect.flatMap(ProviderClient.ProviderClient, (client) =>
          client.chat(hello, credentials)).pipe(
            Effect.provide(layer),
            Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
          )
      )
      assert.instanceOf(missing, Config.ConfigError)
    }))

  it.effect("HTTP spans only under an installed tracer, with the key and secret headers redacted", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), hello, {
        headers: { "cf-aig-authorization": Redacted.make("gateway-secret") }
      })
      yield* run
      assert.strictEqual(spans.length, 0)
      assert.notProperty(requests[0]!.headers, "traceparent")
      // Effect 4 records request headers on the span only when a filter asks for them.
      yield* run.pipe(Effect.withTracer(tracer), Effect.provideService(HttpClient.TracerHeaderFilter, () => true))
      // The platform names a client span after the request's method.
      const http = spans.find((span) => span.name === "POST")
      assert.isDefined(http)
      assert.strictEqual(http!.attributes.get("http.request.method"), "POST")
      const values = JSON.stringify([...http!.attributes.entries()].map(([k, v]) => [k, String(v)]))
      assert.notInclude(values, KEY)
      assert.notInclude(values, "gateway-secret")
      assert.include(values, "cf-aig-authorization")
      assert.property(requests[1]!.headers, "traceparent")
    }))

  it.effect("streams ask for usage unless turned off", () =>
    Effect.gen(function*() {
      const on = streamWith([sse(chunk({ content: "x" }, { finish_reason: "stop" }), "[DONE]")])
      yield* Stream.runDrain(on.stream)
      assert.strictEqual(on.requests[0]!.body["stream"], true)
      assert.deepStrictEqual(on.requests[0]!.body["stream_options"], { include_usage: true })
      const off = streamWith([sse(chunk({ content: "x" }, { finish_reason: "stop" }), "[DONE]")], {
        includeUsage: false
      })
      yield* Stream.runDrain(off.stream)
      assert.strictEqual(off.requests[0]!.body["stream"], true)
      assert.notProperty(off.requests[0]!.body, "stream_options")
    }))

  it.effect("the request's model wins over the default; no model at all fails before sending", () =>
    Effect.gen(function*() {
      const named = chatWith(() => jsonResponse(completion({ content: "ok" })), { ...hello, model: "other" })
      yield* named.run
      assert.strictEqual(named.requests[0]!.body["model"], "other")
      const none = chatWith(() => jsonResponse(completion({ content: "ok" })), hello, { model: undefined })
      const error = yield* Effect.flip(none.run)
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert(error._tag === "InvalidRequestError")
      assert.strictEqual(error.param, "model")
      assert.include(error.message, "no model")
      assert.strictEqual(none.requests.length, 0)
    }))

  it.effect("a body that cannot be JSON fails with InvalidRequestError", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(completion({ content: "ok" })), {
        ...hello,
        providerOptions: { big: BigInt(1) }
      })
      const error = yield* Effect.flip(run)
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "providerOptions")
      assert.strictEqual(requests.length, 0)
    }))
})

describe("OpenAiChat non-streaming replies", () => {
  it.effect("maps text, reasoning, tool calls, usage details, id, model, provider and key id", () =>
    Effect.gen(function*() {
      const { run } = chatWith(() =>
        jsonResponse(completion({
          content: "Hi",
          reasoning_content: "thinking",
          tool_calls: [
            { id: "call_a", type: "function", function: { name: "f", arguments: "{\"a\":1}" } },
            { id: "call_b", type: "function", function: { name: "g", arguments: "{}" } }
          ]
        }, {
          finish_reason: "tool_calls",
          model: "gpt-test-2024",
          usage: {
            prompt_tokens: 10,
            completion_tokens: 20,
            total_tokens: 30,
            prompt_tokens_details: { cached_tokens: 4 },
            completion_tokens_details: { reasoning_tokens: 7 }
          }
        }))
      )
      const response = yield* run
      assert.strictEqual(response.id, "chatcmpl-1")
      assert.strictEqual(response.model, "gpt-test-2024")
      assert.strictEqual(response.provider, "openai")
      assert.strictEqual(response.text, "Hi")
      assert.strictEqual(response.reasoning, "thinking")
      assert.deepStrictEqual(response.toolCalls, [
        { id: "call_a", name: "f", arguments: "{\"a\":1}" },
        { id: "call_b", name: "g", arguments: "{}" }
      ])
      assert.strictEqual(response.finishReason, "tool_calls")
      assert.deepStrictEqual(response.usage, {
        promptTokens: 10,
        completionTokens: 20,
        totalTokens: 30,
        cachedPromptTokens: 4,
        reasoningTokens: 7,
        estimated: false
      })
      assert.strictEqual(response.keyId, credentials.keyId)
      assert.notInclude(response.keyId ?? "", KEY)
      assert.isTrue(Duration.isDuration(response.latency))
    }))

  it.effect("reads `reasoning` (OpenRouter, Ollama) and a refusal with null content", () =>
    Effect.gen(function*() {
      const reasoning = yield* chatWith(() => jsonResponse(completion({ content: "x", reasoning: "hmm" }))).run
      assert.strictEqual(reasoning.reasoning, "hmm")
      const refusal = yield* chatWith(() => jsonResponse(completion({ content: null, refusal: "I can't." }))).run
      assert.strictEqual(refusal.text, "")
      assert.strictEqual(refusal.refusal, "I can't.")
    }))

  it.effect("skips DeepSeek's keep-alive blank lines before the body", () =>
    Effect.gen(function*() {
      const body = `\n\n\n \n${JSON.stringify(completion({ content: "late" }))}`
      const response = yield* chatWith(() => jsonResponse(body)).run
      assert.strictEqual(response.text, "late")
    }))

  it.effect("maps every finish reason", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<[string | null, ChatResponse["finishReason"]]> = [
        ["stop", "stop"],
        ["length", "length"],
        ["tool_calls", "tool_calls"],
        ["function_call", "tool_calls"],
        ["content_filter", "content_filter"],
        ["insufficient_system_resource", "other"],
        [null, "other"]
      ]
      for (const [wire, domain] of cases) {
        const response = yield* chatWith(() => jsonResponse(completion({ content: "x" }, { finish_reason: wire }))).run
        assert.strictEqual(response.finishReason, domain, `finish_reason ${wire}`)
      }
    }))

  it.effect("no usage in the reply gives zero usage", () =>
    Effect.gen(function*() {
      const response = yield* chatWith(() => jsonResponse(completion({ content: "x" }))).run
      // Every count at zero, not estimated (test/ChatResponse.test.ts pins it).
      assert.deepStrictEqual(response.usage, emptyUsage)
    }))

  it.effect("a non-JSON 200 body fails with OutputDecodeError carrying the text", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        chatWith(() => jsonResponse("<html>proxy login</html>", { headers: { "x-request-id": "req_9" } })).run
      )
      assert(error._tag === "OutputDecodeError")
      assert.strictEqual(error.raw, "<html>proxy login</html>")
      assert.strictEqual(error.requestId, "req_9")
      assert.strictEqual(error.provider, "openai")
      assert.strictEqual(error.model, "gpt-test")
    }))

  it.effect("a wrongly shaped 200 body fails with OutputDecodeError", () =>
    Effect.gen(function*() {
      const noChoices = yield* Effect.flip(chatWith(() => jsonResponse({ id: "x", result: "hi" })).run)
      assert(noChoices._tag === "OutputDecodeError")
      assert.include(noChoices.detail, "choices")
      assert.strictEqual(noChoices.raw, "{\"id\":\"x\",\"result\":\"hi\"}")
      const badContent = yield* Effect.flip(chatWith(() => jsonResponse(completion({ content: 42 }))).run)
      assert(badContent._tag === "OutputDecodeError")
      assert.include(badContent.detail, "content")
      const array = yield* Effect.flip(chatWith(() => jsonResponse("[1,2]")).run)
      assert.strictEqual(array._tag, "OutputDecodeError")
    }))

  it.effect("an error object in a 200 body maps through fromHttpFailure", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        chatWith(() => jsonResponse({ error: { message: "The server had an error", type: "server_error" } })).run
      )
      assert(error._tag === "ProviderUnavailableError")
      assert.isUndefined(error.status)
      assert.include(error.detail, "The server had an error")
    }))
})

describe("OpenAiChat HTTP errors", () => {
  const errorBody = (message: string, type: string, code: string | null = null, param: string | null = null) => ({
    error: { message, type, param, code }
  })
  const httpError = (status: number, body: unknown, headers?: Record<string, string>) =>
    Effect.flip(chatWith(() => jsonResponse(body, { status, headers: { "x-request-id": "req_1", ...headers } })).run)

  it.effect("401 -> AuthError invalid_key, with the request id and without the key", () =>
    Effect.gen(function*() {
      const error = yield* httpError(
        401,
        errorBody(
          `Incorrect API key provided: ${KEY}. You can find your API key at ...`,
          "invalid_request_error",
          "invalid_api_key"
        )
      )
      assert(error._tag === "AuthError")
      assert.strictEqual(error.reason, "invalid_key")
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.requestId, "req_1")
      assert.strictEqual(error.provider, "openai")
      assert.strictEqual(error.model, "gpt-test")
      assert.include(error.detail, "Incorrect API key provided")
      assertNoKey(error)
    }))

  it.effect("403 -> AuthError forbidden; 402 -> payment_required; 429 insufficient_quota -> quota_exhausted", () =>
    Effect.gen(function*() {
      const forbidden = yield* httpError(
        403,
        errorBody("Country not supported", "request_forbidden", "unsupported_country_region_territory")
      )
      assert(forbidden._tag === "AuthError")
      assert.strictEqual(forbidden.reason, "forbidden")
      assert.strictEqual(forbidden.status, 403)
      const payment = yield* httpError(402, { error: { code: 402, message: "Insufficient credits" } })
      assert(payment._tag === "AuthError")
      assert.strictEqual(payment.reason, "payment_required")
      const quota = yield* httpError(
        429,
        errorBody("You exceeded your current quota", "insufficient_quota", "insufficient_quota")
      )
      assert(quota._tag === "AuthError")
      assert.strictEqual(quota.reason, "quota_exhausted")
      assert.strictEqual(quota.status, 429)
    }))

  it.effect("404 -> ModelNotFoundError; 400 context -> ContextLengthError; other 400 -> InvalidRequestError", () =>
    Effect.gen(function*() {
      const notFound = yield* httpError(
        404,
        errorBody("The model `gpt-x` does not exist", "invalid_request_error", "model_not_found")
      )
      assert(notFound._tag === "ModelNotFoundError")
      assert.strictEqual(notFound.status, 404)
      assert.strictEqual(notFound.requestId, "req_1")
      const context = yield* httpError(
        400,
        errorBody(
          "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
          "invalid_request_error",
          "context_length_exceeded",
          "messages"
        )
      )
      assert(context._tag === "ContextLengthError")
      assert.strictEqual(context.contextWindow, 8192)
      assert.strictEqual(context.status, 400)
      const invalid = yield* httpError(
        400,
        errorBody("Unsupported parameter: 'max_tokens'", "invalid_request_error", "unsupported_parameter", "max_tokens")
      )
      assert(invalid._tag === "InvalidRequestError")
      assert.strictEqual(invalid.param, "max_tokens")
      assert.strictEqual(invalid.code, "unsupported_parameter")
      const empty = yield* httpError(400, "")
      assert(empty._tag === "InvalidRequestError")
      assert.strictEqual(empty.status, 400)
    }))

  it.effect("429 -> RateLimitError with retryAfter from the headers", () =>
    Effect.gen(function*() {
      const error = yield* httpError(429, errorBody("Rate limit reached", "requests", "rate_limit_exceeded"), {
        "retry-after": "20"
      })
      assert(error._tag === "RateLimitError")
      assert.strictEqual(error.status, 429)
      assert.deepStrictEqual(error.retryAfter, Duration.seconds(20))
      const ms = yield* httpError(429, errorBody("Rate limit reached", "requests", "rate_limit_exceeded"), {
        "retry-after-ms": "1500"
      })
      assert(ms._tag === "RateLimitError")
      assert.deepStrictEqual(ms.retryAfter, Duration.millis(1500))
    }))

  it.effect("500, 502 HTML, 503 and 529 -> ProviderUnavailableError", () =>
    Effect.gen(function*() {
      for (const status of [500, 503, 529]) {
        const error = yield* httpError(status, errorBody("overloaded", "server_error"))
        assert(error._tag === "ProviderUnavailableError")
        assert.strictEqual(error.status, status)
      }
      const html = yield* httpError(
        502,
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
      )
      assert(html._tag === "ProviderUnavailableError")
      assert.strictEqual(html.status, 502)
      assert.include(html.detail, "Bad Gateway")
      assert.notInclude(html.detail, "<h1>")
    }))

  it.effect("a huge error body is read only in part", () =>
    Effect.gen(function*() {
      const error = yield* httpError(500, "x".repeat(5_000_000))
      assert(error._tag === "ProviderUnavailableError")
      assert.isBelow(error.detail?.length ?? 0, 1000)
    }))

  it.effect("a stream request's HTTP error fails the stream before any chunk", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        jsonResponse(errorBody("slow down", "requests", "rate_limit_exceeded"), {
          status: 429,
          headers: { "retry-after": "3" }
        })
      )
      const client = yield* service
      const error = yield* Effect.flip(Stream.runCollect(client.chatStream(hello, credentials)))
      assert(error._tag === "RateLimitError")
      assert.deepStrictEqual(error.retryAfter, Duration.seconds(3))
    }))

  it.effect("a connection failure -> TransportError without the key", () =>
    Effect.gen(function*() {
      const client = HttpClient.make((request) =>
        Effect.fail(
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({
              request,
              cause: new Error("connect ECONNREFUSED 127.0.0.1:1")
            })
          })
        )
      )
      const service = yield* OpenAiChat.make({ baseUrl: "http://127.0.0.1:1/v1", model: "m" }).pipe(
        Effect.provideService(HttpClient.HttpClient, client)
      )
      const error = yield* Effect.flip(service.chat(hello, credentials))
      assert(error._tag === "TransportError")
      assert.include(error.detail, "ECONNREFUSED")
      assertNoKey(error)
      const streamError = yield* Effect.flip(Stream.runDrain(service.chatStream(hello, credentials)))
      assert.strictEqual(streamError._tag, "TransportError")
    }))

  it.effect("no answer within the timeout -> TimeoutError carrying it; a request's timeout wins", () =>
    Effect.gen(function*() {
      const { service } = setup(() => Effect.never, { timeout: "30 seconds" })
      const client = yield* service
      const fiber = yield* Effect.forkChild(Effect.flip(client.chat(hello, credentials)))
      yield* TestClock.adjust("31 seconds")
      const error = yield* Fiber.join(fiber)
      assert(error._tag === "TimeoutError")
      assert.deepStrictEqual(error.timeout, Duration.seconds(30))

      const own = yield* Effect.forkChild(
        Effect.flip(client.chat({ ...hello, timeout: Duration.seconds(2) }, credentials))
      )
      yield* TestClock.adjust("3 seconds")
      const ownError = yield* Fiber.join(own)
      assert(ownError._tag === "TimeoutError")
      assert.deepStrictEqual(ownError.timeout, Duration.seconds(2))

      const stream = yield* Effect.forkChild(Effect.flip(Stream.runDrain(client.chatStream(hello, credentials))))
      yield* TestClock.adjust("31 seconds")
      const streamError = yield* Fiber.join(stream)
      assert.strictEqual(streamError._tag, "TimeoutError")
    }))

  it.effect.each(
    [
      {
        name: "the default timeout is 10 minutes (phase request), headers allowed as long",
        options: { headersTimeout: "1 hour" },
        quiet: "9 minutes",
        timeout: Duration.minutes(10),
        phase: "request"
      },
      {
        name: "the default headers timeout is 30 seconds (phase headers)",
        options: {},
        quiet: "29 seconds",
        timeout: Duration.seconds(30),
        phase: "headers"
      }
    ] as const
  )("$name", ({ options, phase, quiet, timeout }) =>
    Effect.gen(function*() {
      const { service } = setup(() => Effect.never, options)
      const client = yield* service
      const fiber = yield* Effect.forkChild(Effect.flip(client.chat(hello, credentials)))
      // Nothing before the timeout; a timeout and two minutes more, the call has failed with it.
      yield* TestClock.adjust(quiet)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("2 minutes")
      const error = yield* Fiber.join(fiber)
      assert(error._tag === "TimeoutError")
      assert.deepStrictEqual(error.timeout, timeout)
      assert.strictEqual(error.phase, phase)
    }))
})

describe("OpenAiChat streaming", () => {
  const textStream = sse(
    chunk({ role: "assistant", content: "" }, { usage: null }),
    chunk({ content: "Hel" }, { usage: null }),
    chunk({ content: "lo" }, { usage: null }),
    chunk({}, { finish_reason: "stop", usage: null }),
    usageChunk(usage(5, 2, { cached: 1 })),
    "[DONE]"
  )

  it.effect("text deltas, then Usage, then Finish last", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([textStream])
      assert.deepStrictEqual(chunks.slice(0, 2), [{ _tag: "TextDelta", text: "Hel" }, {
        _tag: "TextDelta",
        text: "lo"
      }])
      assert.strictEqual(chunks.length, 4)
      const usageChunk_ = chunks[2]!
      assert(usageChunk_._tag === "Usage")
      assert.deepStrictEqual(usageChunk_.usage, {
        promptTokens: 5,
        completionTokens: 2,
        totalTokens: 7,
        cachedPromptTokens: 1,
        reasoningTokens: 0,
        estimated: false
      })
      const finish = chunks[3]!
      assert(finish._tag === "Finish")
      assert.strictEqual(finish.finishReason, "stop")
      assert.strictEqual(finish.id, "chatcmpl-1")
      assert.strictEqual(finish.model, "gpt-test")
      assert.strictEqual(finish.provider, "openai")
      assert.strictEqual(finish.keyId, credentials.keyId)
    }))

  it.effect("the same reply whatever the network chunking, CRLF framing included", () =>
    Effect.gen(function*() {
      const whole = yield* collected([textStream])
      const bytes = splitBytes(textStream, Array.from({ length: 200 }, (_, i) => i * 3))
      const split = yield* collected(bytes)
      assert.deepStrictEqual({ ...split, latency: 0 }, { ...whole, latency: 0 })
      const crlf = yield* collected([textStream.replaceAll("\n", "\r\n")])
      assert.deepStrictEqual({ ...crlf, latency: 0 }, { ...whole, latency: 0 })
      const crlfSplit = yield* collected(
        splitBytes(textStream.replaceAll("\n", "\r\n"), Array.from({ length: 300 }, (_, i) => i * 2 + 1))
      )
      assert.deepStrictEqual({ ...crlfSplit, latency: 0 }, { ...whole, latency: 0 })
    }))

  it.effect("tool calls without index: id or name opens a call, arguments continue the latest", () =>
    Effect.gen(function*() {
      const body = sse(
        chunk({ tool_calls: [{ id: "call_a", type: "function", function: { name: "a", arguments: "" } }] }),
        chunk({ tool_calls: [{ function: { arguments: "{\"x\":" } }] }),
        chunk({ tool_calls: [{ function: { arguments: "1}" } }] }),
        chunk({ tool_calls: [{ id: "call_b", type: "function", function: { name: "b", arguments: "{}" } }] }),
        chunk({ tool_calls: [{ function: { name: "c" } }] }),
        chunk({ tool_calls: [{ function: { arguments: "{\"c\":true}" } }] }),
        chunk({}, { finish_reason: "tool_calls" }),
        "[DONE]"
      )
      const chunks = yield* collectChunks([body])
      const deltas = toolDeltas(chunks)
      assert.deepStrictEqual(deltas[0], { _tag: "ToolCallDelta", index: 0, id: "call_a", name: "a", arguments: "" })
      assert.deepStrictEqual(deltas.map((d) => d.index), [0, 0, 0, 1, 2, 2])
      const response = yield* collected([body])
      assert.deepStrictEqual(response.toolCalls, [
        { id: "call_a", name: "a", arguments: "{\"x\":1}" },
        { id: "call_b", name: "b", arguments: "{}" },
        { id: "", name: "c", arguments: "{\"c\":true}" }
      ])
      assert.strictEqual(response.finishReason, "tool_calls")
    }))

  it.effect("first index above 0 and interleaved parallel calls give dense indexes in opening order", () =>
    Effect.gen(function*() {
      const body = sse(
        chunk({ content: "Let me check." }),
        chunk({
          tool_calls: [{ index: 3, id: "call_w", type: "function", function: { name: "weather", arguments: "" } }]
        }),
        chunk({
          tool_calls: [{ index: 5, id: "call_t", type: "function", function: { name: "time", arguments: "" } }]
        }),
        chunk({ tool_calls: [{ index: 3, function: { arguments: "{\"city\":" } }] }),
        chunk({ tool_calls: [{ index: 5, function: { arguments: "{\"tz\":\"CET\"}" } }] }),
        chunk({ tool_calls: [{ index: 3, function: { arguments: "\"Paris\"}" } }] }),
        chunk({}, { finish_reason: "tool_calls" }),
        "[DONE]"
      )
      const deltas = toolDeltas(yield* collectChunks([body]))
      assert.deepStrictEqual(deltas.map((d) => d.index), [0, 1, 0, 1, 0])
      assert.deepStrictEqual(deltas[1], { _tag: "ToolCallDelta", index: 1, id: "call_t", name: "time", arguments: "" })
      const response = yield* collected([body])
      assert.strictEqual(response.text, "Let me check.")
      assert.deepStrictEqual(response.toolCalls, [
        { id: "call_w", name: "weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_t", name: "time", arguments: "{\"tz\":\"CET\"}" }
      ])
    }))

  it.effect("the same index twice in one chunk merges by index", () =>
    Effect.gen(function*() {
      const response = yield* collected([sse(
        chunk({
          tool_calls: [
            { index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "{\"a\"" } },
            { index: 0, function: { arguments: ":1}" } }
          ]
        }),
        chunk({}, { finish_reason: "tool_calls" }),
        "[DONE]"
      )])
      assert.deepStrictEqual(response.toolCalls, [{ id: "call_1", name: "f", arguments: "{\"a\":1}" }])
    }))

  it.effect("arguments before the name are held until the name comes", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([sse(
        chunk({ tool_calls: [{ index: 0, function: { arguments: "{\"q\":" } }] }),
        chunk({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "\"x\"" } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: "search", arguments: "}" } }] }),
        chunk({}, { finish_reason: "tool_calls" }),
        "[DONE]"
      )])
      const deltas = toolDeltas(chunks)
      assert.deepStrictEqual(deltas, [
        { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "search", arguments: "{\"q\":\"x\"}" }
      ])
    }))

  it.effect("whole calls in one chunk (Ollama), parallel, and arguments sent as an object", () =>
    Effect.gen(function*() {
      const response = yield* collected([sse(
        chunk({
          tool_calls: [
            { index: 0, id: "call_1", type: "function", function: { name: "a", arguments: "{\"x\":1}" } },
            { index: 1, id: "call_2", type: "function", function: { name: "b", arguments: { y: 2 } } }
          ]
        }),
        chunk({}, { finish_reason: "tool_calls" }),
        usageChunk(usage(3, 4)),
        "[DONE]"
      )])
      assert.deepStrictEqual(response.toolCalls, [
        { id: "call_1", name: "a", arguments: "{\"x\":1}" },
        { id: "call_2", name: "b", arguments: "{\"y\":2}" }
      ])
      assert.strictEqual(response.usage.totalTokens, 7)
    }))

  it.effect("a call whose name never came is still reported", () =>
    Effect.gen(function*() {
      const response = yield* collected([sse(
        chunk({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "{}" } }] }),
        chunk({}, { finish_reason: "tool_calls" }),
        "[DONE]"
      )])
      assert.deepStrictEqual(response.toolCalls, [{ id: "call_1", name: "", arguments: "{}" }])
    }))

  it.effect("usage wherever it comes: finish chunk, separate chunk, x_groq, running totals (last wins)", () =>
    Effect.gen(function*() {
      const inFinish = yield* collected([
        sse(chunk({ content: "a" }), chunk({}, { finish_reason: "stop", usage: usage(1, 1) }), "[DONE]")
      ])
      assert.strictEqual(inFinish.usage.totalTokens, 2)
      const separate = yield* collected([
        sse(chunk({ content: "a" }), chunk({}, { finish_reason: "stop" }), usageChunk(usage(2, 2)), "[DONE]")
      ])
      assert.strictEqual(separate.usage.totalTokens, 4)
      const groq = yield* collected([sse(
        chunk({ content: "a" }, { x_groq: { id: "req_g" } }),
        chunk({}, { finish_reason: "stop", x_groq: { id: "req_g", usage: usage(3, 3) } }),
        "[DONE]"
      )])
      assert.strictEqual(groq.usage.totalTokens, 6)
      const running = yield* collected([sse(
        chunk({ content: "a" }, { usage: usage(4, 1) }),
        chunk({ content: "b" }, { usage: usage(4, 2) }),
        chunk({}, { finish_reason: "stop", usage: usage(4, 3) }),
        chunk({}, { usage: null }),
        "[DONE]"
      )])
      assert.deepStrictEqual(running.usage, {
        promptTokens: 4,
        completionTokens: 3,
        totalTokens: 7,
        cachedPromptTokens: 0,
        reasoningTokens: 0,
        estimated: false
      })
      const reasoningTokens = yield* collected([
        sse(chunk({}, { finish_reason: "stop" }), usageChunk(usage(1, 9, { reasoning: 6 })), "[DONE]")
      ])
      assert.strictEqual(reasoningTokens.usage.reasoningTokens, 6)
    }))

  it.effect("no usage at all: no Usage chunk", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([
        sse(chunk({ content: "a" }), chunk({}, { finish_reason: "stop" }), "[DONE]")
      ])
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "Finish"])
    }))

  it.effect("reasoning_content and reasoning deltas -> ReasoningDelta, never doubled", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([sse(
        chunk({ role: "assistant", reasoning_content: "Think" }),
        chunk({ reasoning: "ing" }),
        chunk({ reasoning_content: "!", reasoning: "!" }),
        chunk({ content: "Answer" }),
        chunk({}, { finish_reason: "stop" }),
        "[DONE]"
      )])
      assert.deepStrictEqual(chunks.slice(0, 4), [
        { _tag: "ReasoningDelta", text: "Think" },
        { _tag: "ReasoningDelta", text: "ing" },
        { _tag: "ReasoningDelta", text: "!" },
        { _tag: "TextDelta", text: "Answer" }
      ])
    }))

  it.effect("refusal deltas end up on Finish", () =>
    Effect.gen(function*() {
      const response = yield* collected([sse(
        chunk({ role: "assistant", content: null, refusal: "" }),
        chunk({ refusal: "I can't " }),
        chunk({ refusal: "help with that." }),
        chunk({}, { finish_reason: "stop" }),
        "[DONE]"
      )])
      assert.strictEqual(response.refusal, "I can't help with that.")
      assert.strictEqual(response.text, "")
    }))

  it.effect("keep-alive comments, unknown fields, unknown events, empty choices and repeated roles are ignored", () =>
    Effect.gen(function*() {
      const body = ": keep-alive\n\n" +
        ": OPENROUTER PROCESSING\n\n" +
        sse({ id: "x", choices: [], prompt_filter_results: [{ prompt_index: 0 }] }) +
        sse(chunk({ role: "assistant", content: "A" }, { obfuscation: "abc", system_fingerprint: "fp" })) +
        "event: ping\ndata: {}\n\n" +
        ": keep-alive\n\n" +
        sse(
          chunk({ role: "assistant", content: null, future_field: 1 }),
          chunk({ content: "B" }),
          chunk({}, { finish_reason: "stop" }),
          "[DONE]"
        )
      const response = yield* collected([body])
      assert.strictEqual(response.text, "AB")
      assert.strictEqual(response.finishReason, "stop")
    }))

  it.effect("error inside the stream, OpenAI shape -> typed failure without status, after the chunks before it", () =>
    Effect.gen(function*() {
      const { chunks, exit } = yield* outcome([sse(
        chunk({ content: "partial" }),
        {
          error: {
            message: "The server had an error while processing your request.",
            type: "server_error",
            param: null,
            code: null
          }
        }
      )])
      assert.deepStrictEqual(chunks, [{ _tag: "TextDelta", text: "partial" }])
      assert(Result.isFailure(exit))
      const error = exit.failure
      assert(error._tag === "ProviderUnavailableError")
      assert.isUndefined(error.status)
      assert.strictEqual(error.provider, "openai")
      assert.strictEqual(error.model, "gpt-test")
      assert.include(error.detail, "The server had an error")
    }))

  it.effect("error inside the stream, vLLM flat shape", () =>
    Effect.gen(function*() {
      const error = yield* failure([sse(
        chunk({ content: "x" }),
        {
          object: "error",
          message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
          type: "BadRequestError",
          param: null,
          code: 400
        }
      )])
      assert(error._tag === "ContextLengthError")
      assert.strictEqual(error.contextWindow, 4096)
    }))

  it.effect("error inside the stream, OpenRouter finish_reason error shape", () =>
    Effect.gen(function*() {
      const error = yield* failure([sse(
        chunk({ content: "x" }),
        {
          id: "gen-1",
          object: "chat.completion.chunk",
          error: { code: 502, message: "Provider returned error", metadata: { provider_name: "Upstream" } },
          choices: [{ index: 0, delta: { content: "" }, finish_reason: "error", native_finish_reason: "error" }]
        }
      )])
      assert(error._tag === "ProviderUnavailableError")
      assert.strictEqual(error.status, 502)
      assert.include(error.detail, "Provider returned error")
    }))

  it.effect("finish_reason error without an error object, and x_groq.error, also fail the stream", () =>
    Effect.gen(function*() {
      const bare = yield* failure([sse(chunk({}, { finish_reason: "error" }))])
      assert.strictEqual(bare._tag, "ProviderUnavailableError")
      const groq = yield* failure([
        sse(chunk({ content: "x" }, { x_groq: { error: "stopped early: server restart" } }))
      ])
      assert(groq._tag === "ProviderUnavailableError")
      assert.include(groq.detail, "server restart")
    }))

  it.effect("a key echoed in an in-stream error is masked", () =>
    Effect.gen(function*() {
      const error = yield* failure([sse({ error: { message: `bad key ${KEY}`, type: "server_error" } })])
      assert.strictEqual(error._tag, "ProviderUnavailableError")
      assertNoKey(error)
    }))

  it.effect("a malformed event is skipped and counted; without its terminal event the stream is truncated", () =>
    Effect.gen(function*() {
      const malformed = "{\"choices\":[{\"delta\":{\"content\":\"oops\""
      const [response, warnings] = yield* withWarnings(
        collected([
          sse(chunk({ content: "ok" }), malformed, chunk({ content: "!" }, { finish_reason: "stop" }), "[DONE]")
        ])
      )
      assert.strictEqual(response.text, "ok!")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.skippedEvents, 1)
      assert.deepStrictEqual(skippedCounts(warnings), [1])
      assert.include(warnings[0]!.message, "not JSON")
      assert.deepStrictEqual(warnings[0]!.annotations, { provider: "openai", model: "gpt-test", skippedEvents: 1 })
      // The caller's span gets an event per report, with the count so far.
      const { spans, tracer } = recordingTracer()
      yield* collected([
        sse(chunk({ content: "ok" }), malformed, malformed, chunk({}, { finish_reason: "stop" }), "[DONE]")
      ]).pipe(
        Effect.withSpan("caller"),
        Effect.withTracer(tracer)
      )
      const caller = spans.find((span) => span.name === "caller")!
      // (Effect also records the warning itself as an event of the span.)
      assert.deepStrictEqual(caller.events.filter((event) => event.name.startsWith("llm_router.")), [{
        name: "llm_router.skipped_event",
        attributes: {
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-test",
          "llm_router.skipped_events": 2
        }
      }])
      const [{ chunks, exit }, lastWarnings] = yield* withWarnings(outcome([sse(chunk({ content: "ok" }), malformed)]))
      assert.deepStrictEqual(chunks, [{ _tag: "TextDelta", text: "ok" }])
      assert(Result.isFailure(exit))
      assert.strictEqual(exit.failure._tag, "StreamTruncatedError")
      assert.deepStrictEqual(skippedCounts(lastWarnings), [1])
    }))

  it.effect("a wrongly shaped event -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const notArray = yield* failure([sse({ choices: { delta: {} } }, "[DONE]")])
      assert(notArray._tag === "OutputDecodeError")
      assert.include(notArray.detail, "choices")
      const scalar = yield* failure([sse("42", "[DONE]")])
      assert.strictEqual(scalar._tag, "OutputDecodeError")
      const badToolCalls = yield* failure([sse(chunk({ tool_calls: "f()" }), "[DONE]")])
      assert.strictEqual(badToolCalls._tag, "OutputDecodeError")
    }))

  it.effect("an event over maxEventSize -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const error = yield* failure([sse(chunk({ content: "x".repeat(2000) }), "[DONE]")], { maxEventSize: 1000 })
      assert(error._tag === "OutputDecodeError")
      assert.include(error.detail, "maxEventSize")
    }))

  it.effect("a stream cut with no [DONE] and no finish reason -> StreamTruncatedError", () =>
    Effect.gen(function*() {
      const { chunks, exit } = yield* outcome([sse(chunk({ content: "Hel" }), chunk({ content: "lo" }))])
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "TextDelta"])
      assert(Result.isFailure(exit))
      const error = exit.failure
      assert(error._tag === "StreamTruncatedError")
      assert.strictEqual(error.provider, "openai")
      assert.strictEqual(error.model, "gpt-test")
      // Cut in the middle of an event: that event is not JSON, and the reply has no end.
      const midEvent = yield* failure([sse(chunk({ content: "a" })) + "data: {\"choi"])
      assert.strictEqual(midEvent._tag, "StreamTruncatedError")
      const empty = yield* failure([""])
      assert.strictEqual(empty._tag, "StreamTruncatedError")
    }))

  it.effect("a finish reason without [DONE] is a complete reply", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([
        sse(chunk({ content: "a" }), chunk({}, { finish_reason: "length" }), usageChunk(usage(1, 1)))
      ])
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "Usage", "Finish"])
      const last = chunks[2]!
      assert(last._tag === "Finish")
      assert.strictEqual(last.finishReason, "length")
      const noBlankLine = yield* collected([
        sse(chunk({ content: "a" })) + "data: " + JSON.stringify(chunk({}, { finish_reason: "stop" }))
      ])
      assert.strictEqual(noBlankLine.finishReason, "stop")
    }))

  it.effect("[DONE] ends the reply: anything after it is ignored; [DONE] with a suffix counts", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([
        sse(chunk({ content: "a" }, { finish_reason: "stop" }), "[DONE] ", chunk({ content: "late" }), "garbage")
      ])
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "Finish"])
    }))

  it.effect("[DONE] without a finish reason finishes with `other`", () =>
    Effect.gen(function*() {
      const response = yield* collected([sse(chunk({ content: "a" }), "[DONE]")])
      assert.strictEqual(response.finishReason, "other")
      assert.strictEqual(response.text, "a")
    }))

  it.effect("a stream request answered with a whole JSON reply (a server that ignores `stream`) still streams it", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        jsonResponse(completion({
          content: "whole",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
        }, { finish_reason: "tool_calls", usage: usage(3, 4) }))
      )
      const client = yield* service
      const chunks = yield* Stream.runCollect(client.chatStream(hello, credentials))
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "ToolCallDelta", "Usage", "Finish"])
      const response = yield* ChatChunk.collect(client.chatStream(hello, credentials))
      assert.strictEqual(response.text, "whole")
      assert.deepStrictEqual(response.toolCalls, [{ id: "call_1", name: "f", arguments: "{}" }])
      assert.strictEqual(response.finishReason, "tool_calls")
      assert.strictEqual(response.usage.totalTokens, 7)
      const error = yield* Effect.flip(
        Stream.runDrain((yield* setup(() => jsonResponse({ error: { message: "boom", type: "server_error" } })).service)
          .chatStream(hello, credentials))
      )
      assert(error._tag === "ProviderUnavailableError")
      assert.include(error.detail, "boom")
    }))

  it.effect("a stream request answered with a 200 HTML page -> OutputDecodeError with the page", () =>
    Effect.gen(function*() {
      const page = "<html><body>Please sign in to the proxy</body></html>"
      const { service } = setup(() =>
        new Response(page, { status: 200, headers: { "content-type": "text/html; charset=utf-8" } })
      )
      const error = yield* Effect.flip(Stream.runDrain((yield* service).chatStream(hello, credentials)))
      assert(error._tag === "OutputDecodeError")
      assert.strictEqual(error.raw, page)
      assert.include(error.detail, "HTML")
    }))

  it.effect("a body failure mid-stream -> TransportError; after [DONE] it is harmless", () =>
    Effect.gen(function*() {
      const failing = (before: string) => {
        const encoder = new TextEncoder()
        let sent = false
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (!sent) {
                sent = true
                controller.enqueue(encoder.encode(before))
              } else {
                controller.error(new Error("socket hang up"))
              }
            }
          }),
          { status: 200, headers: { "content-type": "text/event-stream" } }
        )
      }
      const { service } = setup(() => failing(sse(chunk({ content: "a" }))))
      const client = yield* service
      const error = yield* Effect.flip(ChatChunk.collect(client.chatStream(hello, credentials)))
      assert(error._tag === "TransportError")
      assert.include(error.detail, "socket hang up")

      const afterDone = setup(() => failing(sse(chunk({ content: "a" }, { finish_reason: "stop" }), "[DONE]")))
      const response = yield* ChatChunk.collect((yield* afterDone.service).chatStream(hello, credentials))
      assert.strictEqual(response.text, "a")
    }))
})

// ---------------------------------------------------------------------------
// Streamed and whole replies agree

interface Content {
  readonly reasoning: ReadonlyArray<string>
  readonly text: ReadonlyArray<string>
  readonly calls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly args: ReadonlyArray<string> }>
  readonly finish: "stop" | "length" | "tool_calls" | "content_filter"
  readonly cuts: ReadonlyArray<number>
}

const matching = (pattern: RegExp) => Arbitrary.schema(Schema.String.check(Schema.isPattern(pattern)))
// Any code point, so UTF-8 sequences of one to four bytes meet the cuts.
const piece = matching(/^.{0,12}$/su)
const contentArbitrary: Arbitrary.Arbitrary<Content> = Arbitrary.all({
  reasoning: Arbitrary.array(piece, { maxLength: 4 }),
  text: Arbitrary.array(piece, { maxLength: 8 }),
  calls: Arbitrary.array(
    Arbitrary.all({
      id: matching(/^call_[a-z0-9]{1,8}$/),
      name: matching(/^[a-z_]{1,10}$/),
      args: Arbitrary.array(piece, { maxLength: 5 })
    }),
    { maxLength: 3 }
  ),
  finish: Arbitrary.schema(Schema.Literals(["stop", "length", "tool_calls", "content_filter"])),
  cuts: Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4000 }))), {
    maxLength: 30
  })
})

const streamBody = (content: Content): string =>
  sse(
    chunk({ role: "assistant", content: "" }),
    ...content.reasoning.map((r) => chunk({ reasoning_content: r })),
    ...content.text.map((t) => chunk({ content: t })),
    ...content.calls.flatMap((call, index) => [
      chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] }),
      ...call.args.map((a) => chunk({ tool_calls: [{ index, function: { arguments: a } }] }))
    ]),
    chunk({}, { finish_reason: content.finish }),
    usageChunk(usage(11, 22, { cached: 3, reasoning: 4 })),
    "[DONE]"
  )

const wholeBody = (content: Content) => {
  const reasoning = content.reasoning.join("")
  return completion({
    content: content.text.join(""),
    ...(reasoning !== "" ? { reasoning_content: reasoning } : {}),
    ...(content.calls.length > 0
      ? {
        tool_calls: content.calls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.args.join("") }
        }))
      }
      : {})
  }, { finish_reason: content.finish, usage: usage(11, 22, { cached: 3, reasoning: 4 }) })
}

describe("OpenAiChat stream and whole reply", () => {
  it.effect.prop(
    "ChatChunk.collect of the stream equals chat",
    [contentArbitrary],
    ([content]) =>
      Effect.gen(function*() {
        const streamed = yield* collected(splitBytes(streamBody(content), content.cuts))
        const whole = yield* chatWith(() => jsonResponse(wholeBody(content))).run
        expect({ ...streamed, latency: null }).toStrictEqual({ ...whole, latency: null })
      }),
    { arbitrary: { runs: 150 } }
  )
})

describe("OpenAiChat request timeout under the live clock", () => {
  it.live("passes success and failure through, times out, and never leaves the work running", () =>
    Effect.gen(function*() {
      const ok = yield* timeoutFail(Effect.delay(Effect.succeed(1), "10 millis"), Duration.seconds(5), () => "timeout")
      assert.strictEqual(ok, 1)
      const failed = yield* Effect.flip(timeoutFail(Effect.fail("boom"), Duration.seconds(5), () => "timeout"))
      assert.strictEqual(failed, "boom")

      let started = 0
      let finalized = 0
      const slow = Effect.sync(() => started++).pipe(
        Effect.andThen(Effect.never),
        Effect.onInterrupt(() => Effect.sync(() => finalized++))
      )
      const timedOut = yield* Effect.flip(timeoutFail(slow, Duration.millis(20), () => "timeout"))
      assert.strictEqual(timedOut, "timeout")
      assert.deepStrictEqual([started, finalized], [1, 1])

      const waiting = yield* Effect.forkChild(timeoutFail(slow, Duration.seconds(5), () => "timeout"))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(waiting)
      assert.deepStrictEqual([started, finalized], [2, 2])

      // Interrupted at any point, the work never outlives the caller.
      for (let i = 0; i < 50; i++) {
        const fiber = yield* Effect.forkChild(timeoutFail(slow, Duration.seconds(5), () => "timeout"))
        if (i % 2 === 0) yield* Effect.yieldNow
        yield* Fiber.interrupt(fiber)
      }
      yield* Effect.sleep("20 millis")
      assert.strictEqual(finalized, started)
    }))
})

describe("OpenAiChat options", () => {
  it.effect("a maxEventSize that is not positive fails the layer with OptionsError; Infinity is no bound", () =>
    Effect.gen(function*() {
      const error = yield* buildError(OpenAiChat.layer({ baseUrl: "http://127.0.0.1:9/v1", maxEventSize: 0 }))
      expectOptionsError(error, {
        module: "OpenAiChat",
        option: "maxEventSize",
        value: "0",
        message: "OpenAiChat: maxEventSize must be a positive number or Infinity, got 0"
      })
      const fromConfig = yield* buildError(OpenAiChat.layerConfig({
        baseUrl: Config.succeed("http://127.0.0.1:9/v1"),
        maxEventSize: Config.succeed(-1)
      }))
      expectOptionsError(fromConfig, { option: "maxEventSize", value: "-1" })
      const unbounded = yield* OpenAiChat.make({ baseUrl: "http://127.0.0.1:9/v1", maxEventSize: Infinity }).pipe(
        Effect.provideService(HttpClient.HttpClient, fakeHttpClient(() => jsonResponse({})).client)
      )
      assert.isFunction(unbounded.chat)
    }))
})
