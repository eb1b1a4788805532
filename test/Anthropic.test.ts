import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import { needsLongContextBeta, takesOutputFormat } from "../src/internal/wire/anthropic/request.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { splitAt } from "./utils/byteChunks.js"
import { failsWithoutAModel, jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { attributeText, recordingTracer } from "./utils/recordingTracer.js"
import { skippedCounts, withWarnings } from "./utils/warnings.js"

const KEY = "sk-ant-test-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const harness = adapterHarness({
  make: Anthropic.make,
  defaults: { baseUrl: "https://api.test", model: "claude-test" },
  credentials
})
const { chatWith, setup } = harness

/** Checks a rule over model names: it holds for each of `holds` and for none of `fails`. */
function holdsFor(rule: (model: string) => boolean, holds: ReadonlyArray<string>, fails: ReadonlyArray<string>) {
  for (const model of holds) assert.isTrue(rule(model), model)
  for (const model of fails) assert.isFalse(rule(model), model)
}

const streamWith = (pieces: ReadonlyArray<string | Uint8Array>, request: ChatRequest.Input = hello) =>
  harness.streamWith(() => streamResponse(pieces, { headers: { "request-id": "req_stream" } }), request)

/** The body a request was sent with. */
const bodyOf = (request: ChatRequest.Input, options?: Partial<Anthropic.Options>) =>
  Effect.gen(function*() {
    const { requests, run } = chatWith(() => jsonResponse(message([{ type: "text", text: "ok" }])), request, options)
    yield* run
    return requests[0]!.body
  })

const assertNoKey = (error: Error) => {
  assert.notInclude(error.message, KEY)
  assert.notInclude(JSON.stringify(error), KEY)
}

// ---------------------------------------------------------------------------
// Canned wire bodies

const message = (
  content: ReadonlyArray<Record<string, unknown>>,
  extra: Record<string, unknown> = {}
): Record<string, unknown> => ({
  id: "msg_01",
  type: "message",
  role: "assistant",
  model: "claude-test-20250101",
  content,
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 10, cache_creation_input_tokens: 3, cache_read_input_tokens: 5, output_tokens: 7 },
  ...extra
})

const event = (name: string, data: unknown) =>
  `event: ${name}\ndata: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`

const start = (usage: Record<string, unknown> = { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 }) =>
  event("message_start", {
    type: "message_start",
    message: {
      id: "msg_01",
      type: "message",
      role: "assistant",
      model: "claude-test-20250101",
      content: [],
      stop_reason: null,
      usage
    }
  })

const blockStart = (index: number, block: Record<string, unknown>) =>
  event("content_block_start", { type: "content_block_start", index, content_block: block })
const blockDelta = (index: number, delta: Record<string, unknown>) =>
  event("content_block_delta", { type: "content_block_delta", index, delta })
