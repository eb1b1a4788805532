// The Chat Completions codec against the `openai` SDK's own types: at compile time, every body the request schema
// reads (so every body the client writes, as the codec's round trip shows) is one the SDK's parameter type takes, and
// the usage the gateway writes is the SDK's; at run time, replies and stream chunks typed by the SDK decode with our
// schemas and read, through the client's own readers, as the reply and chunks they say.
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import type OpenAI from "openai"
import type { ChatCompletionCreateParamsBase } from "openai/resources/chat/completions/completions"
import type { ChatChunk } from "../../src/ChatChunk.js"
import {
  Chunk,
  completion,
  type CreateRequest,
  reply,
  type usageObject
} from "../../src/internal/wire/openAiChat/codec.js"
import { chatStreamParser, sse } from "../utils/openAiChatWire.js"
import type { Written } from "../utils/sdkTypes.js"

// The body as the client writes it (`Written`), narrowed where the schema reads more than the SDK's type admits: the
// schema takes one message shape for every role (`toRequest` checks what each role needs), where the client writes
// each role's own fields; `reasoning_effort` is read as any string (a level added later passes through), and the
// client writes one of the SDK's levels.
type Sent = Written<typeof CreateRequest.Type>
type SentMessage = Sent["messages"][number]
type SentPart = Exclude<NonNullable<SentMessage["content"]>, string>[number]
type TextPart = Extract<SentPart, { type: "text" }>
type ClientMessage =
  | Omit<SentMessage, "role" | "content"> & { role: "system" | "developer"; content: string | Array<TextPart> }
  | Omit<SentMessage, "role" | "content"> & { role: "user"; content: string | Array<SentPart> }
  | Omit<SentMessage, "role" | "content"> & { role: "assistant"; content?: string | Array<TextPart> }
  | Omit<SentMessage, "role" | "content" | "tool_call_id"> & {
    role: "tool"
    content: string | Array<TextPart>
    tool_call_id: string
  }
// The schema takes any `service_tier` (an OpenAI-compatible server's own names too); OpenAI's client sends its own.
type ClientBody = Omit<Sent, "messages" | "reasoning_effort" | "service_tier"> & {
  messages: Array<ClientMessage>
  reasoning_effort?: NonNullable<OpenAI.ReasoningEffort>
  service_tier?: NonNullable<ChatCompletionCreateParamsBase["service_tier"]>
}

// Fails to compile when a body the request schema reads is not one the SDK's own parameter type takes.
export const asSdkParams = (body: ClientBody): ChatCompletionCreateParamsBase => body
// Fails to compile when the usage the gateway and simulator write (in a reply and a stream's last chunk) is not the
// SDK's.
export const asSdkUsage = (usage: ReturnType<typeof usageObject>): OpenAI.CompletionUsage => usage

const sdkUsage: OpenAI.CompletionUsage = {
  prompt_tokens: 30,
  completion_tokens: 12,
  total_tokens: 42,
  prompt_tokens_details: { cached_tokens: 8, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 5,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0
  }
}

const readUsage = {
  promptTokens: 30,
  completionTokens: 12,
  totalTokens: 42,
  cachedPromptTokens: 8,
  reasoningTokens: 5,
  estimated: false
}

const sdkText: OpenAI.ChatCompletion = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1,
  model: "gpt-test",
  choices: [{
    index: 0,
    message: { role: "assistant", content: "Hello there.", refusal: null },
    logprobs: null,
    finish_reason: "length"
  }],
  usage: sdkUsage
}

const sdkCalls: OpenAI.ChatCompletion = {
  id: "chatcmpl-2",
  object: "chat.completion",
  created: 1,
  model: "gpt-test",
  system_fingerprint: "fp_1",
  choices: [{
    index: 0,
    message: {
      role: "assistant",
      content: null,
      refusal: null,
      tool_calls: [
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } },
        { id: "call_2", type: "function", function: { name: "get_time", arguments: "{}" } }
      ]
    },
    logprobs: null,
    finish_reason: "tool_calls"
  }],
  usage: sdkUsage
}

const sdkRefused: OpenAI.ChatCompletion = {
  id: "chatcmpl-3",
  object: "chat.completion",
  created: 1,
  model: "gpt-test",
  choices: [{
    index: 0,
    message: { role: "assistant", content: null, refusal: "I can't help with that." },
    logprobs: null,
    finish_reason: "content_filter"
  }]
}

