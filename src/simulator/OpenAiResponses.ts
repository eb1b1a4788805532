/**
 * The simulator's OpenAI Responses wire format (`POST /v1/responses`), per
 * WIRE.md §2: request decoding, the response object, the named-event stream
 * and errors (the same error body and statuses as Chat Completions, §2.6).
 *
 * Requests are checked by hand, field by field, naming the offending field as
 * OpenAI does. Chat Completions fields (`messages`, `response_format`,
 * `max_tokens`, `max_completion_tokens`, `reasoning_effort`, `stop`, `seed`,
 * `stream_options.include_usage`) are refused as unknown parameters, and
 * Chat-style nested tools and `text` parts as missing fields, so an adapter
 * that mixes the two formats fails loudly here.
 *
 * Prompt tokens are counted over `instructions`, message text, replayed
 * function-call names and arguments, and `function_call_output` text
 * (`Reply.countTokens`), plus 85 per image or file part. Tool definitions and
 * replayed reasoning items are not counted.
 *
 * Reasoning (`reasoning.effort` other than `none`) adds a reasoning output item
 * first, whose summary (the reply's reasoning tokens, as one `summary_text`
 * part) is filled only when `reasoning.summary` is set, as OpenAI does; its
 * `encrypted_content` is sent only when `include` names
 * `reasoning.encrypted_content`.
 *
 * Rules of the real API the simulator enforces (WIRE.md §2.7), simplified:
 * - with reasoning on, a replayed `function_call` item that carries its `id`
 *   must follow a `reasoning` item of the same turn (a turn ends at a user,
 *   system or developer message, or a `function_call_output`);
 * - a replayed `reasoning` item carries its `encrypted_content`, or an `id`
 *   that can only be found with `store` (the simulator stores nothing, but
 *   accepts the id then);
 * - `previous_response_id` is always unknown (the simulator stores nothing).
 *
 * Stream faults: `stream-error` with `shape=openai` sends the `error` event
 * (top-level `code`, `message`, `param`); `shape=vllm` and `shape=openrouter`,
 * which have no Responses counterpart, send `response.failed` instead. A
 * non-streamed request gets the failed response object (`status: "failed"`,
 * `error: {code, message}`) with HTTP 200. A chunk is one SSE event.
 *
 * Structured output (`text.format`) is checked for shape only; the reply is
 * the usual generated text.
 *
 * @since 0.1.0
 */
import { openAiErrorJson as errorBody } from "../internal/openAiErrorJson.js"
import { Transcript } from "../internal/simulator/decoded.js"
import { invalidType, missingParameter, requiredArray } from "../internal/simulator/openAiErrors.js"
import { decodeTools } from "../internal/simulator/openAiRequest.js"
import { quoteToken } from "../internal/simulator/quoteToken.js"
import { invalid, isRecord, typeName } from "../internal/simulator/requestChecks.js"
import * as OpenAiChat from "./OpenAiChat.js"
import type * as Reply from "./Reply.js"
import type { StreamErrorShape } from "./Simulator.js"
import type { ApiError, Decoded, RenderedStream, ReplyMeta, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** `store` as sent (the API's default is `true`). */
  readonly store: boolean
  /** `include` names `reasoning.encrypted_content`. */
  readonly encryptedReasoning: boolean
  /** `reasoning.summary` was set: reasoning items carry their summary text. */
  readonly summary: boolean
  /** `reasoning.effort` as sent, echoed in the response object. */
  readonly effort: string | undefined
}

/** Only decoding errors are returned here; a tool choice is tagged too. */
const isError = (u: unknown): u is ApiError => isRecord(u) && u._tag === "InvalidRequest"

/** Chat Completions fields the Responses API does not know. */
const chatOnly = [
  "messages",
  "response_format",
  "max_tokens",
  "max_completion_tokens",
  "reasoning_effort",
  "stop",
  "seed",
  "functions",
  "function_call"
] as const

const messageRoles = new Set(["user", "assistant", "system", "developer"])

const partTypes = "'input_text', 'input_image', 'input_file', 'output_text' and 'refusal'"

/** The text and media parts of a message item's `content`. */
const contentOf = (
  content: unknown,
  path: string
): { readonly text: string; readonly media: number } | ApiError => {
  if (typeof content === "string") return { text: content, media: 0 }
  if (!Array.isArray(content)) return invalidType(path, "one of a string or array of input items", content)
  let text = ""
  let media = 0
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    const at = `${path}[${i}]`
    if (!isRecord(part)) return invalid(`Invalid type for '${at}': expected an object.`, at)
    switch (part.type) {
      case "input_text":
      case "output_text":
        if (typeof part.text !== "string") return missingParameter(`${at}.text`)
        text += part.text
        break
      case "refusal":
        if (typeof part.refusal === "string") text += part.refusal
        break
      case "input_image":
        if (typeof part.image_url !== "string" && typeof part.file_id !== "string") return missingParameter(`${at}.image_url`)
        media++
        break
      case "input_file":
        media++
        break
      default:
        return invalid(
          `Invalid value: ${JSON.stringify(part.type) ?? "nothing"}. Supported values are: ${partTypes}.`,
          `${at}.type`,
          "invalid_value"
        )
    }
  }
  return { text, media }
}

