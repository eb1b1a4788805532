import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type OpenAI from "openai"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../src/ChatResponse.js"
import { RequestError, ShapeError } from "../../src/internal/codecError.js"
import type { JsonObject } from "../../src/internal/json.js"
import { Problem } from "../../src/internal/schemaCheck.js"
import { decode as decodeSimulated } from "../../src/internal/simulator/openAiChat/request.js"
import { unpaired } from "../../src/internal/simulator/toolPairs.js"
import {
  Chunk,
  chunkTemplates,
  completion,
  doneData,
  finishData,
  finishReason,
  readChunk,
  reply,
  toolCallFragmentJson,
  usage as readUsage,
  usageData
} from "../../src/internal/wire/openAiChat/codec.js"
import {
  type BodyOptions,
  CreateRequest,
  fixedSampling,
  type MaxTokensField,
  maxTokensField,
  requestBody,
  toRequest
} from "../../src/internal/wire/openAiChat/codec.js"
import { requestBody as responsesBody } from "../../src/internal/wire/openAiResponses/codec.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../src/Message.js"
import { failed, read } from "../utils/results.js"
import { toolFieldsSent } from "../utils/toolFields.js"

const word = fc.string({ maxLength: 6 })
const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)

const part: fc.Arbitrary<ContentPart> = fc.oneof(
  word.map((text): ContentPart => ({ type: "text", text })),
  fc.record({ url: fc.webUrl(), detail: fc.constantFrom("auto", "low", "high") }, { requiredKeys: ["url"] })
    .map((image): ContentPart => ({ type: "image", ...image }))
)

const toolCall: fc.Arbitrary<ToolCall> = fc.record({ id: name, name, arguments: fc.json({ maxDepth: 1 }) })

// The messages the encoder can write: an assistant's reasoning goes out only beside its tool calls.
const message: fc.Arbitrary<Message> = fc.oneof(
  word.map((content): Message => ({ role: "system", content })),
  fc.oneof(word, fc.array(part, { maxLength: 3 })).map((content): Message => ({ role: "user", content })),
  word.map((content): Message => ({ role: "assistant", content })),
  fc.record({ content: word, toolCalls: fc.array(toolCall, { minLength: 1, maxLength: 2 }), reasoning: word }, {
    requiredKeys: ["content", "toolCalls"]
  }).map((fields): Message => ({ role: "assistant", ...fields })),
  fc.record({ toolCallId: name, content: word }).map((fields): Message => ({ role: "tool", ...fields }))
)

const tool: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: word,
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } } }),
  strict: fc.boolean()
}, { requiredKeys: ["name", "parameters"] })

const request: fc.Arbitrary<ChatRequest> = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 4 }),
  temperature: fc.double({ min: 0, max: 2, noNaN: true }),
  topP: fc.double({ min: 0, max: 1, noNaN: true }),
  maxTokens: fc.integer({ min: 1, max: 100_000 }),
  stop: fc.array(word, { minLength: 1, maxLength: 4 }),
  tools: fc.array(tool, { minLength: 1, maxLength: 2 }),
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
      // The encoder asks for strict output unless told otherwise.
      strict: fc.boolean()
    }, { requiredKeys: ["type", "name", "schema", "strict"] })
  ),
  reasoningEffort: fc.constantFrom("none", "minimal", "low", "medium", "high", "xhigh", "max"),
  seed: fc.nat(),
  user: word
}, { requiredKeys: ["messages"] })

const options = (maxTokens: MaxTokensField): BodyOptions => ({
  model: "gpt-test",
  stream: true,
  includeUsage: true,
  maxTokensField: maxTokens,
  promptCacheKey: true,
  serviceTier: true,
  prefill: true
})

const isCreateRequest = Schema.is(CreateRequest)

