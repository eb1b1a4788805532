/**
 * Each dialect's one writer carries a reply's refusal, whole and streamed (docs/gateway.md, "A model's refusal"): for
 * any reply (text, reasoning, tool calls, a refusal or none, any finish), what a client folds from the stream the
 * gateway writes of it (`ChatChunk.fromResponse`, a chunk a batch) is what it reads of the whole reply. Chat
 * Completions carries the refusal in `message.refusal` and `delta.refusal`; Anthropic's Messages as a text block of its
 * own with `stop_reason: "refusal"`; Gemini as a text part of its own. (Responses: `openAiResponsesWriter.test.ts`.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "fast-check"
import * as ChatChunk from "../../src/ChatChunk.js"
import type { ChatResponse, FinishReason } from "../../src/ChatResponse.js"
import * as Anthropic from "../../src/internal/wire/anthropic/writer.js"
import type { StreamEncoder } from "../../src/internal/wire/dialect.js"
import * as GeminiCodec from "../../src/internal/wire/gemini/codec.js"
import * as Gemini from "../../src/internal/wire/gemini/writer.js"
import { completion } from "../../src/internal/wire/openAiChat/codec.js"
import * as Chat from "../../src/internal/wire/openAiChat/writer.js"

const piece = fc.string({ unit: "grapheme", maxLength: 8 })

// A reply as an engine gives it: a refusal or none, with or without text, reasoning and calls.
const reply = fc.record({
  text: piece,
  reasoning: fc.option(piece.filter((text) => text !== ""), { nil: undefined }),
  refusal: fc.option(piece, { nil: undefined }),
  toolCalls: fc.array(
    fc.record({ id: fc.stringMatching(/^call_[a-z0-9]{1,6}$/), name: fc.stringMatching(/^[a-z]{1,8}$/) }),
    { maxLength: 2 }
  ),
  finishReason: fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter", "other")
}).map((r): ChatResponse => ({
  id: "upstream",
  model: "m",
  provider: "p",
  text: r.text,
  ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
  ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
  toolCalls: r.toolCalls.map((call) => ({ ...call, arguments: "{}" })),
  finishReason: r.finishReason,
  usage: {
    promptTokens: 3,
    completionTokens: 5,
    totalTokens: 8,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: false
  },
  latency: Duration.millis(5)
}))

/** The text `encoder` writes of `response`'s stream, a chunk a batch. */
function streamText(encoder: StreamEncoder, response: ChatResponse): string {
  const decoder = new TextDecoder()
  return ChatChunk.fromResponse(response).map((chunk) => decoder.decode(encoder.batch([chunk]).bytes)).join("")
}

/** Each SSE event's data of `text` as `T` (what the test reads of it), `[DONE]` left out, its events ended by `end`. */
function dataOf<T>(text: string, end = "\n\n"): Array<T> {
  return text.split(end).filter((event) => event !== "").flatMap((event) => {
    const data = event.slice(event.indexOf("data: ") + 6)
    return data === "[DONE]" ? [] : [JSON.parse(data) as T]
  })
}

/** What the test reads of a `chat.completion.chunk`. */
interface ChatData {
  readonly choices: ReadonlyArray<{
    readonly delta: { readonly refusal?: string | null; readonly content?: string | null }
    readonly finish_reason: string | null
  }>
}

/** What the test reads of an Anthropic content block, whole or as a stream's `content_block_start` gives it. */
interface Block {
  readonly type: string
  text?: string
  thinking?: string
  signature?: string
}

/** What the test reads of an event of Anthropic's Messages stream. */
interface MessagesData {
  readonly type: string
  readonly index: number
  readonly content_block: Block
  readonly delta: {
    readonly type?: string
    readonly text?: string
    readonly thinking?: string
    readonly signature?: string
    readonly stop_reason?: string
  }
}

/** What the test reads of a Gemini part and response. */
interface Part {
  readonly text?: string
  readonly thought?: boolean
}
interface GeminiData {
  readonly candidates: ReadonlyArray<
    { readonly content: { readonly parts: ReadonlyArray<Part> }; readonly finishReason?: string }
  >
}

