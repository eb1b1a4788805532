import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type OpenAI from "openai"
import type { ResponseCreateParamsBase } from "openai/resources/responses/responses"
import * as ChatChunk from "../../src/ChatChunk.js"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import type { ChatResponse, FinishReason } from "../../src/ChatResponse.js"
import * as Hosted from "../../src/internal/gateway/responses/hosted.js"
import type { JsonObject } from "../../src/internal/json.js"
import { unpaired } from "../../src/internal/simulator/toolPairs.js"
import { summaryEnvelope } from "../../src/internal/wire/carried.js"
import * as Codec from "../../src/internal/wire/openAiResponses/codec.js"
import * as Compaction from "../../src/internal/wire/openAiResponses/compaction.js"
import { nameOf, none } from "../../src/internal/wire/openAiResponses/namespace.js"
import * as Render from "../../src/internal/wire/openAiResponses/writer.js"
import { streamEncoder } from "../../src/internal/wire/openAiResponses/writer.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import { format } from "../../src/simulator/OpenAiResponses.js"
import type * as Reply from "../../src/simulator/Reply.js"
import { adapterHarness } from "../utils/adapterHarness.js"
import { effectProp } from "../utils/effectProp.js"
import { streamResponse } from "../utils/fakeHttpClient.js"
import { read } from "../utils/results.js"
import type { Written } from "../utils/sdkTypes.js"
import { toolFieldsSent } from "../utils/toolFields.js"

const word = fc.string({ maxLength: 6 })
const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)

// ---------------------------------------------------------------------------
// The request both ways

// The parts the encoder writes as they decode: an image's detail is always sent (`auto` when unset).
const part: fc.Arbitrary<ContentPart> = fc.oneof(
  word.map((text): ContentPart => ({ type: "text", text })),
  fc.record({ url: fc.webUrl(), detail: fc.constantFrom("auto" as const, "low" as const, "high" as const) })
    .map((image): ContentPart => ({ type: "image", ...image }))
)

const toolCall: fc.Arbitrary<ToolCall> = fc.record({ id: name, name, arguments: fc.json({ maxDepth: 1 }) })

// The messages as the decoder gives them back: a user's content as parts (a string goes out as one `input_text`),
// an assistant's turn with text or calls, a tool result by its call's id.
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.array(part, { maxLength: 3 }).map((content): Message => ({ role: "user", content })),
  fc.string({ minLength: 1, maxLength: 6 }).map((content): Message => ({ role: "assistant", content })),
  fc.record({ content: word, toolCalls: fc.array(toolCall, { minLength: 1, maxLength: 2 }) })
    .map((fields): Message => ({ role: "assistant", ...fields })),
  // A tool result's output: text, or parts (text and images, as `function_call_output` takes them).
  fc.record({ toolCallId: name, content: fc.oneof(word, fc.array(part, { maxLength: 3 })) })
    .map((fields): Message => ({ role: "tool", ...fields }))
)

// Two assistant messages in a row are one turn on the wire.
const conversation = fc.array(message, { minLength: 1, maxLength: 5 }).filter((messages) =>
  messages.every((one, i) => i === 0 || one.role !== "assistant" || messages[i - 1]!.role !== "assistant")
)

const tool: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: word,
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } } }),
  // Sent always: the API's default (true) is not the library's (false).
  strict: fc.boolean()
}, { requiredKeys: ["name", "parameters", "strict"] })

