import type Anthropic from "@anthropic-ai/sdk"
import type { MessageCreateParamsBase } from "@anthropic-ai/sdk/resources/messages/messages"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type { Input as ChatRequest, ReasoningEffort } from "../../src/ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../src/ChatResponse.js"
import { emptyUsage } from "../../src/ChatResponse.js"
import { ShapeError } from "../../src/internal/codecError.js"
import type { JsonObject } from "../../src/internal/json.js"
import { Problem } from "../../src/internal/schemaCheck.js"
import { signatureOf } from "../../src/internal/simulator/anthropic/render.js"
import { decode as decodeSimulated } from "../../src/internal/simulator/anthropic/request.js"
import { readLines as readBatchLines } from "../../src/internal/wire/anthropic/batch.js"
import { errorJson, errorType, isErrorPayload } from "../../src/internal/wire/anthropic/errors.js"
import { Message, metadataOf, reply } from "../../src/internal/wire/anthropic/reply.js"
import {
  breakpointBlocks,
  messages as decodeMessages,
  requestBody,
  toRequest,
  WireMessagesRequest
} from "../../src/internal/wire/anthropic/request.js"
import { AnthropicStreamParser, StreamEvent } from "../../src/internal/wire/anthropic/stream.js"
import { message, streamEncoder } from "../../src/internal/wire/anthropic/writer.js"
import { fromHttpFailure } from "../../src/LlmError.js"
import type { LlmError } from "../../src/LlmError.js"
import * as Domain from "../../src/Message.js"
import {
  breakpointsIn,
  lifetimesIn,
  lifetimesInOrder,
  sentLifetimes,
  withoutBreakpoints
} from "../utils/breakpoints.js"
import { junk, loose } from "../utils/nearMiss.js"
import { read } from "../utils/results.js"
import type { Written } from "../utils/sdkTypes.js"

const word = fc.string({ maxLength: 6 })
// A text Anthropic takes as a block: not blank (the encoder leaves a blank one out, `wire/emptyText.ts`).
const spoken = fc.string({ minLength: 1, maxLength: 6 }).filter((text) => text.trim() !== "")
const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)
const cache = fc.option(fc.constantFrom<Domain.CacheBreakpoint>({}, { ttl: "5m" }, { ttl: "1h" }), { nil: undefined })

// `value` with `cache` when there is one (an absent field, not an undefined one).
const cached = <A extends object>(value: A, breakpoint: Domain.CacheBreakpoint | undefined): A =>
  breakpoint === undefined ? value : { ...value, cache: breakpoint }

// Arguments as the wire gives them back: the JSON text of an object, as `JSON.stringify` writes it.
const argumentsText = fc.dictionary(name, fc.oneof(fc.integer(), word, fc.boolean()), { maxKeys: 2 })
  .map((input) => JSON.stringify(input))

const part: fc.Arbitrary<Domain.ContentPart> = fc.oneof(
  fc.tuple(spoken, cache).map(([text, at]) => cached({ type: "text" as const, text }, at)),
  fc.tuple(fc.constantFrom("https://x/a.png", "data:image/png;base64,iVBORw0"), cache)
    .map(([url, at]) => cached({ type: "image" as const, url }, at)),
  // PDFs, as `document` blocks: inline, and by a URL whose type only the part states; with what a document says of
  // itself (any of its title, context and citations), or nothing.
  fc.tuple(
    fc.constantFrom<Domain.ImagePart>(
      { type: "image", url: "data:application/pdf;base64,JVBERi0xLjQ=" },
      { type: "image", url: "https://x/report", mediaType: "application/pdf" }
    ),
    fc.option(
      fc.record({ title: word, context: word, citations: fc.boolean() }, { requiredKeys: [] })
        .filter((document) => Object.keys(document).length > 0),
      { nil: undefined }
    ),
    cache
  ).map(([pdf, document, at]) => cached(document === undefined ? pdf : { ...pdf, document }, at))
)

const toolCall: fc.Arbitrary<Domain.ToolCall> = fc.record({ id: name, name, arguments: argumentsText })

// Signed thinking, as a reply leaves it; the reasoning a turn decodes to is its text.
const thinking: fc.Arbitrary<ReadonlyArray<Record<string, string>>> = fc.array(
  fc.oneof(
    fc.record({ type: fc.constant("thinking"), thinking: word, signature: name }),
    fc.record({ type: fc.constant("redacted_thinking"), data: name })
  ),
  { maxLength: 2 }
)

// An assistant turn with something to send: a text, a call or thinking.
const assistant: fc.Arbitrary<Domain.Message> = fc.record({
  content: fc.oneof(fc.constant(""), spoken),
  toolCalls: fc.array(toolCall, { maxLength: 2 }),
  thinking,
  cache
}).filter(({ content, thinking, toolCalls }) => content !== "" || toolCalls.length > 0 || thinking.length > 0).map((
  { cache: at, content, thinking, toolCalls }
) => {
  const reasoning = thinking.map((block) => block["thinking"] ?? "").join("")
  const blocks = content !== "" || toolCalls.length > 0
  return {
    role: "assistant" as const,
    content,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...(reasoning !== "" ? { reasoning } : {}),
    ...(thinking.length > 0 ? { providerMetadata: metadataOf(thinking)! } : {}),
    // A breakpoint goes on the turn's last text or tool_use block; a turn without one has no place for it.
    ...(at !== undefined && blocks ? { cache: at } : {})
  }
})

