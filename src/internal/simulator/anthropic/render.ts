/**
 * The Messages reply, written by the dialect's one writer (`wire/anthropic/writer.ts`): the message object of the
 * reply as a `ChatResponse` (`simulator/chunks.ts`' `responseOf`), and the stream from the reply's chunks
 * (`simulator/chunks.ts`, each tool call whole: Anthropic's blocks never interleave), with what only the simulator
 * writes as the writer's options: a `ping`, a made-up signature of the thinking block, the empty
 * `input_json_delta` a tool's input opens with, `message_start`'s output of 1, no block for an empty reply, and its
 * tool use ids (`toolu_` and the call's). Each SSE event is its own write.
 */
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { message, streamWriter } from "../../wire/anthropic/writer.js"
import { BodyText } from "../../wire/bodyText.js"
import { replyChunks, responseOf } from "../chunks.js"
import { sseEvents } from "../sseEvents.js"
import { usageOf } from "../usage.js"

/** A deterministic stand-in for a thinking block's signature. */
export const signatureOf = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return `sim-sig-${(h >>> 0).toString(16).padStart(8, "0")}`
}
const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

/** What only the simulator writes of a whole `message` (the writer's options). */
const simulatedMessage = { signature: signatureOf, noEmptyText: true } as const

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string =>
  message(responseOf(reply, meta, toolId), meta.id, simulatedMessage)

/** What only the simulator writes of a Messages stream (the writer's options). */
const simulated = { ping: true, startOutput: 1, signature: signatureOf, openInput: true } as const

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta): RenderedStream => {
  const usage = usageOf(reply.usage)
  const writer = streamWriter({ id: meta.id, model: meta.model, estimatedInput: () => usage.promptTokens }, simulated)
  const events: Array<string> = []
  function write(chunks: Parameters<typeof writer.write>[0]): void {
    const out = new BodyText()
    writer.write(chunks, out)
    sseEvents(out.string(), events)
  }
  const chunks = replyChunks(
    { ...reply, toolCalls: reply.toolCalls.map((call) => ({ ...call, id: toolId(call.id) })) },
    meta,
    "whole"
  )
  // `message_start` reports the prompt's usage, then one write a chunk.
  write([{ _tag: "Usage", usage }])
  for (const chunk of chunks.events) write([chunk])
  write(chunks.tail)
  // The tail is the message's end, `message_delta` and `message_stop`; the last block's stop goes before it.
  const tail = events.splice(-2, 2)
  return { events, tail: tail.join("") }
}