const request: fc.Arbitrary<ChatRequest> = fc.record({
  system: fc.option(word, { nil: undefined }),
  messages: conversation,
  temperature: fc.double({ min: 0, max: 2, noNaN: true }),
  topP: fc.double({ min: 0, max: 1, noNaN: true }),
  maxTokens: fc.integer({ min: 16, max: 100_000 }),
  // A name is one tool's (the decoder refuses two of one name).
  tools: fc.uniqueArray(tool, { minLength: 1, maxLength: 2, selector: (one) => one.name }),
  toolChoice: fc.oneof(
    fc.constantFrom("auto" as const, "none" as const, "required" as const),
    name.map((tool) => ({ tool }))
  ),
  parallelToolCalls: fc.boolean(),
  responseFormat: fc.oneof(
    fc.constantFrom({ type: "text" as const }, { type: "json_object" as const }),
    fc.record({
      type: fc.constant("json_schema" as const),
      name,
      description: word,
      schema: fc.constant({ type: "object" }),
      strict: fc.boolean()
    }, { requiredKeys: ["type", "name", "schema", "strict"] })
  ),
  reasoningEffort: fc.constantFrom("none", "minimal", "low", "medium", "high", "xhigh", "max"),
  user: word,
  promptCacheKey: word
}, { requiredKeys: ["messages"] }).map(({ system, ...rest }): ChatRequest =>
  // `instructions` comes first, whatever the place of the system message.
  system === undefined ? rest : { ...rest, messages: [{ role: "system", content: system }, ...rest.messages] }
)

// The engine's request of a body, which the test expects to fit (a refusal is thrown).
function decoded(json: unknown): ChatRequest {
  const body = Result.getOrThrow(Codec.checkBody(json))
  const messages = Result.getOrThrow(Codec.inputMessages(body))
  const flat = Result.getOrThrow(Codec.flatTools(body))
  return Result.getOrThrow(Codec.toRequest(body, messages, flat.tools))
}

describe("internal/wire/openAiResponses: the request both ways", () => {
  it("a request encoded for the wire decodes back to itself", () => {
    fc.assert(fc.property(request, fc.boolean(), fc.boolean(), (original, stream, store) => {
      const body = Codec.requestBody(original, { model: "gpt-test", stream, store })
      expect(body["model"]).toBe("gpt-test")
      expect(body["store"]).toBe(store)
      expect(body["stream"]).toBe(stream ? true : undefined)
      expect(decoded(JSON.parse(JSON.stringify(body)))).toEqual(toolFieldsSent(original))
    }))
  })

  it("a string input is one user message, and a bad role is named where it is", () => {
    expect(decoded({ model: "m", input: "Hi", instructions: "Be brief." })).toEqual({
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
    })
    const refused = Result.flip(Codec.checkBody({ model: "m", input: [{ role: "robot", content: "x" }] }))
    expect(Result.getOrThrow(refused).refusals[0].path).toEqual(["input", 0, "role"])
  })
})

describe("internal/wire/openAiResponses: the simulator reads what the client writes", () => {
  // A named tool choice names one of the tools, as OpenAI requires.
  const sent = request.map((original) =>
    original.toolChoice === undefined || typeof original.toolChoice === "string"
      ? original
      : original.tools === undefined
      ? { ...original, toolChoice: "auto" as const }
      : { ...original, toolChoice: { tool: original.tools[0]!.name } }
  )

  it("a body the client writes is one the simulator's request check takes, with its model, tools and limit", () => {
    fc.assert(fc.property(sent, fc.boolean(), fc.boolean(), (original, stream, store) => {
      const result = format.decode(Codec.requestBody(original, { model: "gpt-test", stream, store }))
      // A conversation whose tool calls and outputs do not pair is refused, as OpenAI refuses it.
      if (unpaired(original.messages) !== undefined && Result.isFailure(result)) {
        expect(result.failure).toMatchObject({
          _tag: "InvalidRequest",
          message: expect.stringMatching(/^No tool (output|call) found for function call/)
        })
        return
      }
      const decoded = read(result)
      expect(decoded.stream).toBe(stream)
      expect(decoded.keeps).toBe(store)
      expect(decoded.prompt.model).toBe("gpt-test")
      expect(decoded.prompt.maxTokens).toBe(original.maxTokens)
      expect(decoded.prompt.tools.map((tool) => tool.name)).toEqual((original.tools ?? []).map((tool) => tool.name))
    }))
  })
})

