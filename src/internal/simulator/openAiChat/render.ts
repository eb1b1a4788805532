/**
 * The Chat Completions reply, in the codec's shapes (`internal/codec/openAiChat.ts`): the `chat.completion` object,
 * and the stream of `chat.completion.chunk` events, the codec's templates around the generated tokens.
 */
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { chunkTemplates, completion, endEvents, toolCallFragmentJson } from "../../codec/openAiChat.js"
import { quoteToken } from "../quoteToken.js"
import { usageOf } from "../usage.js"

export function renderReply(reply: Reply.Reply, meta: ReplyMeta): string {
  return completion(
    {
      model: meta.model,
      text: reply.content.join(""),
      ...(reply.reasoning.length > 0 ? { reasoning: reply.reasoning.join("") } : {}),
      toolCalls: reply.toolCalls,
      finishReason: reply.finishReason,
      usage: usageOf(reply.usage)
    },
    meta.id,
    meta.created
  )
}

export function renderStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream {
  const templates = chunkTemplates({ ...meta, systemFingerprint: "fp_sim", includeUsage: extra.includeUsage })
  const events: Array<string> = [templates.role]
  for (const token of reply.reasoning) events.push(templates.reasoning + quoteToken(token) + templates.closeText)
  for (const token of reply.content) events.push(templates.content + quoteToken(token) + templates.closeText)
  // Parallel calls interleave: every call's opening fragment, then argument
  // pieces round-robin, so a client must merge by index.
  const calls = reply.toolCalls
  for (let index = 0; index < calls.length; index++) {
    const { id, name } = calls[index]!
    events.push(templates.tools + toolCallFragmentJson({ index, id, name, arguments: "" }) + templates.closeTools)
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let index = 0; index < calls.length; index++) {
      const piece = calls[index]!.fragments[r]
      if (piece === undefined) continue
      events.push(templates.tools + toolCallFragmentJson({ index, arguments: piece }) + templates.closeTools)
    }
  }
  return { events, tail: endEvents(templates, reply.finishReason, usageOf(reply.usage)) }
}
