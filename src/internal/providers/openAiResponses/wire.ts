/**
 * Responses API wire mapping: the request body, the response
 * object, usage, finish reasons and the reasoning items carried across turns.
 * Plain functions over `JSON.parse` output, checked with `typeof`, as in
 * `codec/openAiChat.ts`.
 */
import type { Input as ChatRequest, PreviousResponse, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type { AssistantMessage, ContentPart, ProviderMetadata, ToolCall, ToolDefinition } from "../../../Message.js"
import type { Reply } from "../adapter.js"
import { openAiUsage, openAiUsageFields } from "../usage.js"
import { isRecord, type JsonRecord, replyId, replyModel, ShapeError } from "../wire.js"

export { isRecord, type JsonRecord, ShapeError }

/** The key of this API's entry in `providerMetadata`. */
export const metadataKey = "openaiResponses"

// ---------------------------------------------------------------------------
// Request

const inputPart = (part: ContentPart): JsonRecord =>
  part.type === "text"
    ? { type: "input_text", text: part.text }
    // `detail` is required by the API's input image type.
    : { type: "input_image", image_url: part.url, detail: part.detail ?? "auto" }

// The items under `field` of this API's entry in `metadata`.
const keptItems = (metadata: ProviderMetadata | undefined, field: string): ReadonlyArray<unknown> => {
  const entry = metadata?.[metadataKey]
  if (!isRecord(entry)) return []
  const items = entry[field]
  return Array.isArray(items) ? items : []
}

/** The reasoning items an earlier reply left in its provider metadata, to send back first. */
export const reasoningItemsOf = (metadata: ProviderMetadata | undefined): ReadonlyArray<unknown> =>
  keptItems(metadata, "reasoningItems")

/**
 * The output items of types this library does not model (the calls of tools the API runs itself, `web_search_call`,
 * `mcp_call`..., and of client tools other than functions, `computer_call`, `custom_tool_call`..., with their
 * outputs) that an earlier reply left in its provider metadata, in order, to send back as they came.
 */
export const outputItemsOf = (metadata: ProviderMetadata | undefined): ReadonlyArray<unknown> =>
  keptItems(metadata, "outputItems")

const assistantItems = (message: AssistantMessage, items: Array<unknown>): void => {
  const calls = message.toolCalls ?? []
  const others = outputItemsOf(message.providerMetadata)
  // Reasoning first: the API pairs each reasoning item with the items that
  // follow it, and refuses one followed by nothing, as a reply cut off while
  // reasoning would leave it.
  if (message.content !== "" || calls.length > 0 || others.length > 0) {
    for (const item of reasoningItemsOf(message.providerMetadata)) items.push(item)
  }
  for (const item of others) items.push(item)
  if (message.content !== "") {
    items.push({ type: "message", role: "assistant", content: [{ type: "output_text", text: message.content }] })
  }
  for (const call of calls) {
    items.push({ type: "function_call", call_id: call.id, name: call.name, arguments: call.arguments })
  }
}

/**
 * `instructions` (the system messages, joined) and the input items of the other messages from the `from`-th on (the
 * ones before it are a kept response's, which the API does not need again; its `instructions` it does not keep).
 */
export const input = (
  messages: ChatRequest["messages"],
  from = 0
): { instructions: string | undefined; items: Array<unknown> } => {
  let instructions: string | undefined
  const items: Array<unknown> = []
  for (const [index, message] of messages.entries()) {
    if (message.role !== "system" && index < from) continue
    switch (message.role) {
      case "system":
        instructions = instructions === undefined ? message.content : `${instructions}\n\n${message.content}`
        break
      case "user":
        items.push({
          type: "message",
          role: "user",
          content: typeof message.content === "string"
            ? [{ type: "input_text", text: message.content }]
            : message.content.map(inputPart)
        })
        break
      case "assistant":
        assistantItems(message, items)
        break
      case "tool":
        items.push({ type: "function_call_output", call_id: message.toolCallId, output: message.content })
    }
  }
  return { instructions, items }
}

const tool = (tool: ToolDefinition): JsonRecord => {
  const out: JsonRecord = { type: "function", name: tool.name }
  if (tool.description !== undefined) out["description"] = tool.description
  out["parameters"] = tool.parameters
  // The Responses API treats an absent `strict` as true; the domain's default is off.
  out["strict"] = tool.strict ?? false
  return out
}

const toolChoice = (choice: ToolChoice): unknown =>
  typeof choice === "string" ? choice : { type: "function", name: choice.tool }

const textFormat = (format: ResponseFormat): JsonRecord => {
  if (format.type !== "json_schema") return { type: format.type }
  const out: JsonRecord = { type: "json_schema", name: format.name }
  if (format.description !== undefined) out["description"] = format.description
  out["schema"] = format.schema
  out["strict"] = format.strict ?? true
  return out
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  readonly store: boolean
  /** The kept response the call continues (`previousFor`): sent by id, with only the messages after it. */
  readonly previous?: PreviousResponse | undefined
}

/**
 * The request's `previousResponse` when a client that keeps responses (`store`) may continue it: made by `provider`
 * with the key `keyId`, the call's, and holding no more messages than the request has.
 */
export const previousFor = (
  request: ChatRequest,
  context: { readonly provider: string; readonly keyId: string; readonly store: boolean }
): PreviousResponse | undefined => {
  const previous = request.previousResponse
  return context.store && previous !== undefined && previous.provider === context.provider &&
      previous.keyId === context.keyId && previous.messages <= request.messages.length
    ? previous
    : undefined
}

/**
 * The JSON body of `POST /responses`; `providerOptions` are merged last, so
 * they win. `stop` and `seed` have no Responses counterpart and are not sent.
 */
export const requestBody = (request: ChatRequest, options: BodyOptions): JsonRecord => {
  const { previous } = options
  const { instructions, items } = input(request.messages, previous?.messages)
  const body: JsonRecord = { model: options.model }
  if (instructions !== undefined) body["instructions"] = instructions
  if (previous !== undefined) body["previous_response_id"] = previous.id
  body["input"] = items
  body["store"] = options.store
  if (request.temperature !== undefined) body["temperature"] = request.temperature
  if (request.topP !== undefined) body["top_p"] = request.topP
  if (request.maxTokens !== undefined) body["max_output_tokens"] = request.maxTokens
  if (request.tools !== undefined && request.tools.length > 0) body["tools"] = request.tools.map(tool)
  if (request.toolChoice !== undefined) body["tool_choice"] = toolChoice(request.toolChoice)
  if (request.responseFormat !== undefined) body["text"] = { format: textFormat(request.responseFormat) }
  const effort = request.reasoningEffort
  if (effort !== undefined) {
    if (effort === "none") {
      body["reasoning"] = { effort }
    } else {
      // A summary is the only reasoning text OpenAI returns; without one, reasoning stays hidden.
      body["reasoning"] = { effort, summary: "auto" }
      // Without stored state, the next turn needs the reasoning back, encrypted (OpenAI's reasoning guide).
      if (!options.store) body["include"] = ["reasoning.encrypted_content"]
    }
  }
  if (request.user !== undefined) body["user"] = request.user
  if (request.promptCacheKey !== undefined) body["prompt_cache_key"] = request.promptCacheKey
  if (options.stream) body["stream"] = true
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  return body
}

// ---------------------------------------------------------------------------
// Response

const usageFields = openAiUsageFields("input", "output")

/** Usage from `response.usage`; undefined when it is not an object. */
export const usage = (value: unknown): Usage | undefined => openAiUsage(value, usageFields)

/**
 * The finish reason, which the API does not send: an incomplete response says
 * why; a response with function calls stopped for them; anything else stopped.
 */
export const finishReason = (response: JsonRecord, hasToolCalls: boolean): FinishReason => {
  if (response["status"] === "incomplete") {
    const details = response["incomplete_details"]
    const reason = isRecord(details) ? details["reason"] : undefined
    return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content_filter" : "other"
  }
  return hasToolCalls ? "tool_calls" : "stop"
}

/**
 * The error payload of a failed response (`status: "failed"` with `error`),
 * or of a bare `{error}` body, shaped for `fromHttpFailure`; undefined otherwise.
 */
export const failureOf = (response: JsonRecord): JsonRecord | undefined => {
  const error = response["error"]
  if (isRecord(error)) return { error }
  if (response["status"] === "failed") return { error: { message: "the response failed without an error" } }
  return undefined
}

const optionalString = (value: unknown, field: string): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  throw new ShapeError(`${field} is not a string`)
}

