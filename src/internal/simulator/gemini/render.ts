/**
 * The Gemini reply: the `GenerateContentResponse` body and the blocked prompt's, written by the codec
 * (`codec/gemini.ts`), and its SSE stream (events ending in CRLF CRLF, each a chunk the codec writes, with the
 * running `usageMetadata`).
 */
import type { Extra } from "../../../simulator/Gemini.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import {
  blockedResponse,
  callPart,
  chunk,
  type PromptFeedback,
  response,
  type UsageCounts,
  type WrittenCall,
  type WrittenPart
} from "../../wire/gemini/codec.js"
import { usageOf } from "../usage.js"

/** A stable signature for a call: opaque base64, as Gemini's are. */
const signatureOf = (call: Reply.ToolCall): string => Buffer.from(`sim-thought-signature:${call.id}`).toString("base64")

/** A call as Gemini 3 writes it: no id, and the reply's thought signature on its first call only. */
function callOf(call: Reply.ToolCall, first: boolean): WrittenCall {
  return first
    ? {
      name: call.name,
      arguments: call.arguments,
      providerMetadata: { gemini: { thoughtSignature: signatureOf(call) } }
    }
    : { name: call.name, arguments: call.arguments }
}

/** The usage after `candidates` visible and `thoughts` reasoning tokens. */
function usageAfter(usage: Reply.Usage, candidates: number, thoughts: number): UsageCounts {
  return {
    promptTokens: usage.promptTokens,
    completionTokens: candidates + thoughts,
    totalTokens: usage.promptTokens + candidates + thoughts,
    cachedPromptTokens: usage.cachedTokens,
    reasoningTokens: thoughts
  }
}

const blocked: PromptFeedback = {
  blockReason: "SAFETY",
  safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH", blocked: true }]
}

export function renderReply(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string {
  if (extra.blocked) return blockedResponse(blocked, reply.usage.promptTokens, meta.id, meta.model)
  return response(
    {
      text: reply.content.join(""),
      reasoning: reply.reasoning.length > 0 ? reply.reasoning.join("") : undefined,
      toolCalls: reply.toolCalls.map((call, i) => callOf(call, i === 0)),
      finishReason: reply.finishReason,
      usage: usageOf(reply.usage),
      providerMetadata: undefined
    },
    meta.id,
    meta.model
  )
}

export const end = "\r\n\r\n"

export function renderStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream {
  if (extra.blocked) return { events: [], tail: `data: ${renderReply(reply, meta, extra)}${end}` }
  const event = (parts: ReadonlyArray<WrittenPart>, usage: UsageCounts, reason?: Reply.Reply["finishReason"]) =>
    `data: ${chunk(parts, meta.id, meta.model, { usage, reason })}${end}`
  const events: Array<string> = []
  let thoughts = 0
  let candidates = 0
  for (const token of reply.reasoning) {
    thoughts++
    events.push(event([{ text: token, thought: true }], usageAfter(reply.usage, candidates, thoughts)))
  }
  for (const token of reply.content) {
    candidates++
    events.push(event([{ text: token }], usageAfter(reply.usage, candidates, thoughts)))
  }
  const calls = reply.toolCalls
  for (let i = 0; i < calls.length; i += 2) {
    const parts = calls.slice(i, i + 2).map((call, j) => callPart(callOf(call, i + j === 0)))
    candidates = Math.min(reply.usage.completionTokens - reply.usage.reasoningTokens, candidates + parts.length)
    events.push(event(parts, usageAfter(reply.usage, candidates, thoughts)))
  }
  const visible = reply.usage.completionTokens - reply.usage.reasoningTokens
  return {
    events,
    tail: event([{ text: "" }], usageAfter(reply.usage, visible, reply.usage.reasoningTokens), reply.finishReason)
  }
}
