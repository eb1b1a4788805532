/**
 * A generated reply as the library's stream: the `ChatChunk`s a provider's stream would decode into, which a wire's
 * one writer (`wire/<dialect>/writer.ts`) turns into the dialect's events, as the gateway's streams are written.
 * Each chunk of `events` is one event the simulator writes on its own, so that its per-token timing holds: reasoning
 * tokens, then text tokens, then the tool calls' fragments interleaved (every call's opening fragment, then argument
 * pieces round-robin, so a client must merge by index, unless a dialect's blocks never interleave: then each call
 * whole, its opening then its pieces); `tail` is the usage and the finish.
 */
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../ChatChunk.js"
import type * as Reply from "../../simulator/Reply.js"
import type { ReplyMeta } from "../../simulator/WireFormat.js"
import { usageOf } from "./usage.js"

/** A reply's stream: the chunks written one by one, and the ones written together at its end. */
export interface ReplyChunks {
  readonly events: ReadonlyArray<ChatChunk>
  readonly tail: ReadonlyArray<ChatChunk>
}

/** How a reply's tool calls are streamed: interleaved (Chat Completions), or one whole call after another. */
export type ToolOrder = "interleaved" | "whole"

/** The chunks of `reply`'s stream, its `Finish` naming `meta`'s id and model. */
export function replyChunks(reply: Reply.Reply, meta: ReplyMeta, order: ToolOrder = "interleaved"): ReplyChunks {
  const events: Array<ChatChunk> = []
  for (const text of reply.reasoning) events.push({ _tag: "ReasoningDelta", text })
  for (const text of reply.content) events.push({ _tag: "TextDelta", text })
  const calls = reply.toolCalls
  if (order === "whole") {
    for (let index = 0; index < calls.length; index++) {
      const { fragments, id, name } = calls[index]!
      events.push({ _tag: "ToolCallDelta", index, id, name, arguments: "" })
      for (const piece of fragments) events.push({ _tag: "ToolCallDelta", index, arguments: piece })
    }
    return { events, tail: tailOf(reply, meta) }
  }
  for (let index = 0; index < calls.length; index++) {
    const { id, name } = calls[index]!
    events.push({ _tag: "ToolCallDelta", index, id, name, arguments: "" })
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < calls.length; index++) {
      const piece = calls[index]!.fragments[round]
      if (piece !== undefined) events.push({ _tag: "ToolCallDelta", index, arguments: piece })
    }
  }
  return { events, tail: tailOf(reply, meta) }
}

// The usage and the finish.
function tailOf(reply: Reply.Reply, meta: ReplyMeta): ReadonlyArray<ChatChunk> {
  return [
    { _tag: "Usage", usage: usageOf(reply.usage) },
    {
      _tag: "Finish",
      finishReason: reply.finishReason,
      id: meta.id,
      model: meta.model,
      provider: "simulator",
      latency: Duration.zero
    }
  ]
}