// ---------------------------------------------------------------------------
// The response object both ways

const count = fc.nat({ max: 100_000 })

// A reply as the wire can say it: tool calls finish as `tool_calls` unless the reply was cut.
const response = fc.record({
  model: name,
  text: word,
  reasoning: fc.option(word, { nil: undefined }),
  refusal: fc.option(word, { nil: undefined }),
  toolCalls: fc.array(toolCall, { maxLength: 2 }),
  cut: fc.constantFrom<FinishReason | undefined>(undefined, "length", "content_filter"),
  prompt: count,
  completion: count,
  cached: count,
  reasoningTokens: count
}).map((r): ChatResponse => ({
  id: "upstream",
  model: r.model,
  provider: "openai",
  text: r.text,
  ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
  ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
  toolCalls: r.toolCalls,
  finishReason: r.cut ?? (r.toolCalls.length > 0 ? "tool_calls" : "stop"),
  usage: {
    promptTokens: r.prompt,
    completionTokens: r.completion,
    totalTokens: r.prompt + r.completion,
    cachedPromptTokens: r.cached,
    reasoningTokens: r.reasoningTokens,
    estimated: false
  },
  latency: Duration.millis(5)
}))

const ids = Render.idsOf("0e8d3c2a-1b4f-4a5e-9c6d-7f8e9a0b1c2d", 1_700_000_000)

const isResponseObject = Schema.is(Codec.ResponseObject)
const isStreamEvent = Schema.is(Codec.StreamEvent)

describe("internal/wire/openAiResponses: the response object both ways", () => {
  it("a reply written as a response object fits its schema and reads back as itself", () => {
    fc.assert(fc.property(response, (original) => {
      const body: unknown = JSON.parse(Render.response(original, ids, none, {}, 1_700_000_001).body)
      expect(isResponseObject(body)).toBe(true)
      expect(Codec.reply(body as JsonObject, false)).toEqual({
        id: ids.response,
        model: original.model,
        text: original.text,
        reasoning: original.reasoning,
        refusal: original.refusal,
        toolCalls: original.toolCalls,
        finishReason: original.finishReason,
        usage: original.usage
      })
    }))
  })

  it("the simulator's response object fits its schema and reads back as the reply it rendered", () => {
    fc.assert(fc.property(simulated, (reply) => {
      const body: unknown = JSON.parse(format.renderReply(reply, meta, extra))
      expect(isResponseObject(body)).toBe(true)
      expect(Codec.reply(body as JsonObject, false)).toMatchObject({
        id: meta.id,
        text: reply.content.join(""),
        toolCalls: reply.toolCalls.map(({ arguments: args, id, name }) => ({ id, name, arguments: args })),
        finishReason: reply.finishReason
      })
    }))
  })

  it.effect.prop(
    "the client's reader reads any response object the schema takes as the schema says",
    [Arbitrary.schema(Codec.ResponseObject)],
    ([object]) =>
      Effect.sync(() => {
        const read = Codec.reply(object as unknown as JsonObject, false)
        let text = ""
        const calls: Array<ToolCall> = []
        // An item of another type may take any name but these (`OtherItem`): its type says which it is.
        for (const item of object.output as ReadonlyArray<Codec.OutputItem>) {
          if (item.type === "message") {
            for (const part of (item as Extract<Codec.OutputItem, { readonly role: "assistant" }>).content) {
              if (part.type === "output_text") text += part.text
            }
          } else if (item.type === "function_call") {
            const call = item as Extract<Codec.OutputItem, { readonly call_id: string }>
            // A namespace's function is read under its qualified name.
            calls.push({ id: call.call_id, name: nameOf(call.name, call.namespace), arguments: call.arguments })
          }
        }
        expect(read.id).toBe(object.id)
        // An empty name is none: the model asked for stands.
        expect(read.model).toBe(object.model === "" ? undefined : object.model)
        expect(read.text).toBe(text)
        expect(read.toolCalls).toEqual(calls)
        const reason = object.incomplete_details?.reason
        expect(read.finishReason).toBe(
          object.status === "incomplete"
            ? reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content_filter" : "other"
            : calls.length > 0
            ? "tool_calls"
            : "stop"
        )
        const usage = object.usage
        expect(read.usage === undefined).toBe(usage === null)
        if (usage !== null) {
          // `+ 0`: a count of -0 is read as 0.
          expect(read.usage).toEqual({
            promptTokens: usage.input_tokens + 0,
            completionTokens: usage.output_tokens + 0,
            totalTokens: usage.total_tokens + 0,
            cachedPromptTokens: usage.input_tokens_details.cached_tokens + 0,
            reasoningTokens: usage.output_tokens_details.reasoning_tokens + 0,
            estimated: false
          })
        }
      }),
    { arbitrary: { runs: 100 } }
  )
})

