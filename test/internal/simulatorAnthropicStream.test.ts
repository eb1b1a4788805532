import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import { streamErrorEvent, streamErrorJson } from "../../src/internal/simulator/anthropic/errors.js"
import { renderStream, signatureOf } from "../../src/internal/simulator/anthropic/render.js"
import { quoteToken } from "../../src/internal/simulator/quoteToken.js"
import { usageOf } from "../../src/internal/simulator/usage.js"
import { errorJson } from "../../src/internal/wire/anthropic/errors.js"
import {
  stopReason,
  textBlock,
  thinkingBlock,
  toolUseBlock,
  wireUsage
} from "../../src/internal/wire/anthropic/reply.js"
import {
  AnthropicStreamParser,
  blockStart,
  blockStop,
  deltaHead,
  deltaTail,
  messageDelta,
  messageStart,
  messageStop,
  ping
} from "../../src/internal/wire/anthropic/stream.js"
import { event } from "../../src/internal/wire/anthropic/writer.js"
import { asciiJson } from "../../src/internal/wire/asciiJson.js"
import { OutputDecodeError } from "../../src/LlmError.js"
import type * as Reply from "../../src/simulator/Reply.js"
import { expected, jsonFragments, readBack, replies } from "../utils/simulatorReplies.js"

const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

// The simulator's Messages stream as it was written before the one writer: its own grammar over the codec's events,
// the oracle the writer's events must equal byte for byte, one SSE event each; the tail is what the usage and the finish
// write (the last block's stop, `message_delta`, `message_stop`). One field differs, on purpose:
// `message_start`'s model is written in ASCII (`asciiJson`, as the gateway writes it: `\u00e9` for `é`), the same
// string to a JSON reader; the old grammar wrote it with `JSON.stringify`.
function written(reply: Reply.Reply, meta: { id: string; created: number; model: string }) {
  const usage = wireUsage(usageOf(reply.usage))
  const start = (index: number, block: string) => event("content_block_start", blockStart(index, block))
  const delta = (index: number, type: Parameters<typeof deltaHead>[1], json: string) =>
    event("content_block_delta", deltaHead(index, type) + json + deltaTail)
  const stop = (index: number) => event("content_block_stop", blockStop(index))
  const events: Array<string> = [
    event("message_start", messageStart(`"${meta.id}"`, asciiJson(meta.model), { ...usage, output: 1, thinking: 0 })),
    event("ping", ping)
  ]
  let index = 0
  // The events that close the last block, written with the finish.
  let closing = 0
  if (reply.reasoning.length > 0) {
    events.push(start(index, thinkingBlock(`""`, `""`)))
    for (const token of reply.reasoning) events.push(delta(index, "thinking_delta", quoteToken(token)))
    events.push(delta(index, "signature_delta", `"${signatureOf(reply.reasoning.join(""))}"`))
    events.push(stop(index++))
    closing = 2
  }
  if (reply.content.length > 0) {
    events.push(start(index, textBlock(`""`)))
    for (const token of reply.content) events.push(delta(index, "text_delta", quoteToken(token)))
    events.push(stop(index++))
    closing = 1
  }
  for (const call of reply.toolCalls) {
    events.push(start(index, toolUseBlock(`"${toolId(call.id)}"`, JSON.stringify(call.name), "{}")))
    events.push(delta(index, "input_json_delta", `""`))
    for (const piece of call.fragments) events.push(delta(index, "input_json_delta", JSON.stringify(piece)))
    events.push(stop(index++))
    closing = 1
  }
  const lastStop = events.splice(events.length - closing, closing).join("")
  const end = event("message_delta", messageDelta(stopReason(reply.finishReason), usage)) +
    event("message_stop", messageStop)
  return { events, tail: lastStop + end }
}

// A tool call's fragments are pieces of its arguments' JSON object, as the simulator cuts them: none empty.
const reply = replies(/^(call_)?[a-z0-9]{1,8}$/, jsonFragments)

const meta = fc.record({
  id: fc.stringMatching(/^msg_[a-z0-9]{1,12}$/),
  created: fc.nat(),
  model: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })
})

const parser = () =>
  new AnthropicStreamParser({
    provider: "anthropic",
    model: "claude-test",
    keyId: "k1",
    secret: Redacted.make("sk-ant-test"),
    request: { messages: [] },
    startMillis: 0,
    now: () => 0,
    requestId: () => undefined,
    errorOf: () => new OutputDecodeError({ provider: "anthropic", model: "claude-test", detail: "error", raw: "" }),
    decodeError: (detail, raw) => new OutputDecodeError({ provider: "anthropic", model: "claude-test", detail, raw }),
    maxResponseBytes: 1 << 24,
    maxEventSize: undefined
  })

describe("the simulator's Anthropic Messages stream, written by the one writer", () => {
  it("each event is the one the simulator's own grammar wrote, byte for byte, each its own write", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = renderStream(reply, meta, undefined)
      const expected = written(reply, meta)
      expect(rendered.events).toEqual(expected.events)
      expect(rendered.tail).toBe(expected.tail)
    }))
  })

  it("the client's parser reads back the reply's text, reasoning, tool calls, usage and finish", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = renderStream(reply, meta, undefined)
      const chunks: Array<ChatChunk> = []
      const failed = parser().push([new TextEncoder().encode(rendered.events.join("") + rendered.tail)], chunks)
      expect(failed).toBeUndefined()
      expect(readBack(chunks)).toEqual(expected(reply))
      const usage = chunks.find((chunk) => chunk._tag === "Usage")
      expect(usage?._tag === "Usage" ? usage.usage.completionTokens : undefined).toBe(reply.usage.completionTokens)
    }))
  })

  it("a stream-error fault is Anthropic's overloaded error (openai) or api_error, whole and as the error event", () => {
    expect(streamErrorJson("openai")).toBe(errorJson("overloaded_error", "Overloaded"))
    expect(streamErrorJson("vllm")).toBe(errorJson("api_error", "Internal server error"))
    expect(streamErrorJson("openrouter")).toBe(errorJson("api_error", "Internal server error"))
    expect(streamErrorEvent("openai")).toBe(event("error", errorJson("overloaded_error", "Overloaded")))
  })
})