// OpenAI's reasoning models (its reasoning guide): the o-series and the GPT-5 family but its chat models.
const reasoners = ["o1", "o1-mini", "o3", "o3-pro", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1", "gpt-5-codex"]
const samplers = ["gpt-4o", "gpt-4.1", "gpt-5-chat-latest", "gpt-50", "o10x", "omni", "gpt-test", "claude-sonnet-4-5"]

describe("internal/wire/openAiChat/codec: a reasoning model's fixed sampling", () => {
  it("a reasoning model, under any server's prefix, is sent no stop, temperature or top_p on either OpenAI API", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("", "openai/", "azure/eu/"),
        fc.constantFrom(...reasoners, ...samplers),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(word, { minLength: 1, maxLength: 4 }),
        (prefix, name, temperature, topP, stop) => {
          const model = `${prefix}${name}`
          const fixed = reasoners.includes(name)
          expect(fixedSampling(model)).toBe(fixed)
          const request: ChatRequest = { messages: [{ role: "user", content: "Hi" }], temperature, topP, stop }
          const chat = requestBody(request, { ...options("max_completion_tokens"), model })
          const responses = responsesBody(request, { model, stream: false, store: false })
          for (const body of [chat, responses]) {
            expect("temperature" in body).toBe(!fixed)
            expect("top_p" in body).toBe(!fixed)
          }
          expect("stop" in chat).toBe(!fixed)
          // What OpenAI's server refuses, the simulator holds: the Chat body it is sent is taken.
          expect(Result.isSuccess(decodeSimulated({ ...chat, model: name }))).toBe(true)
        }
      )
    )
  })

  it("the simulator refuses stop, a temperature or a top_p but 1 to a reasoning model that reasons", () => {
    for (const name of reasoners) {
      const base = { model: name, messages: [{ role: "user", content: "Hi" }], reasoning_effort: "low" }
      for (const [field, value] of [["stop", ["END"]], ["temperature", 0.5], ["top_p", 0.9]] as const) {
        expect(failed(decodeSimulated({ ...base, [field]: value })), `${name} ${field}`).toMatchObject({ param: field })
      }
      read(decodeSimulated({ ...base, temperature: 1, top_p: 1 }))
    }
    // GPT-5.1 and later do not reason at effort none, their default, and sample as any model.
    for (const effort of [{}, { reasoning_effort: "none" }]) {
      read(
        decodeSimulated({ model: "gpt-5.1", messages: [{ role: "user", content: "Hi" }], temperature: 0.5, ...effort })
      )
    }
  })
})

