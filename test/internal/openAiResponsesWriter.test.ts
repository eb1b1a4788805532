import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as ChatChunk from "../../src/ChatChunk.js"
import type { ChatResponse, FinishReason } from "../../src/ChatResponse.js"
import { none } from "../../src/internal/wire/openAiResponses/namespace.js"
import { idsOf, response, streamEncoder } from "../../src/internal/wire/openAiResponses/writer.js"

const word = fc.string({ maxLength: 6 })
const count = fc.nat({ max: 100_000 })

// A reply as an engine gives it, no provider's metadata: text, reasoning and calls maybe empty; a cut reply calls
// nothing (where a provider cut one mid-call, the call is no call).
const reply = fc.record({
  text: word,
  reasoning: fc.option(fc.string({ minLength: 1, maxLength: 6 }), { nil: undefined }),
  toolCalls: fc.array(
    fc.record({
      id: fc.stringMatching(/^call_[a-z0-9]{1,6}$/),
      name: fc.stringMatching(/^[a-z]{1,8}$/),
      arguments: word
    }),
    { maxLength: 2 }
  ),
  refusal: fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
  cut: fc.constantFrom<FinishReason | undefined>(undefined, "length", "content_filter"),
  prompt: count,
  completion: count
}).map((r): ChatResponse => {
  const toolCalls = r.cut === undefined ? r.toolCalls : []
  return {
    id: "upstream",
    model: "gpt-test",
    provider: "openai",
    text: r.text,
    ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
    ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
    toolCalls,
    finishReason: r.cut ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
    usage: {
      promptTokens: r.prompt,
      completionTokens: r.completion,
      totalTokens: r.prompt + r.completion,
      cachedPromptTokens: 0,
      reasoningTokens: 0,
      estimated: false
    },
    latency: Duration.millis(5)
  }
})

const ids = idsOf("0e8d3c2a-1b4f-4a5e-9c6d-7f8e9a0b1c2d", 1_700_000_000)
const now = 1_700_000_009

// What the tests read of an event's data.
interface EventData {
  readonly type: string
  readonly response?: { readonly status: string; readonly completed_at?: number | null }
  readonly item?: { readonly type: string }
}

// Every event's data of a stream written batch by batch.
function streamed(reply: ChatResponse): Array<EventData> {
  const encoder = streamEncoder({
    ids,
    names: none,
    model: reply.model,
    echo: {},
    now: () => now,
    onFinished: () => Effect.void
  })
  // The reply as the engine streams it (`ChatChunk.fromResponse`), each chunk its own batch.
  const text = ChatChunk.fromResponse(reply).map((chunk) => new TextDecoder().decode(encoder.batch([chunk]).bytes))
    .join("")
  return text.split("\n\n").filter((one) => one !== "").map((one) => JSON.parse(one.slice(one.indexOf("data: ") + 6)))
}

describe("wire/openAiResponses/writer: the stream ends with the response its whole reply is", () => {
  it("the terminal event's response is the whole reply's object, field for field", () => {
    fc.assert(fc.property(reply, (reply) => {
      const events = streamed(reply)
      expect(events.at(-1)!.response!).toEqual(JSON.parse(response(reply, ids, none, {}, now).body))
    }))
  })

  it("completed_at: null while in progress, the time once completed, null for an incomplete response", () => {
    fc.assert(fc.property(reply, (reply) => {
      const events = streamed(reply)
      for (const opening of events.slice(0, 2)) expect(opening.response!.completed_at).toBeNull()
      const final = events.at(-1)!.response!
      expect(final.status).toBe(
        reply.finishReason === "length" || reply.finishReason === "content_filter"
          ? "incomplete" :
          "completed"
      )
      expect(final.completed_at).toBe(final.status === "completed" ? now : null)
    }))
  })

  it("a cut reply's message item is incomplete, in the stream as in the whole reply; an empty reply has one", () => {
    fc.assert(fc.property(reply, (reply) => {
      const events = streamed(reply)
      const done = events.filter((one) => one.type === "response.output_item.done" && one.item?.type === "message")
      const whole = JSON.parse(response(reply, ids, none, {}, now).body).output
        .filter((item: { type: string }) => item.type === "message")
      expect(done.map((one) => one.item)).toEqual(whole)
      if (reply.text === "" && reply.toolCalls.length === 0) expect(whole).toHaveLength(1)
      for (const item of whole) {
        expect(item.status).toBe(
          reply.finishReason === "stop" || reply.finishReason === "tool_calls"
            ? "completed"
            : "incomplete"
        )
      }
    }))
  })
})
