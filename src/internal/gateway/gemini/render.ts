/**
 * The engine's replies in the Gemini API's wire shapes (its `GenerateContentResponse` reference, streaming included):
 * a `ChatResponse` as one response whose candidate holds the reply's parts (`thought` text for reasoning, the text,
 * `functionCall` parts with their arguments as an object), its `finishReason` and `usageMetadata`; `ChatChunk`
 * batches as `?alt=sse` events, each a response whose parts are only the new text, the last one carrying the
 * function calls (Gemini sends calls whole, never piecemeal), the finish reason and the usage. A failure is a
 * `data: {"error": ...}` event, which `@google/genai` raises. There is no end marker: the body just ends.
 *
 * Finish reasons: `stop` and `tool_calls` are `STOP` (Gemini has no tool-call reason), `length` `MAX_TOKENS`,
 * `content_filter` `SAFETY`, `other` `OTHER`. `candidatesTokenCount` leaves out the reasoning tokens, which are
 * `thoughtsTokenCount`. A call's id is the provider's (or the one the adapter made), so the client's
 * `functionResponse` names it back; thought signatures go out on the parts they came with.
 *
 * As the other encoders do, a stream's encoder keeps what it has forwarded: a `Restart` before any part went out is
 * invisible, after one it ends the stream with an error event; a `Continue` is the stream going on. Each chunk's
 * `modelVersion` names the model that produced it: a `Restart`'s or `Continue`'s deployment's, the `Finish` chunk's
 * on the last.
 */
import type { ChatChunk } from "../../../ChatChunk.js"
import { type ChatResponse, emptyUsage, type FinishReason, type Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { isRecord, metadataOf } from "../../providers/gemini/wire.js"
import { bytesOf } from "../bodyText.js"
import type { Encoded, StreamEncoder } from "../openai/render.js"

const finishReason = (reason: FinishReason): string => {
  switch (reason) {
    case "length":
      return "MAX_TOKENS"
    case "content_filter":
      return "SAFETY"
    case "other":
      return "OTHER"
    default:
      return "STOP"
  }
}

/** `usage` as `usageMetadata`; `cachedContentTokenCount` and `thoughtsTokenCount` only when there are some. */
const usageMetadata = (usage: Usage) => ({
  promptTokenCount: usage.promptTokens,
  candidatesTokenCount: usage.completionTokens - usage.reasoningTokens,
  totalTokenCount: usage.totalTokens,
  ...(usage.cachedPromptTokens > 0 ? { cachedContentTokenCount: usage.cachedPromptTokens } : {}),
  ...(usage.reasoningTokens > 0 ? { thoughtsTokenCount: usage.reasoningTokens } : {})
})

// A tool call's arguments as `functionCall`'s `args` object; arguments that are not one are kept under `arguments`.
const args = (call: Pick<ToolCall, "arguments">): unknown => {
  if (call.arguments.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(call.arguments)
    return isRecord(value) ? value : { arguments: call.arguments }
  } catch {
    return { arguments: call.arguments }
  }
}

type Part = Record<string, unknown>

const signed = (part: Part, metadata: ProviderMetadata | undefined): Part => {
  const signature = metadataOf(metadata)?.thoughtSignature
  return signature === undefined ? part : { ...part, thoughtSignature: signature }
}

const callPart = (call: Pick<ToolCall, "id" | "name" | "arguments" | "providerMetadata">): Part =>
  signed({ functionCall: { id: call.id, name: call.name, args: args(call) } }, call.providerMetadata)

const envelope = (parts: ReadonlyArray<Part>, id: string, model: string, end?: { reason: string; usage: Usage }) =>
  JSON.stringify({
    candidates: [{
      content: { role: "model", parts },
      ...(end !== undefined ? { finishReason: end.reason } : {}),
      index: 0
    }],
    ...(end !== undefined ? { usageMetadata: usageMetadata(end.usage) } : {}),
    modelVersion: model,
    responseId: id
  })

/** A whole reply as a `GenerateContentResponse` of id `id`, under the model the client asked for. */
export const response = (reply: ChatResponse, id: string, model: string): string => {
  const parts: Array<Part> = []
  if (reply.reasoning !== undefined) parts.push({ text: reply.reasoning, thought: true })
  if (reply.text !== "" || reply.toolCalls.length === 0) {
    parts.push(signed({ text: reply.text }, reply.providerMetadata))
  }
  for (const call of reply.toolCalls) parts.push(callPart(call))
  return envelope(parts, id, model, { reason: finishReason(reply.finishReason), usage: reply.usage })
}

// A call as its deltas build it.
interface Call {
  id: string
  name: string
  arguments: string
  providerMetadata: ProviderMetadata | undefined
}

/** An encoder for the stream `id` of `model`; one per stream (it keeps the calls being built and what was sent). */
export const streamEncoder = (id: string, model: string): StreamEncoder => {
  let forwarded = false
  let usage: Usage | undefined
  let calls: Array<Call> = []
  // The model that produces what follows: the one asked for, until a `Restart`, `Continue` or `Finish` names another.
  let producing = model

  const event = (parts: ReadonlyArray<Part>, end?: { reason: string; usage: Usage }): string =>
    `data: ${envelope(parts, id, producing, end)}\r\n\r\n`

  const batch = (chunks: ReadonlyArray<ChatChunk>): Encoded => {
    let out = ""
    let parts: Array<Part> = []
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
        case "ReasoningDelta":
          if (chunk.text === "") break
          forwarded = true
          parts.push(chunk._tag === "TextDelta" ? { text: chunk.text } : { text: chunk.text, thought: true })
          break
        case "ToolCallDelta": {
          const call = calls[chunk.index] ??= { id: "", name: "", arguments: "", providerMetadata: undefined }
          if (chunk.id !== undefined) call.id = chunk.id
          if (chunk.name !== undefined) call.name += chunk.name
          call.arguments += chunk.arguments
          if (chunk.providerMetadata !== undefined) call.providerMetadata = chunk.providerMetadata
          break
        }
        case "Usage":
          usage = chunk.usage
          break
        case "Finish": {
          // A Gemini deployment's signature of the reply goes back to the client on a part of its own.
          const signature = metadataOf(chunk.providerMetadata)?.thoughtSignature
          if (signature !== undefined) parts.push({ text: "", thoughtSignature: signature })
          for (const call of calls) if (call !== undefined) parts.push(callPart(call))
          producing = chunk.model
          out += event(parts, { reason: finishReason(chunk.finishReason), usage: usage ?? emptyUsage })
          parts = []
          forwarded = true
          break
        }
        case "Restart":
          if (forwarded) return { bytes: bytesOf(out + (parts.length > 0 ? event(parts) : "")), restarted: chunk }
          // Nothing of the broken attempt went out: the new one's parts follow as if they were the first.
          usage = undefined
          calls = []
          producing = chunk.model
          break
        case "Continue":
          if (parts.length > 0) out += event(parts)
          parts = []
          producing = chunk.model
          break
      }
    }
    if (parts.length > 0) out += event(parts)
    return { bytes: bytesOf(out), restarted: undefined }
  }

  return { contentType: "text/event-stream", batch, error: (body) => bytesOf(`data: ${body}\r\n\r\n`) }
}