const user: fc.Arbitrary<Domain.Message> = fc.oneof(spoken, fc.array(part, { minLength: 1, maxLength: 3 }))
  .map((content) => ({ role: "user" as const, content }))

// A tool result's content: text, or parts (text, images and PDFs, as a tool_result's blocks carry them).
const toolResult: fc.Arbitrary<Domain.Message> = fc.tuple(
  name,
  fc.oneof(spoken, fc.array(part, { minLength: 1, maxLength: 3 })),
  cache
)
  .map(([toolCallId, content, at]) => cached({ role: "tool" as const, toolCallId, content }, at))

// A conversation the wire carries one to one: the system prompt first, and no user message right after tool results
// (it would join their turn, as Anthropic wants it, and come back as parts).
const messages: fc.Arbitrary<ReadonlyArray<Domain.Message>> = fc.tuple(
  fc.array(fc.tuple(spoken, cache).map(([content, at]) => cached({ role: "system" as const, content }, at)), {
    maxLength: 2
  }),
  fc.array(fc.oneof(user, assistant, fc.array(toolResult, { minLength: 1, maxLength: 2 })), {
    minLength: 1,
    maxLength: 4
  })
).map(([system, turns]) => {
  const out: Array<Domain.Message> = [...system]
  for (const turn of turns) {
    if (Array.isArray(turn)) out.push(...turn)
    else if (turn.role === "user" && out.at(-1)?.role === "tool") out.push({ role: "assistant", content: "ok" }, turn)
    else out.push(turn)
  }
  return out
})

const tool: fc.Arbitrary<Domain.ToolDefinition> = fc.record({
  name,
  description: word,
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } } }),
  strict: fc.boolean(),
  cache: fc.constantFrom<Domain.CacheBreakpoint>({}, { ttl: "1h" })
}, { requiredKeys: ["name", "parameters"] })

const request: fc.Arbitrary<ChatRequest> = fc.record({
  messages,
  // Above every thinking budget, which it would otherwise lower.
  maxTokens: fc.integer({ min: 64_000, max: 200_000 }),
  temperature: fc.double({ min: 0, max: 1, noNaN: true }),
  topP: fc.double({ min: 0, max: 1, noNaN: true }),
  stop: fc.array(word, { minLength: 1, maxLength: 4 }),
  tools: fc.array(tool, { minLength: 1, maxLength: 2 }),
  toolChoice: fc.oneof(
    fc.constantFrom("auto" as const, "none" as const, "required" as const),
    name.map((tool) => ({ tool }))
  ),
  parallelToolCalls: fc.boolean(),
  reasoningEffort: fc.constantFrom<ReasoningEffort>("minimal", "low", "medium", "high", "xhigh", "max"),
  user: word
}, { requiredKeys: ["messages", "maxTokens"] })

// What a request decodes back to: the tool choice goes with tools only, and parallel calls turned off as
// `disable_parallel_tool_use` on it (an `auto` one when it has none; never on `none`); thinking stays off after a tool
// call sent without its signed thinking and with a choice that forces a tool (Anthropic refuses both); the user is
// the session too; with thinking on, a temperature but 1 and a top_p below 0.95 are not sent (Anthropic refuses them),
// nor a top_p beside a temperature (the newer models refuse both).
const expected = (original: ChatRequest): ChatRequest => {
  const { parallelToolCalls, reasoningEffort, temperature, toolChoice, topP, user, ...rest } = original
  const last = [...original.messages].reverse().find((message) => message.role === "assistant")
  const tools = original.tools !== undefined
  const forced = tools && toolChoice !== undefined && toolChoice !== "auto" && toolChoice !== "none"
  const thinkingOff = forced ||
    (last !== undefined && (last.toolCalls?.length ?? 0) > 0 && last.providerMetadata === undefined)
  const serial = tools && parallelToolCalls === false && toolChoice !== "none"
  const thinking = reasoningEffort !== undefined && !thinkingOff
  const sentTemperature = temperature !== undefined && (!thinking || temperature === 1)
  return {
    ...rest,
    ...(sentTemperature ? { temperature } : {}),
    ...(topP !== undefined && !sentTemperature && (!thinking || topP >= 0.95) ? { topP } : {}),
    ...(tools && (toolChoice !== undefined || serial) ? { toolChoice: toolChoice ?? "auto" } : {}),
    ...(serial ? { parallelToolCalls: false } : {}),
    ...(reasoningEffort !== undefined && !thinkingOff ? { reasoningEffort } : {}),
    ...(user !== undefined ? { user, session: user } : {})
  }
}