describe("internal/wire/openAiChat/codec: the request both ways", () => {
  it("a request encoded for the wire decodes back to itself", () => {
    fc.assert(
      fc.property(
        request,
        fc.constantFrom<MaxTokensField>("max_tokens", "max_completion_tokens"),
        (original, field) => {
          const body = requestBody(original, options(field))
          expect(isCreateRequest(body)).toBe(true)
          if (!isCreateRequest(body)) return
          expect(Result.getOrThrow(toRequest(body))).toEqual(toolFieldsSent(original))
          expect(maxTokensField(body)).toBe(original.maxTokens === undefined ? "max_tokens" : field)
          expect(body.stream).toBe(true)
          expect(body.stream_options?.include_usage).toBe(true)
        }
      )
    )
  })

  it("a prompt cache key goes out and comes back as the session too", () => {
    fc.assert(fc.property(word, (key) => {
      const body = requestBody(
        { messages: [{ role: "user", content: "Hi" }], promptCacheKey: key },
        options("max_tokens")
      )
      expect(isCreateRequest(body) && Result.getOrThrow(toRequest(body))).toEqual({
        messages: [{ role: "user", content: "Hi" }],
        session: key,
        promptCacheKey: key
      })
    }))
  })

  it("cache_control (OpenRouter's and LiteLLM's spelling), on a part or a message of any role, is its breakpoint", () => {
    fc.assert(fc.property(
      fc.constantFrom("system", "developer", "user", "assistant", "tool"),
      fc.constantFrom("part", "message"),
      fc.constantFrom(undefined, "5m" as const, "1h" as const),
      (role, where, ttl) => {
        const control = { type: "ephemeral" as const, ...(ttl === undefined ? {} : { ttl }) }
        const breakpoint = ttl === undefined ? {} : { ttl }
        const content = [{ type: "text" as const, text: "a" }, {
          type: "text" as const,
          text: "b",
          ...(where === "part" ? { cache_control: control } : {})
        }]
        const wire = {
          role,
          content,
          ...(role === "tool" ? { tool_call_id: "call_1" } : {}),
          ...(where === "message" ? { cache_control: control } : {})
        }
        const body = {
          model: "m",
          messages: role === "tool"
            ? [{
              role: "assistant",
              content: null,
              tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
            }, wire]
            : [wire]
        }
        expect(isCreateRequest(body)).toBe(true)
        const message = Result.getOrThrow(toRequest(body as typeof CreateRequest.Type)).messages.at(-1)!
        // A user message's breakpoint is on its last part; any other message's on the message.
        if (role === "user") {
          expect(message.content).toEqual([{ type: "text", text: "a" }, { type: "text", text: "b", cache: breakpoint }])
        } else expect(message).toMatchObject({ cache: breakpoint })
      }
    ))
    // Without one, none.
    const plain = Result.getOrThrow(toRequest({ model: "m", messages: [{ role: "system", content: "s" }] }))
    expect(plain.messages[0]).toEqual({ role: "system", content: "s" })
  })

  it("a tool message without its call's id is a Problem naming the field", () => {
    const refused = Result.getOrThrow(Result.flip(toRequest({
      model: "m",
      messages: [{ role: "user", content: "Hi" }, { role: "tool", content: "x" }]
    })))
    expect(refused).toBeInstanceOf(Problem)
    expect(refused).toMatchObject({ param: "messages[1].tool_call_id" })
  })

  it("a tool result's media go in a user message after its turn's tool messages; its text parts go out as text", () => {
    const media = fc.constantFrom<ContentPart>(
      { type: "image", url: "https://x/a.png" },
      { type: "image", url: "data:application/pdf;base64,JVBERi0xLjQ=", document: { title: "report.pdf" } }
    )
    const text = word.map((value): ContentPart => ({ type: "text", text: value }))
    const content = fc.array(fc.oneof(text, media), { maxLength: 4 })
    fc.assert(
      fc.property(content, content, (first, second) => {
        const request: ChatRequest = {
          messages: [
            { role: "user", content: "Read them" },
            {
              role: "assistant",
              content: "",
              toolCalls: [{ id: "call_1", name: "fetch", arguments: "{}" }, {
                id: "call_2",
                name: "fetch",
                arguments: "{}"
              }]
            },
            { role: "tool", toolCallId: "call_1", content: first },
            { role: "tool", toolCallId: "call_2", content: second },
            { role: "user", content: "And?" }
          ]
        }
        const written = requestBody(request, options("max_tokens"))["messages"] as ReadonlyArray<JsonObject>
        const textOf = (parts: ReadonlyArray<ContentPart>) => parts.map((p) => p.type === "text" ? p.text : "").join("")
        expect(written[2]).toEqual({ role: "tool", tool_call_id: "call_1", content: textOf(first) })
        expect(written[3]).toEqual({ role: "tool", tool_call_id: "call_2", content: textOf(second) })
        // Each result's media, in order, after a line naming its call; no message when there are none.
        const wire = (part: ContentPart): ReadonlyArray<JsonObject> =>
          part.type === "text" ? [] : part.url.startsWith("data:")
            ? [{ type: "file", file: { filename: "report.pdf", file_data: part.url } }]
            : [{ type: "image_url", image_url: { url: part.url } }]
        const lifted = [["call_1", first] as const, ["call_2", second] as const].flatMap(([id, parts]) => {
          const out = parts.flatMap(wire)
          return out.length === 0 ? [] : [{ type: "text", text: `The tool result ${id} holds:` }, ...out]
        })
        expect(written.slice(4)).toEqual([
          ...(lifted.length === 0 ? [] : [{ role: "user", content: lifted }]),
          { role: "user", content: "And?" }
        ])
      })
    )
    // A PDF by URL has no place in the API: refused by its path.
    let thrown: unknown
    try {
      requestBody({
        messages: [{
          role: "user",
          content: [{ type: "image", url: "https://x/report", mediaType: "application/pdf" }]
        }]
      }, options("max_tokens"))
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(RequestError)
    expect((thrown as RequestError).param).toBe("messages[0].content[0]")
    // Text parts go out as their text, one string (compatible servers do not all take parts there); a client's text
    // parts come back as parts.
    const texts = requestBody({
      messages: [{
        role: "tool",
        toolCallId: "call_1",
        content: [{ type: "text", text: "a" }, { type: "text", text: "b" }]
      }]
    }, options("max_tokens"))
    expect(texts["messages"]).toEqual([{ role: "tool", tool_call_id: "call_1", content: "ab" }])
    expect(Result.getOrThrow(toRequest({
      model: "m",
      messages: [{ role: "tool", tool_call_id: "call_1", content: [{ type: "text", text: "a" }] }]
    }))).toEqual({ messages: [{ role: "tool", toolCallId: "call_1", content: [{ type: "text", text: "a" }] }] })
    const image = Result.getOrThrow(Result.flip(toRequest({
      model: "m",
      messages: [{
        role: "tool",
        tool_call_id: "call_1",
        content: [{ type: "image_url", image_url: { url: "https://x/a.png" } }]
      }]
    })))
    expect(image).toBeInstanceOf(Problem)
    expect(image).toMatchObject({ param: "messages[0].content[0].type" })
  })

  it("the official SDK's request type takes what we encode", () => {
    const encoded = requestBody({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image", url: "https://x/a.png" }] },
        { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "look", arguments: "{}" }] },
        { role: "tool", toolCallId: "call_1", content: "a cat" }
      ],
      maxTokens: 10,
      tools: [{ name: "look", parameters: { type: "object", properties: {} }, strict: true }],
      toolChoice: { tool: "look" },
      responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
      reasoningEffort: "low"
    }, options("max_completion_tokens"))
    const params: OpenAI.ChatCompletionCreateParamsStreaming = {
      model: "gpt-test",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [{ type: "text", text: "What is this?" }, {
            type: "image_url",
            image_url: { url: "https://x/a.png" }
          }]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{}" } }]
        },
        { role: "tool", tool_call_id: "call_1", content: "a cat" }
      ],
      max_completion_tokens: 10,
      tools: [{
        type: "function",
        function: { name: "look", parameters: { type: "object", properties: {} }, strict: true }
      }],
      tool_choice: { type: "function", function: { name: "look" } },
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", schema: { type: "object" }, strict: true }
      },
      reasoning_effort: "low",
      stream: true,
      stream_options: { include_usage: true }
    }
    expect(encoded).toEqual(params)
  })
})

