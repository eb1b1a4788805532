/**
 * The Gemini reply: the `GenerateContentResponse` body, and its SSE stream
 * (events ending in CRLF CRLF, each with the running `usageMetadata`).
 */
import type { Extra } from "../../../simulator/Gemini.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { usageMetadata, wireFinishReason } from "../../codec/gemini.js"
import { quoteToken } from "../quoteToken.js"

/** A stable signature for a call: opaque base64, as Gemini's are. */
const signatureOf = (call: Reply.ToolCall): string => Buffer.from(`sim-thought-signature:${call.id}`).toString("base64")

/** `usageMetadata` after `candidates` visible and `thoughts` reasoning tokens, with the prompt's modality. */
function usageJson(usage: Reply.Usage, candidates: number, thoughts: number): string {
  return JSON.stringify({
    ...usageMetadata({
      promptTokens: usage.promptTokens,
      completionTokens: candidates + thoughts,
      totalTokens: usage.promptTokens + candidates + thoughts,
      cachedPromptTokens: usage.cachedTokens,
      reasoningTokens: thoughts
    }),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: usage.promptTokens }]
  })
}

const finalUsage = (reply: Reply.Reply): string =>
  usageJson(reply.usage, reply.usage.completionTokens - reply.usage.reasoningTokens, reply.usage.reasoningTokens)

const callPart = (call: Reply.ToolCall, first: boolean): string =>
  `{"functionCall":{"name":${JSON.stringify(call.name)},"args":${call.arguments}}` +
  (first ? `,"thoughtSignature":"${signatureOf(call)}"` : "") + "}"

const trailer = (meta: ReplyMeta): string => `,"modelVersion":${JSON.stringify(meta.model)},"responseId":"${meta.id}"}`

const blockedJson = (reply: Reply.Reply, meta: ReplyMeta): string =>
  `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT",` +
  `"probability":"HIGH","blocked":true}]},"usageMetadata":{"promptTokenCount":${reply.usage.promptTokens},` +
  `"totalTokenCount":${reply.usage.promptTokens}}${trailer(meta)}`

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string => {
  if (extra.blocked) return blockedJson(reply, meta)
  const parts: Array<string> = []
  if (reply.reasoning.length > 0) parts.push(`{"text":${JSON.stringify(reply.reasoning.join(""))},"thought":true}`)
  if (reply.content.length > 0) parts.push(`{"text":${JSON.stringify(reply.content.join(""))}}`)
  reply.toolCalls.forEach((call, i) => parts.push(callPart(call, i === 0)))
  if (parts.length === 0) parts.push(`{"text":""}`)
  return `{"candidates":[{"content":{"parts":[${parts.join(",")}],"role":"model"},` +
    `"finishReason":"${wireFinishReason(reply.finishReason)}","index":0}],"usageMetadata":${finalUsage(reply)}${
      trailer(meta)
    }`
}

export const end = "\r\n\r\n"

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const close = trailer(meta) + end
  if (extra.blocked) return { events: [], tail: `data: ${blockedJson(reply, meta)}${end}` }
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
    const parts = calls.slice(i, i + 2).map((call, j) => callPart(call, i + j === 0))
    candidates = Math.min(reply.usage.completionTokens - reply.usage.reasoningTokens, candidates + parts.length)
    events.push(`${head}${parts.join(",")}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  return {
    events,
    tail: `${head}{"text":""}],"role":"model"},"finishReason":"${wireFinishReason(reply.finishReason)}","index":0}],` +
      `"usageMetadata":${finalUsage(reply)}${close}`
  }
}