const isMessagesRequest = Schema.is(WireMessagesRequest)

// Six breakpoints: two tools', the system's and three parts'; the wire takes four.
const sixBreakpoints: ChatRequest = {
  messages: [
    { role: "system", content: "Rules", cache: {} },
    {
      role: "user",
      content: ["a", "b", "c"].map((text) => ({ type: "text" as const, text, cache: {} }))
    }
  ],
  tools: ["f", "g"].map((name) => ({ name, parameters: { type: "object" }, cache: {} }))
}

describe("internal/wire/anthropic: the request both ways", () => {
  it("a request encoded for the wire decodes back to itself", () => {
    fc.assert(fc.property(request, (original) => {
      // Of more breakpoints, the last four are sent (below).
      fc.pre(breakpointsIn(original) <= 4)
      // A breakpoint of an hour after a shorter one is sent for five minutes (below).
      fc.pre(lifetimesInOrder(original))
      const body = requestBody(original, { model: "claude-test", stream: true, maxTokens: 4096, systemInPlace: false })
      expect(isMessagesRequest(body)).toBe(true)
      if (!isMessagesRequest(body)) return
      expect(Result.getOrThrow(toRequest(body))).toEqual(expected(original))
      expect(body.stream).toBe(true)
    }))
  })

  it("a breakpoint of an hour after a shorter one (tools, system, messages) is sent for five minutes", () => {
    fc.assert(fc.property(request, (original) => {
      fc.pre(breakpointsIn(original) <= 4)
      const body = requestBody(original, { model: "claude-test", stream: false, maxTokens: 4096, systemInPlace: false })
      const sent = breakpointBlocks(body).map(([list, i]) => (list[i] as { cache_control: { ttl?: string } }))
      expect(sent.map((block) => block.cache_control.ttl)).toEqual(sentLifetimes(lifetimesIn(original)))
    }))
  })

  it("a prompt cache key, or cacheConversations, is a breakpoint on the last message's last block, where none is", () => {
    fc.assert(fc.property(request, fc.boolean(), fc.boolean(), (marked, unmarked, everyConversation) => {
      // Half the requests without a breakpoint of their own (the drawn ones nearly always have one, on their tools).
      const drawn = unmarked ? withoutBreakpoints(marked) : marked
      const options = { model: "m", stream: false, maxTokens: 64, systemInPlace: false }
      const plain = requestBody(drawn, options)
      const cached = everyConversation
        ? requestBody(drawn, { ...options, cacheConversations: true })
        : requestBody({ ...drawn, promptCacheKey: "conversation-1" }, options)
      const messages = plain["messages"] as ReadonlyArray<{ readonly content: string | ReadonlyArray<JsonObject> }>
      const content = messages.at(-1)?.content
      const blocks = typeof content === "string" ? [{ type: "text", text: content }] : content ?? []
      const last = blocks.at(-1)
      const added = breakpointBlocks(plain).length === 0 && last !== undefined && last["type"] !== "thinking" &&
        last["type"] !== "redacted_thinking"
      if (!added) {
        expect(cached).toStrictEqual(plain)
      } else {
        const cachedMessages = cached["messages"] as typeof messages
        expect(cachedMessages.slice(0, -1)).toStrictEqual(messages.slice(0, -1))
        expect(cachedMessages.at(-1)!.content).toStrictEqual([
          ...blocks.slice(0, -1),
          { ...last, cache_control: { type: "ephemeral" } }
        ])
        expect(breakpointBlocks(cached)).toHaveLength(1)
      }
    }))
  })

  it("of more than four breakpoints, the last four in the prompt's order (tools, system, messages) are sent", () => {
    const body = requestBody(sixBreakpoints, { model: "m", stream: false, maxTokens: 64, systemInPlace: false })
    const marked = (blocks: unknown) =>
      (blocks as ReadonlyArray<Record<string, unknown>>).map((block) => block["cache_control"] !== undefined)
    expect(marked(body["tools"])).toEqual([false, false])
    expect(marked(body["system"])).toEqual([true])
    expect(marked((body["messages"] as ReadonlyArray<{ content: unknown }>)[0]!.content)).toEqual([true, true, true])
  })

  it("a system message in its place comes back in its place", () => {
    const original: ChatRequest = {
      messages: [
        { role: "user", content: "Hi" },
        { role: "system", content: "Be brief." },
        { role: "assistant", content: "Hello" }
      ],
      maxTokens: 100
    }
    const body = requestBody(original, {
      model: "claude-opus-4-8",
      stream: false,
      maxTokens: 4096,
      systemInPlace: true
    })
    expect(body["messages"]).toEqual([
      { role: "user", content: "Hi" },
      { role: "system", content: "Be brief." },
      { role: "assistant", content: "Hello" }
    ])
    expect(isMessagesRequest(body) && Result.getOrThrow(toRequest(body))).toEqual(original)
  })

  it("a PDF document block, base64 or by URL, is a PDF part written back as the same block", () => {
    const blocks = [
      { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0xLjQ=" } },
      {
        type: "document",
        source: { type: "url", url: "https://example.com/files/42" },
        cache_control: { type: "ephemeral" }
      }
    ] as const
    const request = Result.getOrThrow(toRequest({
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: [{ type: "text", text: "Summarize" }, ...blocks] }]
    }))
    expect(request.messages[0]!.content).toEqual([
      { type: "text", text: "Summarize" },
      { type: "image", url: "data:application/pdf;base64,JVBERi0xLjQ=" },
      { type: "image", url: "https://example.com/files/42", mediaType: "application/pdf", cache: {} }
    ])
    const body = requestBody(request, { model: "m", stream: false, maxTokens: 10, systemInPlace: false })
    expect(body["messages"]).toEqual([{ role: "user", content: [{ type: "text", text: "Summarize" }, ...blocks] }])
  })

  it("a document block's title, context and citations are the part's, written back as the block's", () => {
    const block = {
      type: "document",
      source: { type: "url", url: "https://example.com/files/42" },
      title: "Annual report",
      context: "Written by the board.",
      citations: { enabled: true }
    } as const
    const request = Result.getOrThrow(
      toRequest({ model: "m", max_tokens: 10, messages: [{ role: "user", content: [block] }] })
    )
    expect(request.messages[0]!.content).toEqual([{
      type: "image",
      url: "https://example.com/files/42",
      mediaType: "application/pdf",
      document: { title: "Annual report", context: "Written by the board.", citations: true }
    }])
    const body = requestBody(request, { model: "m", stream: false, maxTokens: 10, systemInPlace: false })
    expect(body["messages"]).toEqual([{ role: "user", content: [block] }])
    // Null fields are unset, as everywhere in the body.
    const nulls = Result.getOrThrow(toRequest({
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: [{ ...block, title: null, context: null, citations: null }] }]
    }))
    expect(nulls.messages[0]!.content).toEqual([
      { type: "image", url: "https://example.com/files/42", mediaType: "application/pdf" }
    ])
  })

  it("a document of another source (plain text, content) is a Problem naming the source", () => {
    const refused = Result.getOrThrow(Result.flip(decodeMessages(JSON.stringify({
      model: "m",
      max_tokens: 10,
      messages: [{
        role: "user",
        content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "hello" } }]
      }]
    }))))
    expect(refused).toBeInstanceOf(Problem)
    expect(refused.param).toMatch(/^messages\.0\.content\.0/)
  })

  it("a tool_use block in a user turn is a Problem at its type", () => {
    const refused = Result.getOrThrow(Result.flip(toRequest({
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "f", input: {} }] }]
    })))
    expect(refused).toBeInstanceOf(Problem)
    expect(refused).toMatchObject({ param: "messages.0.content.0.type" })
  })
})