const count = fc.nat({ max: 100_000 })

// `other` has no name on the wire: it goes out as `stop`.
const response = fc.record({
  id: name,
  model: name,
  text: word,
  reasoning: fc.option(word, { nil: undefined }),
  refusal: fc.option(word, { nil: undefined }),
  toolCalls: fc.array(toolCall, { maxLength: 2 }),
  finishReason: fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter"),
  prompt: count,
  completion: count,
  cached: count,
  reasoningTokens: count
}).map((r): ChatResponse => ({
  id: r.id,
  model: r.model,
  provider: "openai",
  text: r.text,
  ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
  ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
  toolCalls: r.toolCalls,
  finishReason: r.finishReason,
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

describe("internal/wire/openAiChat/codec: the reply both ways", () => {
  it("a reply written as a chat.completion reads back as itself, under the writer's id", () => {
    fc.assert(fc.property(response, (original) => {
      const body: OpenAI.ChatCompletion = JSON.parse(completion(original, "chatcmpl-x", 1))
      expect(body.object).toBe("chat.completion")
      expect(body.choices[0]?.message.role).toBe("assistant")
      expect(reply(body as unknown as Record<string, unknown>)).toEqual({
        id: "chatcmpl-x",
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
})

// The JSON of each event of an SSE text, `[DONE]` as the string.
const sseEvents = (text: string): Array<unknown> =>
  text.split("\n\n").filter((event) => event !== "").map((event) => {
    expect(event.startsWith("data: ")).toBe(true)
    const data = event.slice("data: ".length)
    return data === "[DONE]" ? data : JSON.parse(data)
  })

const usage = fc.record({ prompt: count, completion: count, cached: count, reasoningTokens: count }).map((
  r
): Usage => ({
  promptTokens: r.prompt,
  completionTokens: r.completion,
  totalTokens: r.prompt + r.completion,
  cachedPromptTokens: r.cached,
  reasoningTokens: r.reasoningTokens,
  estimated: false
}))

type Piece =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Reasoning"; readonly text: string }
  | {
    readonly _tag: "ToolCall"
    readonly index: number
    readonly id?: string
    readonly name?: string
    readonly arguments: string
  }

const piece: fc.Arbitrary<Piece> = fc.oneof(
  fc.string({ minLength: 1, maxLength: 8 }).map((text): Piece => ({ _tag: "Text", text })),
  fc.string({ minLength: 1, maxLength: 8 }).map((text): Piece => ({ _tag: "Reasoning", text })),
  fc.record({ index: fc.nat({ max: 3 }), id: name, name, arguments: fc.string({ maxLength: 8 }) }, {
    requiredKeys: ["index", "arguments"]
  }).map((call): Piece => ({ _tag: "ToolCall", ...call }))
)

const finishReasons = fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter", "other")

describe("internal/wire/openAiChat/codec: the stream both ways", () => {
  it("chunks written with the templates read back as what was written", () => {
    fc.assert(fc.property(
      fc.record({
        id: name,
        model: fc.string({ minLength: 1, maxLength: 8 }),
        created: fc.nat(),
        includeUsage: fc.boolean(),
        pieces: fc.array(piece, { maxLength: 6 }),
        reason: finishReasons,
        usage: fc.option(usage, { nil: undefined })
      }),
      ({ created, id, includeUsage, model, pieces, reason, usage }) => {
        const templates = chunkTemplates({ id, created, model, includeUsage })
        const event = (data: string): string => `data: ${data}\n\n`
        let text = event(templates.role)
        for (const piece of pieces) {
          text += event(
            piece._tag === "ToolCall"
              ? templates.tools + toolCallFragmentJson(piece) + templates.closeTools
              : (piece._tag === "Text" ? templates.content : templates.reasoning) + JSON.stringify(piece.text) +
                templates.closeText
          )
        }
        text += event(finishData(templates, reason))
        if (includeUsage && usage !== undefined) text += event(usageData(templates, usage))
        text += event(doneData)
        const events = sseEvents(text)
        expect(events.at(-1)).toBe("[DONE]")
        const chunks = (events.slice(0, -1) as Array<OpenAI.ChatCompletionChunk>).map((chunk) => {
          expect(chunk).toMatchObject({ id, object: "chat.completion.chunk", created, model })
          return readChunk(chunk as unknown as Record<string, unknown>)
        })
        for (const chunk of chunks) {
          expect(chunk).toMatchObject({ id, model, failure: undefined })
        }
        expect(chunks[0]).toMatchObject({ text: "", toolCalls: [], finishReason: undefined })
        pieces.forEach((piece, i) => {
          const chunk = chunks[i + 1]!
          if (piece._tag === "Text") expect(chunk).toMatchObject({ text: piece.text, reasoning: undefined })
          if (piece._tag === "Reasoning") expect(chunk).toMatchObject({ reasoning: piece.text, text: undefined })
          if (piece._tag === "ToolCall") {
            const { _tag, ...fragment } = piece
            expect(chunk.toolCalls).toEqual([{ id: undefined, name: undefined, ...fragment }])
          }
        })
        const end = chunks[pieces.length + 1]!
        expect(finishReason(end.finishReason)).toBe(reason === "other" ? "stop" : reason)
        const withUsage = includeUsage && usage !== undefined
        expect(chunks).toHaveLength(pieces.length + (withUsage ? 3 : 2))
        if (withUsage) expect(chunks.at(-1)).toMatchObject({ usage, toolCalls: [], finishReason: undefined })
        else expect(chunks.every((chunk) => chunk.usage === undefined)).toBe(true)
      }
    ))
  })

  // Wire chunks within the reader's tolerance, and a few it refuses (a content that is a number, choices or tool
  // calls that are no array, a choice that is no object).
  const optional = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: undefined, freq: 3 })
  const nullable = <A>(arb: fc.Arbitrary<A>) => fc.oneof(arb, fc.constant(null), fc.constant(undefined))
  const text = fc.string({ maxLength: 4 })
  const wireToolCall = fc.record({
    index: nullable(fc.nat({ max: 2 })),
    id: nullable(fc.oneof(text, name)),
    function: nullable(fc.record({ name: nullable(fc.oneof(text, name)), arguments: nullable(text) }))
  })
  // The schema checks every choice, the reader only the first: a choice it skips is one the schema takes.
  const wireDelta = (refusable: boolean) =>
    fc.record({
      content: nullable(
        refusable ? fc.oneof(text, fc.array(fc.record({ text: nullable(text) })), fc.integer()) : text
      ),
      reasoning_content: nullable(text),
      reasoning: nullable(text),
      refusal: nullable(text),
      tool_calls: nullable(
        refusable ? fc.oneof(fc.array(wireToolCall, { maxLength: 2 }), fc.constant({})) : fc.constant([])
      )
    }, { requiredKeys: [] })
  const wireChoice = fc.oneof(
    fc.record({
      index: nullable(fc.constant(0)),
      delta: nullable(wireDelta(true)),
      finish_reason: nullable(fc.constantFrom("stop", "length", "tool_calls", "error"))
    }, { requiredKeys: [] }),
    fc.record({ index: fc.constant(1), delta: wireDelta(false), finish_reason: fc.constant("error") }),
    fc.constant("choice")
  )
  const wireUsage = fc.record({ prompt_tokens: fc.nat(), completion_tokens: fc.nat(), total_tokens: fc.nat() })
  const wireChunk = fc.record({
    id: nullable(name),
    model: nullable(name),
    choices: nullable(fc.oneof(fc.array(wireChoice, { maxLength: 2 }), fc.constant("none"))),
    usage: nullable(wireUsage),
    x_groq: nullable(fc.record({ usage: nullable(wireUsage), error: nullable(text) }, { requiredKeys: [] })),
    error: optional(fc.record({ message: text })),
    object: optional(fc.constantFrom("chat.completion.chunk", "error"))
  }, { requiredKeys: [] })

  const decodeChunk = Schema.decodeUnknownResult(Chunk)

  // What `readChunk` should read from a chunk the schema decoded: the API reference's meaning, written plainly.
  const meaning = (chunk: typeof Chunk.Type) => {
    const choices = (chunk.choices ?? []).filter((choice) => (choice.index ?? 0) === 0)
    const deltas = choices.flatMap((choice) => choice.delta ? [choice.delta] : [])
    const some = (texts: ReadonlyArray<string | undefined>) =>
      texts.some((piece) => piece !== undefined) ? texts.join("") : undefined
    const contentText = (content: (typeof deltas)[number]["content"]) =>
      content === null || content === undefined
        ? undefined
        : typeof content === "string"
        ? content
        : content.map((part) => part.text ?? "").join("")
    const reasoningText = (delta: (typeof deltas)[number]) =>
      delta.reasoning_content !== undefined && delta.reasoning_content !== null && delta.reasoning_content !== ""
        ? delta.reasoning_content
        : delta.reasoning !== undefined && delta.reasoning !== null && delta.reasoning !== ""
        ? delta.reasoning
        : delta.reasoning_content ?? undefined
    const groqError = chunk.x_groq?.error
    const isError = (chunk.error !== undefined && chunk.error !== null) || chunk.object === "error"
    const nonEmptyText = (value: string | null | undefined) => value === null || value === "" ? undefined : value
    const reasons = choices.flatMap((choice) => choice.finish_reason ? [choice.finish_reason] : [])
    return {
      id: chunk.id ?? "",
      model: nonEmptyText(chunk.model),
      usage: readUsage(chunk.x_groq?.usage) ?? readUsage(chunk.usage),
      failed: isError || (groqError !== undefined && groqError !== null) || reasons.includes("error"),
      reasoning: some(deltas.map(reasoningText)),
      text: some(deltas.map((delta) => contentText(delta.content))),
      refusal: some(deltas.map((delta) => delta.refusal ?? undefined)),
      toolCalls: deltas.flatMap((delta) =>
        (delta.tool_calls ?? []).map((call) => ({
          index: call.index ?? undefined,
          id: nonEmptyText(call.id),
          name: nonEmptyText(call.function?.name),
          arguments: call.function?.arguments ?? ""
        }))
      ),
      finishReason: reasons.at(-1)
    }
  }

  it("the hand-written reader reads what the schema decodes, and refuses what it refuses", () => {
    fc.assert(
      fc.property(wireChunk, (wire) => {
        const decoded = decodeChunk(wire)
        if (Result.isFailure(decoded)) {
          expect(() => readChunk(wire)).toThrow(ShapeError)
          return
        }
        const { failure, ...read } = readChunk(wire)
        expect({ ...read, failed: failure !== undefined }).toEqual(meaning(decoded.success))
      }),
      { numRuns: 500 }
    )
  })
})

describe("internal/wire/openAiChat/codec: the simulator reads what the client writes", () => {
  // The simulator reads a body with the codec's schema and holds it to OpenAI's rules past it; it must take every
  // body the codec writes, with tools or without. A named tool choice names one of the tools, as OpenAI requires.
  const sent = request.map((original) =>
    original.toolChoice !== undefined && typeof original.toolChoice !== "string" && original.tools !== undefined
      ? { ...original, toolChoice: { tool: original.tools[0]!.name } }
      : original
  )

  it("a body the client writes is one the simulator takes, with its model, tools, stream and limit", () => {
    fc.assert(fc.property(sent, fc.boolean(), (original, stream) => {
      const result = decodeSimulated(requestBody(original, { ...options("max_completion_tokens"), stream }))
      // A conversation whose tool calls and results do not pair is refused, as OpenAI refuses it.
      if (unpaired(original.messages) !== undefined && Result.isFailure(result)) {
        expect(result.failure).toMatchObject({ _tag: "InvalidRequest", message: expect.stringMatching(/'tool_calls'/) })
        return
      }
      const decoded = read(result)
      expect(decoded.stream).toBe(stream)
      expect(decoded.extra.includeUsage).toBe(stream)
      expect(decoded.prompt.model).toBe("gpt-test")
      expect(decoded.prompt.maxTokens).toBe(original.maxTokens)
      expect(decoded.prompt.tools.map((tool) => tool.name)).toEqual((original.tools ?? []).map((tool) => tool.name))
    }))
  })
})
