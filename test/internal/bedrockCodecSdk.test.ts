// The Bedrock Converse codec against `@aws-sdk/client-bedrock-runtime`'s own types. The SDK types the request and
// reply as its client holds them, not as the REST body carries them: bytes are `Uint8Array` (base64 strings in the
// JSON body), JSON values its `DocumentType`, and a block with one of several fields set a union of one-field members.
// So: at compile time, every body the request schema reads, mapped that way, is the SDK's `ConverseRequest` less its
// `modelId` (the address's path); at run time, replies and stream events typed by the SDK decode with our schema and
// read, through the client's own readers, as what they say.
import type * as Bedrock from "@aws-sdk/client-bedrock-runtime"
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type { FinishReason } from "../../src/ChatResponse.js"
import * as Codec from "../../src/internal/wire/bedrock/codec.js"

type DocumentType = NonNullable<Bedrock.ToolUseBlock["input"]>

// A value as the SDK's client holds it: a base64 string (`bytes`, `redactedContent`) as its bytes, any JSON value
// (the schema's `unknown`) as a `DocumentType`, no `null` (the schema reads it as unset) and no readonly array.
type Held<T> = unknown extends T ? DocumentType
  : T extends ReadonlyArray<infer A> ? Array<Held<A>>
  : T extends object ? {
      -readonly [K in keyof T]: K extends "bytes" | "redactedContent" ? Uint8Array : Held<Exclude<T[K], null>>
    }
  : T

// A block the schema reads as one struct of optional fields, one of them set, as the client writes it: one field.
type OneOf<T> = { [K in keyof T]-?: { [P in K]-?: Exclude<T[K], undefined> } }[keyof T]

type Sent = Held<typeof Codec.ConverseRequest.Type>
type SentBlock = Sent["messages"][number]["content"][number]
type SentResult = NonNullable<SentBlock["toolResult"]>
type ClientBlock = OneOf<
  Omit<SentBlock, "toolResult" | "reasoningContent"> & {
    toolResult?: Omit<SentResult, "content"> & { content: Array<OneOf<SentResult["content"][number]>> }
    reasoningContent?: OneOf<NonNullable<SentBlock["reasoningContent"]>>
  }
>
type SentTools = NonNullable<Sent["toolConfig"]>
type ClientBody = Omit<Sent, "messages" | "system" | "toolConfig"> & {
  messages: Array<Omit<Sent["messages"][number], "content"> & { content: Array<ClientBlock> }>
  system?: Array<OneOf<NonNullable<Sent["system"]>[number]>>
  toolConfig?: {
    tools: Array<OneOf<SentTools["tools"][number]>>
    toolChoice?: OneOf<NonNullable<SentTools["toolChoice"]>>
  }
}

// Fails to compile when a body the request schema reads (so every body `requestBody` writes, as the codec's round
// trip shows) is not one the SDK's `ConverseRequest` takes.
export const asSdkRequest = (body: ClientBody): Omit<Bedrock.ConverseRequest, "modelId"> => body

// What each of the SDK's stop reasons reads as; a reason the SDK adds fails to compile here until it is placed.
const finishReasons: Record<Bedrock.StopReason, FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  tool_use: "tool_calls",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  guardrail_intervened: "content_filter",
  content_filtered: "content_filter",
  malformed_model_output: "other",
  malformed_tool_use: "other"
}

const sdkUsage: Bedrock.TokenUsage = {
  inputTokens: 10,
  outputTokens: 20,
  totalTokens: 37,
  cacheReadInputTokens: 3,
  cacheWriteInputTokens: 4
}

// Input, cache reads and cache writes are each part of the prompt.
const readUsage = {
  promptTokens: 17,
  completionTokens: 20,
  totalTokens: 37,
  cachedPromptTokens: 3,
  cacheWriteTokens: 4
}

