/**
 * The Chat Completions reply, written by the dialect's one writer (`wire/openAiChat/`): the `chat.completion` object
 * of the reply as a `ChatResponse` (the codec's `completion`, the gateway's), and the stream of its
 * `chat.completion.chunk` events from the reply's chunks (`simulator/chunks.ts`), each its own write, the first the
 * assistant's role; the simulator names its configuration (`system_fingerprint`).
 */
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { BodyText } from "../../wire/bodyText.js"
import { completion } from "../../wire/openAiChat/codec.js"
import { streamWriter } from "../../wire/openAiChat/writer.js"
import { replyChunks, responseOf } from "../chunks.js"

export function renderReply(reply: Reply.Reply, meta: ReplyMeta): string {
  return completion(responseOf(reply, meta), meta.id, meta.created)
}

export function renderStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream {
  const writer = streamWriter({ ...meta, systemFingerprint: "fp_sim", includeUsage: extra.includeUsage })
  function written(chunks: ReadonlyArray<ChatChunk>): string {
    const out = new BodyText()
    writer.write(chunks, out)
    return out.string()
  }
  const { events, tail } = replyChunks(reply, meta)
  // The first write opens the stream with the assistant's role alone; then one event a chunk.
  const opened = [written([])]
  for (const chunk of events) opened.push(written([chunk]))
  return { events: opened, tail: written(tail) }
}
