import { assert, describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type * as LlmError from "../src/LlmError.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as Ollama from "../src/providers/Ollama.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { fakeHttpClient, jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { skippedCounts, withWarnings } from "./utils/warnings.js"

const KEY = "ollama-cloud-0123456789abcdef"
const cloud = ProviderClient.credentials(KEY)
const local = ProviderClient.credentials("none")
const harness = adapterHarness({ make: Ollama.make, defaults: { model: "llama3.2" }, credentials: local })
const { chatWith, setup } = harness

const ndjson = (pieces: ReadonlyArray<string | Uint8Array>) =>
  streamResponse(pieces, { headers: { "content-type": "application/x-ndjson" } })

const streamWith = (
  pieces: ReadonlyArray<string | Uint8Array>,
  request: ChatRequest.Input = hello,
  options?: Ollama.Options,
  credentials = local
) => harness.streamWith(() => ndjson(pieces), request, options, credentials)

const outcome = (pieces: ReadonlyArray<string | Uint8Array>, request: ChatRequest.Input = hello, credentials = local) =>
  Effect.gen(function*() {
    const chunks: Array<ChatChunk.ChatChunk> = []
    const exit = yield* Stream.runForEach(
      streamWith(pieces, request, undefined, credentials).stream,
      (c) => Effect.sync(() => chunks.push(c))
    ).pipe(Effect.result)
    return { chunks, exit }
  })

const assertNoKey = (error: LlmError.LlmError) => {
  assert.notInclude(error.message, KEY)
  assert.notInclude(JSON.stringify(error), KEY)
}

const line = (value: unknown) => `${JSON.stringify(value)}\n`
const at = "2026-11-21T14:00:00.000Z"
const delta = (content: string, extra: Record<string, unknown> = {}) =>
  line({ model: "llama3.2", created_at: at, message: { role: "assistant", content, ...extra }, done: false })
const doneLine = (extra: Record<string, unknown> = {}) =>
  line({
    model: "llama3.2",
    created_at: at,
    message: { role: "assistant", content: "" },
    done: true,
    done_reason: "stop",
    total_duration: 123_000_000,
    prompt_eval_count: 11,
    eval_count: 7,
    ...extra
  })

const whole = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  model: "llama3.2",
  created_at: at,
  message: { role: "assistant", ...message },
  done: true,
  done_reason: "stop",
  prompt_eval_count: 11,
  eval_count: 7,
  ...extra
})

const weather: ChatRequest.Input["tools"] = [
  {
    name: "get_weather",
    description: "Weather",
    parameters: { type: "object", properties: { city: { type: "string" } } }
  }
]

