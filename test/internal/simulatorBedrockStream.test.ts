import { describe, expect, it } from "@effect/vitest"
import { EventStreamCodec } from "@smithy/eventstream-codec"
import * as fc from "fast-check"
import type { JsonObject } from "../../src/internal/json.js"
import { renderStream as renderMessages, signatureOf } from "../../src/internal/simulator/anthropic/render.js"
import { renderInvokeStream, renderStream } from "../../src/internal/simulator/bedrock/render.js"
import { usageOf } from "../../src/internal/simulator/usage.js"
import { stopReason, type StreamEvent, wireUsage } from "../../src/internal/wire/bedrock/codec.js"
import { eventFrame } from "../../src/internal/wire/bedrock/writer.js"
import type * as Reply from "../../src/simulator/Reply.js"
import * as Sse from "../../src/Sse.js"
import { fragments, replies } from "../utils/simulatorReplies.js"

const codec = new EventStreamCodec((bytes) => new TextDecoder().decode(bytes), (text) => new TextEncoder().encode(text))

// The simulator's ConverseStream as it was written before the one writer: the codec's own grammar of events from the
// reply's pieces, the oracle the writer's frames must equal byte for byte, one frame each; the tail is what the usage
// and the finish write (the last block's stop, with the reasoning's signature where that block is the reasoning's,
// `messageStop`, `metadata`).
function written(reply: Reply.Reply) {
  const events: Array<StreamEvent> = [{ type: "messageStart", payload: { role: "assistant" } }]
  let index = 0
  const block = (deltas: ReadonlyArray<JsonObject>, start?: JsonObject) => {
    if (start !== undefined) events.push({ type: "contentBlockStart", payload: { start, contentBlockIndex: index } })
    for (const delta of deltas) events.push({ type: "contentBlockDelta", payload: { delta, contentBlockIndex: index } })
    events.push({ type: "contentBlockStop", payload: { contentBlockIndex: index } })
    index++
  }
  // The reasoning's signature, as Claude signs it, ends its block: written when the block stops.
  const signature = { reasoningContent: { signature: signatureOf(reply.reasoning.join("")) } }
  if (reply.reasoning.length > 0) block([...reply.reasoning.map((text) => ({ reasoningContent: { text } })), signature])
  if (reply.content.length > 0) block(reply.content.map((text) => ({ text })))
  for (const call of reply.toolCalls) {
    block(call.fragments.map((input) => ({ toolUse: { input } })), { toolUse: { toolUseId: call.id, name: call.name } })
  }
  events.push({ type: "messageStop", payload: { stopReason: stopReason(reply.finishReason) } })
  events.push({ type: "metadata", payload: { usage: wireUsage(usageOf(reply.usage)), metrics: { latencyMs: 1 } } })
  const frames = events.map((event) => eventFrame(codec, event.type, JSON.stringify(event.payload)))
  const reasonsOnly = reply.reasoning.length > 0 && reply.content.length === 0 && reply.toolCalls.length === 0
  const tail = reasonsOnly ? 4 : index > 0 ? 3 : 2
  return { events: frames.slice(0, -tail), tail: frames.slice(-tail).join("") }
}

// Converse writes every fragment, an empty one too.
const reply = replies(/^call_[a-z0-9]{1,8}$/, fragments(fc.string({ maxLength: 8 })))

const meta = fc.record({
  id: fc.stringMatching(/^msg_bdrk_[a-z0-9]{1,12}$/),
  created: fc.nat(),
  model: fc.stringMatching(/^anthropic\.[a-z0-9-]{1,12}$/)
})

// The frames of a stream's pieces, decoded: each frame's headers and payload.
function decoded(pieces: ReadonlyArray<string>) {
  return pieces.map((piece) => {
    const bytes = Buffer.from(piece, "latin1")
    const frames: Array<{ type: unknown; payload: unknown }> = []
    for (let at = 0; at < bytes.length;) {
      const length = bytes.readUInt32BE(at)
      const message = codec.decode(new Uint8Array(bytes.subarray(at, at + length)))
      frames.push({
        type: message.headers[":event-type"]?.value,
        payload: JSON.parse(new TextDecoder().decode(message.body))
      })
      at += length
    }
    return frames
  })
}

describe("the simulator's Bedrock streams, written by the one writers", () => {
  it("ConverseStream: each frame is the one the codec's own grammar wrote, byte for byte, each its own write", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = renderStream(codec, reply, meta)
      const expected = written(reply)
      expect(rendered.events).toEqual(expected.events)
      expect(rendered.tail).toBe(expected.tail)
    }))
  })

  it("InvokeModel: each Messages event of Anthropic's writer is one chunk frame, its bytes the event's data", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const messages = renderMessages(reply, meta, undefined)
      const framed = renderInvokeStream(codec, reply, meta, undefined)
      const frames = decoded([...framed.events, framed.tail])
      const data = [...messages.events, messages.tail].map((text) =>
        Sse.makeDecoder().push(new TextEncoder().encode(text)).map((event) => event.data)
      )
      expect(frames.map((piece) => piece.map((frame) => frame.type))).toEqual(
        data.map((piece) => piece.map(() => "chunk"))
      )
      expect(
        frames.map((piece) =>
          piece.map((frame) => Buffer.from((frame.payload as { bytes: string }).bytes, "base64").toString())
        )
      )
        .toEqual(data)
    }))
  })
})
