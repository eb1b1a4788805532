/**
 * The Chat Completions reply, whole and streamed, written by the dialect's one writer (`wire/openAiChat/`), the
 * gateway's; an Azure deployment's replies carry the writer's content-filter results.
 */
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { FramedEvents, sse } from "../../wire/eventSink.js"
import { completion } from "../../wire/openAiChat/codec.js"
import { streamWriter } from "../../wire/openAiChat/writer.js"
import { replyChunks, responseOf, writeChunks } from "../chunks.js"

/** What a deployment adds to the API's replies: Azure OpenAI's content-filter results (default none). */
export interface RenderOptions {
  readonly contentFilters?: boolean
}

export function renderReply(reply: Reply.Reply, meta: ReplyMeta, options: RenderOptions = {}): string {
  return completion(responseOf(reply, meta), meta.id, meta.created, options)
}

export function renderStream(
  reply: Reply.Reply,
  meta: ReplyMeta,
  extra: Extra,
  options: RenderOptions = {}
): RenderedStream {
  const out = new FramedEvents(sse)
  const writer = streamWriter({
    ...meta,
    systemFingerprint: "fp_sim",
    includeUsage: extra.includeUsage,
    contentFilters: options.contentFilters
  }, out)
  // The first write opens the stream: the assistant's role alone (Azure's prompt results first, an event of their own).
  const { events, tail } = replyChunks(reply, meta)
  return writeChunks(writer, out, { events: [[], ...events], tail })
}