// ---------------------------------------------------------------------------
// The stream's events both ways

const harness = adapterHarness({
  make: OpenAiResponses.make,
  defaults: { baseUrl: "https://api.test/v1/", model: "gpt-test" },
  credentials: ProviderClient.credentials("sk-test-0123456789abcdef")
})

// A reply as the engine streams it: its reasoning, text and calls in pieces, its usage, its end.
function chunksOf(reply: ChatResponse): Array<ChatChunk.ChatChunk> {
  const chunks: Array<ChatChunk.ChatChunk> = []
  if (reply.reasoning !== undefined && reply.reasoning !== "") {
    chunks.push({ _tag: "ReasoningDelta", text: reply.reasoning })
  }
  for (const piece of reply.text.match(/.{1,3}/gsu) ?? []) chunks.push({ _tag: "TextDelta", text: piece })
  reply.toolCalls.forEach((call, index) => {
    chunks.push({ _tag: "ToolCallDelta", index, id: call.id, name: call.name, arguments: "" })
    for (const piece of call.arguments.match(/.{1,4}/gsu) ?? []) {
      chunks.push({ _tag: "ToolCallDelta", index, arguments: piece })
    }
  })
  chunks.push({ _tag: "Usage", usage: reply.usage })
  chunks.push({
    _tag: "Finish",
    finishReason: reply.finishReason,
    id: reply.id,
    model: reply.model,
    provider: reply.provider,
    latency: reply.latency
  })
  return chunks
}

// The `data` of each event of an SSE text, checked against its `event:` line.
function eventsOf(text: string): Array<unknown> {
  return text.split("\n\n").filter((event) => event !== "").map((event) => {
    const [named, data] = event.split("\n")
    const value: { readonly type?: unknown } = JSON.parse(data!.slice("data: ".length))
    expect(named).toBe(`event: ${String(value.type)}`)
    return value
  })
}

const simulated: fc.Arbitrary<Reply.Reply> = fc.record({
  reasoning: fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 3 }),
  content: fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 4 }),
  calls: fc.array(fc.array(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 3 }), {
    maxLength: 2
  }),
  truncated: fc.boolean()
}).map(({ calls, content, reasoning, truncated }): Reply.Reply => ({
  reasoning,
  content,
  toolCalls: calls.map((fragments, i) => ({
    id: `call_${i}`,
    name: `tool_${i}`,
    arguments: fragments.join(""),
    fragments
  })),
  finishReason: calls.length > 0 ? "tool_calls" : truncated ? "length" : "stop",
  usage: {
    promptTokens: 10,
    completionTokens: 20,
    totalTokens: 30,
    cachedTokens: 2,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    reasoningTokens: reasoning.length
  }
}))

const meta = { id: "resp_sim1", created: 1_700_000_000, model: "gpt-sim" }
const extra = { store: false, encryptedReasoning: false, summary: true, effort: "low" }