const decodeInput = (input: unknown, reasoning: boolean, store: boolean): Transcript | ApiError => {
  const transcript = new Transcript()
  if (typeof input === "string") {
    transcript.add("user", input, 0)
    return transcript
  }
  const items = requiredArray("input", input, "one of a string or array of input items")
  if (!Array.isArray(items)) return items
  let reasoningInTurn = false
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i]
    const path = `input[${i}]`
    if (!isRecord(item)) return invalidType(path, "an object", item)
    const type = item.type ?? "message"
    switch (type) {
      case "message": {
        const role = item.role
        if (typeof role !== "string" || !messageRoles.has(role)) {
          return invalid(
            `Invalid value for '${path}.role': expected one of 'user', 'assistant', 'system' or 'developer', got ${
              JSON.stringify(role) ?? "nothing"
            }.`,
            `${path}.role`
          )
        }
        const content = contentOf(item.content, `${path}.content`)
        if (isError(content)) return content
        transcript.add(role, content.text, content.media)
        if (role !== "assistant") reasoningInTurn = false
        break
      }
      case "function_call": {
        for (const field of ["call_id", "name", "arguments"] as const) {
          if (typeof item[field] !== "string") return missingParameter(`${path}.${field}`)
        }
        if (reasoning && typeof item.id === "string" && !reasoningInTurn) {
          return invalid(
            `Item '${item.id}' of type 'function_call' was provided without its required 'reasoning' item.`,
            "input"
          )
        }
        transcript.add("assistant", "", 0)
        transcript.chars += (item.name as string).length + (item.arguments as string).length
        break
      }
      case "function_call_output": {
        if (typeof item.call_id !== "string") return missingParameter(`${path}.call_id`)
        const output = typeof item.output === "string" ? item.output : contentOf(item.output, `${path}.output`)
        if (isError(output)) return output
        if (typeof output === "string") transcript.add("tool", output, 0)
        else transcript.add("tool", output.text, output.media)
        reasoningInTurn = false
        break
      }
      case "reasoning": {
        if (!Array.isArray(item.summary)) return missingParameter(`${path}.summary`)
        // An item is found by its id, or carries itself encrypted.
        if (typeof item.encrypted_content !== "string") {
          if (typeof item.id !== "string") return missingParameter(`${path}.id`)
          if (!store) {
            return invalid(
              `Item with id '${item.id}' not found. Items are not persisted when \`store\` is set to false. ` +
                "Try again with `store` set to true, or remove this item from your input.",
              "input"
            )
          }
        }
        reasoningInTurn = true
        break
      }
      case "item_reference":
        return invalid(
          `Item with id '${String(item.id)}' not found. Items are not persisted when \`store\` is set to false.`,
          "input"
        )
      default:
        return invalid(
          `Invalid value: ${
            JSON.stringify(type) ?? "nothing"
          }. Supported values are: 'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference'.`,
          `${path}.type`,
          "invalid_value"
        )
    }
  }
  return transcript
}

/**
 * A Responses tool: a `function`, flat (unlike Chat Completions, a nested
 * `function` object is a mistake); hosted tools (`web_search`, `file_search`,
 * ...) are accepted and never called.
 */
const functionOf = (tool: Readonly<Record<string, unknown>>, path: string): Reply.Tool | ApiError | undefined => {
  if (tool.type !== "function") return undefined
  if (typeof tool.name !== "string") return missingParameter(`${path}.name`, "missing_required_parameter")
  return { name: tool.name, parameters: tool.parameters }
}

const decodeToolChoice = (choice: unknown, tools: ReadonlyArray<Reply.Tool>): Reply.ToolChoice | ApiError => {
  if (choice === undefined || choice === null || choice === "auto") return { _tag: "Auto" }
  if (choice === "none") return { _tag: "None" }
  if (choice === "required") return { _tag: "Required" }
  if (isRecord(choice)) {
    if (choice.type === "function") {
      const name = choice.name
      if (typeof name !== "string") return missingParameter("tool_choice.name")
      if (!tools.some((tool) => tool.name === name)) {
        return invalid(`Tool choice 'function' not found in 'tools' parameter.`, "tool_choice")
      }
      return { _tag: "Named", name }
    }
    if (typeof choice.type === "string") return { _tag: "Auto" }
  }
  return invalid(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', name}.",
    "tool_choice"
  )
}