/** Arguments are a JSON string; a few servers send the object itself. */
export const argumentsOf = (value: unknown): string =>
  typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value)

/** Separates reasoning summary parts, in whole replies and streams alike. */
export const reasoningSeparator = "\n\n"

/** The reasoning text of a reasoning item: its summary parts, or raw `reasoning_text` content. */
const reasoningTexts = (item: JsonRecord, out: Array<string>): void => {
  for (const field of ["summary", "content"] as const) {
    const parts = item[field]
    if (!Array.isArray(parts)) continue
    for (const part of parts) {
      if (isRecord(part) && typeof part["text"] === "string") out.push(part["text"])
    }
  }
}

/**
 * A reasoning item as it is sent back. With `store`, by id (the API finds it),
 * with its encrypted content when it has one. Without `store`, only an item
 * that carries its encrypted content is kept, and it is sent without its id:
 * the id points at nothing stored, and servers have been seen to reject it
 * ("Item with id 'rs_…' not found. Items are not persisted when `store` is set
 * to false"), while the encrypted content alone carries the reasoning.
 */
export const keptReasoning = (item: JsonRecord, store: boolean): JsonRecord | undefined => {
  const id = item["id"]
  const encrypted = item["encrypted_content"]
  const summary = Array.isArray(item["summary"]) ? item["summary"] : []
  if (!store) {
    return typeof encrypted === "string" ? { type: "reasoning", summary, encrypted_content: encrypted } : undefined
  }
  if (typeof id !== "string") return undefined
  const kept: JsonRecord = { type: "reasoning", id, summary }
  if (typeof encrypted === "string") kept["encrypted_content"] = encrypted
  return kept
}