/** What an OpenAI client reads of a Chat Completions reply: its refusal, its text and why it stopped. */
interface ChatRead {
  refusal: string | null
  content: string
  finish: string | null
}

describe("wire writers: a reply's refusal, whole and streamed", () => {
  it("Chat Completions: delta.refusal, folded, is message.refusal; the text and finish reason as whole", () => {
    fc.assert(fc.property(reply, (response) => {
      const whole = JSON.parse(completion(response, "chatcmpl-1", 1)).choices[0]
      const read: ChatRead = { refusal: null, content: "", finish: null }
      for (const chunk of dataOf<ChatData>(streamText(Chat.streamEncoder("chatcmpl-1", "m", 1, false), response))) {
        const choice = chunk.choices[0]!
        if (typeof choice.delta.refusal === "string") read.refusal = (read.refusal ?? "") + choice.delta.refusal
        read.content += choice.delta.content ?? ""
        read.finish = choice.finish_reason ?? read.finish
      }
      expect(read).toEqual({
        refusal: whole.message.refusal,
        content: whole.message.content ?? "",
        finish: whole.finish_reason
      })
      expect(whole.message.refusal).toBe(response.refusal ?? null)
    }))
  })

  it("Anthropic: the refusal is a text block of its own, last but for a carrier, stop_reason refusal; streamed as whole", () => {
    fc.assert(fc.property(reply, (response) => {
      const whole = JSON.parse(Anthropic.message(response, "msg_1")) as {
        readonly content: Array<Block>
        readonly stop_reason: string
      }
      // The stream's blocks as a client assembles them: each start's block, its deltas joined.
      const blocks: Array<Block> = []
      let stop: string | undefined
      for (const event of dataOf<MessagesData>(streamText(Anthropic.streamEncoder("msg_1", "m"), response))) {
        if (event.type === "content_block_start") blocks[event.index] = { ...event.content_block }
        const block = blocks[event.index]
        if (event.type === "content_block_delta" && block !== undefined) {
          if (event.delta.type === "text_delta") block.text += event.delta.text ?? ""
          if (event.delta.type === "thinking_delta") block.thinking += event.delta.thinking ?? ""
          if (event.delta.type === "signature_delta") block.signature += event.delta.signature ?? ""
        }
        if (event.type === "message_delta") stop = event.delta.stop_reason
      }
      // An empty text block may be left out of a stream (an empty reply's); every other block is as whole.
      const said = (list: ReadonlyArray<Block>) => list.filter((block) => block.type !== "text" || block.text !== "")
      expect(said(blocks)).toEqual(said(whole.content))
      expect(stop).toBe(whole.stop_reason)
      if (response.refusal !== undefined) {
        expect(whole.stop_reason).toBe("refusal")
        // Last but for the gateway's carrier, a thinking block kept for the next turn.
        const last = whole.content.at(-1)?.type === "thinking" ? whole.content.at(-2) : whole.content.at(-1)
        expect(last).toEqual({ type: "text", text: response.refusal })
      }
    }))
  })

  it("Gemini: the refusal is a text part of its own after the text; the stream's text and finish as whole", () => {
    fc.assert(fc.property(reply, (response) => {
      const candidate = (JSON.parse(GeminiCodec.response(response, "r1", "m")) as GeminiData).candidates[0]!
      // What `@google/genai`'s `text` reads: the parts' texts that are not thoughts, joined.
      const text = (parts: ReadonlyArray<Part>) =>
        parts.filter((part) => typeof part.text === "string" && part.thought !== true).map((part) => part.text)
          .join("")
      let streamed = ""
      let finish: string | undefined
      for (const event of dataOf<GeminiData>(streamText(Gemini.streamEncoder("r1", "m"), response), "\r\n\r\n")) {
        streamed += text(event.candidates[0]!.content.parts)
        finish = event.candidates[0]!.finishReason ?? finish
      }
      expect(streamed).toBe(text(candidate.content.parts))
      expect(finish).toBe(candidate.finishReason)
      expect(text(candidate.content.parts)).toBe(response.text + (response.refusal ?? ""))
    }))
  })
})
