/**
 * The Chat Completions reply (`chat.completion`, OpenAI's API reference "The
 * chat completion object"), both ways: `reply` reads one for the client,
 * `completion` writes one for the gateway; with the usage and finish reasons
 * the stream shares. The reader is plain functions over `JSON.parse` output,
 * checked with `typeof`: decoding a schema union per call or per stream event
 * costs more than the HTTP round trip on loopback.
 */
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type { ToolCall } from "../../../Message.js"
import type { Reply } from "../../providers/adapter.js"
import { openAiUsage, openAiUsageFields } from "../../providers/usage.js"
import { isRecord, type JsonRecord, replyId, replyModel, ShapeError } from "../../providers/wire.js"
import { encodeToolCall } from "./request.js"

export { isRecord, type JsonRecord, ShapeError }

export const finishReason = (reason: string | undefined): FinishReason => {
  switch (reason) {
    case "stop":
    case "length":
    case "tool_calls":
    case "content_filter":
      return reason
    case "function_call":
      return "tool_calls"
    default:
      return "other"
  }
}

const usageFields = openAiUsageFields("prompt", "completion")

/** Usage from `usage` (OpenAI and compatibles, Groq's `x_groq.usage`); undefined when it is not an object. */
export const usage = (value: unknown): Usage | undefined => openAiUsage(value, usageFields)

/** `content`: a string, null, or (some compatible servers) an array of text parts. */
export const textOf = (value: unknown, field: string): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  if (Array.isArray(value)) {
    let out = ""
    for (const part of value) {
      if (isRecord(part) && typeof part["text"] === "string") out += part["text"]
    }
    return out
  }
  throw new ShapeError(`${field} is neither a string nor null`)
}

const optionalString = (value: unknown, field: string): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  throw new ShapeError(`${field} is not a string`)
}

/** Tool-call arguments are a JSON string; a few servers send the object itself. */
export const argumentsOf = (value: unknown): string | undefined =>
  typeof value === "string" ? value : value === undefined || value === null ? undefined : JSON.stringify(value)

/**
 * Reasoning text: `reasoning_content` (DeepSeek, older vLLM) or `reasoning`
 * (OpenRouter, Ollama, Groq, newer vLLM). Servers in transition send both with
 * the same text, so only one is read. `contentField` is the path of
 * `reasoning_content` an error names (a constant: a stream reads it per event).
 */
export const reasoningOf = (record: JsonRecord, contentField: string): string | undefined => {
  const content = textOf(record["reasoning_content"], contentField)
  if (content !== undefined && content !== "") return content
  const reasoning = record["reasoning"]
  // OpenRouter may also send `reasoning` as structured details in some modes; only text counts.
  return typeof reasoning === "string" && reasoning !== "" ? reasoning : content
}

/** Whether a parsed body or event is an error object: an `error` field, or vLLM's flat `object: "error"`. */
export const isErrorPayload = (value: JsonRecord): boolean => {
  const error = value["error"]
  return (error !== undefined && error !== null) || value["object"] === "error"
}

/** Reads a non-streaming reply; throws `ShapeError` when it is not one. */
export const reply = (body: JsonRecord): Reply => {
  const choices = body["choices"]
  if (!Array.isArray(choices)) throw new ShapeError("choices is not an array")
  const choice: unknown = choices[0]
  if (!isRecord(choice)) throw new ShapeError("choices[0] is not an object")
  const message = choice["message"]
  if (!isRecord(message)) throw new ShapeError("choices[0].message is not an object")
  const rawCalls = message["tool_calls"]
  const toolCalls: Array<ToolCall> = []
  if (rawCalls !== undefined && rawCalls !== null) {
    if (!Array.isArray(rawCalls)) throw new ShapeError("message.tool_calls is not an array")
    for (const raw of rawCalls) {
      const fn = isRecord(raw) ? raw["function"] : undefined
      if (!isRecord(raw) || !isRecord(fn)) throw new ShapeError("a tool call has no function object")
      toolCalls.push({
        id: optionalString(raw["id"], "tool_calls[].id") ?? "",
        name: optionalString(fn["name"], "tool_calls[].function.name") ?? "",
        arguments: argumentsOf(fn["arguments"]) ?? ""
      })
    }
  }
  const reason = choice["finish_reason"]
  return {
    id: replyId(body["id"]),
    model: replyModel(body["model"]),
    text: textOf(message["content"], "message.content") ?? "",
    reasoning: reasoningOf(message, "message.reasoning_content"),
    refusal: optionalString(message["refusal"], "message.refusal"),
    toolCalls,
    finishReason: finishReason(typeof reason === "string" ? reason : undefined),
    usage: usage(body["usage"])
  }
}

export const maxRaw = 2_000

/** The start of a text that failed to decode, for `OutputDecodeError.raw`. */
export const excerpt = (text: string): string => text.length > maxRaw ? `${text.slice(0, maxRaw)}…` : text

/** The library's finish reason as the wire's: `other` has no name there, and a client reads `stop` as done. */
export function wireFinishReason(reason: FinishReason): string {
  return reason === "other" ? "stop" : reason
}

/** `usage` as the wire writes it, in a reply and in a stream's last chunk. */
export function usageObject(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens }
  }
}

/** A whole reply as a `chat.completion` body. `id` is used when the provider gave none. */
export function completion(response: ChatResponse, id: string, created: number): string {
  const calls = response.toolCalls
  const message: Record<string, unknown> = {
    role: "assistant",
    content: calls.length > 0 && response.text === "" ? null : response.text
  }
  if (response.reasoning !== undefined) message["reasoning_content"] = response.reasoning
  message["refusal"] = response.refusal ?? null
  if (calls.length > 0) message["tool_calls"] = calls.map(encodeToolCall)
  return JSON.stringify({
    id: response.id === "" ? id : response.id,
    object: "chat.completion",
    created,
    model: response.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: wireFinishReason(response.finishReason) }],
    usage: usageObject(response.usage)
  })
}