/** The JSON Schema `text.format` asks the reply to follow (`schema` undefined for none), or what is wrong with it. */
const decodeText = (text: unknown): ApiError | { readonly schema: unknown } => {
  const none = { schema: undefined }
  if (text === undefined || text === null) return none
  if (!isRecord(text)) return invalidType("text", "an object", text)
  const format = text.format
  if (format === undefined || format === null) return none
  if (!isRecord(format)) return invalid("Invalid type for 'text.format': expected an object.", "text.format")
  switch (format.type) {
    case "text":
    case "json_object":
      return none
    case "json_schema":
      // Flat, unlike Chat Completions' nested `json_schema` wrapper.
      if (typeof format.name !== "string") return missingParameter("text.format.name")
      if (!isRecord(format.schema)) return missingParameter("text.format.schema")
      return { schema: format.schema }
    default:
      return invalid(
        `Invalid value: ${
          JSON.stringify(format.type) ?? "nothing"
        }. Supported values are: 'text', 'json_object' and 'json_schema'.`,
        "text.format.type",
        "invalid_value"
      )
  }
}

const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  for (const name of chatOnly) {
    if (body[name] !== undefined) return invalid(`Unknown parameter: '${name}'.`, name, "unknown_parameter")
  }
  const model = body.model
  if (model === undefined || model === null) return missingParameter("model")
  if (typeof model !== "string") return invalidType("model", "a string", model)
  const previous = body.previous_response_id
  if (previous !== undefined && previous !== null) {
    return invalid(`Previous response with id '${String(previous)}' not found.`, "previous_response_id")
  }
  const store = body.store !== false
  const reasoningConfig = body.reasoning
  if (reasoningConfig !== undefined && reasoningConfig !== null && !isRecord(reasoningConfig)) {
    return invalidType("reasoning", "an object", reasoningConfig)
  }
  const effort = isRecord(reasoningConfig) && typeof reasoningConfig.effort === "string" ? reasoningConfig.effort : undefined
  const reasoning = isRecord(reasoningConfig) && effort !== "none"
  const summary = isRecord(reasoningConfig) && typeof reasoningConfig.summary === "string"

  const instructions = body.instructions
  if (instructions !== undefined && instructions !== null && typeof instructions !== "string") {
    return invalidType("instructions", "a string", instructions)
  }
  const input = decodeInput(body.input, reasoning, store)
  if (isError(input)) return input

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") return invalidType("stream", "a boolean", stream)
  const streamOptions = body.stream_options
  if (streamOptions !== undefined && streamOptions !== null) {
    if (stream !== true) {
      return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    }
    if (isRecord(streamOptions) && streamOptions.include_usage !== undefined) {
      return invalid("Unknown parameter: 'stream_options.include_usage'.", "stream_options.include_usage", "unknown_parameter")
    }
  }
  const include = body.include
  if (include !== undefined && include !== null && !Array.isArray(include)) return invalidType("include", "an array", include)

  const maxTokens = body.max_output_tokens
  if (maxTokens !== undefined && maxTokens !== null && (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 16)) {
    return invalid(
      `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${JSON.stringify(maxTokens)} instead.`,
      "max_output_tokens",
      "integer_below_min_value"
    )
  }

  const tools = decodeTools(body.tools, functionOf)
  if (isError(tools)) return tools
  const toolChoice = decodeToolChoice(body.tool_choice, tools)
  if (isError(toolChoice)) return toolChoice
  const text = decodeText(body.text)
  if ("_tag" in text) return text

  if (typeof instructions === "string") input.chars += instructions.length
  return input.decoded(
    {
      model,
      tools,
      toolChoice,
      parallelToolCalls: body.parallel_tool_calls !== false,
      reasoning,
      maxTokens: typeof maxTokens === "number" ? maxTokens : undefined,
      responseSchema: text.schema
    },
    stream === true,
    {
      store,
      encryptedReasoning: Array.isArray(include) && include.includes("reasoning.encrypted_content"),
      summary,
      effort
    }
  )
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

const usageJson = (usage: Reply.Usage): string =>
  `{"input_tokens":${usage.promptTokens},"input_tokens_details":{"cached_tokens":${usage.cachedTokens}},` +
  `"output_tokens":${usage.completionTokens},"output_tokens_details":{"reasoning_tokens":${usage.reasoningTokens}},` +
  `"total_tokens":${usage.totalTokens}}`