const sdkResponse: Bedrock.ConverseResponse = {
  output: {
    message: {
      role: "assistant",
      content: [
        { reasoningContent: { reasoningText: { text: "Weather first.", signature: "sig" } } },
        { text: "Let me look." },
        { toolUse: { toolUseId: "tooluse_1", name: "get_weather", input: { city: "Paris" } } },
        { toolUse: { toolUseId: "tooluse_2", name: "get_time", input: {} } }
      ]
    }
  },
  stopReason: "tool_use",
  usage: sdkUsage,
  metrics: { latencyMs: 120 }
}

const sdkEvents: ReadonlyArray<Bedrock.ConverseStreamOutput> = [
  { messageStart: { role: "assistant" } },
  { contentBlockDelta: { contentBlockIndex: 0, delta: { reasoningContent: { text: "Weather " } } } },
  { contentBlockDelta: { contentBlockIndex: 0, delta: { reasoningContent: { text: "first." } } } },
  { contentBlockDelta: { contentBlockIndex: 0, delta: { reasoningContent: { signature: "sig" } } } },
  { contentBlockStop: { contentBlockIndex: 0 } },
  { contentBlockDelta: { contentBlockIndex: 1, delta: { text: "Let me " } } },
  { contentBlockDelta: { contentBlockIndex: 1, delta: { text: "look." } } },
  { contentBlockStop: { contentBlockIndex: 1 } },
  { contentBlockStart: { contentBlockIndex: 2, start: { toolUse: { toolUseId: "tooluse_1", name: "get_weather" } } } },
  { contentBlockDelta: { contentBlockIndex: 2, delta: { toolUse: { input: "{\"city\":" } } } },
  { contentBlockDelta: { contentBlockIndex: 2, delta: { toolUse: { input: "\"Paris\"}" } } } },
  { contentBlockStop: { contentBlockIndex: 2 } },
  { messageStop: { stopReason: "tool_use" } },
  { metadata: { usage: sdkUsage, metrics: { latencyMs: 120 } } }
]

// A value as the wire carries it: its JSON, parsed.
const json = (value: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(value))

describe("internal/wire/bedrock: the official SDK's types", () => {
  it("a reply typed as the SDK's fits the reply schema and reads as its reasoning, text, calls and usage", () => {
    const body = json(sdkResponse)
    expect(Schema.is(Codec.ConverseResponse)(body)).toBe(true)
    expect(Codec.reply(body)).toMatchObject({
      text: "Let me look.",
      reasoning: "Weather first.",
      toolCalls: [
        { id: "tooluse_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "tooluse_2", name: "get_time", arguments: "{}" }
      ],
      finishReason: "tool_calls",
      usage: readUsage,
      providerMetadata: Codec.replyMetadata("sig")
    })
  })

  it("each of the SDK's stop reasons reads as its finish reason, in a reply and at a stream's end", () => {
    for (const [stopReason, expected] of Object.entries(finishReasons)) {
      expect(Codec.reply(json({ ...sdkResponse, stopReason })).finishReason).toBe(expected)
      expect(Codec.finishReason(stopReason)).toBe(expected)
    }
  })

  it("stream events typed as the SDK's read as the same reply", () => {
    const reader = new Codec.StreamReader()
    const out: Array<ChatChunk> = []
    for (const event of sdkEvents) {
      const [type, payload] = Object.entries(json(event))[0]!
      reader.read(type, payload as Record<string, unknown>, out)
    }
    expect(out).toEqual([
      { _tag: "ReasoningDelta", text: "Weather " },
      { _tag: "ReasoningDelta", text: "first." },
      { _tag: "TextDelta", text: "Let me " },
      { _tag: "TextDelta", text: "look." },
      { _tag: "ToolCallDelta", index: 0, id: "tooluse_1", name: "get_weather", arguments: "" },
      { _tag: "ToolCallDelta", index: 0, arguments: "{\"city\":" },
      { _tag: "ToolCallDelta", index: 0, arguments: "\"Paris\"}" }
    ])
    expect(reader.stopReason).toBe("tool_use")
    expect(reader.signature).toBe("sig")
    expect(reader.usage).toMatchObject(readUsage)
  })
})