/** Whether an output item is of a type this library reads (text, function calls, reasoning). */
export const isModelled = (type: unknown): boolean =>
  type === "message" || type === "function_call" || type === "reasoning"

/**
 * `providerMetadata` carrying reasoning items, the output items of other types (`outputItemsOf`) and whether the API
 * keeps the response (`storedOf`), or undefined when there is none of these.
 */
export const metadataOf = (
  reasoningItems: ReadonlyArray<JsonRecord>,
  outputItems: ReadonlyArray<JsonRecord> = [],
  stored = false
): ProviderMetadata | undefined =>
  reasoningItems.length === 0 && outputItems.length === 0 && !stored ? undefined : {
    [metadataKey]: {
      ...(reasoningItems.length > 0 ? { reasoningItems } : {}),
      ...(outputItems.length > 0 ? { outputItems } : {}),
      ...(stored ? { stored } : {})
    }
  }

/**
 * Whether the API keeps a reply under its id, so that a later call may continue it (`ChatRequest.previousResponse`):
 * it was asked to (`store`), and its response object does not say otherwise.
 */
export const keptUpstream = (response: JsonRecord, store: boolean): boolean => store && response["store"] !== false

/** Whether a reply's `providerMetadata` says the API keeps it under its id (`keptUpstream`). */
export const storedOf = (metadata: ProviderMetadata | undefined): boolean => {
  const entry = metadata?.[metadataKey]
  return isRecord(entry) && entry["stored"] === true
}

/** Reads a response object (whole, or from a terminal stream event); throws `ShapeError` when it is not one. */
export const reply = (response: JsonRecord, store: boolean): Reply => {
  const output = response["output"]
  if (!Array.isArray(output)) throw new ShapeError("output is not an array")
  let text = ""
  let refusal: string | undefined
  const reasoning: Array<string> = []
  const reasoningItems: Array<JsonRecord> = []
  const toolCalls: Array<ToolCall> = []
  const outputItems: Array<JsonRecord> = []
  for (const item of output) {
    if (!isRecord(item)) throw new ShapeError("an output item is not an object")
    if (!isModelled(item["type"])) outputItems.push(item)
    switch (item["type"]) {
      case "message": {
        const content = item["content"]
        if (!Array.isArray(content)) throw new ShapeError("a message item's content is not an array")
        for (const part of content) {
          if (!isRecord(part)) continue
          if (part["type"] === "output_text") text += optionalString(part["text"], "output_text.text") ?? ""
          else if (part["type"] === "refusal") {
            refusal = (refusal ?? "") + (optionalString(part["refusal"], "refusal") ?? "")
          }
        }
        break
      }
      case "function_call":
        toolCalls.push({
          id: optionalString(item["call_id"], "function_call.call_id") ?? "",
          name: optionalString(item["name"], "function_call.name") ?? "",
          arguments: argumentsOf(item["arguments"])
        })
        break
      case "reasoning": {
        reasoningTexts(item, reasoning)
        const kept = keptReasoning(item, store)
        if (kept !== undefined) reasoningItems.push(kept)
        break
      }
    }
  }
  return {
    id: replyId(response["id"]),
    model: replyModel(response["model"]),
    text,
    reasoning: reasoning.length === 0 ? undefined : reasoning.join(reasoningSeparator),
    refusal,
    toolCalls,
    finishReason: finishReason(response, toolCalls.length > 0),
    usage: usage(response["usage"]),
    providerMetadata: metadataOf(reasoningItems, outputItems, keptUpstream(response, store))
  }
}