/** Output item ids, derived from the response id (`resp_sim7` -> `msg_sim7`). */
const itemIds = (meta: ReplyMeta) => {
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return { message: `msg_${suffix}`, reasoning: `rs_${suffix}` }
}

const functionCallId = (call: Reply.ToolCall): string => `fc_${call.id.startsWith("call_") ? call.id.slice(5) : call.id}`

/** Opaque, deterministic stand-in for OpenAI's encrypted reasoning. */
const encrypted = (id: string, tokens: number): string =>
  `gAAAAB${Buffer.from(`simulated reasoning ${id} ${tokens}`).toString("base64")}`

const reasoningItem = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra, done: boolean): string => {
  const id = itemIds(meta).reasoning
  const summary = done && extra.summary
    ? `[{"type":"summary_text","text":${JSON.stringify(reply.reasoning.join(""))}}]`
    : "[]"
  const content = done && extra.encryptedReasoning
    ? `,"encrypted_content":${JSON.stringify(encrypted(id, reply.reasoning.length))}`
    : extra.encryptedReasoning
    ? `,"encrypted_content":null`
    : ""
  return `{"id":"${id}","type":"reasoning","summary":${summary}${content}}`
}

const hasMessage = (reply: Reply.Reply): boolean => reply.content.length > 0 || reply.toolCalls.length === 0

const messageStatus = (reply: Reply.Reply): string => reply.finishReason === "length" ? "incomplete" : "completed"

const messageItem = (reply: Reply.Reply, meta: ReplyMeta, text: string | undefined): string =>
  `{"id":"${itemIds(meta).message}","type":"message","status":"${text === undefined ? "in_progress" : messageStatus(reply)}",` +
  `"role":"assistant","content":${
    text === undefined ? "[]" : `[{"type":"output_text","text":${JSON.stringify(text)},"annotations":[],"logprobs":[]}]`
  }}`

const functionCallItem = (call: Reply.ToolCall, done: boolean): string =>
  `{"id":"${functionCallId(call)}","type":"function_call","status":"${done ? "completed" : "in_progress"}",` +
  `"arguments":${done ? JSON.stringify(call.arguments) : `""`},"call_id":"${call.id}","name":${JSON.stringify(call.name)}}`

const outputItems = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): Array<string> => {
  const items: Array<string> = []
  if (reply.reasoning.length > 0) items.push(reasoningItem(reply, meta, extra, true))
  if (hasMessage(reply)) items.push(messageItem(reply, meta, reply.content.join("")))
  for (const call of reply.toolCalls) items.push(functionCallItem(call, true))
  return items
}

type Status = "in_progress" | "completed" | "incomplete" | "failed"

const responseJson = (
  meta: ReplyMeta,
  extra: Extra,
  status: Status,
  output: string,
  usage: string,
  error = "null"
): string =>
  `{"id":"${meta.id}","object":"response","created_at":${meta.created},"status":"${status}","background":false,` +
  `"completed_at":${status === "completed" ? meta.created : "null"},"error":${error},` +
  `"incomplete_details":${status === "incomplete" ? `{"reason":"max_output_tokens"}` : "null"},` +
  `"instructions":null,"max_output_tokens":null,"model":${JSON.stringify(meta.model)},"output":${output},` +
  `"parallel_tool_calls":true,"previous_response_id":null,` +
  `"reasoning":{"effort":${extra.effort === undefined ? "null" : JSON.stringify(extra.effort)},"summary":${
    extra.summary ? `"auto"` : "null"
  }},` +
  `"store":${extra.store},"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},"tool_choice":"auto",` +
  `"tools":[],"top_p":1.0,"truncation":"disabled","usage":${usage},"user":null,"metadata":{}}`

const finalStatus = (reply: Reply.Reply): Status => reply.finishReason === "length" ? "incomplete" : "completed"

const renderReply = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string =>
  responseJson(meta, extra, finalStatus(reply), `[${outputItems(reply, meta, extra).join(",")}]`, usageJson(reply.usage))

const event = (type: string, seq: number, fields: string): string =>
  `event: ${type}\ndata: {"type":"${type}","sequence_number":${seq}${fields === "" ? "" : `,${fields}`}}\n\n`