// ---------------------------------------------------------------------------
// The reply

const usage: fc.Arbitrary<Usage> = fc.record({
  input: fc.nat(1000),
  read: fc.nat(1000),
  written: fc.nat(1000),
  forAnHour: fc.nat(1000),
  output: fc.nat(1000),
  thinking: fc.nat(1000)
}).map(({ forAnHour, input, output, read, thinking, written }) => ({
  promptTokens: input + read + written + forAnHour,
  completionTokens: output + thinking,
  totalTokens: input + read + written + forAnHour + output + thinking,
  cachedPromptTokens: read,
  cacheWriteTokens: written + forAnHour,
  cacheWrite1hTokens: forAnHour,
  reasoningTokens: thinking,
  estimated: false
}))

// Finish reasons with a `stop_reason` of their own (`other` is written as `end_turn`, which reads back as `stop`).
const finishReason = fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter")

const response: fc.Arbitrary<ChatResponse> = fc.record({
  id: name.map((id) => `msg_${id}`),
  model: name,
  text: word,
  // Anthropic's own ids, which the gateway keeps.
  toolCalls: fc.array(toolCall.map((call) => ({ ...call, id: `toolu_${call.id}` })), { maxLength: 2 }),
  thinking: thinking.map((blocks) =>
    blocks.filter((block) => block["type"] === "redacted_thinking" || block["thinking"] !== "")
  ),
  finishReason,
  usage
}).map(({ thinking, ...fields }) => ({
  ...fields,
  provider: "anthropic",
  latency: Duration.millis(1),
  keyId: "k",
  ...(thinking.some((block) => block["type"] === "thinking")
    ? { reasoning: thinking.map((block) => block["thinking"] ?? "").join("") }
    : {}),
  ...(thinking.length > 0 ? { providerMetadata: metadataOf(thinking)! } : {})
}))

