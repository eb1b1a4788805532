/**
 * Chat Completions wire mapping: the request body, the
 * non-streaming response, usage and finish reasons. Plain functions over
 * `JSON.parse` output, checked with `typeof`: decoding a schema union per call
 * or per stream event costs more than the HTTP round trip on loopback.
 */
import type * as Redacted from "effect/Redacted"
import type { Input as ChatRequest, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../../Message.js"
import type { Reply } from "../adapter.js"
import { openAiUsage, openAiUsageFields } from "../usage.js"
import { isRecord, type JsonRecord, replyId, replyModel, ShapeError } from "../wire.js"

export { isRecord, type JsonRecord, ShapeError }

/** Which field carries `maxTokens`. */
export type MaxTokensField = "max_completion_tokens" | "max_tokens"

// ---------------------------------------------------------------------------
// Request

/** `OpenAI-Organization` and `OpenAI-Project` when set, then the client's own headers. */
export const headers = (options: {
  readonly organization?: string | undefined
  readonly project?: string | undefined
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
}): Readonly<Record<string, string | Redacted.Redacted<string>>> => ({
  ...(options.organization !== undefined ? { "openai-organization": options.organization } : {}),
  ...(options.project !== undefined ? { "openai-project": options.project } : {}),
  ...options.headers
})

const contentPart = (part: ContentPart): JsonRecord =>
  part.type === "text"
    ? { type: "text", text: part.text }
    : {
      type: "image_url",
      image_url: part.detail === undefined ? { url: part.url } : { url: part.url, detail: part.detail }
    }

const toolCall = (call: ToolCall): JsonRecord => ({
  id: call.id,
  type: "function",
  function: { name: call.name, arguments: call.arguments }
})

const message = (message: Message): JsonRecord => {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content }
    case "user":
      return {
        role: "user",
        content: typeof message.content === "string" ? message.content : message.content.map(contentPart)
      }
    case "assistant": {
      const calls = message.toolCalls
      if (calls === undefined || calls.length === 0) return { role: "assistant", content: message.content }
      const out: JsonRecord = {
        role: "assistant",
        // OpenAI documents null content beside tool calls; some compatible servers reject "".
        content: message.content === "" ? null : message.content,
        tool_calls: calls.map(toolCall)
      }
      // DeepSeek's thinking mode requires the reasoning back on tool-call turns
      // and ignores it elsewhere; older servers reject it, so send it only there.
      if (message.reasoning !== undefined) out["reasoning_content"] = message.reasoning
      return out
    }
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content }
  }
}

const tool = (tool: ToolDefinition): JsonRecord => {
  const fn: JsonRecord = { name: tool.name }
  if (tool.description !== undefined) fn["description"] = tool.description
  fn["parameters"] = tool.parameters
  if (tool.strict !== undefined) fn["strict"] = tool.strict
  return { type: "function", function: fn }
}

const toolChoice = (choice: ToolChoice): unknown =>
  typeof choice === "string" ? choice : { type: "function", function: { name: choice.tool } }

const responseFormat = (format: ResponseFormat): JsonRecord => {
  if (format.type !== "json_schema") return { type: format.type }
  const schema: JsonRecord = { name: format.name }
  if (format.description !== undefined) schema["description"] = format.description
  schema["schema"] = format.schema
  schema["strict"] = format.strict ?? true
  return { type: "json_schema", json_schema: schema }
}

/**
 * How a server is asked to go on from a last assistant message (`OpenAiChat.Options.prefill`): `true`, the message
 * alone; `"continue_final_message"`, vLLM's flags; `"prefix"`, `prefix: true` on the message; `false`, never asked.
 */
export type Prefill = boolean | "continue_final_message" | "prefix"

// A last assistant message (without tool calls) is a prefill; the flags the server's style wants go with it.
const askToContinue = (request: ChatRequest, body: JsonRecord, messages: Array<JsonRecord>, prefill: Prefill) => {
  const last = request.messages.at(-1)
  if (last?.role !== "assistant" || (last.toolCalls?.length ?? 0) > 0) return
  if (prefill === "continue_final_message") {
    // vLLM's OpenAI-compatible server docs (Chat API extra parameters): `continue_final_message` leaves the final
    // message open for the model to continue; it cannot go with `add_generation_prompt`, which is true by default.
    body["continue_final_message"] = true
    body["add_generation_prompt"] = false
  } else if (prefill === "prefix") {
    // DeepSeek's "Chat Prefix Completion (Beta)": the last message is the assistant's, with `prefix: true`.
    messages[messages.length - 1] = { ...messages[messages.length - 1], prefix: true }
  }
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly maxTokensField: MaxTokensField
  /** Whether `promptCacheKey` is sent (`OpenAiChat.Options.sendPromptCacheKey`). */
  readonly promptCacheKey: boolean
  /** How a last assistant message is sent (`OpenAiChat.Options.prefill`). */
  readonly prefill: Prefill
}

/** The JSON body of `POST /chat/completions`; `providerOptions` are merged last, so they win. */
export const requestBody = (request: ChatRequest, options: BodyOptions): JsonRecord => {
  const messages = request.messages.map(message)
  const body: JsonRecord = { model: options.model, messages }
  askToContinue(request, body, messages, options.prefill)
  if (request.temperature !== undefined) body["temperature"] = request.temperature
  if (request.topP !== undefined) body["top_p"] = request.topP
  if (request.maxTokens !== undefined) body[options.maxTokensField] = request.maxTokens
  if (request.stop !== undefined) body["stop"] = request.stop
  if (request.tools !== undefined && request.tools.length > 0) body["tools"] = request.tools.map(tool)
  if (request.toolChoice !== undefined) body["tool_choice"] = toolChoice(request.toolChoice)
  if (request.responseFormat !== undefined) body["response_format"] = responseFormat(request.responseFormat)
  if (request.reasoningEffort !== undefined) body["reasoning_effort"] = request.reasoningEffort
  if (request.seed !== undefined) body["seed"] = request.seed
  if (request.user !== undefined) body["user"] = request.user
  if (options.promptCacheKey && request.promptCacheKey !== undefined) body["prompt_cache_key"] = request.promptCacheKey
  if (options.stream) {
    body["stream"] = true
    if (options.includeUsage) body["stream_options"] = { include_usage: true }
  }
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  return body
}

// ---------------------------------------------------------------------------
// Response

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
