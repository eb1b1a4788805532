import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import { renderStream } from "../../src/internal/simulator/openAiChat/render.js"
import { quoteToken } from "../../src/internal/simulator/quoteToken.js"
import { usageOf } from "../../src/internal/simulator/usage.js"
import {
  chunkTemplates,
  doneData,
  finishData,
  toolCallFragmentJson,
  usageData
} from "../../src/internal/wire/openAiChat/codec.js"
import type * as Reply from "../../src/simulator/Reply.js"
import { chatStreamParser } from "../utils/openAiChatWire.js"
import { expected, fragments, readBack, replies, token } from "../utils/simulatorReplies.js"

// The simulator's Chat Completions stream as it was written before the one writer: its own grammar from the codec's
// templates, the oracle the writer's events must equal byte for byte.
function written(reply: Reply.Reply, meta: { id: string; created: number; model: string }, includeUsage: boolean) {
  const templates = chunkTemplates({ ...meta, systemFingerprint: "fp_sim", includeUsage })
  const event = (data: string): string => `data: ${data}\n\n`
  const events: Array<string> = [event(templates.role)]
  for (const token of reply.reasoning) events.push(event(templates.reasoning + quoteToken(token) + templates.closeText))
  for (const token of reply.content) events.push(event(templates.content + quoteToken(token) + templates.closeText))
  const calls = reply.toolCalls
  for (let index = 0; index < calls.length; index++) {
    const { id, name } = calls[index]!
    events.push(
      event(templates.tools + toolCallFragmentJson({ index, id, name, arguments: "" }) + templates.closeTools)
    )
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let index = 0; index < calls.length; index++) {
      const piece = calls[index]!.fragments[r]
      if (piece === undefined) continue
      events.push(event(templates.tools + toolCallFragmentJson({ index, arguments: piece }) + templates.closeTools))
    }
  }
  const usage = includeUsage ? event(usageData(templates, usageOf(reply.usage))) : ""
  return { events, tail: event(finishData(templates, reply.finishReason)) + usage + event(doneData) }
}

const reply = replies(/^call_[a-z0-9]{1,8}$/, fragments(token, 2))

const meta = fc.record({
  id: fc.stringMatching(/^chatcmpl-[a-z0-9]{1,12}$/),
  created: fc.nat(),
  model: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })
})

describe("the simulator's Chat Completions stream, written by the one writer", () => {
  it("each event is the one the simulator's own grammar wrote, byte for byte, each its own write", () => {
    fc.assert(fc.property(reply, meta, fc.boolean(), (reply, meta, includeUsage) => {
      const rendered = renderStream(reply, meta, { includeUsage })
      const expected = written(reply, meta, includeUsage)
      expect(rendered.events).toEqual(expected.events)
      expect(rendered.tail).toBe(expected.tail)
      const calls = reply.toolCalls.length + reply.toolCalls.reduce((n, call) => n + call.fragments.length, 0)
      expect(rendered.events).toHaveLength(1 + reply.reasoning.length + reply.content.length + calls)
    }))
  })

  it("the client's parser reads back the reply's text, reasoning, tool calls and finish", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = renderStream(reply, meta, { includeUsage: true })
      const chunks: Array<ChatChunk> = []
      const failed = chatStreamParser().push(
        [new TextEncoder().encode(rendered.events.join("") + rendered.tail)],
        chunks
      )
      expect(failed).toBeUndefined()
      expect(readBack(chunks)).toEqual(expected(reply))
    }))
  })
})