describe("internal/wire/openAiResponses: the stream both ways", () => {
  effectProp(
    "a reply the gateway streams fits the events' schema and the client folds it back to the reply",
    response,
    (original) =>
      Effect.gen(function*() {
        const encoder = streamEncoder({
          ids,
          names: none,
          model: original.model,
          echo: {},
          now: () => 1_700_000_001,
          onFinished: () => Effect.void
        })
        const text = new TextDecoder().decode(encoder.batch(chunksOf(original)).bytes)
        for (const event of eventsOf(text)) expect(isStreamEvent(event)).toBe(true)
        const folded = yield* ChatChunk.collect(harness.streamWith(() => streamResponse([text])).stream)
        expect({
          text: folded.text,
          reasoning: folded.reasoning === "" ? undefined : folded.reasoning,
          toolCalls: folded.toolCalls,
          finishReason: folded.finishReason,
          usage: folded.usage
        }).toEqual({
          text: original.text,
          reasoning: original.reasoning === "" ? undefined : original.reasoning,
          toolCalls: original.toolCalls,
          finishReason: original.finishReason,
          usage: original.usage
        })
      })
  )

  effectProp(
    "a reply the simulator streams is the codec's events, and the client folds it back to the reply",
    simulated,
    (reply) =>
      Effect.gen(function*() {
        const rendered = format.renderStream(reply, meta, extra)
        const text = [...rendered.events, rendered.tail].join("")
        for (const event of eventsOf(text)) expect(isStreamEvent(event)).toBe(true)
        // Every event is the codec's: read back and written again by its writer, it is the same bytes.
        for (const written of rendered.events) {
          const { sequence_number, type, ...fields } = JSON.parse(written.slice(written.indexOf("data: ") + 6))
          expect(written).toBe(`event: ${type}\ndata: ${Codec.eventData(type, sequence_number, fields)}\n\n`)
        }
        const folded = yield* ChatChunk.collect(harness.streamWith(() => streamResponse([text])).stream)
        expect(folded).toMatchObject({
          id: meta.id,
          text: reply.content.join(""),
          toolCalls: reply.toolCalls.map(({ arguments: args, id, name }) => ({ id, name, arguments: args })),
          finishReason: reply.finishReason
        })
        expect(folded.reasoning).toBe(reply.reasoning.length > 0 ? reply.reasoning.join("") : undefined)
      })
  )
})

// ---------------------------------------------------------------------------
// The official SDK's types

// The Responses body as the client writes it (`Written`), narrowed where the schema reads more than the SDK's type
// admits: items and tools of other types are passed on as they came (the client sends back only what the API gave
// it); a message's parts are read in one struct whichever its role, where the SDK types a user's input parts and an
// assistant's output message apart (the client writes an assistant's text as an `output_text` part without the `id`
// and `status` the SDK's output message type requires, which the API takes, so the check holds the input side); a
// tool result's output is the string the client writes; a reasoning item is read without its `id` (the client sends
// it so, with its encrypted content, when responses are not stored), which the SDK's type requires; `include` is
// read as any string.
type Sent = Written<typeof Codec.WireResponsesRequest.Type>
type SentItem = Written<Codec.KnownItem>
type SentMessage = Extract<SentItem, { role: unknown }>
type SentPart = Exclude<SentMessage["content"], string>[number]
type SentImage = Extract<SentPart, { type: "input_image" }>
type ClientMessage = Omit<SentMessage, "content"> & {
  content:
    | string
    | Array<
      | Extract<SentPart, { type: "input_text" | "output_text" }> & { type: "input_text" }
      | Omit<SentImage, "detail"> & { detail: OpenAI.Responses.ResponseInputImage["detail"] }
    >
}
type ClientOutput = Omit<Extract<SentItem, { type: "function_call_output" }>, "output"> & { output: string }
type ClientReasoning = Omit<Extract<SentItem, { type: "reasoning" }>, "id" | "summary"> & {
  id: string
  summary: Array<{ type: "summary_text"; text: string }>
}
type SentTool = Extract<NonNullable<Sent["tools"]>[number], { parameters?: unknown }>
type ClientTool = Omit<SentTool, "type" | "name" | "parameters" | "strict"> & {
  type: "function"
  name: string
  parameters: Record<string, unknown>
  strict: boolean
}
// The schema takes any `service_tier`, as the Chat Completions one does; OpenAI's client sends its own.
type ClientBody = Omit<Sent, "input" | "tools" | "tool_choice" | "include" | "service_tier"> & {
  input: string | Array<Extract<SentItem, { type: "function_call" }> | ClientMessage | ClientOutput | ClientReasoning>
  tools?: Array<ClientTool>
  tool_choice?: Extract<Sent["tool_choice"], string> | { type: "function"; name: string }
  include?: Array<OpenAI.Responses.ResponseIncludable>
  service_tier?: NonNullable<ResponseCreateParamsBase["service_tier"]>
}