describe("Ollama request mapping", () => {
  it.effect("maps messages, tools, sampling into options, format, think, keep_alive and num_ctx", () =>
    Effect.gen(function*() {
      const request: ChatRequest.Input = {
        messages: [
          Message.system("Be brief."),
          Message.user([Message.text("What is this? "), Message.image("data:image/png;base64,iVBORw0KGgo=")]),
          Message.assistant("", {
            toolCalls: [{ id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }],
            reasoning: "Need the weather."
          }),
          { role: "tool", toolCallId: "call_a", content: "{\"celsius\":21}" }
        ],
        tools: weather,
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 64,
        stop: ["\n\n"],
        seed: 7,
        responseFormat: { type: "json_object" },
        reasoningEffort: "medium",
        user: "u-1",
        providerOptions: { options: { top_k: 20 }, truncate: false }
      }
      const { requests, run } = chatWith(() => jsonResponse(whole({ content: "{}" })), request, {
        numCtx: 8192,
        keepAlive: "10 minutes"
      })
      yield* run
      const sent = requests[0]!
      expect(sent.url).toBe("http://localhost:11434/api/chat")
      expect(sent.headers["authorization"]).toBeUndefined()
      expect(sent.body).toEqual({
        model: "llama3.2",
        stream: false,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "What is this? ", images: ["iVBORw0KGgo="] },
          {
            role: "assistant",
            content: "",
            thinking: "Need the weather.",
            tool_calls: [{ id: "call_a", function: { index: 0, name: "get_weather", arguments: { city: "Paris" } } }]
          },
          { role: "tool", content: "{\"celsius\":21}", tool_name: "get_weather", tool_call_id: "call_a" }
        ],
        tools: [{
          type: "function",
          function: { name: "get_weather", description: "Weather", parameters: weather![0]!.parameters }
        }],
        format: "json",
        think: "medium",
        keep_alive: "600000ms",
        options: { temperature: 0.2, top_p: 0.9, num_predict: 64, stop: ["\n\n"], seed: 7, num_ctx: 8192, top_k: 20 },
        truncate: false
      })
    }))

  it.effect("sends a json_schema format as the schema, effort none as think:false, keepAlive forever as -1", () =>
    Effect.gen(function*() {
      const schema = { type: "object", properties: { a: { type: "number" } } }
      const { requests, run } = chatWith(() => jsonResponse(whole({ content: "{}" })), {
        ...hello,
        responseFormat: { type: "json_schema", name: "A", schema },
        reasoningEffort: "none",
        tools: weather,
        toolChoice: "none"
      }, { keepAlive: Duration.infinity })
      yield* run
      const body = requests[0]!.body
      expect(body["format"]).toEqual(schema)
      expect(body["think"]).toBe(false)
      expect(body["keep_alive"]).toBe(-1)
      expect(body["tools"]).toBeUndefined()
      expect(body["options"]).toBeUndefined()
    }))

  it.effect("sends a bearer key for Ollama cloud, and none for an empty or \"none\" key", () =>
    Effect.gen(function*() {
      const withKey = chatWith(
        () => jsonResponse(whole({ content: "hi" })),
        hello,
        { baseUrl: "https://ollama.com/" },
        cloud
      )
      yield* withKey.run
      expect(withKey.requests[0]!.url).toBe("https://ollama.com/api/chat")
      expect(withKey.requests[0]!.headers["authorization"]).toBe(`Bearer ${KEY}`)
      const empty = chatWith(() => jsonResponse(whole({ content: "hi" })), hello, {}, ProviderClient.credentials(""))
      yield* empty.run
      expect(empty.requests[0]!.headers["authorization"]).toBeUndefined()
    }))

  it.effect("rejects image URLs, non-base64 data URLs and tool-call arguments that are not a JSON object", () =>
    Effect.gen(function*() {
      const attempt = (request: ChatRequest.Input) => {
        const { requests, run } = chatWith(() => jsonResponse(whole({ content: "" })), request)
        return Effect.map(Effect.flip(run), (error) => ({ error, sent: requests.length }))
      }
      const url = yield* attempt({ messages: [Message.user([Message.image("https://example.com/cat.png")])] })
      assert(url.error._tag === "InvalidRequestError")
      assert.strictEqual(url.sent, 0)
      assert.strictEqual(url.error.param, "messages[0].content")
      assert.include(url.error.detail, "https://example.com/cat.png")
      assert.include(url.error.detail, "data: URL")

      const plain = yield* attempt({ messages: [Message.user([Message.image("data:image/svg+xml,<svg/>")])] })
      assert(plain.error._tag === "InvalidRequestError")
      assert.include(plain.error.detail, "base64")

      for (const args of ["{not json", "[1,2]"]) {
        const bad = yield* attempt({
          messages: [
            hello.messages[0]!,
            Message.assistant("", { toolCalls: [{ id: "c1", name: "f", arguments: args }] })
          ]
        })
        assert(bad.error._tag === "InvalidRequestError")
        assert.strictEqual(bad.error.param, "messages[1].toolCalls[0].arguments")
        assert.include(bad.error.detail, "\"c1\"")
      }

      const noModel = yield* Effect.flip(
        Effect.flatMap(
          setup(() => jsonResponse({}), { model: undefined }).service,
          (client) => client.chat(hello, local)
        )
      )
      assert(noModel._tag === "InvalidRequestError")
      assert.strictEqual(noModel.param, "model")
    }))

  it.effect("layerConfig reads the options from Config", () =>
    Effect.gen(function*() {
      const fake = fakeHttpClient(() => jsonResponse(whole({ content: "ok" })))
      const layer = Ollama.layerConfig({
        baseUrl: Config.String("OLLAMA_HOST"),
        model: Config.String("OLLAMA_MODEL"),
        numCtx: Config.Int("OLLAMA_NUM_CTX"),
        keepAlive: Config.Duration("OLLAMA_KEEP_ALIVE"),
        headers: { "x-proxy-key": Config.Redacted("PROXY_KEY") }
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
      const provider = ConfigProvider.fromEnv({
        env: {
          OLLAMA_HOST: "http://gpu-box:11434",
          OLLAMA_MODEL: "qwen3",
          OLLAMA_NUM_CTX: "16384",
          OLLAMA_KEEP_ALIVE: "30 seconds",
          PROXY_KEY: "proxy-secret"
        }
      })
      const response = yield* Effect.flatMap(ProviderClient.ProviderClient, (client) => client.chat(hello, local)).pipe(
        Effect.provide(layer),
        Effect.provideService(ConfigProvider.ConfigProvider, provider)
      )
      assert.strictEqual(response.provider, "ollama")
      const sent = fake.requests[0]!
      assert.strictEqual(sent.url, "http://gpu-box:11434/api/chat")
      assert.strictEqual(sent.body["model"], "qwen3")
      assert.strictEqual(sent.body["keep_alive"], "30000ms")
      assert.deepStrictEqual(sent.body["options"], { num_ctx: 16384 })
      assert.strictEqual(sent.headers["x-proxy-key"], "proxy-secret")
    }))

  it.effect("fails a stream whose request cannot be sent without sending it", () =>
    Effect.gen(function*() {
      const { requests, stream } = streamWith([], { messages: [Message.user([Message.image("https://x.test/a.png")])] })
      const error = yield* Effect.flip(Stream.runDrain(stream))
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.strictEqual(requests.length, 0)
    }))
})