describe("internal/wire/anthropic: the reply", () => {
  it("a reply written as a message reads back as itself", () => {
    fc.assert(fc.property(response, (original) => {
      const body = JSON.parse(message(original, original.id)) as Record<string, unknown>
      expect(Schema.is(Message)(body)).toBe(true)
      expect(reply(body)).toEqual({
        id: original.id,
        model: original.model,
        // A reply with neither text nor calls still has its (empty) text block.
        text: original.text,
        reasoning: original.reasoning,
        toolCalls: original.toolCalls,
        finishReason: original.finishReason,
        usage: original.usage,
        providerMetadata: original.providerMetadata
      })
    }))
  })

  const block = fc.oneof(
    loose({ type: fc.constant("text"), text: word }),
    loose({ type: fc.constant("tool_use"), id: name, name, input: fc.object({ maxDepth: 1 }) }),
    loose({ type: fc.constant("thinking"), thinking: word, signature: word }),
    loose({ type: fc.constantFrom("redacted_thinking", "server_tool_use"), data: word }),
    junk
  )

  it("the reader throws exactly for the messages the schema refuses", () => {
    fc.assert(fc.property(loose({ content: fc.array(block, { maxLength: 3 }) }), (body) => {
      let threw = false
      try {
        reply(body)
      } catch (error) {
        expect(error).toBeInstanceOf(ShapeError)
        threw = true
      }
      expect(threw).toBe(!Schema.is(Message)(body))
    }))
  })
})

// ---------------------------------------------------------------------------
// The stream

class DecodeFailure {
  readonly _tag = "DecodeFailure"
  constructor(readonly detail: string) {}
}

class ErrorEvent {
  readonly _tag = "ErrorEvent"
  constructor(readonly body: unknown) {}
}

const parser = () =>
  new AnthropicStreamParser({
    provider: "anthropic",
    model: "claude-test",
    keyId: "k",
    secret: Redacted.make("sk"),
    request: { messages: [] },
    startMillis: 0,
    now: () => 0,
    requestId: () => undefined,
    errorOf: (body) => new ErrorEvent(body) as unknown as LlmError,
    decodeError: (detail) => new DecodeFailure(detail) as unknown as LlmError,
    maxResponseBytes: 1 << 24,
    maxEventSize: undefined
  })

const bytes = (text: string) => new TextEncoder().encode(text)

// What a stream's chunks amount to: the text, the reasoning, each call whole, the usage and the finish reason.
const collected = (chunks: ReadonlyArray<ChatChunk>) => {
  let text = ""
  let reasoning = ""
  const calls: Array<{ id: string; name: string; arguments: string }> = []
  let usage: Usage | undefined
  let finish: FinishReason | undefined
  for (const chunk of chunks) {
    switch (chunk._tag) {
      case "TextDelta":
        text += chunk.text
        break
      case "ReasoningDelta":
        reasoning += chunk.text
        break
      case "ToolCallDelta": {
        const call = calls[chunk.index] ??= { id: "", name: "", arguments: "" }
        if (chunk.id !== undefined) call.id = chunk.id
        if (chunk.name !== undefined) call.name = chunk.name
        call.arguments += chunk.arguments
        break
      }
      case "Usage":
        usage = chunk.usage
        break
      case "Finish":
        finish = chunk.finishReason
        break
    }
  }
  return { text, reasoning, calls, usage, finish }
}

// A reply's chunks as a provider streams them: text and reasoning pieces, calls opened in order and their arguments
// in pieces (a call's pieces may come after the next call opened), the usage, and the end.
const replyChunks: fc.Arbitrary<ReadonlyArray<ChatChunk>> = fc.record({
  pieces: fc.array(
    fc.oneof(
      word.map((text): ChatChunk => ({ _tag: "TextDelta", text })),
      word.map((text): ChatChunk => ({ _tag: "ReasoningDelta", text }))
    ),
    { maxLength: 6 }
  ),
  calls: fc.array(fc.tuple(name, name, fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 3 })), {
    maxLength: 3
  }),
  usage: fc.option(usage, { nil: undefined }),
  finishReason
}).map(({ calls, finishReason, pieces, usage }) => {
  const chunks: Array<ChatChunk> = [...pieces]
  calls.forEach(([id, callName], index) =>
    chunks.push({ _tag: "ToolCallDelta", index, id: `toolu_${id}`, name: callName, arguments: "" })
  )
  calls.forEach(([, , args], index) => {
    for (const piece of args) chunks.push({ _tag: "ToolCallDelta", index, arguments: piece })
  })
  if (usage !== undefined) chunks.push({ _tag: "Usage", usage })
  chunks.push({
    _tag: "Finish",
    finishReason,
    id: "r",
    model: "m",
    provider: "p",
    latency: Duration.millis(1)
  })
  return chunks
})

