/**
 * The Messages reply, whole and streamed, written by the dialect's one writer (`wire/anthropic/writer.ts`), each tool
 * call whole (Anthropic's blocks never interleave). What only the simulator writes goes in as the writer's options: a
 * `ping`, a made-up thinking signature, the empty `input_json_delta` a tool's input opens with, `message_start`'s
 * output of 1, no block for an empty reply, and `toolu_` ids.
 */
import type { Extra } from "../../../simulator/Anthropic.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { message, streamWriter } from "../../wire/anthropic/writer.js"
import { type EventList, FramedEvents, sse } from "../../wire/eventSink.js"
import { replyChunks, responseOf, writeChunks } from "../chunks.js"
import { fnv1aHex } from "../prng.js"
import { usageOf } from "../usage.js"

/** A deterministic stand-in for a thinking block's signature. */
export const signatureOf = (text: string): string => `sim-sig-${fnv1aHex(text)}`
const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

/** The signature of a reply's thinking: its text's, and where the model binds it, the prompt's it was made after. */
const signer = (extra: Extra) => (text: string): string =>
  extra === undefined ? signatureOf(text) : `${signatureOf(text)}.${extra.binding}`

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string =>
  message(responseOf(reply, meta, toolId), meta.id, { signature: signer(extra), noEmptyText: true })

/**
 * The Messages stream of `reply`, its events kept by `out` (default: each SSE event its own write; Bedrock's
 * `InvokeModelWithResponseStream` gives a sink of its `chunk` frames).
 */
export function renderStream(
  reply: Reply.Reply,
  meta: ReplyMeta,
  extra: Extra,
  out: EventList = new FramedEvents(sse)
): RenderedStream {
  const usage = usageOf(reply.usage)
  // What only the simulator writes of a Messages stream (the writer's options).
  const simulated = { ping: true, startOutput: 1, signature: signer(extra), openInput: true } as const
  const writer = streamWriter({ id: meta.id, model: meta.model }, out, simulated)
  const chunks = replyChunks(
    { ...reply, toolCalls: reply.toolCalls.map((call) => ({ ...call, id: toolId(call.id) })) },
    meta,
    "whole"
  )
  // The first write opens the stream: `message_start` with the prompt's usage.
  return writeChunks(writer, out, { events: [[{ _tag: "Usage", usage }], ...chunks.events], tail: chunks.tail })
}