describe("Ollama whole replies", () => {
  it.effect("reads text, thinking, counts and the model", () =>
    Effect.gen(function*() {
      const { run } = chatWith(() => jsonResponse(whole({ content: "Hi there.", thinking: "Greet back." })))
      const response = yield* run
      expect(response).toMatchObject({
        id: "",
        model: "llama3.2",
        provider: "ollama",
        text: "Hi there.",
        reasoning: "Greet back.",
        toolCalls: [],
        finishReason: "stop",
        keyId: local.keyId
      })
      expect(response.usage).toEqual({
        promptTokens: 11,
        completionTokens: 7,
        totalTokens: 18,
        cachedPromptTokens: 0,
        reasoningTokens: 0,
        estimated: false
      })
    }))

  it.effect("turns object arguments into JSON text, synthesises missing ids, and reports tool_calls", () =>
    Effect.gen(function*() {
      const { run } = chatWith(() =>
        jsonResponse(whole({
          content: "",
          tool_calls: [
            { function: { index: 0, name: "get_weather", arguments: { city: "Paris", days: 2 } } },
            { id: "call_x", function: { index: 1, name: "get_time", arguments: {} } }
          ]
        }))
      )
      const response = yield* run
      expect(response.finishReason).toBe("tool_calls")
      expect(response.toolCalls).toEqual([
        { id: "call_0", name: "get_weather", arguments: "{\"city\":\"Paris\",\"days\":2}" },
        { id: "call_x", name: "get_time", arguments: "{}" }
      ])
    }))

  it.effect("maps done_reason length, other reasons, and missing counts as 0", () =>
    Effect.gen(function*() {
      const capped = yield* chatWith(() => jsonResponse(whole({ content: "a" }, { done_reason: "length" }))).run
      assert.strictEqual(capped.finishReason, "length")
      const load = yield* chatWith(() => jsonResponse(whole({ content: "" }, { done_reason: "load" }))).run
      assert.strictEqual(load.finishReason, "other")
      const cachedBody = whole({ content: "a" }) as Record<string, unknown>
      delete cachedBody["prompt_eval_count"]
      delete cachedBody["eval_count"]
      const cached = yield* chatWith(() => jsonResponse(cachedBody)).run
      assert.deepStrictEqual(cached.usage.promptTokens, 0)
      assert.deepStrictEqual(cached.usage.totalTokens, 0)
    }))

  it.effect("maps {error} bodies with their statuses through fromHttpFailure", () =>
    Effect.gen(function*() {
      const fail = (status: number, message: string, headers?: Record<string, string>) =>
        Effect.flip(
          chatWith(
            () => jsonResponse({ error: message }, { status, ...(headers ? { headers } : {}) }),
            hello,
            {},
            cloud
          ).run
        )

      const missing = yield* fail(404, "model 'llama9' not found")
      assert(missing._tag === "ModelNotFoundError")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.detail, "model 'llama9' not found")
      assert.strictEqual(missing.provider, "ollama")

      const bad = yield* fail(400, "\"llama3.2\" does not support thinking")
      assert(bad._tag === "InvalidRequestError")
      assert.include(bad.detail, "does not support thinking")

      const context = yield* fail(400, "input exceeds maximum context length")
      assert.strictEqual(context._tag, "ContextLengthError")

      const limited = yield* fail(429, "too many requests", { "retry-after": "3" })
      assert(limited._tag === "RateLimitError")
      assert.deepStrictEqual(limited.retryAfter, Duration.seconds(3))

      const unauthorized = yield* fail(401, "unauthorized")
      assert(unauthorized._tag === "AuthError")
      assertNoKey(unauthorized)

      for (const status of [500, 502]) {
        const error = yield* fail(status, "an error was encountered while running the model")
        assert(error._tag === "ProviderUnavailableError")
        assert.strictEqual(error.status, status)
      }

      const inBody = yield* Effect.flip(chatWith(() => jsonResponse({ error: "boom" })).run)
      assert(inBody._tag === "ProviderUnavailableError")
      assert.isUndefined(inBody.status)
    }))

  it.effect("a body that is not Ollama's fails with OutputDecodeError", () =>
    Effect.gen(function*() {
      const notJson = yield* Effect.flip(chatWith(() => jsonResponse("{\"model\":")).run)
      assert(notJson._tag === "OutputDecodeError")
      const shape = yield* Effect.flip(chatWith(() => jsonResponse({ model: "m", message: "hi", done: true })).run)
      assert(shape._tag === "OutputDecodeError")
      assert.include(shape.detail, "message")
    }))
})