const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const events: Array<string> = []
  let seq = 0
  const push = (type: string, fields: string) => {
    events.push(event(type, seq++, fields))
  }
  const snapshot = responseJson(meta, extra, "in_progress", "[]", "null")
  push("response.created", `"response":${snapshot}`)
  push("response.in_progress", `"response":${snapshot}`)
  const ids = itemIds(meta)
  let index = 0

  if (reply.reasoning.length > 0) {
    const at = `"item_id":"${ids.reasoning}","output_index":${index}`
    push("response.output_item.added", `"output_index":${index},"item":${reasoningItem(reply, meta, extra, false)}`)
    if (extra.summary) {
      const part = `${at},"summary_index":0`
      push("response.reasoning_summary_part.added", `${part},"part":{"type":"summary_text","text":""}`)
      for (const token of reply.reasoning) push("response.reasoning_summary_text.delta", `${part},"delta":${quoteToken(token)}`)
      const text = JSON.stringify(reply.reasoning.join(""))
      push("response.reasoning_summary_text.done", `${part},"text":${text}`)
      push("response.reasoning_summary_part.done", `${part},"part":{"type":"summary_text","text":${text}}`)
    }
    push("response.output_item.done", `"output_index":${index},"item":${reasoningItem(reply, meta, extra, true)}`)
    index++
  }

  if (hasMessage(reply)) {
    const at = `"item_id":"${ids.message}","output_index":${index},"content_index":0`
    push("response.output_item.added", `"output_index":${index},"item":${messageItem(reply, meta, undefined)}`)
    push("response.content_part.added", `${at},"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}`)
    for (const token of reply.content) push("response.output_text.delta", `${at},"delta":${quoteToken(token)},"logprobs":[]`)
    const text = JSON.stringify(reply.content.join(""))
    push("response.output_text.done", `${at},"text":${text},"logprobs":[]`)
    push("response.content_part.done", `${at},"part":{"type":"output_text","text":${text},"annotations":[],"logprobs":[]}`)
    push("response.output_item.done", `"output_index":${index},"item":${messageItem(reply, meta, reply.content.join(""))}`)
    index++
  }

  // Parallel calls interleave: every call's item first, then argument pieces
  // round-robin, so a client must assemble by item id (or output index).
  const calls = reply.toolCalls
  const first = index
  for (let i = 0; i < calls.length; i++) {
    push("response.output_item.added", `"output_index":${first + i},"item":${functionCallItem(calls[i]!, false)}`)
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      push(
        "response.function_call_arguments.delta",
        `"item_id":"${functionCallId(calls[i]!)}","output_index":${first + i},"delta":${JSON.stringify(piece)}`
      )
    }
  }
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    push(
      "response.function_call_arguments.done",
      `"item_id":"${functionCallId(call)}","output_index":${first + i},"name":${JSON.stringify(call.name)},"arguments":${
        JSON.stringify(call.arguments)
      }`
    )
    push("response.output_item.done", `"output_index":${first + i},"item":${functionCallItem(call, true)}`)
  }

  const status = finalStatus(reply)
  const tail = event(
    status === "completed" ? "response.completed" : "response.incomplete",
    seq,
    `"response":${renderReply(reply, meta, extra)}`
  )
  return { events, tail }
}

const failureMessage = "The server had an error while processing your request. Sorry about that!"

const failedExtra: Extra = { store: false, encryptedReasoning: false, summary: false, effort: undefined }

const failedResponse = (meta: ReplyMeta): string =>
  responseJson(meta, failedExtra, "failed", "[]", "null", `{"code":"server_error","message":${JSON.stringify(failureMessage)}}`)

const renderStreamError = (shape: StreamErrorShape, meta: ReplyMeta): string =>
  shape === "openai"
    ? `event: error\ndata: {"type":"error","sequence_number":0,"code":"server_error","message":${
      JSON.stringify(failureMessage)
    },"param":null}\n\n`
    : event("response.failed", 0, `"response":${failedResponse(meta)}`)

const renderError = (error: ApiError): { readonly status: number; readonly body: string } =>
  error._tag === "ContextLength"
    ? {
      status: 400,
      body: errorBody(
        `Your input exceeds the context window of this model (${error.limit} tokens). Please adjust your input and try again.`,
        "invalid_request_error",
        "input",
        "context_length_exceeded"
      )
    }
    // The other errors are the same as Chat Completions' (WIRE.md §2.6).
    : OpenAiChat.format.renderError(error)

/**
 * The Responses wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: OpenAiChat.format.apiKey,
  decode,
  renderError,
  renderReply,
  renderStream,
  renderStreamError,
  renderBodyError: (_shape, meta) => failedResponse(meta),
  malformedEvent: "event: response.output_text.delta\ndata: {not json\n\n",
  streamContentType: "text/event-stream; charset=utf-8",
  idPrefix: "resp_"
}