// Fails to compile when a body the request schema reads (so every body `requestBody` writes, as the round trip above
// shows) is not one the SDK's own parameter type takes.
export const asSdkParams = (body: ClientBody): ResponseCreateParamsBase => body

const sdkUsage: OpenAI.Responses.ResponseUsage = {
  input_tokens: 12,
  input_tokens_details: { cached_tokens: 4, cache_write_tokens: 0 },
  output_tokens: 30,
  output_tokens_details: { reasoning_tokens: 8 },
  total_tokens: 42
}

const sdkReasoning: OpenAI.Responses.ResponseReasoningItem = {
  id: "rs_1",
  type: "reasoning",
  summary: [{ type: "summary_text", text: "Weather first." }],
  encrypted_content: "gAAAA"
}

const sdkMessage: OpenAI.Responses.ResponseOutputMessage = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text: "Let me look.", annotations: [], logprobs: [] }]
}

const sdkCall: OpenAI.Responses.ResponseFunctionToolCall = {
  id: "fc_1",
  type: "function_call",
  status: "completed",
  call_id: "call_1",
  name: "get_weather",
  arguments: "{\"city\":\"Paris\"}"
}

const sdkResponse: OpenAI.Responses.Response = {
  id: "resp_1",
  access_programs: null,
  object: "response",
  created_at: 1_700_000_000,
  status: "completed",
  error: null,
  incomplete_details: null,
  instructions: null,
  metadata: null,
  model: "gpt-test",
  output: [sdkReasoning, sdkMessage, sdkCall],
  output_text: "Let me look.",
  parallel_tool_calls: true,
  temperature: null,
  tool_choice: "auto",
  tools: [],
  top_p: null,
  usage: sdkUsage
}

const sdkEvents: ReadonlyArray<OpenAI.Responses.ResponseStreamEvent> = [
  { type: "response.created", sequence_number: 0, response: { ...sdkResponse, status: "in_progress", output: [] } },
  { type: "response.output_item.added", sequence_number: 1, output_index: 0, item: { ...sdkReasoning, summary: [] } },
  {
    type: "response.reasoning_summary_part.added",
    sequence_number: 2,
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    part: { type: "summary_text", text: "" }
  },
  {
    type: "response.reasoning_summary_text.delta",
    sequence_number: 3,
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    delta: "Weather first."
  },
  { type: "response.output_item.done", sequence_number: 4, output_index: 0, item: sdkReasoning },
  {
    type: "response.output_text.delta",
    sequence_number: 5,
    item_id: "msg_1",
    output_index: 1,
    content_index: 0,
    delta: "Let me look.",
    logprobs: []
  },
  { type: "response.output_item.done", sequence_number: 6, output_index: 1, item: sdkMessage },
  {
    type: "response.function_call_arguments.delta",
    sequence_number: 7,
    item_id: "fc_1",
    output_index: 2,
    delta: "{\"city\":\"Paris\"}"
  },
  { type: "response.output_item.done", sequence_number: 8, output_index: 2, item: sdkCall },
  { type: "response.completed", sequence_number: 9, response: sdkResponse }
]