const blockStop = (index: number) => event("content_block_stop", { type: "content_block_stop", index })
const messageDelta = (stopReason: string, usage: Record<string, unknown>) =>
  event("message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage })
const stop = event("message_stop", { type: "message_stop" })
const ping = event("ping", { type: "ping" })

/**
 * A stream with thinking, a redacted block, text, and two tool calls (one without input), pings and an unknown event.
 */
const fullStream = [
  start(),
  ping,
  blockStart(0, { type: "thinking", thinking: "", signature: "" }),
  blockDelta(0, { type: "thinking_delta", thinking: "Let me " }),
  blockDelta(0, { type: "thinking_delta", thinking: "think." }),
  blockDelta(0, { type: "signature_delta", signature: "sig-abc" }),
  blockStop(0),
  blockStart(1, { type: "redacted_thinking", data: "opaque" }),
  blockStop(1),
  blockStart(2, { type: "text", text: "" }),
  blockDelta(2, { type: "text_delta", text: "Héllo " }),
  ping,
  blockDelta(2, { type: "text_delta", text: "wörld" }),
  blockDelta(2, { type: "citations_delta", citation: { cited_text: "x" } }),
  blockStop(2),
  blockStart(3, { type: "tool_use", id: "toolu_a", name: "get_weather", input: {} }),
  blockDelta(3, { type: "input_json_delta", partial_json: "" }),
  blockDelta(3, { type: "input_json_delta", partial_json: "{\"city\": \"Pa" }),
  blockDelta(3, { type: "input_json_delta", partial_json: "ris\"}" }),
  blockStop(3),
  event("future_event", { type: "future_event", anything: 1 }),
  blockStart(4, { type: "tool_use", id: "toolu_b", name: "now", input: {} }),
  blockStop(4),
  messageDelta("tool_use", { output_tokens: 42, output_tokens_details: { thinking_tokens: 9 } }),
  stop
].join("")

const fullMessage = message([
  { type: "thinking", thinking: "Let me think.", signature: "sig-abc" },
  { type: "redacted_thinking", data: "opaque" },
  { type: "text", text: "Héllo wörld" },
  { type: "tool_use", id: "toolu_a", name: "get_weather", input: { city: "Paris" } },
  { type: "tool_use", id: "toolu_b", name: "now", input: {} }
], {
  stop_reason: "tool_use",
  usage: {
    input_tokens: 10,
    cache_read_input_tokens: 5,
    output_tokens: 42,
    output_tokens_details: { thinking_tokens: 9 }
  }
})

/** The usage the thinking reply reports, whole or streamed. */
const expectedUsage = {
  promptTokens: 15,
  completionTokens: 42,
  totalTokens: 57,
  cachedPromptTokens: 5,
  reasoningTokens: 9,
  estimated: false
}

const expectedThinking = {
  anthropic: {
    thinking: [
      { type: "thinking", thinking: "Let me think.", signature: "sig-abc" },
      { type: "redacted_thinking", data: "opaque" }
    ]
  }
}

describe("Anthropic request mapping", () => {
  it.effect("sends x-api-key, the pinned anthropic-version, beta features, to /v1/messages", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => jsonResponse(message([{ type: "text", text: "ok" }])), hello, {
        beta: ["a-2025-01-01", "b-2025-02-02"],
        headers: { "x-extra": "1" }
      })
      yield* run
      const request = requests[0]!
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url, "https://api.test/v1/messages")
      assert.strictEqual(request.headers["x-api-key"], KEY)
      assert.notProperty(request.headers, "authorization")
      assert.strictEqual(request.headers["anthropic-version"], "2023-06-01")
      assert.strictEqual(request.headers["anthropic-beta"], "a-2025-01-01,b-2025-02-02")
      assert.strictEqual(request.headers["x-extra"], "1")
      assert.strictEqual(request.headers["content-type"], "application/json")
      assert.deepStrictEqual(request.body, {
        model: "claude-test",
        max_tokens: 4096,
        messages: [{ role: "user", content: "Hello" }]
      })
    }))

  it.effect("maps system, images, tool calls and results, tools, tool choice, stop and sampling (one of its two)", () =>
    Effect.gen(function*() {
      const call = { id: "toolu_1", name: "look", arguments: "{\"at\":\"sky\"}" }
      const bare = { id: "toolu_2", name: "now", arguments: "" }
      const body = yield* bodyOf({
        messages: [
          Message.system("Be brief."),
          Message.user([
            Message.text("What is this?"),
            Message.image("data:image/png;base64,AAAA"),
            Message.image("https://x/y.jpg")
          ]),
          Message.assistant("Looking.", { toolCalls: [call, bare] }),
          Message.toolResult(call, { sky: "blue" }),
          Message.toolResult(bare, "noon"),
          Message.user("Thanks, and?"),
          Message.system("Answer in French."),
          Message.assistant("Bien.")
        ],
        tools: [{ name: "look", description: "Look", parameters: { type: "object", properties: {} }, strict: true }],
        toolChoice: "required",
        temperature: 0.5,
        topP: 0.9,
        maxTokens: 300,
        stop: ["END"],
        user: "user-1",
        providerOptions: { top_k: 5, max_tokens: 301 }
      })
      assert.deepStrictEqual(body, {
        model: "claude-test",
        max_tokens: 301,
        system: [{ type: "text", text: "Be brief." }, { type: "text", text: "Answer in French." }],
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
              { type: "image", source: { type: "url", url: "https://x/y.jpg" } }
            ]
          },
          {
            role: "assistant",
            content: [
              { type: "text", text: "Looking." },
              { type: "tool_use", id: "toolu_1", name: "look", input: { at: "sky" } },
              { type: "tool_use", id: "toolu_2", name: "now", input: {} }
            ]
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: "{\"sky\":\"blue\"}" },
              { type: "tool_result", tool_use_id: "toolu_2", content: "noon" },
              { type: "text", text: "Thanks, and?" }
            ]
          },
          { role: "assistant", content: "Bien." }
        ],
        // The temperature alone: the newer Claude models refuse a top_p beside it.
        temperature: 0.5,
        stop_sequences: ["END"],
        tools: [{ name: "look", description: "Look", input_schema: { type: "object", properties: {} }, strict: true }],
        tool_choice: { type: "any" },
        metadata: { user_id: "user-1" },
        top_k: 5
      })
    }))

  it.effect("a base URL given with /v1 (or a trailing slash) still posts to /v1/messages", () =>
    Effect.gen(function*() {
      for (const baseUrl of ["https://api.test/v1", "https://api.test/v1/", "https://api.test/"]) {
        const { requests, run } = chatWith(() => jsonResponse(message([{ type: "text", text: "ok" }])), hello, {
          baseUrl
        })
        yield* run
        assert.strictEqual(requests[0]!.url, "https://api.test/v1/messages")
      }
    }))

  it.effect("tool choice: auto, none, a named tool", () =>
    Effect.gen(function*() {
      const tools = [{ name: "look", parameters: { type: "object" } }]
      for (
        const [choice, wire] of [
          ["auto", { type: "auto" }],
          ["none", { type: "none" }],
          [{ tool: "look" }, { type: "tool", name: "look" }]
        ] as const
      ) {
        const body = yield* bodyOf({ ...hello, tools, toolChoice: choice })
        assert.deepStrictEqual(body["tool_choice"], wire)
      }
      // No tools, no tool_choice.
      assert.notProperty(yield* bodyOf({ ...hello, toolChoice: "none" }), "tool_choice")
    }))

  it.effect("reasoning effort: a thinking budget, max_tokens above it, none sends nothing", () =>
    Effect.gen(function*() {
      const low = yield* bodyOf({ ...hello, reasoningEffort: "low" })
      assert.deepStrictEqual(low["thinking"], { type: "enabled", budget_tokens: 2048 })
      assert.strictEqual(low["max_tokens"], 2048 + 4096)
      const capped = yield* bodyOf({ ...hello, reasoningEffort: "high", maxTokens: 5000 })
      assert.deepStrictEqual(capped["thinking"], { type: "enabled", budget_tokens: 4999 })
      assert.strictEqual(capped["max_tokens"], 5000)
      const none = yield* bodyOf({ ...hello, reasoningEffort: "none" })
      assert.notProperty(none, "thinking")
      assert.strictEqual(none["max_tokens"], 4096)
      const custom = yield* bodyOf({ ...hello, reasoningEffort: "max" }, { maxTokens: 1000 })
      assert.strictEqual(custom["max_tokens"], 63999 + 1000)
    }))

  describe("a json_schema response format: a forced tool", () => {
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    const structured: ChatRequest.Input = {
      ...hello,
      responseFormat: { type: "json_schema", name: "city_answer", description: "The city", schema }
    }

    it.effect(
      "is sent as a tool with the schema as input_schema and tool_choice naming it; json_object is not " +
        "sent",
      () =>
        Effect.gen(function*() {
          const body = yield* bodyOf(structured)
          assert.deepStrictEqual(body["tools"], [{
            name: "city_answer",
            description: "The city",
            input_schema: schema
          }])
          assert.deepStrictEqual(body["tool_choice"], { type: "tool", name: "city_answer" })
          assert.notProperty(body, "output_config")
          const plain = yield* bodyOf({ ...hello, responseFormat: { type: "json_object" } })
          assert.notProperty(plain, "tools")
          assert.notProperty(plain, "tool_choice")
        })
    )

    it.effect("cannot be combined with tools or thinking: InvalidRequestError, no HTTP", () =>
      Effect.gen(function*() {
        const tool = { name: "look", parameters: { type: "object" } }
        const withTools = chatWith(() => jsonResponse(message([])), { ...structured, tools: [tool] })
        const toolsError = yield* Effect.flip(withTools.run)
        assert.strictEqual(toolsError._tag, "InvalidRequestError")
        assert.include(toolsError.message, "forced tool")
        const withThinking = chatWith(() => jsonResponse(message([])), { ...structured, reasoningEffort: "low" })
        const thinkingError = yield* Effect.flip(withThinking.run)
        assert.deepInclude(thinkingError, { _tag: "InvalidRequestError", param: "reasoningEffort" })
        assert.lengthOf(withTools.requests, 0)
        assert.lengthOf(withThinking.requests, 0)
      }))

    it.effect("the forced tool's input is the reply's text, the finish reason stop, and no tool call", () =>
      Effect.gen(function*() {
        const reply = message(
          [{ type: "tool_use", id: "toolu_x", name: "city_answer", input: { city: "Paris" } }],
          { stop_reason: "tool_use" }
        )
        const response = yield* chatWith(() => jsonResponse(reply), structured).run
        assert.strictEqual(response.text, `{"city":"Paris"}`)
        assert.strictEqual(response.finishReason, "stop")
        assert.deepStrictEqual(response.toolCalls, [])
        // Without the format, the same reply is a tool call.
        const plain = yield* chatWith(() => jsonResponse(reply)).run
        assert.strictEqual(plain.finishReason, "tool_calls")
        assert.lengthOf(plain.toolCalls, 1)
      }))

    it.effect("streamed, its input_json_delta pieces are TextDeltas and collect to the whole reply", () =>
      Effect.gen(function*() {
        const pieces = [
          start(),
          blockStart(0, { type: "tool_use", id: "toolu_x", name: "city_answer", input: {} }),
          blockDelta(0, { type: "input_json_delta", partial_json: "" }),
          blockDelta(0, { type: "input_json_delta", partial_json: `{"city": "Pa` }),
          blockDelta(0, { type: "input_json_delta", partial_json: `ris"}` }),
          blockStop(0),
          messageDelta("tool_use", { output_tokens: 9 }),
          stop
        ]
        const chunks = yield* Stream.runCollect(streamWith(pieces, structured).stream)
        assert.deepStrictEqual(chunks.filter((chunk) => chunk._tag === "TextDelta"), [
          { _tag: "TextDelta", text: `{"city": "Pa` },
          { _tag: "TextDelta", text: `ris"}` }
        ])
        assert.isFalse(chunks.some((chunk) => chunk._tag === "ToolCallDelta"))
        const collected = yield* ChatChunk.collect(streamWith(pieces, structured).stream)
        assert.deepInclude(collected, { text: `{"city": "Paris"}`, finishReason: "stop", toolCalls: [] })
        // A forced tool called with no input streams no JSON: its text is `{}`.
        const empty = yield* ChatChunk.collect(
          streamWith([
            start(),
            blockStart(0, { type: "tool_use", id: "toolu_x", name: "city_answer", input: {} }),
            blockStop(0),
            messageDelta("tool_use", { output_tokens: 2 }),
            stop
          ], structured).stream
        )
        assert.strictEqual(empty.text, "{}")
      }))
  })

  describe("a json_schema response format to a model that takes structured outputs", () => {
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
    const tool = { name: "look", parameters: { type: "object" } }
    const structured: ChatRequest.Input = {
      ...hello,
      tools: [tool],
      reasoningEffort: "low",
      responseFormat: { type: "json_schema", name: "city_answer", schema }
    }

    it.effect("is output_config.format beside the request's tools and thinking; its text reply is the answer", () =>
      Effect.gen(function*() {
        const body = yield* bodyOf(structured, { model: "claude-sonnet-4-5-20250929" })
        assert.deepStrictEqual(body["output_config"], { format: { type: "json_schema", schema } })
        assert.deepStrictEqual((body["tools"] as Array<{ name: string }>).map((sent) => sent.name), ["look"])
        assert.property(body, "thinking")
        const reply = message([{ type: "text", text: `{"city":"Paris"}` }])
        const response = yield* chatWith(() => jsonResponse(reply), structured, { model: "claude-opus-4-1" }).run
        assert.deepInclude(response, { text: `{"city":"Paris"}`, finishReason: "stop" })
      }))

    it("is taken by Claude Opus 4.1 and the 4.5 models and later, by their names on any platform", () => {
      const takes = [
        "claude-opus-4-1",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5@20250929",
        "claude-haiku-4-5",
        "claude-opus-4-6",
        "claude-sonnet-5-1",
        "claude-opus-10"
      ]
      const refuses = [
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-sonnet-4-1",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-latest",
        "claude-test",
        "gpt-4o-mini"
      ]
      holdsFor(takesOutputFormat, takes, refuses)
    })
  })

  it.effect("signed thinking blocks from providerMetadata go first in their assistant turn, unchanged", () =>
    Effect.gen(function*() {
      const call = { id: "toolu_1", name: "look", arguments: "{}" }
      const assistant = Message.fromResponse({
        text: "",
        toolCalls: [call],
        reasoning: "hmm",
        providerMetadata: expectedThinking
      })
      const body = yield* bodyOf({ messages: [Message.user("hi"), assistant, Message.toolResult(call, "ok")] })
      const messages = body["messages"] as Array<{ content: unknown }>
      assert.deepStrictEqual(messages[1]!.content, [
        ...expectedThinking.anthropic.thinking,
        { type: "tool_use", id: "toolu_1", name: "look", input: {} }
      ])
    }))

  it.effect("thinking stays off while the last assistant turn's tool calls came without signed thinking", () =>
    Effect.gen(function*() {
      const call = { id: "toolu_1", name: "look", arguments: "{}" }
      const signed = Message.fromResponse({ text: "", toolCalls: [call], providerMetadata: expectedThinking })
      const unsigned = Message.assistant("", { toolCalls: [call] })
      const turn = (assistant: Message.Message) => ({
        messages: [Message.user("hi"), assistant, Message.toolResult(call, "ok")],
        reasoningEffort: "low" as const
      })
      assert.deepStrictEqual((yield* bodyOf(turn(signed)))["thinking"], { type: "enabled", budget_tokens: 2048 })
      assert.isUndefined((yield* bodyOf(turn(unsigned)))["thinking"])
      // Once the loop has ended in text, thinking is on again.
      const next = yield* bodyOf({
        messages: [...turn(unsigned).messages, Message.assistant("Done."), Message.user("And now?")],
        reasoningEffort: "low"
      })
      assert.deepStrictEqual(next["thinking"], { type: "enabled", budget_tokens: 2048 })
    }))

  it.effect("tool call arguments that are not a JSON object -> InvalidRequestError naming the call, nothing sent", () =>
    Effect.gen(function*() {
      for (const args of ["{oops", "[1,2]"]) {
        const call = { id: "toolu_x", name: "look", arguments: args }
        const { requests, run } = chatWith(() => jsonResponse({}), {
          messages: [Message.user("hi"), Message.assistant("", { toolCalls: [call] }), Message.toolResult(call, "r")]
        })
        const error = yield* Effect.flip(run)
        assert(error._tag === "InvalidRequestError")
        assert.include(error.detail, "toolu_x")
        assert.include(error.detail, "look")
        assert.strictEqual(error.param, "messages[1].toolCalls")
        assert.strictEqual(requests.length, 0)
      }
    }))

  it.effect("a request with no model and no default model fails before sending", () =>
    Effect.gen(function*() {
      const fake = setup(() => jsonResponse({}), { model: undefined })
      yield* failsWithoutAModel(yield* fake.service, fake, hello, credentials)
    }))

  it.effect("HTTP spans carry no key: x-api-key is a redacted header name", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const { run } = chatWith(() => jsonResponse(message([{ type: "text", text: "ok" }])), hello, {
        headers: { "x-proxy-key": Redacted.make("proxy-secret") }
      })
      yield* run.pipe(
        Effect.withTracer(tracer),
        // Header attributes are opt-in in Effect 4: record them all, so redaction is what keeps the key out.
        Effect.provideService(HttpClient.TracerHeaderFilter, () => true)
      )
      const values = attributeText(spans)
      assert.include(values, "x-api-key")
      const span = spans.find(({ attributes }) => attributes.has("http.request.header.x-api-key"))
      assert.strictEqual(String(span?.attributes.get("http.request.header.x-api-key")), "<redacted>")
      assert.strictEqual(String(span?.attributes.get("http.request.header.x-proxy-key")), "<redacted>")
      assert.notInclude(values, KEY)
      assert.notInclude(values, "proxy-secret")
    }))
})

