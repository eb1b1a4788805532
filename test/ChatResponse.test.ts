import { describe, expect, it } from "@effect/vitest"
import { ChatResponse } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

const full: ChatResponse.ChatResponse = {
  id: "chatcmpl-1",
  model: "gpt-4o",
  provider: "openai",
  text: "It is sunny.",
  reasoning: "The tool said so.",
  refusal: "I would rather not.",
  toolCalls: [
    { id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
    { id: "call_2", name: "get_time", arguments: "{", providerMetadata: { gemini: { thoughtSignature: "sig" } } }
  ],
  finishReason: "tool_calls",
  usage: {
    promptTokens: 12,
    completionTokens: 5,
    totalTokens: 17,
    cachedPromptTokens: 4,
    reasoningTokens: 2,
    estimated: true
  },
  cost: 0.0012,
  latency: Duration.millis(340),
  keyId: "sk-…f3a9",
  providerMetadata: { anthropic: { blocks: [{ type: "thinking", signature: "s" }] } },
  rateLimit: {
    limitRequests: 500,
    remainingRequests: 0,
    resetRequests: Duration.seconds(12),
    remainingTokens: 9000,
    resetTokens: Duration.millis(6)
  },
  skippedEvents: 2
}

describe("ChatResponse", () => {
  it("emptyUsage is a Usage: it encodes and decodes back equal, every count at zero", () => {
    const { cachedPromptTokens, completionTokens, estimated, promptTokens, reasoningTokens, totalTokens } =
      expectRoundTrip(
        ChatResponse.Usage,
        ChatResponse.emptyUsage
      )
    expect([promptTokens, completionTokens, totalTokens, cachedPromptTokens, reasoningTokens]).toEqual([0, 0, 0, 0, 0])
    expect(estimated).toBe(false)
  })

  it("a plain object with every optional field encodes, and decodes back to a plain object", () => {
    expectRoundTrip(ChatResponse.ChatResponse, full)
    const decoded = Schema.decodeUnknownSync(ChatResponse.ChatResponse)(
      Schema.encodeSync(ChatResponse.ChatResponse)(full)
    )
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.getPrototypeOf(decoded.usage)).toBe(Object.prototype)
  })

  it("encoding still checks the values: a negative or fractional count is refused, naming the field", () => {
    const encode = Schema.encodeUnknownSync(ChatResponse.ChatResponse)
    expect(() => encode({ ...full, usage: { ...full.usage, promptTokens: -1 } })).toThrow(/promptTokens/)
    expect(() => encode({ ...full, usage: { ...full.usage, completionTokens: 1.5 } })).toThrow(/completionTokens/)
    expect(() => encode({ ...full, finishReason: "done" })).toThrow(/finishReason/)
    expect(() => encode({ ...full, skippedEvents: -1 })).toThrow(/skippedEvents/)
  })
})