describe("internal/wire/anthropic: the stream", () => {
  it("events the gateway writes read back as the chunks they were written from", () => {
    fc.assert(fc.property(replyChunks, (chunks) => {
      const written = streamEncoder("msg_1", "claude-test").batch(chunks).bytes
      const out: Array<ChatChunk> = []
      const read = parser()
      expect(read.push([written], out)).toBeUndefined()
      expect(read.done).toBe(true)
      const sent = collected(chunks)
      const got = collected(out)
      expect(got.text).toBe(sent.text)
      expect(got.reasoning).toBe(sent.reasoning)
      // A call that streamed no arguments is `{}`, as the whole reply says.
      expect(got.calls).toEqual(sent.calls.map((call) => ({ ...call, arguments: call.arguments || "{}" })))
      expect(got.finish).toBe(sent.finish)
      expect(got.usage).toEqual({ cacheWriteTokens: 0, cacheWrite1hTokens: 0, ...(sent.usage ?? emptyUsage) })
    }))
  })

  const index = fc.constantFrom<unknown>(0, 1, -1, 2.5, "0", 70_000)
  const event = fc.oneof(
    loose({ type: fc.constant("message_start"), message: fc.oneof(fc.constant({ id: "msg_1" }), junk) }),
    loose({
      type: fc.constant("content_block_start"),
      index,
      content_block: fc.oneof(
        loose({ type: fc.constantFrom("text", "thinking", "redacted_thinking", "tool_use"), id: name, name }),
        junk
      )
    }),
    loose({
      type: fc.constant("content_block_delta"),
      index,
      delta: fc.oneof(
        loose({
          type: fc.constantFrom(
            "text_delta",
            "input_json_delta",
            "thinking_delta",
            "signature_delta",
            "citations_delta"
          ),
          text: word,
          partial_json: word,
          thinking: word,
          signature: word
        }),
        junk
      )
    }),
    loose({ type: fc.constantFrom("content_block_stop", "message_delta", "ping", "error", "future_event"), index })
  )

  // Blocks 0 (text) and 1 (a tool's) are open, so that a delta's index is either started or not a valid one.
  const opened = [
    `{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":1}}}`,
    `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
    `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`
  ].map((data) => `data: ${data}\n\n`).join("")

  it("the reader refuses exactly the events the schema refuses", () => {
    fc.assert(fc.property(event, (value) => {
      const read = parser()
      const out: Array<ChatChunk> = []
      expect(read.push([bytes(opened)], out)).toBeUndefined()
      const failure: unknown = read.push([bytes(`data: ${JSON.stringify(value)}\n\n`)], out)
      expect(failure instanceof DecodeFailure).toBe(!Schema.is(StreamEvent)(value))
      if (value["type"] === "error") expect(failure).toBeInstanceOf(ErrorEvent)
    }))
  })
})

// ---------------------------------------------------------------------------
// The error body

describe("internal/wire/anthropic: the error body", () => {
  it("is Anthropic's shape, with the type of its status, and the client takes it for one", () => {
    fc.assert(fc.property(fc.integer({ min: 400, max: 599 }), word, (status, text) => {
      const body = JSON.parse(errorJson(errorType(status), text)) as Record<string, unknown>
      expect(body).toEqual({ type: "error", error: { type: errorType(status), message: text } })
      expect(isErrorPayload(body)).toBe(true)
    }))
    expect([400, 401, 402, 403, 404, 413, 429, 500, 504, 529].map(errorType)).toEqual([
      "invalid_request_error",
      "authentication_error",
      "billing_error",
      "permission_error",
      "not_found_error",
      "request_too_large",
      "rate_limit_error",
      "api_error",
      "timeout_error",
      "overloaded_error"
    ])
  })
  it("types a batch's errored result as a call answered its body is typed, by the status its type names", () => {
    const documented = [400, 401, 402, 403, 404, 413, 429, 500, 504, 529]
    fc.assert(fc.property(fc.constantFrom(...documented), word, (status, text) => {
      const body = errorJson(errorType(status), text)
      const [line] = readBatchLines(
        JSON.stringify({ custom_id: "a", result: { type: "errored", error: JSON.parse(body) } })
      )
      expect(line!.outcome).toMatchObject({ _tag: "Failed", status })
      const outcome = line!.outcome as { readonly status: number | undefined; readonly body: unknown }
      const read = fromHttpFailure({
        provider: "anthropic",
        model: "m",
        status: outcome.status,
        body: outcome.body,
        nowMillis: 0
      })
      const called = fromHttpFailure({
        provider: "anthropic",
        model: "m",
        status,
        body: JSON.parse(body),
        nowMillis: 0
      })
      expect(read).toEqual(called)
    }))
  })
})

// ---------------------------------------------------------------------------
// The simulator reads what the client writes

const blank = fc.constantFrom("", " ", "\n\t")
const blankPart = blank.map((text): Domain.ContentPart => ({ type: "text", text }))

// One exchange as the API takes it: a user turn, then the assistant's, its thinking signed as the simulator signs it,
// and its tool calls (ids of the exchange's own) answered by the next turn's results.
const exchange = (at: number): fc.Arbitrary<ReadonlyArray<Domain.Message>> =>
  fc.record({
    // Blank texts among them, which the encoder leaves out (`wire/emptyText.ts`), but in the first user turn: a
    // conversation says something.
    user: at === 0
      ? fc.oneof(spoken, fc.array(part, { minLength: 1, maxLength: 3 }))
      : fc.oneof(blank, word, fc.array(fc.oneof(blankPart, part), { minLength: 1, maxLength: 3 })),
    text: fc.oneof(blank, word),
    calls: fc.array(fc.record({ name, arguments: argumentsText }), { maxLength: 2 }),
    thinking: fc.array(
      fc.oneof(
        word.map((text) => ({ type: "thinking", thinking: text, signature: signatureOf(text) })),
        name.map((data) => ({ type: "redacted_thinking", data }))
      ),
      { maxLength: 2 }
    ),
    results: fc.array(word, { minLength: 2, maxLength: 2 })
  }).map(({ calls, results, text, thinking, user }) => {
    const toolCalls = calls.map((call, j) => ({ ...call, id: `toolu_${at}_${j}` }))
    return [
      { role: "user", content: user },
      {
        role: "assistant",
        content: text,
        ...(toolCalls.length > 0 ? { toolCalls } : {}),
        ...(thinking.length > 0 ? { providerMetadata: metadataOf(thinking)! } : {})
      },
      ...toolCalls.map((call, j): Domain.Message => ({ role: "tool", toolCallId: call.id, content: results[j]! }))
    ]
  })

const conversation: fc.Arbitrary<ReadonlyArray<Domain.Message>> = fc.tuple(
  fc.array(word.map((content): Domain.Message => ({ role: "system", content })), { maxLength: 2 }),
  fc.tuple(exchange(0), exchange(1), exchange(2)).chain((exchanges) =>
    fc.integer({ min: 1, max: 3 }).map((count) => exchanges.slice(0, count).flat())
  ),
  fc.option(word, { nil: undefined })
).map(([system, turns, last]) => [...system, ...turns, ...(last === undefined ? [] : [Domain.user(last)])])

// A request the API takes: a limit above the least thinking budget when it reasons, a named tool among the tools.
const sent: fc.Arbitrary<ChatRequest> = fc.record({
  messages: conversation,
  maxTokens: fc.integer({ min: 1, max: 200_000 }),
  temperature: fc.double({ min: 0, max: 1, noNaN: true }),
  stop: fc.array(word, { minLength: 1, maxLength: 2 }),
  tools: fc.uniqueArray(tool, { minLength: 1, maxLength: 2, selector: (one) => one.name }),
  toolChoice: fc.constantFrom("auto" as const, "none" as const, "required" as const, "named" as const),
  reasoningEffort: fc.constantFrom<ReasoningEffort>("none", "minimal", "low", "high", "max")
}, { requiredKeys: ["messages"] }).map(({ toolChoice, ...request }) =>
  toolChoice === "named" && request.tools !== undefined
    ? { ...request, toolChoice: { tool: request.tools.at(-1)!.name } }
    : toolChoice === "named"
    ? request
    : { ...request, toolChoice }
)

describe("internal/wire/anthropic: the simulator reads what the client writes", () => {
  it("a body the client writes is one the simulator's request check takes, with its model, tools and limit", () => {
    fc.assert(fc.property(sent, fc.boolean(), (original, stream) => {
      const body = requestBody(original, { model: "claude-test", stream, maxTokens: 4096, systemInPlace: false })
      const decoded = read(decodeSimulated(body))
      expect(decoded.stream).toBe(stream)
      expect(decoded.prompt.model).toBe("claude-test")
      expect(decoded.prompt.maxTokens).toBe(body["max_tokens"])
      expect(decoded.prompt.reasoning).toBe(body["thinking"] !== undefined)
      expect(decoded.prompt.tools.map((one) => one.name)).toEqual((original.tools ?? []).map((one) => one.name))
    }))
  })
})

// ---------------------------------------------------------------------------
// The official SDK's types

// The Messages body as the client writes it (`Written`), narrowed where the schema reads more than the SDK's type
// admits: a `system` turn among the messages (Anthropic's mid-conversation system message, newer than the SDK's type)
// goes only to the models that take one; an image's `media_type` and a tool's `input_schema` are read as any string
// and any object (the API checks them), and the client writes a data URL's type and a tool's JSON Schema object;
// `output_config.effort` is read as any string, so a level the gateway does not know yet is left out, not refused.
type Sent = Written<typeof WireMessagesRequest.Type>
type SentBlock = Exclude<Sent["messages"][number]["content"], string>[number]
type SentImage = Extract<SentBlock, { type: "image" }>
type Base64Source = Extract<SentImage["source"], { type: "base64" }>
type ClientImage = Omit<SentImage, "source"> & {
  source:
    | Exclude<SentImage["source"], Base64Source>
    | Omit<Base64Source, "media_type"> & { media_type: Anthropic.Base64ImageSource["media_type"] }
}
type SentResult = Extract<SentBlock, { type: "tool_result" }>
type SentResultBlock = Exclude<NonNullable<SentResult["content"]>, string>[number]
type ClientResult = Omit<SentResult, "content"> & {
  content?: string | Array<Exclude<SentResultBlock, SentImage> | ClientImage>
}
type ClientMessage = {
  role: "user" | "assistant"
  content: string | Array<Exclude<SentBlock, SentImage | SentResult> | ClientImage | ClientResult>
}
type ClientTool = Omit<NonNullable<Sent["tools"]>[number], "input_schema"> & {
  input_schema: Anthropic.Tool.InputSchema
}
type ClientOutputConfig = Omit<NonNullable<Sent["output_config"]>, "effort"> & {
  effort?: NonNullable<Anthropic.OutputConfig["effort"]>
}
type ClientBody = Omit<Sent, "messages" | "tools" | "output_config"> & {
  messages: Array<ClientMessage>
  tools?: Array<ClientTool>
  output_config?: ClientOutputConfig
}

// Fails to compile when a body the request schema reads (so every body `requestBody` writes, as the round trip above
// shows) is not one the SDK's own parameter type takes.
export const asSdkParams = (body: ClientBody): MessageCreateParamsBase => body

const sdkMessage: Anthropic.Message = {
  id: "msg_01",
  type: "message",
  role: "assistant",
  model: "claude-test",
  content: [
    { type: "thinking", thinking: "Weather first.", signature: "sig" },
    { type: "redacted_thinking", data: "opaque" },
    { type: "text", text: "Let me look.", citations: null },
    { type: "tool_use", id: "toolu_01", name: "get_weather", input: { city: "Paris" }, caller: { type: "direct" } }
  ],
  stop_reason: "tool_use",
  stop_sequence: null,
  stop_details: null,
  container: null,
  diagnostics: null,
  usage: {
    input_tokens: 10,
    output_tokens: 20,
    cache_read_input_tokens: 3,
    cache_creation_input_tokens: 4,
    cache_creation: { ephemeral_5m_input_tokens: 1, ephemeral_1h_input_tokens: 3 },
    output_tokens_details: { thinking_tokens: 5 },
    server_tool_use: null,
    service_tier: "standard",
    speed: "standard",
    inference_geo: null
  }
}

const sdkEvents: ReadonlyArray<Anthropic.RawMessageStreamEvent> = [
  { type: "message_start", message: { ...sdkMessage, content: [], stop_reason: null } },
  { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Weather first." } },
  { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
  { type: "content_block_stop", index: 0 },
  { type: "content_block_start", index: 1, content_block: { type: "text", text: "", citations: null } },
  { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Let me look." } },
  { type: "content_block_stop", index: 1 },
  {
    type: "content_block_start",
    index: 2,
    content_block: { type: "tool_use", id: "toolu_01", name: "get_weather", input: {}, caller: { type: "direct" } }
  },
  { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "{\"city\":" } },
  { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "\"Paris\"}" } },
  { type: "content_block_stop", index: 2 },
  {
    type: "message_delta",
    delta: { stop_reason: "tool_use", stop_sequence: null, container: null, stop_details: null },
    usage: {
      input_tokens: 10,
      output_tokens: 20,
      cache_read_input_tokens: 3,
      cache_creation_input_tokens: 4,
      output_tokens_details: { thinking_tokens: 5 },
      server_tool_use: null
    }
  },
  { type: "message_stop" }
]

describe("internal/wire/anthropic: the official SDK's types", () => {
  it("a message typed as the SDK's fits the reply schema and reads as its text, thinking, call and usage", () => {
    const body = JSON.parse(JSON.stringify(sdkMessage)) as Record<string, unknown>
    expect(Schema.is(Message)(body)).toBe(true)
    expect(reply(body)).toMatchObject({
      id: "msg_01",
      text: "Let me look.",
      reasoning: "Weather first.",
      toolCalls: [{ id: "toolu_01", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }],
      finishReason: "tool_calls",
      usage: {
        promptTokens: 17,
        completionTokens: 20,
        cachedPromptTokens: 3,
        cacheWriteTokens: 4,
        cacheWrite1hTokens: 3
      }
    })
  })

  it("stream events typed as the SDK's fit the events' schema and read as the same reply", () => {
    for (const one of sdkEvents) expect(Schema.is(StreamEvent)(JSON.parse(JSON.stringify(one)))).toBe(true)
    const read = parser()
    const out: Array<ChatChunk> = []
    const sse = sdkEvents.map((one) => `event: ${one.type}\ndata: ${JSON.stringify(one)}\n\n`).join("")
    expect(read.push([bytes(sse)], out)).toBeUndefined()
    expect(read.done).toBe(true)
    expect(collected(out)).toMatchObject({
      text: "Let me look.",
      reasoning: "Weather first.",
      calls: [{ id: "toolu_01", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }],
      finish: "tool_calls",
      usage: { promptTokens: 17, completionTokens: 20, cachedPromptTokens: 3, cacheWriteTokens: 4, reasoningTokens: 5 }
    })
  })
})