describe("internal/wire/openAiResponses: the official SDK's types", () => {
  it("a response typed as the SDK's fits the response schema and reads as its text, reasoning, call and usage", () => {
    const body = JSON.parse(JSON.stringify(sdkResponse)) as JsonObject
    expect(isResponseObject(body)).toBe(true)
    expect(Codec.reply(body, false)).toMatchObject({
      id: "resp_1",
      text: "Let me look.",
      reasoning: "Weather first.",
      toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }],
      finishReason: "tool_calls",
      usage: { promptTokens: 12, completionTokens: 30, totalTokens: 42, cachedPromptTokens: 4, reasoningTokens: 8 }
    })
  })

  it("stream events typed as the SDK's fit the events' schema", () => {
    for (const one of sdkEvents) expect(isStreamEvent(JSON.parse(JSON.stringify(one))), one.type).toBe(true)
  })
})

describe("hosted tools' calls in a reply, and their bound in a request", () => {
  it("counts a reply's hosted calls by tool; web_search_call is web_search_preview's when only that was given", () => {
    const items = [
      { type: "web_search_call", id: "ws_1" },
      { type: "web_search_call", id: "ws_2" },
      { type: "code_interpreter_call", id: "ci_1" },
      { type: "computer_call", id: "cu_1" },
      { type: "mcp_list_tools", id: "ml_1" }
    ]
    expect(Codec.hostedCalls(items, [{ type: "web_search" }])).toStrictEqual({ web_search: 2, code_interpreter: 1 })
    expect(Codec.hostedCalls(items, [{ type: "web_search_preview" }]))
      .toStrictEqual({ web_search_preview: 2, code_interpreter: 1 })
  })

  it("sends max_tool_calls with hosted tools that have no bound of their own, and leaves a given one", () => {
    const options = { model: "m", stream: false, store: false }
    const messages = [{ role: "user" as const, content: "Find it" }]
    const hosted = Codec.requestBody({ messages, providerOptions: { tools: [{ type: "web_search" }] } }, options)
    expect(hosted["max_tool_calls"]).toBe(Pricing.defaultMaxToolCalls)
    const bounded = Codec.requestBody(
      { messages, providerOptions: { tools: [{ type: "web_search" }], max_tool_calls: 3 } },
      options
    )
    expect(bounded["max_tool_calls"]).toBe(3)
    expect(Codec.requestBody({ messages }, options)["max_tool_calls"]).toBeUndefined()
  })
})

describe("internal/wire/openAiResponses: hosted calls with or without usage", () => {
  const tools = ["web_search", "file_search", "code_interpreter", "image_generation", "mcp"] as const
  it("a reply's hosted call items are counted whether or not it carries usage", () => {
    fc.assert(fc.property(
      simulated,
      fc.array(fc.constantFrom(...tools), { maxLength: 6 }),
      fc.boolean(),
      (reply, hostedCalls, withoutUsage) => {
        const at = withoutUsage ? { ...meta, usage: "none" as const } : meta
        const body = JSON.parse(format.renderReply(reply, at, { ...extra, hostedCalls })) as JsonObject
        expect(body["usage"] === null).toBe(withoutUsage)
        const counted: Record<string, number> = {}
        for (const tool of hostedCalls) counted[tool] = (counted[tool] ?? 0) + 1
        const usage = Codec.reply(body, false).usage
        if (hostedCalls.length === 0) {
          expect(usage?.hostedToolCalls).toBeUndefined()
          if (withoutUsage) expect(usage).toBeUndefined()
        } else {
          expect(usage?.hostedToolCalls).toEqual(counted)
          // No usage: no tokens, which the Llm estimates, keeping the calls.
          if (withoutUsage) expect(usage?.totalTokens).toBe(0)
          else expect(usage?.totalTokens).toBe(reply.usage.totalTokens)
        }
      }
    ))
  })
})