const chunk = (
  choices: OpenAI.ChatCompletionChunk["choices"],
  usage?: OpenAI.CompletionUsage
): OpenAI.ChatCompletionChunk => ({
  id: "chatcmpl-4",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-test",
  choices,
  ...(usage !== undefined ? { usage } : {})
})

const delta = (
  value: OpenAI.ChatCompletionChunk.Choice.Delta,
  finish: OpenAI.ChatCompletionChunk.Choice["finish_reason"] = null
): OpenAI.ChatCompletionChunk["choices"] => [{ index: 0, delta: value, logprobs: null, finish_reason: finish }]

const sdkChunks: ReadonlyArray<OpenAI.ChatCompletionChunk> = [
  chunk(delta({ role: "assistant", content: "", refusal: null })),
  chunk(delta({ content: "Let me " })),
  chunk(delta({ content: "look." })),
  chunk(delta({
    tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }]
  })),
  chunk(delta({ tool_calls: [{ index: 0, function: { arguments: "{\"city\":" } }] })),
  chunk(delta({
    tool_calls: [{ index: 1, id: "call_2", type: "function", function: { name: "get_time", arguments: "{}" } }]
  })),
  chunk(delta({ tool_calls: [{ index: 0, function: { arguments: "\"Paris\"}" } }] })),
  chunk(delta({}, "tool_calls")),
  chunk([], sdkUsage)
]

// A value as the wire carries it: its JSON, parsed.
const json = (value: unknown): Record<string, unknown> => JSON.parse(JSON.stringify(value))

describe("internal/wire/openAiChat/codec: the official SDK's types", () => {
  it("replies typed as the SDK's read as their text, calls, refusal, finish reason and usage", () => {
    expect(reply(json(sdkText))).toEqual({
      id: "chatcmpl-1",
      model: "gpt-test",
      text: "Hello there.",
      reasoning: undefined,
      refusal: undefined,
      toolCalls: [],
      finishReason: "length",
      usage: readUsage
    })
    expect(reply(json(sdkCalls))).toMatchObject({
      id: "chatcmpl-2",
      text: "",
      toolCalls: [
        { id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_2", name: "get_time", arguments: "{}" }
      ],
      finishReason: "tool_calls",
      usage: readUsage
    })
    expect(reply(json(sdkRefused))).toMatchObject({
      text: "",
      refusal: "I can't help with that.",
      finishReason: "content_filter",
      usage: undefined
    })
  })

  it("a reply the gateway writes is a chat completion as the SDK types it", () => {
    const written = completion(
      {
        model: "gpt-test",
        text: "",
        refusal: undefined,
        reasoning: undefined,
        toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{}" }],
        finishReason: "tool_calls",
        usage: readUsage
      },
      "chatcmpl-5",
      1
    )
    const expected: OpenAI.ChatCompletion = {
      id: "chatcmpl-5",
      object: "chat.completion",
      created: 1,
      model: "gpt-test",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: null,
          refusal: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{}" } }]
        },
        logprobs: null,
        finish_reason: "tool_calls"
      }],
      usage: sdkUsage
    }
    expect(JSON.parse(written)).toEqual(expected)
  })

  it("stream chunks typed as the SDK's fit the chunk schema and read as the same reply", () => {
    for (const one of sdkChunks) expect(Schema.is(Chunk)(json(one))).toBe(true)
    const read = chatStreamParser()
    const out: Array<ChatChunk> = []
    expect(read.push([new TextEncoder().encode(sse(...sdkChunks, "[DONE]"))], out)).toBeUndefined()
    expect(out.slice(0, -1)).toEqual([
      { _tag: "TextDelta", text: "Let me " },
      { _tag: "TextDelta", text: "look." },
      { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "get_weather", arguments: "" },
      { _tag: "ToolCallDelta", index: 0, arguments: "{\"city\":" },
      { _tag: "ToolCallDelta", index: 1, id: "call_2", name: "get_time", arguments: "{}" },
      { _tag: "ToolCallDelta", index: 0, arguments: "\"Paris\"}" },
      { _tag: "Usage", usage: readUsage }
    ])
    expect(out.at(-1)).toMatchObject({
      _tag: "Finish",
      finishReason: "tool_calls",
      id: "chatcmpl-4",
      model: "gpt-test"
    })
  })
})
