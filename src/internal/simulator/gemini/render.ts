/**
 * The Gemini reply: the `GenerateContentResponse` body and the blocked prompt's, written by the codec
 * (`codec/gemini.ts`), and its SSE stream (events ending in CRLF CRLF, each with the running `usageMetadata`),
 * templates around the generated tokens (docs/performance.md, "What stays hand-written").
 */
import type { Extra } from "../../../simulator/Gemini.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import {
  blockedResponse,
  callPart as writtenCall,
  type PromptFeedback,
  response,
  usageMetadata,
  wireFinishReason,
  type WrittenCall
} from "../../codec/gemini.js"
import { quoteToken } from "../quoteToken.js"
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

/** `usageMetadata` after `candidates` visible and `thoughts` reasoning tokens. */
function usageJson(usage: Reply.Usage, candidates: number, thoughts: number): string {
  return JSON.stringify(usageMetadata({
    promptTokens: usage.promptTokens,
    completionTokens: candidates + thoughts,
    totalTokens: usage.promptTokens + candidates + thoughts,
    cachedPromptTokens: usage.cachedTokens,
    reasoningTokens: thoughts
  }))
}

const finalUsage = (reply: Reply.Reply): string =>
  usageJson(reply.usage, reply.usage.completionTokens - reply.usage.reasoningTokens, reply.usage.reasoningTokens)

const trailer = (meta: ReplyMeta): string => `,"modelVersion":${JSON.stringify(meta.model)},"responseId":"${meta.id}"}`

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

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const close = trailer(meta) + end
  if (extra.blocked) return { events: [], tail: `data: ${renderReply(reply, meta, extra)}${end}` }
  const head = `data: {"candidates":[{"content":{"parts":[`
  const mid = `],"role":"model"},"index":0}],"usageMetadata":`
  const events: Array<string> = []
  let thoughts = 0
  let candidates = 0
  for (const token of reply.reasoning) {
    thoughts++
    events.push(
      `${head}{"text":${quoteToken(token)},"thought":true}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`
    )
  }
  for (const token of reply.content) {
    candidates++
    events.push(`${head}{"text":${quoteToken(token)}}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  const calls = reply.toolCalls
  for (let i = 0; i < calls.length; i += 2) {
    const parts = calls.slice(i, i + 2).map((call, j) => JSON.stringify(writtenCall(callOf(call, i + j === 0))))
    candidates = Math.min(reply.usage.completionTokens - reply.usage.reasoningTokens, candidates + parts.length)
    events.push(`${head}${parts.join(",")}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  return {
    events,
    tail: `${head}{"text":""}],"role":"model"},"finishReason":"${wireFinishReason(reply.finishReason)}","index":0}],` +
      `"usageMetadata":${finalUsage(reply)}${close}`
  }
}
