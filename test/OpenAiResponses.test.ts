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
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as Origin from "../src/internal/wire/openAiResponses/origin.js"
import type * as LlmError from "../src/LlmError.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as OpenAiResponses from "../src/providers/OpenAiResponses.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { failsWithoutAModel, fakeHttpClient, jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"
import { splitBytes } from "./utils/openAiChatWire.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { skippedCounts, withWarnings } from "./utils/warnings.js"

const KEY = "sk-test-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
type Json = Record<string, unknown>

// Encrypted content as the client gives it back: marked with where it was made, by this key at the test's API root.
const madeHere = (content: string) =>
  Origin.marked(Origin.originOf("openai", "https://api.test/v1/", Redacted.make(KEY)), content)

const harness = adapterHarness({
  make: OpenAiResponses.make,
  defaults: { baseUrl: "https://api.test/v1/", model: "gpt-test" },
  credentials
})
const { chatWith, setup } = harness

const streamWith = (
  pieces: ReadonlyArray<string | Uint8Array>,
  request: ChatRequest.Input = hello,
  options?: Partial<OpenAiResponses.Options>
) => harness.streamWith(() => streamResponse(pieces), request, options)

const chunksOf = (pieces: ReadonlyArray<string | Uint8Array>, request?: ChatRequest.Input) =>
  Stream.runCollect(streamWith(pieces, request).stream)

const outcome = (pieces: ReadonlyArray<string | Uint8Array>) =>
  Effect.gen(function*() {
    const chunks: Array<ChatChunk.ChatChunk> = []
    const error = yield* Stream.runForEach(streamWith(pieces).stream, (c) => Effect.sync(() => chunks.push(c))).pipe(
      Effect.flip
    )
    return { chunks, error }
  })

const assertNoKey = (error: LlmError.LlmError) => {
  assert.notInclude(error.message, KEY)
  assert.notInclude(JSON.stringify(error), KEY)
}

// ---------------------------------------------------------------------------
// Canned wire bodies

/** One SSE event with its `event:` line, as OpenAI sends them. */
const ev = (type: string, fields: Json = {}): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: 0, ...fields })}\n\n`

const usageWire = (input: number, output: number, cached = 0, reasoning = 0) => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: cached },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: reasoning },
  total_tokens: input + output
})

const message = (text: string): Json => ({
  id: "msg_1",
  type: "message",
  status: "completed",
  role: "assistant",
  content: [{ type: "output_text", text, annotations: [] }]
})

const functionCall = (id: string, callId: string, name: string, args: string): Json => ({
  id,
  type: "function_call",
  status: "completed",
  call_id: callId,
  name,
  arguments: args
})

const reasoningItem = (id: string, summary: ReadonlyArray<string>, encrypted?: string): Json => ({
  id,
  type: "reasoning",
  summary: summary.map((text) => ({ type: "summary_text", text })),
  ...(encrypted !== undefined ? { encrypted_content: encrypted } : {})
})

const response = (output: ReadonlyArray<Json>, extra: Json = {}): Json => ({
  id: "resp_1",
  object: "response",
  created_at: 1,
  status: "completed",
  error: null,
  incomplete_details: null,
  model: "gpt-test-2025",
  output,
  usage: usageWire(10, 20, 3, 4),
  ...extra
})

describe("OpenAiResponses request mapping", () => {
  it.effect(
    "maps instructions, every message kind, tools, tool choice, text format, reasoning and sampling " +
      "fields",
    () =>
      Effect.gen(function*() {
        const { requests, run } = chatWith(() => jsonResponse(response([message("ok")])), {
          messages: [
            Message.system("Be terse."),
            Message.user([
              Message.text("Look:"),
              Message.image("https://img.test/a.png"),
              Message.image("data:x", "low")
            ]),
            Message.assistant("Checking.", {
              toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }]
            }),
            Message.toolResult({ id: "call_1", name: "get_weather" }, { temperature: 21 }),
            Message.system("Answer in French."),
            Message.user("And tomorrow?")
          ],
          model: "gpt-4.1",
          temperature: 0.5,
          topP: 0.9,
          maxTokens: 300,
          stop: ["END"],
          seed: 7,
          user: "user-1",
          tools: [
            { name: "get_weather", description: "Weather", parameters: { type: "object" }, strict: true },
            { name: "get_time", parameters: { type: "object" } }
          ],
          toolChoice: { tool: "get_weather" },
          responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
          reasoningEffort: "high"
        })
        yield* run
        const [request] = requests
        assert.strictEqual(request!.url, "https://api.test/v1/responses")
        expect(request!.body).toStrictEqual({
          model: "gpt-4.1",
          instructions: "Be terse.\n\nAnswer in French.",
          input: [
            {
              type: "message",
              role: "user",
              content: [
                { type: "input_text", text: "Look:" },
                { type: "input_image", image_url: "https://img.test/a.png", detail: "auto" },
                { type: "input_image", image_url: "data:x", detail: "low" }
              ]
            },
            { type: "message", role: "assistant", content: [{ type: "output_text", text: "Checking." }] },
            { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
            { type: "function_call_output", call_id: "call_1", output: "{\"temperature\":21}" },
            { type: "message", role: "user", content: [{ type: "input_text", text: "And tomorrow?" }] }
          ],
          store: false,
          temperature: 0.5,
          top_p: 0.9,
          max_output_tokens: 300,
          tools: [
            {
              type: "function",
              name: "get_weather",
              description: "Weather",
              parameters: { type: "object" },
              strict: true
            },
            { type: "function", name: "get_time", parameters: { type: "object" }, strict: false }
          ],
          tool_choice: { type: "function", name: "get_weather" },
          text: { format: { type: "json_schema", name: "answer", schema: { type: "object" }, strict: true } },
          reasoning: { effort: "high", summary: "auto" },
          include: ["reasoning.encrypted_content"],
          user: "user-1"
        })
      })
  )

  it.effect("string tool choices, simple formats, effort none, store, stream and providerOptions last", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(response([message("ok")])), { store: true })
      const client = yield* service
      yield* client.chat({
        ...hello,
        tools: [{ name: "f", parameters: { type: "object" } }],
        toolChoice: "required",
        parallelToolCalls: false,
        responseFormat: { type: "json_object" },
        reasoningEffort: "none",
        providerOptions: { store: false, previous_response_id: "resp_0", truncation: "auto" }
      }, credentials)
      // Without tools, no choice and no parallel setting: nothing to choose from.
      yield* client.chat({ ...hello, reasoningEffort: "low", toolChoice: "auto", parallelToolCalls: true }, credentials)
      yield* Stream.runDrain(Stream.catch(client.chatStream(hello, credentials), () => Stream.empty))
      const [first, second, third] = requests.map((r) => r.body)
      expect(first).toMatchObject({
        tool_choice: "required",
        parallel_tool_calls: false,
        text: { format: { type: "json_object" } },
        reasoning: { effort: "none" },
        store: false,
        previous_response_id: "resp_0",
        truncation: "auto"
      })
      assert.notProperty(first, "include")
      // With store: true, nothing needs to travel encrypted.
      expect(second).toMatchObject({ store: true, reasoning: { effort: "low", summary: "auto" } })
      assert.notProperty(second, "include")
      assert.notProperty(second, "tool_choice")
      assert.notProperty(second, "parallel_tool_calls")
      expect(third).toMatchObject({ stream: true })
      assert.notProperty(third, "stream_options")
    }))

  it.effect("sets the key, organization, project and extra headers", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(response([message("ok")])), hello, {
        organization: "org-1",
        project: "proj-1",
        headers: { "X-Proxy": "p" }
      })
      yield* run
      const headers = requests[0]!.headers
      assert.strictEqual(headers["authorization"], `Bearer ${KEY}`)
      assert.strictEqual(headers["openai-organization"], "org-1")
      assert.strictEqual(headers["openai-project"], "proj-1")
      assert.strictEqual(headers["x-proxy"], "p")
    }))

  it.effect("layerConfig reads the options from Config, secrets as Redacted", () =>
    Effect.gen(function*() {
      const fake = fakeHttpClient(() => jsonResponse(response([message("ok")])))
      const layer = OpenAiResponses.layerConfig({
        baseUrl: Config.String("OPENAI_BASE_URL"),
        model: Config.String("OPENAI_MODEL"),
        store: Config.Boolean("OPENAI_STORE"),
        headers: { "x-gateway-key": Config.Redacted("GATEWAY_KEY") }
      }).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)))
      const provider = ConfigProvider.fromEnv({
        env: {
          OPENAI_BASE_URL: "https://gateway.test/v1",
          OPENAI_MODEL: "from-config",
          OPENAI_STORE: "true",
          GATEWAY_KEY: "gw-secret"
        }
      })
      yield* Effect.flatMap(ProviderClient.ProviderClient, (client) => client.chat(hello, credentials)).pipe(
        Effect.provide(layer),
        Effect.provideService(ConfigProvider.ConfigProvider, provider)
      )
      const request = fake.requests[0]!
      assert.strictEqual(request.url, "https://gateway.test/v1/responses")
      expect(request.body).toMatchObject({ model: "from-config", store: true })
      assert.strictEqual(request.headers["x-gateway-key"], "gw-secret")
    }))

  it.effect("no model at all fails before sending", () =>
    Effect.gen(function*() {
      const fake = setup(() => jsonResponse({}), { model: undefined })
      yield* failsWithoutAModel(yield* fake.service, fake, hello, credentials)
    }))

  it.effect("a hosted tool's items of a reply go back as they came, after its reasoning, before its text", () =>
    Effect.gen(function*() {
      const search = {
        id: "ws_1",
        type: "web_search_call",
        status: "completed",
        action: { type: "search", query: "q" }
      }
      const first = response([reasoningItem("rs_1", ["Searching."], "gAAAABenc"), search, message("Found it.")])
      let turn = 0
      const { requests, service } = setup(() => jsonResponse(turn++ === 0 ? first : response([message("Sunny.")])))
      const client = yield* service
      const reply = yield* client.chat({ ...hello, reasoningEffort: "low" }, credentials)
      yield* client.chat({
        ...hello,
        messages: [...hello.messages, Message.fromResponse(reply), Message.user("More?")]
      }, credentials)
      expect(((requests[1]!.body as Json)["input"] as Array<Json>).slice(1)).toStrictEqual([
        { type: "reasoning", summary: [{ type: "summary_text", text: "Searching." }], encrypted_content: "gAAAABenc" },
        search,
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Found it." }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "More?" }] }
      ])
    }))

  it.effect("reasoning items from an earlier reply go back first, before its text and calls", () =>
    Effect.gen(function*() {
      const first = response([
        reasoningItem("rs_1", ["Thinking."], "gAAAABenc"),
        message("Let me check."),
        functionCall("fc_1", "call_1", "get_weather", "{}")
      ])
      let turn = 0
      const { requests, service } = setup(() => jsonResponse(turn++ === 0 ? first : response([message("Sunny.")])))
      const client = yield* service
      const request: ChatRequest.Input = { ...hello, reasoningEffort: "medium" }
      const reply = yield* client.chat(request, credentials)
      expect(reply.providerMetadata).toStrictEqual({
        openaiResponses: {
          reasoningItems: [{
            type: "reasoning",
            summary: [{ type: "summary_text", text: "Thinking." }],
            encrypted_content: madeHere("gAAAABenc")
          }]
        }
      })
      yield* client.chat({
        ...request,
        messages: [...hello.messages, Message.fromResponse(reply), Message.toolResult(reply.toolCalls[0]!, "21")]
      }, credentials)
      expect((requests[1]!.body as Json)["input"]).toStrictEqual([
        { type: "message", role: "user", content: [{ type: "input_text", text: "Hello" }] },
        // Without its id: with store false, the id points at nothing stored.
        { type: "reasoning", summary: [{ type: "summary_text", text: "Thinking." }], encrypted_content: "gAAAABenc" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Let me check." }] },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{}" },
        { type: "function_call_output", call_id: "call_1", output: "21" }
      ])
      // A reply with nothing but reasoning (cut off by the token limit) sends no orphan reasoning item.
      yield* client.chat({
        ...request,
        messages: [
          ...hello.messages,
          Message.fromResponse({ ...reply, text: "", toolCalls: [] }),
          Message.user("Go on.")
        ]
      }, credentials)
      expect(((requests[2]!.body as Json)["input"] as Array<Json>).map((item) => item["type"])).toStrictEqual([
        "message",
        "message"
      ])
    }))
})

describe("OpenAiResponses previousResponse", () => {
  const conversation: ChatRequest.Input["messages"] = [
    Message.system("Be brief."),
    Message.user("Hello"),
    Message.assistant("Hi."),
    Message.user("And then?")
  ]
  const kept = { id: "resp_7", provider: "openai", keyId: credentials.keyId, messages: 3 }

  it.effect("with store, the same provider and key: its id and only the messages after it; else every message", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(response([message("ok")])), { store: true })
      const client = yield* service
      yield* client.chat({ messages: conversation, previousResponse: kept }, credentials)
      yield* client.chat({ messages: conversation, previousResponse: kept }, ProviderClient.credentials("sk-other-01"))
      yield* client.chat({ messages: conversation, previousResponse: { ...kept, provider: "azure" } }, credentials)
      const [same, otherKey, otherProvider] = requests.map((r) => r.body as Json)
      expect(same).toMatchObject({
        previous_response_id: "resp_7",
        instructions: "Be brief.",
        input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "And then?" }] }]
      })
      for (const whole of [otherKey!, otherProvider!]) {
        assert.notProperty(whole, "previous_response_id")
        expect(whole["input"]).toHaveLength(3)
      }
    }))

  it.effect("without store it is never sent", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(response([message("ok")])))
      yield* (yield* service).chat({ messages: conversation, previousResponse: kept }, credentials)
      assert.notProperty(requests[0]!.body, "previous_response_id")
      expect((requests[0]!.body as Json)["input"]).toHaveLength(3)
    }))
})

describe("OpenAiResponses reasoning items with store", () => {
  it.effect("with store: true every reasoning item is kept by id", () =>
    Effect.gen(function*() {
      const reply = yield* chatWith(
        () =>
          jsonResponse(
            response([reasoningItem("rs_1", []), reasoningItem("rs_2", ["Hm."], "gAAAABenc"), message("ok")])
          ),
        { ...hello, reasoningEffort: "low" },
        { store: true }
      ).run
      expect(reply.providerMetadata).toStrictEqual({
        openaiResponses: {
          reasoningItems: [
            { type: "reasoning", id: "rs_1", summary: [] },
            {
              type: "reasoning",
              id: "rs_2",
              summary: [{ type: "summary_text", text: "Hm." }],
              encrypted_content: madeHere("gAAAABenc")
            }
          ],
          // The API keeps the response: a later request may continue it by id.
          stored: true
        }
      })
    }))
})

describe("OpenAiResponses whole replies", () => {
  it.effect("maps text, reasoning summaries, function calls, usage, id, model, provider and key id", () =>
    Effect.gen(function*() {
      const reply = yield* chatWith(() =>
        jsonResponse(
          response([
            reasoningItem("rs_1", ["First.", "Second."]),
            message("Hello"),
            { ...message(" world"), id: "msg_2" },
            functionCall("fc_1", "call_1", "get_weather", "{\"city\":\"Paris\"}"),
            functionCall("fc_2", "call_2", "get_time", "{}"),
            { id: "ws_1", type: "web_search_call", status: "completed" }
          ]),
          { headers: { "x-request-id": "req_1" } }
        )
      ).run
      assert.strictEqual(reply.id, "resp_1")
      assert.strictEqual(reply.model, "gpt-test-2025")
      assert.strictEqual(reply.provider, "openai")
      assert.strictEqual(reply.keyId, credentials.keyId)
      assert.strictEqual(reply.text, "Hello world")
      assert.strictEqual(reply.reasoning, "First.\n\nSecond.")
      assert.strictEqual(reply.finishReason, "tool_calls")
      expect(reply.toolCalls).toStrictEqual([
        { id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_2", name: "get_time", arguments: "{}" }
      ])
      expect(reply.usage).toStrictEqual({
        promptTokens: 10,
        completionTokens: 20,
        totalTokens: 30,
        cachedPromptTokens: 3,
        reasoningTokens: 4,
        estimated: false,
        // The web search the reply made, billed per call.
        hostedToolCalls: { web_search: 1 }
      })
      // Without store, a reasoning item with no encrypted content cannot be sent back; a hosted tool's item is kept.
      expect(reply.providerMetadata).toStrictEqual({
        openaiResponses: { outputItems: [{ id: "ws_1", type: "web_search_call", status: "completed" }] }
      })
    }))

  it.effect("finish reasons from status and incomplete_details, and a refusal", () =>
    Effect.gen(function*() {
      const finish = (extra: Json, output: ReadonlyArray<Json> = [message("x")]) =>
        Effect.map(chatWith(() => jsonResponse(response(output, extra))).run, (r) => r.finishReason)
      assert.strictEqual(yield* finish({}), "stop")
      assert.strictEqual(
        yield* finish({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } }),
        "length"
      )
      assert.strictEqual(
        yield* finish({ status: "incomplete", incomplete_details: { reason: "content_filter" } }),
        "content_filter"
      )
      assert.strictEqual(yield* finish({ status: "incomplete", incomplete_details: null }), "other")
      const refused = yield* chatWith(() =>
        jsonResponse(response([{ ...message(""), content: [{ type: "refusal", refusal: "I can't." }] }]))
      ).run
      assert.strictEqual(refused.refusal, "I can't.")
      assert.strictEqual(refused.text, "")
    }))

  it.effect("a failed response, and an error body with status 200, fail through fromHttpFailure", () =>
    Effect.gen(function*() {
      const failed = yield* Effect.flip(
        chatWith(() =>
          jsonResponse(response([], { status: "failed", error: { code: "server_error", message: "Boom." } }), {
            headers: { "x-request-id": "req_9" }
          })
        ).run
      )
      assert(failed._tag === "ProviderUnavailableError")
      assert.strictEqual(failed.detail, "Boom.")
      assert.strictEqual(failed.requestId, "req_9")
      const limited = yield* Effect.flip(
        chatWith(() =>
          jsonResponse(
            response([], { status: "failed", error: { code: "rate_limit_exceeded", message: "Slow down." } })
          )
        ).run
      )
      assert.strictEqual(limited._tag, "RateLimitError")
      const bare = yield* Effect.flip(
        chatWith(() => jsonResponse({ error: { message: "Bad.", code: "invalid_prompt" } })).run
      )
      assert.strictEqual(bare._tag, "ProviderUnavailableError")
    }))

  it.effect("bodies that are not a response -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const notJson = yield* Effect.flip(chatWith(() => jsonResponse("<html>oops</html>")).run)
      assert(notJson._tag === "OutputDecodeError")
      assert.include(notJson.raw, "oops")
      const noOutput = yield* Effect.flip(chatWith(() => jsonResponse({ id: "resp_1", object: "response" })).run)
      assert(noOutput._tag === "OutputDecodeError")
      assert.include(noOutput.detail, "output is not an array")
    }))

  it.effect("HTTP errors map through fromHttpFailure, without the key", () =>
    Effect.gen(function*() {
      const fail = (status: number, error: Json, headers?: Record<string, string>) =>
        Effect.flip(chatWith(() => jsonResponse({ error }, { status, ...(headers ? { headers } : {}) })).run)
      const auth = yield* fail(401, { message: `Incorrect API key provided: ${KEY}.`, code: "invalid_api_key" })
      assert(auth._tag === "AuthError")
      assert.strictEqual(auth.reason, "invalid_key")
      assertNoKey(auth)
      const limited = yield* fail(429, { message: "Slow.", code: "rate_limit_exceeded" }, { "retry-after-ms": "1500" })
      assert(limited._tag === "RateLimitError")
      assert.deepStrictEqual(limited.retryAfter, Duration.millis(1500))
      const context = yield* fail(400, {
        message: "Your input exceeds the context window.",
        code: "context_length_exceeded"
      })
      assert.strictEqual(context._tag, "ContextLengthError")
      const pairing = yield* fail(400, {
        message: "Item 'fc_1' of type 'function_call' was provided without its required 'reasoning' item.",
        param: "input",
        code: null
      })
      assert(pairing._tag === "InvalidRequestError")
      assert.strictEqual(pairing.param, "input")
      const missing = yield* fail(404, { message: "The model `x` does not exist.", code: "model_not_found" })
      assert.strictEqual(missing._tag, "ModelNotFoundError")
      const down = yield* fail(503, { message: "Overloaded." })
      assert.strictEqual(down._tag, "ProviderUnavailableError")
    }))

  it.effect("a connection failure -> TransportError; no answer in time -> TimeoutError", () =>
    Effect.gen(function*() {
      const failing = HttpClient.make((request) =>
        Effect.fail(
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({ request, cause: new Error(`refused ${KEY}`) })
          })
        )
      )
      const client = yield* OpenAiResponses.make({ baseUrl: "https://api.test/v1", model: "m" }).pipe(
        Effect.provideService(HttpClient.HttpClient, failing)
      )
      const transport = yield* Effect.flip(client.chat(hello, credentials))
      assert.strictEqual(transport._tag, "TransportError")
      assertNoKey(transport)

      const { run } = chatWith(() => Effect.never, { ...hello, timeout: Duration.seconds(5) })
      const fiber = yield* Effect.forkChild(Effect.flip(run))
      yield* TestClock.adjust("6 seconds")
      const timeout = yield* Fiber.join(fiber)
      assert(timeout._tag === "TimeoutError")
      assert.deepStrictEqual(timeout.timeout, Duration.seconds(5))
    }))
})

// ---------------------------------------------------------------------------
// Streams

const created = ev("response.created", { response: { ...response([]), status: "in_progress", usage: null } })

const textStream = (tokens: ReadonlyArray<string>, final: Json = response([message(tokens.join(""))])) =>
  [
    created,
    ev("response.in_progress", { response: { id: "resp_1" } }),
    ev("response.output_item.added", { output_index: 0, item: { ...message(""), content: [], status: "in_progress" } }),
    ev("response.content_part.added", {
      item_id: "msg_1",
      output_index: 0,
      content_index: 0,
      part: { type: "output_text", text: "" }
    }),
    ...tokens.map((delta) =>
      ev("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta })
    ),
    ev("response.output_text.done", { item_id: "msg_1", output_index: 0, content_index: 0, text: tokens.join("") }),
    ev("response.output_item.done", { output_index: 0, item: message(tokens.join("")) }),
    ev("response.completed", { response: final })
  ].join("")

describe("OpenAiResponses streams", () => {
  it.effect("text deltas, then Usage, then Finish last", () =>
    Effect.gen(function*() {
      const chunks = yield* chunksOf([textStream(["Hel", "lo", " world"])])
      expect(chunks.map((c) => c._tag)).toStrictEqual(["TextDelta", "TextDelta", "TextDelta", "Usage", "Finish"])
      const finish = chunks[4]!
      assert(finish._tag === "Finish")
      assert.strictEqual(finish.finishReason, "stop")
      assert.strictEqual(finish.id, "resp_1")
      assert.strictEqual(finish.model, "gpt-test-2025")
      assert.strictEqual(finish.keyId, credentials.keyId)
      const usage = chunks[3]!
      assert(usage._tag === "Usage")
      assert.strictEqual(usage.usage.reasoningTokens, 4)
    }))

  it.effect("parallel function calls interleaved by item id give dense indexes; .done settles short arguments", () =>
    Effect.gen(function*() {
      const calls = [
        functionCall("fc_a", "call_a", "get_weather", "{\"city\":\"Paris\"}"),
        functionCall("fc_b", "call_b", "get_time", "{\"zone\":\"UTC\"}")
      ]
      const body = [
        ev("response.output_item.added", {
          output_index: 0,
          item: { ...calls[0], arguments: "", status: "in_progress" }
        }),
        ev("response.output_item.added", {
          output_index: 1,
          item: { ...calls[1], arguments: "", status: "in_progress" }
        }),
        ev("response.function_call_arguments.delta", { item_id: "fc_a", output_index: 0, delta: "{\"city\":" }),
        ev("response.function_call_arguments.delta", { item_id: "fc_b", output_index: 1, delta: "{\"zone\":" }),
        ev("response.function_call_arguments.delta", { item_id: "fc_a", output_index: 0, delta: "\"Paris\"}" }),
        // The last piece of the second call never came as a delta.
        ev("response.function_call_arguments.done", {
          item_id: "fc_b",
          output_index: 1,
          arguments: "{\"zone\":\"UTC\"}"
        }),
        ev("response.output_item.done", { output_index: 0, item: calls[0] }),
        ev("response.completed", { response: response(calls) })
      ].join("")
      const chunks = yield* chunksOf([body])
      const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
      expect(deltas.map((d) => d.index)).toStrictEqual([0, 1, 0, 1, 0, 1])
      expect(deltas[0]).toStrictEqual({
        _tag: "ToolCallDelta",
        index: 0,
        id: "call_a",
        name: "get_weather",
        arguments: ""
      })
      const reply = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      expect(reply.toolCalls).toStrictEqual([
        { id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_b", name: "get_time", arguments: "{\"zone\":\"UTC\"}" }
      ])
      assert.strictEqual(reply.finishReason, "tool_calls")
    }))

  it.effect("reasoning summary parts -> ReasoningDelta, a blank line between parts; metadata on Finish", () =>
    Effect.gen(function*() {
      const item = reasoningItem("rs_1", ["Step one.", "Step two."], "gAAAABenc")
      const body = [
        ev("response.output_item.added", { output_index: 0, item: { id: "rs_1", type: "reasoning", summary: [] } }),
        ev("response.reasoning_summary_text.delta", {
          item_id: "rs_1",
          output_index: 0,
          summary_index: 0,
          delta: "Step "
        }),
        ev("response.reasoning_summary_text.delta", {
          item_id: "rs_1",
          output_index: 0,
          summary_index: 0,
          delta: "one."
        }),
        ev("response.reasoning_summary_text.delta", {
          item_id: "rs_1",
          output_index: 0,
          summary_index: 1,
          delta: "Step two."
        }),
        ev("response.output_item.done", { output_index: 0, item }),
        ev("response.output_text.delta", { item_id: "msg_1", output_index: 1, content_index: 0, delta: "Done." }),
        ev("response.completed", { response: response([item, message("Done.")]) })
      ].join("")
      const chunks = yield* chunksOf([body])
      expect(chunks.filter((c) => c._tag === "ReasoningDelta").map((c) => c.text)).toStrictEqual([
        "Step ",
        "one.",
        "\n\n",
        "Step two."
      ])
      const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      const whole = yield* chatWith(() => jsonResponse(response([item, message("Done.")]))).run
      assert.strictEqual(streamed.reasoning, "Step one.\n\nStep two.")
      expect({ ...streamed, latency: null }).toStrictEqual({ ...whole, latency: null })
      assert.isDefined(streamed.providerMetadata)
    }))

  it.effect("a terminal response without deltas still gives the whole reply; refusal deltas end on Finish", () =>
    Effect.gen(function*() {
      const calls = [functionCall("fc_a", "call_a", "f", "{}")]
      const quiet = yield* ChatChunk.collect(
        streamWith([
          ev("response.completed", { response: response([reasoningItem("rs", ["Hm."]), message("Hi"), ...calls]) })
        ]).stream
      )
      assert.strictEqual(quiet.text, "Hi")
      assert.strictEqual(quiet.reasoning, "Hm.")
      expect(quiet.toolCalls).toStrictEqual([{ id: "call_a", name: "f", arguments: "{}" }])
      const refused = yield* ChatChunk.collect(
        streamWith([
          ev("response.refusal.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: "No, " }),
          ev("response.refusal.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: "sorry." }),
          ev("response.completed", {
            response: response([{ ...message(""), content: [{ type: "refusal", refusal: "No, sorry." }] }])
          })
        ]).stream
      )
      assert.strictEqual(refused.refusal, "No, sorry.")
    }))

  it.effect("arguments before their item: the call is opened by item id and named from the terminal response", () =>
    Effect.gen(function*() {
      const call = functionCall("fc_a", "call_a", "get_weather", "{\"city\":\"Paris\"}")
      const reply = yield* ChatChunk.collect(
        streamWith([
          ev("response.function_call_arguments.delta", { item_id: "fc_a", output_index: 0, delta: "{\"city\":" }),
          ev("response.completed", { response: response([call]) })
        ]).stream
      )
      expect(reply.toolCalls).toStrictEqual([{ id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }])
      assert.strictEqual(reply.finishReason, "tool_calls")
    }))

  it.effect("response.incomplete is terminal with usage: length or content_filter", () =>
    Effect.gen(function*() {
      const incomplete = (reason: string) =>
        textStream(["Hi"]).replace(
          /event: response\.completed\ndata: .*\n\n$/,
          ev("response.incomplete", {
            response: response([message("Hi")], { status: "incomplete", incomplete_details: { reason } })
          })
        )
      const length = yield* ChatChunk.collect(streamWith([incomplete("max_output_tokens")]).stream)
      assert.strictEqual(length.finishReason, "length")
      assert.strictEqual(length.usage.totalTokens, 30)
      const filtered = yield* ChatChunk.collect(streamWith([incomplete("content_filter")]).stream)
      assert.strictEqual(filtered.finishReason, "content_filter")
    }))

  it.effect("events without an event: line are dispatched on data.type; unknown events are ignored", () =>
    Effect.gen(function*() {
      const body = [
        ": keep-alive\n\n",
        ev("response.web_search_call.searching", { item_id: "ws_1" }),
        `data: ${JSON.stringify({ type: "response.output_text.delta", delta: "Hi" })}\n\n`,
        ev("response.some_future_event", { whatever: [1, 2] }),
        `data: ${JSON.stringify({ type: "response.completed", response: response([message("Hi")]) })}\n\n`
      ]
      const reply = yield* ChatChunk.collect(streamWith(body).stream)
      assert.strictEqual(reply.text, "Hi")
      assert.strictEqual(reply.finishReason, "stop")
    }))

  it.effect("an error event -> typed failure after the chunks before it, without the key", () =>
    Effect.gen(function*() {
      const { chunks, error } = yield* outcome([
        ev("response.output_text.delta", { delta: "Hi" }),
        ev("error", { code: "server_error", message: `The server failed (${KEY}).`, param: null })
      ])
      expect(chunks.map((c) => c._tag)).toStrictEqual(["TextDelta"])
      assert(error._tag === "ProviderUnavailableError")
      assert.isUndefined(error.status)
      assert.include(error.detail, "The server failed")
      assertNoKey(error)
      const limited = yield* outcome([ev("error", { code: "rate_limit_exceeded", message: "Slow down.", param: null })])
      assert.strictEqual(limited.error._tag, "RateLimitError")
    }))

  it.effect("response.failed -> the typed error of response.error", () =>
    Effect.gen(function*() {
      const { error } = yield* outcome([
        created,
        ev("response.failed", {
          response: response([], { status: "failed", error: { code: "server_error", message: "It broke." } })
        })
      ])
      assert(error._tag === "ProviderUnavailableError")
      assert.strictEqual(error.detail, "It broke.")
      const flagged = yield* outcome([
        ev("response.failed", {
          response: response([], {
            status: "failed",
            error: { code: "invalid_prompt", message: "Your prompt was flagged." }
          })
        })
      ])
      assert.strictEqual(flagged.error._tag, "ContentFilterError")
    }))

  it.effect("a stream with no terminal event -> StreamTruncatedError", () =>
    Effect.gen(function*() {
      const cut = textStream(["Hi", " there"]).replace(/event: response\.completed[\s\S]*$/, "")
      const { chunks, error } = yield* outcome([cut])
      assert(error._tag === "StreamTruncatedError")
      assert.strictEqual(error.model, "gpt-test")
      expect(chunks.map((c) => c._tag)).toStrictEqual(["TextDelta", "TextDelta"])
      // A terminal event without its blank line is still read at the end of the body.
      const unterminated = textStream(["Hi"]).replace(/\n\n$/, "")
      const reply = yield* ChatChunk.collect(streamWith([unterminated]).stream)
      assert.strictEqual(reply.text, "Hi")
    }))

  it.effect(
    "a malformed event is skipped and counted (truncated without its terminal event); a wrongly shaped or " +
      "oversized one -> OutputDecodeError",
    () =>
      Effect.gen(function*() {
        const [malformed, warnings] = yield* withWarnings(
          outcome(["event: response.output_text.delta\ndata: {not json\n\n"])
        )
        assert.strictEqual(malformed.error._tag, "StreamTruncatedError")
        assert.deepStrictEqual(skippedCounts(warnings), [1])
        assert.include(warnings[0]!.message, "{not json")
        const shaped = yield* outcome([ev("response.output_text.delta", { delta: 42 })])
        assert(shaped.error._tag === "OutputDecodeError")
        assert.include(shaped.error.detail, "not a string")
        const { service } = setup(
          () => streamResponse([ev("response.output_text.delta", { delta: "x".repeat(200) })]),
          {
            maxEventSize: 100
          }
        )
        const large = yield* Effect.flip(
          Stream.runDrain(Stream.unwrap(Effect.map(service, (c) => c.chatStream(hello, credentials))))
        )
        assert(large._tag === "OutputDecodeError")
        assert.include(large.detail, "maxEventSize")
      })
  )

  it.effect("a stream request answered with one JSON body still streams it, or fails with its error", () =>
    Effect.gen(function*() {
      const { service } = setup(() => jsonResponse(response([message("Whole.")])))
      const client = yield* service
      const reply = yield* ChatChunk.collect(client.chatStream(hello, credentials))
      assert.strictEqual(reply.text, "Whole.")
      assert.strictEqual(reply.usage.promptTokens, 10)
      const failing = setup(() =>
        jsonResponse(response([], { status: "failed", error: { code: "server_error", message: "x" } }))
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.unwrap(Effect.map(failing.service, (c) => c.chatStream(hello, credentials))))
      )
      assert.strictEqual(error._tag, "ProviderUnavailableError")
    }))

  it.effect("an HTTP error fails the stream before any chunk", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        jsonResponse({ error: { message: "no", code: "invalid_api_key" } }, { status: 401 })
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.unwrap(Effect.map(service, (c) => c.chatStream(hello, credentials))))
      )
      assert(error._tag === "AuthError")
      assert.strictEqual(error.status, 401)
    }))
})

// ---------------------------------------------------------------------------
// A stream and the whole reply fold to the same response, whatever the chunking.

const piece = (minLength: number, maxLength: number) =>
  Arbitrary.schema(Schema.String.check(Schema.isMinLength(minLength), Schema.isMaxLength(maxLength)))

const contentArbitrary = Arbitrary.all({
  reasoning: Arbitrary.array(piece(1, 5), { maxLength: 3 }),
  text: Arbitrary.array(piece(0, 6), { maxLength: 5 }),
  calls: Arbitrary.array(Arbitrary.array(piece(1, 4), { minLength: 1, maxLength: 3 }), { maxLength: 3 }),
  incomplete: Arbitrary.schema(Schema.Boolean),
  cuts: Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4000 }))), {
    maxLength: 12
  })
})

type Content = typeof contentArbitrary extends Arbitrary.Arbitrary<infer A> ? A : never

const finalOutput = (content: Content): Array<Json> => {
  const output: Array<Json> = []
  if (content.reasoning.length > 0) output.push(reasoningItem("rs_1", [content.reasoning.join("")], "gAAAABenc"))
  output.push(message(content.text.join("")))
  content.calls.forEach((pieces, i) => output.push(functionCall(`fc_${i}`, `call_${i}`, `tool_${i}`, pieces.join(""))))
  return output
}

const finalResponse = (content: Content): Json =>
  response(
    finalOutput(content),
    content.incomplete ? { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } } : {}
  )

const streamBody = (content: Content): string => {
  const events: Array<string> = [created]
  let index = 0
  if (content.reasoning.length > 0) {
    events.push(
      ev("response.output_item.added", { output_index: index, item: { id: "rs_1", type: "reasoning", summary: [] } })
    )
    for (const delta of content.reasoning) {
      events.push(
        ev("response.reasoning_summary_text.delta", { item_id: "rs_1", output_index: index, summary_index: 0, delta })
      )
    }
    index++
  }
  const messageIndex = index++
  events.push(ev("response.output_item.added", { output_index: messageIndex, item: { ...message(""), content: [] } }))
  for (const delta of content.text) {
    events.push(
      ev("response.output_text.delta", { item_id: "msg_1", output_index: messageIndex, content_index: 0, delta })
    )
  }
  content.calls.forEach((_, i) => {
    events.push(ev("response.output_item.added", {
      output_index: index + i,
      item: functionCall(`fc_${i}`, `call_${i}`, `tool_${i}`, "")
    }))
  })
  const rounds = Math.max(0, ...content.calls.map((pieces) => pieces.length))
  for (let r = 0; r < rounds; r++) {
    content.calls.forEach((pieces, i) => {
      const delta = pieces[r]
      if (delta !== undefined) {
        events.push(
          ev("response.function_call_arguments.delta", { item_id: `fc_${i}`, output_index: index + i, delta })
        )
      }
    })
  }
  events.push(
    ev(content.incomplete ? "response.incomplete" : "response.completed", { response: finalResponse(content) })
  )
  return events.join("")
}

describe("OpenAiResponses stream and whole reply", () => {
  it.effect.prop(
    "ChatChunk.collect of the stream equals chat",
    [contentArbitrary],
    ([content]) =>
      Effect.gen(function*() {
        const streamed = yield* ChatChunk.collect(streamWith(splitBytes(streamBody(content), content.cuts)).stream)
        const whole = yield* chatWith(() => jsonResponse(finalResponse(content))).run
        expect({ ...streamed, latency: null }).toStrictEqual({ ...whole, latency: null })
      }),
    { arbitrary: { runs: 150 } }
  )
})

describe("OpenAiResponses options", () => {
  it.effect("a maxEventSize that is not positive fails the layer with OptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* buildError(
        OpenAiResponses.layer({ baseUrl: "http://127.0.0.1:9/v1", maxEventSize: Number.NaN })
      )
      expectOptionsError(error, { module: "OpenAiResponses", option: "maxEventSize", value: "NaN" })
    }))
})

describe("OpenAiResponses encrypted content, bound to where it was made", () => {
  const refused = () =>
    jsonResponse({
      error: {
        message: "The encrypted content gAAA...enc1 could not be verified.",
        type: "invalid_request_error",
        param: null,
        code: "invalid_encrypted_content"
      }
    }, { status: 400 })
  // The reasoning items of each request's input, as sent.
  const sentReasoning = (requests: ReadonlyArray<{ readonly body: unknown }>) =>
    requests.map((request) =>
      ((request.body as Json)["input"] as ReadonlyArray<Json>).filter((item) => item["type"] === "reasoning")
    )

  it.effect("given back as made with the key that made it, left out with another key", () =>
    Effect.gen(function*() {
      let turn = 0
      const { requests, service } = setup(() =>
        jsonResponse(
          turn++ === 0 ? response([reasoningItem("rs_1", [], "gAAAABenc1"), message("ok")]) : response([message("ok")])
        )
      )
      const client = yield* service
      const request: ChatRequest.Input = { ...hello, reasoningEffort: "low" }
      const first = yield* client.chat(request, credentials)
      const next = { ...request, messages: [...hello.messages, Message.fromResponse(first), Message.user("And?")] }
      yield* client.chat(next, credentials)
      yield* client.chat(next, ProviderClient.credentials("sk-another-key-0123456789"))
      expect(sentReasoning(requests.slice(1))).toEqual([
        [{ type: "reasoning", summary: [], encrypted_content: "gAAAABenc1" }],
        []
      ])
    }))

  it.effect("content with no mark that the API refuses is dropped, and the call made once more", () =>
    Effect.gen(function*() {
      const foreign = { type: "reasoning", summary: [], encrypted_content: "gAAAABelsewhere" }
      const withForeign: ChatRequest.Input = {
        reasoningEffort: "low",
        messages: [
          Message.user("Hello"),
          { role: "assistant", content: "ok", providerMetadata: { openaiResponses: { reasoningItems: [foreign] } } },
          Message.user("And?")
        ]
      }
      let calls = 0
      const whole = chatWith(() => calls++ === 0 ? refused() : jsonResponse(response([message("Sunny.")])), withForeign)
      expect((yield* whole.run).text).toBe("Sunny.")
      expect(sentReasoning(whole.requests)).toEqual([[foreign], []])
      let streams = 0
      const streamed = harness.streamWith(
        () =>
          streams++ === 0
            ? refused()
            : streamResponse([ev("response.completed", { response: response([message("Sunny.")]) })]),
        withForeign
      )
      expect((yield* ChatChunk.collect(streamed.stream)).text).toBe("Sunny.")
      expect(sentReasoning(streamed.requests)).toEqual([[foreign], []])
      // Refused again without it: the refusal is the call's.
      const always = chatWith(refused, withForeign)
      expect(yield* Effect.flip(always.run)).toMatchObject({
        _tag: "InvalidRequestError",
        code: "invalid_encrypted_content"
      })
      expect(always.requests).toHaveLength(2)
    }))
})

describe("OpenAiResponses compaction", () => {
  it.effect("providerOptions.responses_compact sends /responses/compact, and the reply keeps the compacted items", () =>
    Effect.gen(function*() {
      const compaction = { id: "cmp_1", type: "compaction", encrypted_content: "gAAAAB-opaque" }
      const user = { type: "message", role: "user", content: [{ type: "input_text", text: "Hello" }] }
      const { requests, service } = setup(
        () =>
          jsonResponse({
            id: "resp_c",
            object: "response.compaction",
            created_at: 1,
            output: [user, compaction],
            usage: usageWire(40, 12, 8)
          }),
        { store: true }
      )
      const reply = yield* Effect.flatMap(service, (client) =>
        client.chat({
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }],
          temperature: 0.5,
          maxTokens: 100,
          promptCacheKey: "session-1",
          providerOptions: { responses_compact: true }
        }, credentials))
      const sent = requests[0]!
      assert.strictEqual(sent.url, "https://api.test/v1/responses/compact")
      expect(sent.body).toEqual({
        model: "gpt-test",
        instructions: "Be brief.",
        input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "Hello" }] }],
        prompt_cache_key: "session-1"
      })
      assert.strictEqual(reply.text, "")
      assert.strictEqual(reply.id, "resp_c")
      expect(reply.usage).toMatchObject({ promptTokens: 40, completionTokens: 12, cachedPromptTokens: 8 })
      expect(reply.providerMetadata).toEqual({
        openaiResponses: { compacted: [user, { ...compaction, encrypted_content: madeHere("gAAAAB-opaque") }] }
      })
    }))
})