describe("Anthropic whole replies", () => {
  it.effect("text, thinking, signed blocks, tool calls, stop reason and usage with cache tokens", () =>
    Effect.gen(function*() {
      const { run } = chatWith(() => jsonResponse(fullMessage))
      const response = yield* run
      assert.strictEqual(response.id, "msg_01")
      assert.strictEqual(response.model, "claude-test-20250101")
      assert.strictEqual(response.provider, "anthropic")
      assert.strictEqual(response.text, "Héllo wörld")
      assert.strictEqual(response.reasoning, "Let me think.")
      assert.deepStrictEqual(response.toolCalls.map((c) => ({ ...c })), [
        { id: "toolu_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "toolu_b", name: "now", arguments: "{}" }
      ])
      assert.strictEqual(response.finishReason, "tool_calls")
      assert.deepStrictEqual({ ...response.usage }, expectedUsage)
      assert.deepStrictEqual(response.providerMetadata, expectedThinking)
      assert.strictEqual(response.keyId, credentials.keyId)
    }))

  it.effect("usage counts cache writes and reads in the prompt", () =>
    Effect.gen(function*() {
      const response = yield* chatWith(() => jsonResponse(message([{ type: "text", text: "ok" }]))).run
      assert.strictEqual(response.usage.promptTokens, 18)
      assert.strictEqual(response.usage.cachedPromptTokens, 5)
      assert.strictEqual(response.usage.completionTokens, 7)
      assert.isUndefined(response.providerMetadata)
    }))

  it.effect.each(
    [
      ["end_turn", "stop"],
      ["stop_sequence", "stop"],
      ["max_tokens", "length"],
      ["model_context_window_exceeded", "length"],
      ["tool_use", "tool_calls"],
      ["refusal", "content_filter"],
      ["pause_turn", "other"],
      ["something_new", "other"]
    ] as const
  )("stop_reason %s -> %s", ([reason, expected]) =>
    Effect.gen(function*() {
      const response = yield* chatWith(() => jsonResponse(message([], { stop_reason: reason }))).run
      assert.strictEqual(response.finishReason, expected)
    }))

  it.effect("a body that is not a message -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(chatWith(() => jsonResponse({ id: "msg_1", content: "nope" })).run)
      assert(error._tag === "OutputDecodeError")
      assert.include(error.detail, "content")
    }))
})

