import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { type ChatChunk, makeAccumulator } from "../../src/ChatChunk.js"
import { signatureOf } from "../../src/internal/simulator/gemini/signature.js"
import { GeminiStreamParser } from "../../src/internal/wire/gemini/client.js"
import {
  callPart,
  chunk,
  type UsageCounts,
  type WrittenCall,
  type WrittenPart
} from "../../src/internal/wire/gemini/codec.js"
import * as Gemini from "../../src/simulator/Gemini.js"
import type * as Reply from "../../src/simulator/Reply.js"
import { jsonFragments, replies } from "../utils/simulatorReplies.js"
import { streamContext } from "../utils/streamContext.js"

// The simulator's Gemini stream as it was written before the one writer: its own grammar over the codec's chunk, the
// oracle the writer's events must equal byte for byte.
function written(reply: Reply.Reply, meta: { id: string; model: string }) {
  const signed = (call: Reply.ToolCall, first: boolean): WrittenCall =>
    first
      ? {
        name: call.name,
        arguments: call.arguments,
        providerMetadata: {
          gemini: { thoughtSignature: signatureOf(call.name, JSON.parse(call.arguments)) }
        }
      }
      : { name: call.name, arguments: call.arguments }
  const after = (candidates: number, thoughts: number): UsageCounts => ({
    promptTokens: reply.usage.promptTokens,
    completionTokens: candidates + thoughts,
    totalTokens: reply.usage.promptTokens + candidates + thoughts,
    cachedPromptTokens: reply.usage.cachedTokens,
    reasoningTokens: thoughts
  })
  const event = (parts: ReadonlyArray<WrittenPart>, usage: UsageCounts, reason?: Reply.Reply["finishReason"]) =>
    `data: ${chunk(parts, meta.id, meta.model, { usage, reason })}\r\n\r\n`
  const events: Array<string> = []
  let thoughts = 0
  let candidates = 0
  for (const token of reply.reasoning) {
    events.push(event([{ text: token, thought: true }], after(candidates, ++thoughts)))
  }
  for (const token of reply.content) events.push(event([{ text: token }], after(++candidates, thoughts)))
  const calls = reply.toolCalls
  for (let i = 0; i < calls.length; i += 2) {
    const parts = calls.slice(i, i + 2).map((call, j) => callPart(signed(call, i + j === 0)))
    candidates = Math.min(reply.usage.completionTokens - reply.usage.reasoningTokens, candidates + parts.length)
    events.push(event(parts, after(candidates, thoughts)))
  }
  const visible = reply.usage.completionTokens - reply.usage.reasoningTokens
  return { events, tail: event([{ text: "" }], after(visible, reply.usage.reasoningTokens), reply.finishReason) }
}

const reply = replies(/^call_[a-zA-Z0-9]{1,8}$/, jsonFragments)

const meta = fc.record({
  id: fc.stringMatching(/^gemini-[a-z0-9]{1,12}$/),
  created: fc.nat(),
  model: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })
})

const context = { ...streamContext("gemini"), maxEventSize: undefined }

describe("the simulator's Gemini stream, written by the one writer", () => {
  it("each event is the one the simulator's own grammar wrote, byte for byte, each its own write", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = Gemini.format.renderStream(reply, meta, { blocked: false })
      const expected = written(reply, meta)
      expect(rendered.events).toEqual(expected.events)
      expect(rendered.tail).toBe(expected.tail)
      expect(rendered.events).toHaveLength(
        reply.reasoning.length + reply.content.length + Math.ceil(reply.toolCalls.length / 2)
      )
    }))
  })

  it("the client's parser reads back the reply's text, reasoning, calls with the first one's signature, and finish", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = Gemini.format.renderStream(reply, meta, { blocked: false })
      const out: Array<ChatChunk> = []
      const parser = new GeminiStreamParser(context)
      expect(parser.push([new TextEncoder().encode(rendered.events.join("") + rendered.tail)], out)).toBeUndefined()
      expect(parser.end(out)).toBeUndefined()
      const accumulator = makeAccumulator()
      for (const chunk of out) accumulator.add(chunk)
      const read = accumulator.response()!
      expect(read.text).toBe(reply.content.join(""))
      expect(read.reasoning ?? "").toBe(reply.reasoning.join(""))
      expect(read.toolCalls.map((call) => [call.name, JSON.parse(call.arguments)])).toEqual(
        reply.toolCalls.map((call) => [call.name, JSON.parse(call.arguments)])
      )
      expect(read.toolCalls.map((call) => call.providerMetadata !== undefined)).toEqual(
        reply.toolCalls.map((_, index) => index === 0)
      )
      // Gemini has no tool-call reason: both end with STOP, read back as tool_calls when the reply has calls.
      const stopped = reply.finishReason === "stop" || reply.finishReason === "tool_calls"
      expect(read.finishReason).toBe(
        stopped ? (reply.toolCalls.length > 0 ? "tool_calls" : "stop") : reply.finishReason
      )
    }))
  })

  it("a blocked prompt streams its one event, the reply's whole body", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = Gemini.format.renderStream(reply, meta, { blocked: true })
      expect(rendered.events).toEqual([])
      expect(rendered.tail).toBe(`data: ${Gemini.format.renderReply(reply, meta, { blocked: true })}\r\n\r\n`)
      expect(JSON.parse(rendered.tail.slice(6)).promptFeedback.blockReason).toBe("SAFETY")
    }))
  })
})
