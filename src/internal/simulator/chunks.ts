/**
 * A generated reply as the library's types (`ChatResponse`, `ChatChunk`), so each wire's one writer (`wire/<dialect>/`)
 * writes it as the gateway writes its answers. Each chunk of `events` is written on its own, so that per-token timing
 * holds: reasoning, then text, then the tool calls' fragments interleaved round-robin (a client must merge by index),
 * or each call whole where a dialect's blocks never interleave; `tail` is the usage and the finish.
 */
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../ChatChunk.js"
import type { ChatResponse, Usage } from "../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../Message.js"
import type * as Reply from "../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../simulator/WireFormat.js"
import type { EventList } from "../wire/eventSink.js"
import { usageOf } from "./usage.js"

/**
 * A reply's stream as the writes that make it: each of `events` a batch of chunks written at once (one chunk, but for a
 * dialect that sends several together), and the batch written at its end.
 */
export interface ReplyBatches {
  readonly events: ReadonlyArray<ReadonlyArray<ChatChunk>>
  readonly tail: ReadonlyArray<ChatChunk>
}

/**
 * How a reply's tool calls are streamed: interleaved (Chat Completions), one whole call after another, or every call
 * whole in one write after the text (Ollama's one line of calls).
 */
export type ToolOrder = "interleaved" | "whole" | "together"

/** The chunks of `reply`'s stream, each written alone but the calls `together`. */
export function replyChunks(reply: Reply.Reply, meta: ReplyMeta, order: ToolOrder = "interleaved"): ReplyBatches {
  const events: Array<ReadonlyArray<ChatChunk>> = []
  for (const text of reply.reasoning) events.push([{ _tag: "ReasoningDelta", text }])
  for (const text of reply.content) events.push([{ _tag: "TextDelta", text }])
  const calls = reply.toolCalls
  const tail: ReadonlyArray<ChatChunk> = [{ _tag: "Usage", usage: usageOf(reply.usage) }, finishOf(reply, meta)]
  const deltas: Array<ChatChunk> = []
  const interleaved = order === "interleaved"
  for (let index = 0; index < calls.length; index++) {
    const { fragments, id, name } = calls[index]!
    deltas.push({ _tag: "ToolCallDelta", index, id, name, arguments: "" })
    if (!interleaved) { for (const piece of fragments) deltas.push({ _tag: "ToolCallDelta", index, arguments: piece }) }
  }
  const rounds = interleaved ? calls.reduce((n, call) => Math.max(n, call.fragments.length), 0) : 0
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < calls.length; index++) {
      const piece = calls[index]!.fragments[round]
      if (piece !== undefined) deltas.push({ _tag: "ToolCallDelta", index, arguments: piece })
    }
  }
  if (order === "together") {
    if (deltas.length > 0) events.push(deltas)
  } else {
    for (const delta of deltas) events.push([delta])
  }
  return { events, tail }
}

/** A dialect's one stream writer (`wire/<dialect>/writer.ts`) as the simulator uses it, not reading what it returns. */
export interface ChunkWriter {
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => unknown
}

/**
 * The stream `writer` writes into `out` from `batches`: one write a batch of `events`, each event `out` keeps its own
 * (the simulator's timing and faults count them); the tail's events as one text.
 */
export function writeChunks(writer: ChunkWriter, out: EventList, batches: ReplyBatches): RenderedStream {
  for (const batch of batches.events) writer.write(batch)
  const events = out.events()
  writer.write(batches.tail)
  return { events, tail: out.events().join("") }
}

/** The `Finish` chunk of `reply`, naming `meta`'s id and model. */
function finishOf(reply: Reply.Reply, meta: ReplyMeta): ChatChunk {
  return {
    _tag: "Finish",
    finishReason: reply.finishReason,
    id: meta.id,
    model: meta.model,
    provider: "simulator",
    latency: Duration.zero,
    ...(reply.refusal !== undefined ? { refusal: reply.refusal } : {})
  }
}

/**
 * `reply` whole, as the `ChatResponse` its stream's chunks fold into (`ChatChunk.collect`); `callId` gives a call's id
 * in the dialect's shape (default the reply's own).
 */
export function responseOf(
  reply: Reply.Reply,
  meta: ReplyMeta,
  callId: (id: string) => string = (id) => id
): ChatResponse {
  return {
    id: meta.id,
    model: meta.model,
    provider: "simulator",
    text: reply.content.join(""),
    ...(reply.reasoning.length > 0 ? { reasoning: reply.reasoning.join("") } : {}),
    ...(reply.refusal !== undefined ? { refusal: reply.refusal } : {}),
    toolCalls: reply.toolCalls.map(({ arguments: args, id, name }): ToolCall => ({
      id: callId(id),
      name,
      arguments: args
    })),
    finishReason: reply.finishReason,
    usage: usageOf(reply.usage),
    latency: Duration.zero
  }
}

/** How a dialect sends what `replyChunks` sends in fragments: its calls whole, and its running usage. */
export interface WholeCallOptions {
  /** How many calls one event holds. */
  readonly callsPerEvent: number
  /** The provider data of the call at `index`, if any (a made-up thought signature). */
  readonly callMetadata: (call: Reply.ToolCall, index: number) => ProviderMetadata | undefined
}

/** The counts after `candidates` tokens of the reply's own and `thoughts` of reasoning. */
function usageAfter(usage: Reply.Usage, candidates: number, thoughts: number): Usage {
  return {
    promptTokens: usage.promptTokens,
    completionTokens: candidates + thoughts,
    totalTokens: usage.promptTokens + candidates + thoughts,
    cachedPromptTokens: usage.cachedTokens,
    reasoningTokens: thoughts,
    estimated: false
  }
}

/**
 * The stream of `reply` with its calls whole, `callsPerEvent` to an event, each event led by the usage so far (a token
 * a reasoning or text event, one a call, up to the reply's own count), as Gemini streams.
 */
export function wholeCallBatches(reply: Reply.Reply, meta: ReplyMeta, options: WholeCallOptions): ReplyBatches {
  const { usage } = reply
  const visible = usage.completionTokens - usage.reasoningTokens
  const events: Array<ReadonlyArray<ChatChunk>> = []
  let thoughts = 0
  let candidates = 0
  for (const text of reply.reasoning) {
    thoughts++
    events.push([{ _tag: "Usage", usage: usageAfter(usage, candidates, thoughts) }, { _tag: "ReasoningDelta", text }])
  }
  for (const text of reply.content) {
    candidates++
    events.push([{ _tag: "Usage", usage: usageAfter(usage, candidates, thoughts) }, { _tag: "TextDelta", text }])
  }
  const calls = reply.toolCalls
  for (let start = 0; start < calls.length; start += options.callsPerEvent) {
    const batch: Array<ChatChunk> = []
    for (let index = start; index < Math.min(calls.length, start + options.callsPerEvent); index++) {
      const call = calls[index]!
      const metadata = options.callMetadata(call, index)
      batch.push(
        metadata === undefined
          ? { _tag: "ToolCallDelta", index, name: call.name, arguments: call.arguments }
          : { _tag: "ToolCallDelta", index, name: call.name, arguments: call.arguments, providerMetadata: metadata }
      )
    }
    candidates = Math.min(visible, candidates + batch.length)
    events.push([{ _tag: "Usage", usage: usageAfter(usage, candidates, thoughts) }, ...batch])
  }
  return {
    events,
    tail: [{ _tag: "Usage", usage: usageAfter(usage, visible, usage.reasoningTokens) }, finishOf(reply, meta)]
  }
}