// ---------------------------------------------------------------------------
// Compaction (`POST /v1/responses/compact`)

describe("compaction items and the compacted response", () => {
  // Wire items around a compaction item: user and assistant messages.
  const around = fc.array(
    fc.oneof(
      word.map((text): Codec.WireItem => ({ type: "message", role: "user", content: text })),
      word.map((text): Codec.WireItem => ({ type: "message", role: "assistant", content: text }))
    ),
    { maxLength: 3 }
  )
  const compactionType = fc.constantFrom("compaction", "compaction_summary")

  it("a compaction item of the gateway's, whatever its summary and wherever it is, is its summary's message", () =>
    fc.assert(fc.property(
      fc.string({ unit: "binary", maxLength: 200 }),
      compactionType,
      around,
      around,
      (summary, type, before, after) => {
        const item = { type, id: "cmp_1", encrypted_content: summaryEnvelope(summary) } as Codec.WireItem
        expect(Codec.isOtherItem(item)).toBe(false)
        const body = { model: "m", input: [...before, item, ...after] }
        expect(Hosted.responsesOnly(body, [])).toEqual([])
        const messages = read(Codec.inputMessages(body))
        const alone = read(Codec.inputMessages({ input: before }))
        expect(messages[alone.length]).toEqual(Codec.summaryMessage(summary))
        expect(JSON.stringify(messages)).not.toContain("gw1.")
      }
    )))

  it("any other compaction item (a Responses deployment's own) is Responses-only, refused elsewhere by name", () =>
    fc.assert(fc.property(
      fc.string({ maxLength: 40 }).filter((text) => !text.startsWith("gw1.")),
      compactionType,
      around,
      (encrypted, type, before) => {
        const item = { type, encrypted_content: encrypted } as Codec.WireItem
        expect(Codec.isOtherItem(item)).toBe(true)
        const body = { model: "m", input: [...before, item] }
        expect(Hosted.responsesOnly(body, [])).toEqual([{ at: `input[${before.length}].type`, type }])
      }
    )))

  it("a compact body keeps only the fields /responses/compact takes, each as the response body had it", () =>
    fc.assert(fc.property(request, fc.boolean(), fc.boolean(), (one, stream, store) => {
      const body = Codec.requestBody(one, { model: "m", stream, store, previous: undefined })
      const compact = Compaction.compactBody(body)
      for (const field of ["stream", "store", "include", "max_output_tokens", "temperature", "top_p", "tool_choice"]) {
        expect(compact[field]).toBeUndefined()
      }
      for (const [field, value] of Object.entries(compact)) expect(value).toEqual(body[field])
      expect(compact["model"]).toBe("m")
      expect(compact["input"]).toEqual(body["input"])
    })))

  it("a compacted response reads back as written: its output items as they came and its usage", () =>
    fc.assert(fc.property(
      fc.array(word, { maxLength: 3 }),
      word,
      fc.record({
        promptTokens: fc.nat(),
        completionTokens: fc.nat(),
        cachedPromptTokens: fc.nat(),
        reasoningTokens: fc.nat()
      }),
      (users, encrypted, counts) => {
        const usage = { ...counts, totalTokens: counts.promptTokens + counts.completionTokens }
        const output = [
          ...Compaction.userItems(
            users.map((text) => ({ type: "message" as const, role: "user" as const, content: text }))
          ),
          Compaction.compactionItem("cmp_1", encrypted)
        ]
        const written = JSON.parse(
          Compaction.compacted({ id: "resp_1", createdAt: 7, output, usage })
        ) as JsonObject
        expect(written).toMatchObject({ id: "resp_1", object: "response.compaction", created_at: 7 })
        const reply = Compaction.compactedReply(written)
        expect(Compaction.compactedItems(reply.providerMetadata)).toEqual(output)
        expect(reply.usage).toMatchObject(usage)
        expect(reply.text).toBe("")
      }
    )))
})