describe("Anthropic errors", () => {
  it.effect("529 overloaded_error -> ProviderUnavailableError with the request-id header", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        chatWith(() =>
          jsonResponse({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, {
            status: 529,
            headers: { "request-id": "req_011" }
          })
        ).run
      )
      assert(error._tag === "ProviderUnavailableError")
      assert.strictEqual(error.status, 529)
      assert.strictEqual(error.requestId, "req_011")
      assert.strictEqual(error.detail, "Overloaded")
    }))

  it.effect("429 with anthropic-ratelimit-* reset timestamps -> RateLimitError with retryAfter", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        chatWith(() =>
          jsonResponse({ type: "error", error: { type: "rate_limit_error", message: "Slow down" } }, {
            status: 429,
            headers: {
              "anthropic-ratelimit-requests-remaining": "0",
              "anthropic-ratelimit-requests-reset": new Date(30_000).toISOString()
            }
          })
        ).run
      )
      assert(error._tag === "RateLimitError")
      // TestClock starts at 0, so the reset is 30 s away.
      assert.deepStrictEqual(error.retryAfter, Duration.seconds(30))
    }))

  it.effect.each(
    [
      [401, "authentication_error", "AuthError"],
      [402, "billing_error", "AuthError"],
      [403, "permission_error", "AuthError"],
      [404, "not_found_error", "ModelNotFoundError"],
      [400, "invalid_request_error", "InvalidRequestError"],
      [500, "api_error", "ProviderUnavailableError"],
      [504, "timeout_error", "ProviderUnavailableError"]
    ] as const
  )("%i %s -> %s", ([status, type, tag]) =>
    Effect.gen(function*() {
      const messageText = status === 404 ? "model: claude-nope" : "nope"
      const error = yield* Effect.flip(
        chatWith(() => jsonResponse({ type: "error", error: { type, message: messageText } }, { status })).run
      )
      assert.strictEqual(error._tag, tag)
      assertNoKey(error)
    }))

  it.effect("a prompt too long -> ContextLengthError; a non-JSON 413 from the edge -> ContextLengthError", () =>
    Effect.gen(function*() {
      const long = yield* Effect.flip(
        chatWith(() =>
          jsonResponse({
            type: "error",
            error: { type: "invalid_request_error", message: "prompt is too long: 210000 tokens > 200000 maximum" }
          }, { status: 400 })
        ).run
      )
      assert(long._tag === "ContextLengthError")
      assert.strictEqual(long.contextWindow, 200000)
      const edge = yield* Effect.flip(
        chatWith(() =>
          new Response(
            "<html><head><title>413 Request Entity Too " +
              "Large</title></head><body><center>cloudflare</center></body></html>",
            { status: 413, headers: { "content-type": "text/html" } }
          )
        ).run
      )
      assert.strictEqual(edge._tag, "ContextLengthError")
    }))

  it.effect("an error object with status 200 is still an error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        chatWith(() => jsonResponse({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })).run
      )
      assert.strictEqual(error._tag, "ProviderUnavailableError")
    }))
})

