import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { countTokens } from "gpt-tokenizer"
import type * as ChatChunk from "../../src/ChatChunk.js"
import * as TokenEstimate from "../../src/internal/llm/usage.js"
import * as Message from "../../src/Message.js"

const words = (count: number, seed: number) => {
  const pool = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do"]
  let out = ""
  for (let i = 0; i < count; i++) out += pool[(i * 7 + seed) % pool.length] + (i % 13 === 12 ? ".\n" : " ")
  return out
}

// `text` as the deltas of a stream, `size` characters each.
const deltas = (text: string, size: number, make: (piece: string) => ChatChunk.ChatChunk) => {
  const out: Array<ChatChunk.ChatChunk> = []
  for (let start = 0; start < text.length; start += size) out.push(make(text.slice(start, start + size)))
  return out
}

describe("tokenEstimate", () => {
  it.effect("counts text that looks like a special token as text", () =>
    Effect.gen(function*() {
      const usage = yield* TokenEstimate.estimateUsage(
        { messages: [Message.user("say <|endoftext|> please")] },
        { text: "<|endoftext|><|im_start|>", toolCalls: [] }
      )
      expect(usage.estimated).toBe(true)
      expect(usage.completionTokens).toBe(countTokens("<|endoftext|><|im_start|>", { disallowedSpecial: new Set() }))
      expect(usage.promptTokens).toBe(3 + 4 + countTokens("say <|endoftext|> please", { disallowedSpecial: new Set() }))
    }))

  it.effect("a reply counted as it streams gets the count of the whole reply, from after its last Restart", () =>
    Effect.gen(function*() {
      const text = words(30_000, 1)
      const reasoning = words(500, 3)
      const args = JSON.stringify({ query: words(800, 5) })
      const whole = yield* TokenEstimate.completionTokens({
        text,
        reasoning,
        toolCalls: [{ id: "c1", name: "search", arguments: args }]
      })
      yield* TokenEstimate.tokenizer
      const counter = TokenEstimate.makeReplyCounter()
      const chunks: Array<ChatChunk.ChatChunk> = [
        ...deltas(words(2_000, 2), 7, (piece) => ({ _tag: "TextDelta", text: piece })),
        {
          _tag: "Restart",
          attempt: 2,
          deployment: "b",
          model: "mb",
          from: "a",
          error: "StreamTruncatedError"
        },
        ...deltas(reasoning, 13, (piece) => ({ _tag: "ReasoningDelta", text: piece })),
        ...deltas(text, 50_000, (piece) => ({ _tag: "TextDelta", text: piece })),
        { _tag: "ToolCallDelta", index: 0, id: "c1", name: "search", arguments: "" },
        ...deltas(args, 11, (piece) => ({ _tag: "ToolCallDelta", index: 0, arguments: piece }))
      ]
      for (const chunk of chunks) counter.add(chunk)
      expect(counter.waiting()).toBe(false)
      expect(counter.completion()).toBe(whole)
    }))
})