describe("Ollama streams", () => {
  it.effect("emits reasoning and text deltas, then Usage and Finish", () =>
    Effect.gen(function*() {
      const { chunks, exit } = yield* outcome([
        delta("", { thinking: "Hmm" }),
        delta("Hel"),
        delta("lo"),
        delta(""),
        doneLine()
      ])
      assert(Result.isSuccess(exit))
      expect(chunks.slice(0, 3)).toEqual([
        { _tag: "ReasoningDelta", text: "Hmm" },
        { _tag: "TextDelta", text: "Hel" },
        { _tag: "TextDelta", text: "lo" }
      ])
      expect(chunks[3]).toEqual({
        _tag: "Usage",
        usage: {
          promptTokens: 11,
          completionTokens: 7,
          totalTokens: 18,
          cachedPromptTokens: 0,
          reasoningTokens: 0,
          estimated: false
        }
      })
      expect(chunks[4]).toMatchObject({
        _tag: "Finish",
        finishReason: "stop",
        id: "",
        model: "llama3.2",
        provider: "ollama"
      })
      assert.strictEqual(chunks.length, 5)
    }))

  it.effect("handles lines split anywhere, CRLF, blank lines, a split UTF-8 character and no final newline", () =>
    Effect.gen(function*() {
      const text = delta("日本😀") + "\r\n" + delta(" ok").replace("\n", "\r\n") + doneLine().trimEnd()
      const all = new TextEncoder().encode(text)
      const pieces = Array.from({ length: Math.ceil(all.length / 5) }, (_, i) => all.subarray(i * 5, i * 5 + 5))
      const response = yield* ChatChunk.collect(streamWith(pieces).stream)
      assert.strictEqual(response.text, "日本😀 ok")
      assert.strictEqual(response.usage.totalTokens, 18)
    }))

  it.effect("tool calls come whole, get dense indexes across lines, and stop becomes tool_calls", () =>
    Effect.gen(function*() {
      const calls = (first: number, names: ReadonlyArray<string>) =>
        names.map((name, i) => ({ function: { index: first + i, name, arguments: { n: first + i } } }))
      const { chunks } = yield* outcome([
        delta("", { tool_calls: calls(0, ["a", "b"]) }),
        delta("", { tool_calls: [{ id: "call_z", ...calls(2, ["c"])[0] }] }),
        doneLine()
      ])
      const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
      expect(deltas).toEqual([
        { _tag: "ToolCallDelta", index: 0, id: "call_0", name: "a", arguments: "{\"n\":0}" },
        { _tag: "ToolCallDelta", index: 1, id: "call_1", name: "b", arguments: "{\"n\":1}" },
        { _tag: "ToolCallDelta", index: 2, id: "call_z", name: "c", arguments: "{\"n\":2}" }
      ])
      const response = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      assert.strictEqual(response.finishReason, "tool_calls")
      assert.strictEqual(response.toolCalls.length, 3)
    }))

  it.effect("streamed and whole replies collect to the same response", () =>
    Effect.gen(function*() {
      const call = { id: "call_q", function: { index: 0, name: "get_weather", arguments: { city: "Oslo" } } }
      const streamed = yield* ChatChunk.collect(
        streamWith([delta("", { thinking: "Think." }), delta("Sure."), delta("", { tool_calls: [call] }), doneLine()])
          .stream
      )
      const single = yield* chatWith(() =>
        jsonResponse(whole({ content: "Sure.", thinking: "Think.", tool_calls: [call] }))
      ).run
      const pick = (r: typeof single) => ({
        text: r.text,
        reasoning: r.reasoning,
        toolCalls: r.toolCalls.map((c) => ({ ...c })),
        finishReason: r.finishReason,
        usage: r.usage,
        model: r.model,
        provider: r.provider,
        id: r.id,
        keyId: r.keyId
      })
      assert.deepStrictEqual(pick(streamed), pick(single))
    }))

  it.effect("an {error} line fails the stream through fromHttpFailure, after the chunks before it", () =>
    Effect.gen(function*() {
      const { chunks, exit } = yield* outcome(
        [delta("Hi"), line({ error: "an error was encountered while running the model" })],
        hello,
        cloud
      )
      assert(Result.isFailure(exit))
      assert(exit.failure._tag === "ProviderUnavailableError")
      assert.include(exit.failure.detail, "running the model")
      assertNoKey(exit.failure)
      expect(chunks).toEqual([{ _tag: "TextDelta", text: "Hi" }])

      const context = yield* outcome([line({ error: "input length exceeds the context length" })])
      assert(Result.isFailure(context.exit))
      assert.strictEqual(context.exit.failure._tag, "ContextLengthError")
    }))

  it.effect("a malformed line is skipped and counted; a wrongly shaped one -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const [{ chunks, exit }, warnings] = yield* withWarnings(outcome([delta("Hi"), "{not json\n", doneLine()]))
      assert(Result.isSuccess(exit))
      assert.deepStrictEqual(chunks.map((c) => c._tag), ["TextDelta", "Usage", "Finish"])
      assert.deepStrictEqual(skippedCounts(warnings), [1])
      assert.deepStrictEqual(warnings[0]!.annotations, { provider: "ollama", model: "llama3.2", skippedEvents: 1 })
      const last = yield* outcome([delta("Hi"), "{not json\n"])
      assert(Result.isFailure(last.exit))
      assert.strictEqual(last.exit.failure._tag, "StreamTruncatedError")
      const shape = yield* outcome([line({ model: "m", message: { content: 3 }, done: false })])
      assert(Result.isFailure(shape.exit))
      assert(shape.exit.failure._tag === "OutputDecodeError")
      assert.include(shape.exit.failure.detail, "message.content")
    }))

  it.effect("a body without its done line -> StreamTruncatedError", () =>
    Effect.gen(function*() {
      const { exit } = yield* outcome([delta("Hi"), delta(" there")])
      assert(Result.isFailure(exit))
      assert(exit.failure._tag === "StreamTruncatedError")
      assert.strictEqual(exit.failure.model, "llama3.2")
      const empty = yield* outcome([])
      assert(Result.isFailure(empty.exit))
      assert.strictEqual(empty.exit.failure._tag, "StreamTruncatedError")
    }))

  it.effect("a line longer than maxLineSize -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const { stream } = streamWith([delta("x".repeat(200)), doneLine()], hello, { maxLineSize: 100 })
      const error = yield* Effect.flip(Stream.runDrain(stream))
      assert(error._tag === "OutputDecodeError")
      assert.include(error.detail, "maxLineSize")
    }))

  it.effect("lines after the done line are ignored", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.runCollect(streamWith([delta("a"), doneLine(), "garbage\n"]).stream)
      assert.strictEqual(chunks.at(-1)?._tag, "Finish")
    }))

  it.effect("a stream request answered with one JSON body (stream turned off) still streams the reply", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(whole({ content: "Whole." })))
      const response = yield* ChatChunk.collect(
        Stream.unwrap(
          Effect.map(service, (client) => client.chatStream({ ...hello, providerOptions: { stream: false } }, local))
        )
      )
      assert.strictEqual(requests[0]!.body["stream"], false)
      assert.strictEqual(response.text, "Whole.")
      assert.strictEqual(response.usage.totalTokens, 18)
    }))

  it.effect("a stream request answered with a 200 HTML page -> OutputDecodeError naming it", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        new Response("<html><body>Sign in</body></html>", { headers: { "content-type": "text/html; charset=utf-8" } })
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.unwrap(Effect.map(service, (client) => client.chatStream(hello, local))))
      )
      assert(error._tag === "OutputDecodeError")
      assert.include(error.detail, "HTML page")
      assert.include(error.raw, "Sign in")
    }))

  it.effect("sends stream:true explicitly", () =>
    Effect.gen(function*() {
      const { requests, stream } = streamWith([doneLine()])
      yield* Stream.runDrain(stream)
      assert.strictEqual(requests[0]!.body["stream"], true)
    }))
})

describe("Ollama options", () => {
  it.effect("numCtx must be a positive integer and maxLineSize positive: OptionsError from layer and layerConfig", () =>
    Effect.gen(function*() {
      const numCtx = yield* buildError(Ollama.layer({ numCtx: 0 }))
      expectOptionsError(numCtx, { module: "Ollama", option: "numCtx", value: "0", expected: "a positive integer" })
      const line = yield* buildError(Ollama.layerConfig({ maxLineSize: Config.succeed(-1) }))
      expectOptionsError(line, { option: "maxLineSize", value: "-1" })
    }))
})