describe("Anthropic streams", () => {
  it.effect(
    "every event: reasoning, text, dense tool indexes, usage from message_start and message_delta, signed " +
      "blocks on Finish",
    () =>
      Effect.gen(function*() {
        const chunks = yield* Stream.runCollect(streamWith([fullStream]).stream)
        const withoutLatency = chunks.map((c) => (c._tag === "Finish" ? { ...c, latency: undefined } : c))
        assert.deepStrictEqual(withoutLatency, [
          { _tag: "ReasoningDelta", text: "Let me " },
          { _tag: "ReasoningDelta", text: "think." },
          { _tag: "TextDelta", text: "Héllo " },
          { _tag: "TextDelta", text: "wörld" },
          { _tag: "ToolCallDelta", index: 0, id: "toolu_a", name: "get_weather", arguments: "" },
          { _tag: "ToolCallDelta", index: 0, arguments: "{\"city\": \"Pa" },
          { _tag: "ToolCallDelta", index: 0, arguments: "ris\"}" },
          { _tag: "ToolCallDelta", index: 1, id: "toolu_b", name: "now", arguments: "" },
          { _tag: "ToolCallDelta", index: 1, arguments: "{}" },
          {
            _tag: "Usage",
            usage: expectedUsage
          },
          {
            _tag: "Finish",
            finishReason: "tool_calls",
            id: "msg_01",
            model: "claude-test-20250101",
            provider: "anthropic",
            latency: undefined,
            keyId: credentials.keyId,
            providerMetadata: expectedThinking
          }
        ])
      })
  )

  it.effect("the stream and the whole reply collect to the same response", () =>
    Effect.gen(function*() {
      const streamed = yield* ChatChunk.collect(streamWith([fullStream]).stream)
      const whole = yield* chatWith(() => jsonResponse(fullMessage)).run
      const strip = (r: typeof whole) => ({
        ...r,
        latency: undefined,
        toolCalls: r.toolCalls.map((c) => ({ ...c, arguments: JSON.parse(c.arguments) }))
      })
      assert.deepStrictEqual(strip(streamed), strip(whole))
    }))

  it.effect("sends stream: true", () =>
    Effect.gen(function*() {
      const { requests, stream } = streamWith([start(), messageDelta("end_turn", { output_tokens: 1 }), stop])
      yield* Stream.runDrain(stream)
      assert.strictEqual(requests[0]!.body["stream"], true)
    }))

  it.effect.prop(
    "any chunking of the bytes gives the same chunks",
    [Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 2000 }))), {
      maxLength: 12
    })],
    ([cuts]) =>
      Effect.gen(function*() {
        const bytes = new TextEncoder().encode(fullStream)
        const pieces = splitAt(bytes, cuts)
        const whole = yield* ChatChunk.collect(streamWith([fullStream]).stream)
        const split = yield* ChatChunk.collect(streamWith(pieces).stream)
        assert.deepStrictEqual({ ...split, latency: undefined }, { ...whole, latency: undefined })
      })
  )

  it.effect("an error event -> the typed error via fromHttpFailure, after the chunks before it", () =>
    Effect.gen(function*() {
      const chunks: Array<ChatChunk.ChatChunk> = []
      const exit = yield* Stream.runForEach(
        streamWith([
          start(),
          blockStart(0, { type: "text", text: "" }),
          blockDelta(0, { type: "text_delta", text: "Hi" }),
          event("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
        ]).stream,
        (c) => Effect.sync(() => chunks.push(c))
      ).pipe(Effect.result)
      assert(Result.isFailure(exit))
      assert(exit.failure._tag === "ProviderUnavailableError")
      assert.strictEqual(exit.failure.detail, "Overloaded")
      assert.strictEqual(exit.failure.requestId, "req_stream")
      assert.deepStrictEqual(chunks, [{ _tag: "TextDelta", text: "Hi" }])
      const limited = yield* Effect.flip(Stream.runDrain(
        streamWith([
          start(),
          event("error", { type: "error", error: { type: "rate_limit_error", message: "Slow down" } })
        ]).stream
      ))
      assert.strictEqual(limited._tag, "RateLimitError")
    }))

  it.effect("a stream that ends without message_stop -> StreamTruncatedError, even after message_delta", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Stream.runDrain(
        streamWith([
          start(),
          blockStart(0, { type: "text", text: "" }),
          blockDelta(0, { type: "text_delta", text: "Hi" }),
          blockStop(0),
          messageDelta("end_turn", { output_tokens: 3 })
        ]).stream
      ))
      assert(error._tag === "StreamTruncatedError")
      assert.strictEqual(error.provider, "anthropic")
      assert.strictEqual(error.model, "claude-test-20250101")
      assert.strictEqual(error.requestId, "req_stream")
    }))

  it.effect("events without an event: line are read by their type; anything after message_stop is ignored", () =>
    Effect.gen(function*() {
      const bare = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`
      const response = yield* ChatChunk.collect(
        streamWith([
          start(),
          bare({ type: "content_block_start", index: 0, content_block: { type: "text", text: "Hi" } }),
          bare({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "!" } }),
          messageDelta("max_tokens", { output_tokens: 2 }),
          stop,
          "event: content_block_delta\ndata: {garbage\n\n"
        ]).stream
      )
      assert.strictEqual(response.text, "Hi!")
      assert.strictEqual(response.finishReason, "length")
      assert.strictEqual(response.usage.completionTokens, 2)
      assert.strictEqual(response.usage.promptTokens, 15)
    }))

  it.effect("server tool blocks and their input deltas are not tool calls", () =>
    Effect.gen(function*() {
      const response = yield* ChatChunk.collect(
        streamWith([
          start(),
          blockStart(0, { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} }),
          blockDelta(0, { type: "input_json_delta", partial_json: "{\"query\":\"x\"}" }),
          blockStop(0),
          blockStart(1, { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: [] }),
          blockStop(1),
          blockStart(2, { type: "text", text: "" }),
          blockDelta(2, { type: "text_delta", text: "Found it." }),
          blockStop(2),
          messageDelta("end_turn", { output_tokens: 5 }),
          stop
        ]).stream
      )
      assert.strictEqual(response.text, "Found it.")
      assert.deepStrictEqual(response.toolCalls, [])
      assert.strictEqual(response.finishReason, "stop")
    }))

  it.effect(
    "a malformed event is skipped and counted (truncated without its terminal event); an orphan delta -> " +
      "OutputDecodeError",
    () =>
      Effect.gen(function*() {
        const [error, warnings] = yield* withWarnings(
          Effect.flip(Stream.runDrain(streamWith([start(), "event: content_block_delta\ndata: {not json\n\n"]).stream))
        )
        assert.strictEqual(error._tag, "StreamTruncatedError")
        assert.deepStrictEqual(skippedCounts(warnings), [1])
        assert.include(warnings[0]!.message, "{not json")
        const orphan = yield* Effect.flip(Stream.runDrain(
          streamWith([
            start(),
            blockDelta(3, { type: "input_json_delta", partial_json: "{" })
          ]).stream
        ))
        assert.strictEqual(orphan._tag, "OutputDecodeError")
      })
  )

  it.effect("a JSON body answering a stream request is replayed as chunks", () =>
    Effect.gen(function*() {
      const { service } = setup(() => jsonResponse(fullMessage))
      const response = yield* ChatChunk.collect(
        Stream.unwrap(Effect.map(service, (c) => c.chatStream(hello, credentials)))
      )
      assert.strictEqual(response.text, "Héllo wörld")
      assert.deepStrictEqual(response.providerMetadata, expectedThinking)
      const { service: failing } = setup(() =>
        jsonResponse({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.unwrap(Effect.map(failing, (c) => c.chatStream(hello, credentials))))
      )
      assert.strictEqual(error._tag, "ProviderUnavailableError")
    }))

  it.effect("an HTTP error before the stream -> the typed error", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        jsonResponse({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } }, {
          status: 401
        })
      )
      const error = yield* Effect.flip(
        Stream.runDrain(Stream.unwrap(Effect.map(service, (c) => c.chatStream(hello, credentials))))
      )
      assert(error._tag === "AuthError")
      assert.strictEqual(error.reason, "invalid_key")
      assertNoKey(error)
    }))
})

describe("Anthropic options", () => {
  it.effect("maxTokens must be a positive integer and maxEventSize positive: OptionsError from the layer", () =>
    Effect.gen(function*() {
      const tokens = yield* buildError(Anthropic.layer({ maxTokens: 1.5 }))
      expectOptionsError(tokens, {
        module: "Anthropic",
        option: "maxTokens",
        value: "1.5",
        message: "Anthropic: maxTokens must be a positive integer, got 1.5"
      })
      const size = yield* buildError(Anthropic.layer({ maxEventSize: -3 }))
      expectOptionsError(size, { option: "maxEventSize", value: "-3" })
    }))
})

describe("Anthropic's 1M-token context window", () => {
  it.effect("longContext sends the context-1m beta after the deployment's own; without it, none is added", () =>
    Effect.gen(function*() {
      const reply = () => jsonResponse(message([{ type: "text", text: "ok" }]))
      const asked = chatWith(reply, { ...hello, longContext: true }, { beta: ["a-2025-01-01"] })
      yield* asked.run
      assert.strictEqual(asked.requests[0]!.headers["anthropic-beta"], "a-2025-01-01,context-1m-2025-08-07")
      const plain = chatWith(reply, hello, {})
      yield* plain.run
      assert.notProperty(plain.requests[0]!.headers, "anthropic-beta")
    }))

  it("needs the beta for Claude Sonnet 4 and 4.5 only, by their names on any platform", () => {
    const needs = [
      "claude-sonnet-4-5",
      "claude-sonnet-4-5-20250929",
      "claude-sonnet-4-5@20250929",
      "claude-sonnet-4-20250514",
      "claude-sonnet-4-0",
      "anthropic.claude-sonnet-4-5-20250929-v1:0",
      "us.anthropic.claude-sonnet-4-20250514-v1:0"
    ]
    const others = [
      "claude-sonnet-4-6",
      "claude-sonnet-4-1",
      "claude-opus-4-6",
      "claude-opus-4-20250514",
      "claude-haiku-4-5",
      "claude-sonnet-5",
      "claude-3-7-sonnet-20250219",
      "gpt-4.1"
    ]
    holdsFor(needsLongContextBeta, needs, others)
  })
})
