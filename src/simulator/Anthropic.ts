/**
 * The simulator's Anthropic Messages wire format (`POST /v1/messages`), per
 * WIRE.md §4: request decoding, message and stream-event shapes, errors.
 *
 * - Auth: `x-api-key` (an `authorization: Bearer` token is accepted too, as
 *   Anthropic does for OAuth). The `anthropic-version` header is not checked:
 *   a wire format sees only the body.
 * - Requests are checked by hand as the API does: `model`, `max_tokens`
 *   (required), `messages` (`user`/`assistant` only, no system role),
 *   `system` (a string or text blocks), `tools` (`input_schema`),
 *   `tool_choice` (`auto`, `any`, `tool`, `none`, `disable_parallel_tool_use`),
 *   `thinking` (`enabled` with `budget_tokens` of at least 1024 and below
 *   `max_tokens`). Every `tool_use` of an assistant turn needs its `tool_result`
 *   in the next user turn; a `thinking` block sent back needs its `signature`;
 *   with thinking on, an assistant turn with `tool_use` must start with its
 *   thinking block, as the API requires.
 * - Prompt tokens: `Reply.countTokens` over the system prompt, text blocks,
 *   `tool_use` inputs (as JSON) and `tool_result` contents, plus 85 per image
 *   or document block.
 * - Replies: a `thinking` block (when asked for, with a deterministic
 *   signature), a `text` block, or `tool_use` blocks (`toolu_…` ids). Usage
 *   reports `input_tokens` without the cached tokens, which are in
 *   `cache_read_input_tokens`; `output_tokens` includes thinking, also given as
 *   `output_tokens_details.thinking_tokens`.
 * - Streams: `message_start`, a `ping`, then per block `content_block_start`,
 *   its deltas (`thinking_delta` and one `signature_delta`, `text_delta`,
 *   `input_json_delta` starting with an empty `partial_json`), and
 *   `content_block_stop`; then `message_delta` and `message_stop`. Each event
 *   is one chunk for the fault grammar; the last two are the tail.
 * - Headers: the request id is `request-id`; a simulator with
 *   `requestsPerMinute` sends `anthropic-ratelimit-requests-{limit,remaining,reset}`
 *   (the reset an RFC 3339 timestamp) on every response, and `retry-after` on 429.
 * - Faults: every `stream-error` shape is sent as Anthropic's `error` event
 *   (`openai`, the default: `overloaded_error`; `vllm` and `openrouter`:
 *   `api_error`); a non-streamed request gets that error object with status 200.
 *   A malformed event is `event: content_block_delta` with `data: {not json`.
 *
 * @since 0.1.0
 */
import { decoded } from "../internal/simulator/decoded.js"
import { quoteToken } from "../internal/simulator/quoteToken.js"
import { bareTypeName, bearerKey, invalid, isRecord } from "../internal/simulator/requestChecks.js"
import type * as Reply from "./Reply.js"
import type { StreamErrorShape } from "./Simulator.js"
import type { ApiError, Decoded, RenderedStream, ReplyMeta, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply: nothing.
 *
 * @since 0.1.0
 * @category Models
 */
export type Extra = undefined

/** The least thinking budget the API accepts. */
const minThinkingBudget = 1024

/** A deterministic stand-in for a thinking block's signature. */
const signatureOf = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return `sim-sig-${(h >>> 0).toString(16).padStart(8, "0")}`
}

interface Counted {
  chars: number
  media: number
  /** The text of the message, for the reply seed. */
  text: string
  toolUses: Array<string>
  toolResults: Array<string>
  /** The last `tool_result`'s content. */
  lastResult: string | undefined
  thinkingFirst: boolean
}

const resultText = (content: unknown, path: string): string | ApiError => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return invalid(`${path}: Input should be a valid string or list`, path)
  let text = ""
  for (const block of content as ReadonlyArray<unknown>) {
    if (isRecord(block) && block.type === "text" && typeof block.text === "string") text += block.text
  }
  return text
}

/** Checks one message's content blocks and counts them. */
const countContent = (content: unknown, role: string, path: string): Counted | ApiError => {
  const out: Counted = {
    chars: 0,
    media: 0,
    text: "",
    toolUses: [],
    toolResults: [],
    lastResult: undefined,
    thinkingFirst: false
  }
  if (typeof content === "string") {
    out.chars = content.length
    out.text = content
    return out
  }
  if (!Array.isArray(content)) {
    return invalid(`${path}: Input should be a valid string or list, got ${bareTypeName(content)}`, path)
  }
  if (content.length === 0 && role === "user") {
    return invalid(`${path}: user messages must have non-empty content`, path)
  }
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i]
    const at = `${path}.${i}`
    if (!isRecord(block) || typeof block.type !== "string") return invalid(`${at}: Input should be an object with a type`, at)
    switch (block.type) {
      case "text":
        if (typeof block.text !== "string") return invalid(`${at}.text: Field required`, `${at}.text`)
        out.chars += block.text.length
        out.text += block.text
        break
      case "image":
      case "document":
        out.media++
        break
      case "tool_use":
        if (role !== "assistant") return invalid(`${at}: tool_use blocks are only allowed in assistant messages`, at)
        if (typeof block.id !== "string" || typeof block.name !== "string") {
          return invalid(`${at}: tool_use blocks need an id and a name`, at)
        }
        if (!isRecord(block.input)) return invalid(`${at}.input: Input should be a valid dictionary`, `${at}.input`)
        out.toolUses.push(block.id)
        out.chars += block.name.length + JSON.stringify(block.input).length
        break
      case "tool_result": {
        if (role !== "user") return invalid(`${at}: tool_result blocks are only allowed in user messages`, at)
        if (typeof block.tool_use_id !== "string") return invalid(`${at}.tool_use_id: Field required`, `${at}.tool_use_id`)
        const text = resultText(block.content, `${at}.content`)
        if (typeof text !== "string") return text
        out.toolResults.push(block.tool_use_id)
        out.chars += text.length
        out.lastResult = text
        break
      }
      case "thinking":
        if (role !== "assistant") return invalid(`${at}: thinking blocks are only allowed in assistant messages`, at)
        if (typeof block.thinking !== "string") return invalid(`${at}.thinking: Field required`, `${at}.thinking`)
        if (typeof block.signature !== "string" || block.signature !== signatureOf(block.thinking)) {
          return invalid(`${at}: Invalid \`signature\` in \`thinking\` block`, `${at}.signature`)
        }
        if (i === 0) out.thinkingFirst = true
        break
      case "redacted_thinking":
        if (typeof block.data !== "string") return invalid(`${at}.data: Field required`, `${at}.data`)
        if (i === 0) out.thinkingFirst = true
        break
      default:
        return invalid(`${at}: unknown content block type '${block.type}'`, at)
    }
  }
  return out
}

const decodeTools = (tools: unknown): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return invalid(`tools: Input should be a valid list`, "tools")
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i]
    if (!isRecord(tool) || typeof tool.name !== "string") return invalid(`tools.${i}.name: Field required`, `tools.${i}.name`)
    // Server tools (`web_search_…`) carry a `type` and no schema; the simulator never calls them.
    if (typeof tool.type === "string" && tool.type !== "custom") continue
    if (!isRecord(tool.input_schema)) {
      return invalid(`tools.${i}.custom.input_schema: Field required`, `tools.${i}.input_schema`)
    }
    out.push({ name: tool.name, parameters: tool.input_schema })
  }
  return out
}

const decodeToolChoice = (
  choice: unknown,
  tools: ReadonlyArray<Reply.Tool>
): { readonly choice: Reply.ToolChoice; readonly parallel: boolean } | ApiError => {
  if (choice === undefined || choice === null) return { choice: { _tag: "Auto" }, parallel: true }
  if (!isRecord(choice)) return invalid("tool_choice: Input should be an object", "tool_choice")
  const parallel = choice.disable_parallel_tool_use !== true
  switch (choice.type) {
    case "auto":
      return { choice: { _tag: "Auto" }, parallel }
    case "any":
      return { choice: { _tag: "Required" }, parallel }
    case "none":
      return { choice: { _tag: "None" }, parallel }
    case "tool": {
      const name = choice.name
      if (typeof name !== "string") return invalid("tool_choice.tool.name: Field required", "tool_choice.name")
      if (!tools.some((tool) => tool.name === name)) {
        return invalid(`tool_choice: tool '${name}' is not in tools`, "tool_choice.name")
      }
      return { choice: { _tag: "Named", name }, parallel }
    }
    default:
      return invalid(
        "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
        "tool_choice.type"
      )
  }
}

const decodeSystem = (system: unknown): number | ApiError => {
  if (system === undefined || system === null) return 0
  if (typeof system === "string") return system.length
  if (!Array.isArray(system)) return invalid("system: Input should be a valid string or list", "system")
  let chars = 0
  for (let i = 0; i < system.length; i++) {
    const block: unknown = system[i]
    if (!isRecord(block) || block.type !== "text" || typeof block.text !== "string") {
      return invalid(`system.${i}: Input should be a text block`, `system.${i}`)
    }
    chars += block.text.length
  }
  return chars
}

const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, got ${bareTypeName(body)}`)
  const model = body.model
  if (typeof model !== "string") return invalid("model: Field required", "model")
  const maxTokens = body.max_tokens
  if (maxTokens === undefined || maxTokens === null) return invalid("max_tokens: Field required", "max_tokens")
  if (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return invalid(`max_tokens: Input should be an integer of at least 1, got ${JSON.stringify(maxTokens)}`, "max_tokens")
  }
  const messages = body.messages
  if (!Array.isArray(messages)) return invalid("messages: Field required", "messages")
  if (messages.length === 0) return invalid("messages: at least one message is required", "messages")
  const systemChars = decodeSystem(body.system)
  if (typeof systemChars !== "number") return systemChars

  const thinking = body.thinking
  let reasoning = false
  if (thinking !== undefined && thinking !== null) {
    if (!isRecord(thinking)) return invalid("thinking: Input should be an object", "thinking")
    if (thinking.type === "enabled") {
      const budget = thinking.budget_tokens
      if (typeof budget !== "number" || !Number.isInteger(budget) || budget < minThinkingBudget) {
        return invalid(
          `thinking.enabled.budget_tokens: Input should be greater than or equal to ${minThinkingBudget}`,
          "thinking.budget_tokens"
        )
      }
      if (budget >= maxTokens) {
        return invalid("`max_tokens` must be greater than `thinking.budget_tokens`", "max_tokens")
      }
      reasoning = true
    } else if (thinking.type === "adaptive") {
      reasoning = true
    } else if (thinking.type !== "disabled") {
      return invalid("thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", "thinking")
    }
  }

  let chars = systemChars
  let media = 0
  let lastUserText = ""
  let lastRole = ""
  let lastResult: string | undefined
  let pendingToolUses: ReadonlyArray<string> = []
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const path = `messages.${i}`
    if (!isRecord(message)) return invalid(`${path}: Input should be an object`, path)
    const role = message.role
    if (role !== "user" && role !== "assistant") {
      return invalid(
        `${path}.role: Input should be 'user' or 'assistant'${
          role === "system" ? " (use the top-level `system` parameter for a system prompt)" : ""
        }`,
        `${path}.role`
      )
    }
    const counted = countContent(message.content, role, `${path}.content`)
    if ("_tag" in counted) return counted
    if (pendingToolUses.length > 0) {
      const missing = pendingToolUses.filter((id) => !counted.toolResults.includes(id))
      if (role !== "user" || missing.length > 0) {
        return invalid(
          `messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
            missing.join(", ")
          }. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
          `messages.${i - 1}`
        )
      }
    }
    // The API checks only the assistant turn of the tool loop in progress.
    const final = i >= messages.length - 2
    if (final && role === "assistant" && reasoning && counted.toolUses.length > 0 && !counted.thinkingFirst) {
      return invalid(
        `${path}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`tool_use\`. When \`thinking\` ` +
          "is enabled, a final `assistant` message must start with a thinking block.",
        `${path}.content.0.type`
      )
    }
    pendingToolUses = counted.toolUses
    chars += counted.chars
    media += counted.media
    if (role === "user") {
      if (counted.toolResults.length > 0) {
        lastRole = "tool"
        lastResult = counted.lastResult
      } else {
        lastRole = "user"
        lastUserText = counted.text
        lastResult = undefined
      }
    } else {
      lastRole = "assistant"
      lastResult = undefined
    }
  }
  if (pendingToolUses.length > 0) {
    return invalid(
      `messages.${messages.length - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
        pendingToolUses.join(", ")
      }.`,
      `messages.${messages.length - 1}`
    )
  }

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    return invalid("stream: Input should be a valid boolean", "stream")
  }
  const stop = body.stop_sequences
  if (stop !== undefined && stop !== null && !(Array.isArray(stop) && stop.every((s) => typeof s === "string"))) {
    return invalid("stop_sequences: Input should be a valid list of strings", "stop_sequences")
  }
  const temperature = body.temperature
  if (temperature !== undefined && temperature !== null && !(typeof temperature === "number" && temperature >= 0 && temperature <= 1)) {
    return invalid("temperature: Input should be less than or equal to 1", "temperature")
  }

  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.tool_choice, tools)
  if ("_tag" in toolChoice) return toolChoice

  return decoded(
    {
      model,
      lastUserText,
      lastRole,
      toolResult: lastResult,
      tools,
      toolChoice: toolChoice.choice,
      parallelToolCalls: toolChoice.parallel,
      reasoning,
      maxTokens,
      chars,
      media
    },
    stream === true,
    undefined
  )
}

const stopReason = (reason: Reply.FinishReason): string =>
  reason === "tool_calls" ? "tool_use" : reason === "length" ? "max_tokens" : "end_turn"

const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

const usageJson = (usage: Reply.Usage): string =>
  `{"input_tokens":${usage.promptTokens - usage.cachedTokens},"cache_creation_input_tokens":0,` +
  `"cache_read_input_tokens":${usage.cachedTokens},"output_tokens":${usage.completionTokens},` +
  (usage.reasoningTokens > 0 ? `"output_tokens_details":{"thinking_tokens":${usage.reasoningTokens}},` : "") +
  `"service_tier":"standard"}`

const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string => {
  const blocks: Array<string> = []
  if (reply.reasoning.length > 0) {
    const thinking = reply.reasoning.join("")
    blocks.push(`{"type":"thinking","thinking":${JSON.stringify(thinking)},"signature":"${signatureOf(thinking)}"}`)
  }
  if (reply.content.length > 0) blocks.push(`{"type":"text","text":${JSON.stringify(reply.content.join(""))}}`)
  for (const call of reply.toolCalls) {
    blocks.push(`{"type":"tool_use","id":"${toolId(call.id)}","name":${JSON.stringify(call.name)},"input":${call.arguments}}`)
  }
  return `{"id":"${meta.id}","type":"message","role":"assistant","model":${JSON.stringify(meta.model)},` +
    `"content":[${blocks.join(",")}],"stop_reason":"${stopReason(reply.finishReason)}","stop_sequence":null,` +
    `"usage":${usageJson(reply.usage)}}`
}

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`

const renderStream = (reply: Reply.Reply, meta: ReplyMeta): RenderedStream => {
  const usage = reply.usage
  const events: Array<string> = [
    event(
      "message_start",
      `{"type":"message_start","message":{"id":"${meta.id}","type":"message","role":"assistant","model":${
        JSON.stringify(meta.model)
      },"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":${
        usage.promptTokens - usage.cachedTokens
      },"cache_creation_input_tokens":0,"cache_read_input_tokens":${usage.cachedTokens},"output_tokens":1,` +
        `"service_tier":"standard"}}}`
    ),
    event("ping", `{"type":"ping"}`)
  ]
  let index = 0
  const stop = () => event("content_block_stop", `{"type":"content_block_stop","index":${index++}}`)
  const delta = (body: string) =>
    event("content_block_delta", `{"type":"content_block_delta","index":${index},"delta":${body}}`)
  if (reply.reasoning.length > 0) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"thinking","thinking":"","signature":""}}`
    ))
    for (const token of reply.reasoning) events.push(delta(`{"type":"thinking_delta","thinking":${quoteToken(token)}}`))
    events.push(delta(`{"type":"signature_delta","signature":"${signatureOf(reply.reasoning.join(""))}"}`))
    events.push(stop())
  }
  if (reply.content.length > 0) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"text","text":""}}`
    ))
    for (const token of reply.content) events.push(delta(`{"type":"text_delta","text":${quoteToken(token)}}`))
    events.push(stop())
  }
  // Unlike Chat Completions, blocks never interleave: each tool_use block is
  // whole (start, its argument pieces, stop) before the next opens.
  for (const call of reply.toolCalls) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"tool_use","id":"${toolId(call.id)}","name":${
        JSON.stringify(call.name)
      },"input":{}}}`
    ))
    events.push(delta(`{"type":"input_json_delta","partial_json":""}`))
    for (const piece of call.fragments) {
      events.push(delta(`{"type":"input_json_delta","partial_json":${JSON.stringify(piece)}}`))
    }
    events.push(stop())
  }
  const tail = event(
    "message_delta",
    `{"type":"message_delta","delta":{"stop_reason":"${stopReason(reply.finishReason)}","stop_sequence":null},` +
      `"usage":${usageJson(usage)}}`
  ) + event("message_stop", `{"type":"message_stop"}`)
  return { events, tail }
}

/** The `type` of Anthropic's error object per HTTP status (WIRE.md §4.4). */
const errorTypes: Readonly<Record<number, readonly [type: string, message: string]>> = {
  400: ["invalid_request_error", "The simulator rejected this request (injected fault)."],
  401: ["authentication_error", "invalid x-api-key"],
  402: ["billing_error", "Your credit balance is too low to access the Anthropic API."],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "The requested resource could not be found."],
  408: ["timeout_error", "Request timed out."],
  409: ["api_error", "The request conflicted with another one; retry it."],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: ["rate_limit_error", "Number of requests has exceeded your per-minute rate limit."],
  500: ["api_error", "Internal server error"],
  504: ["timeout_error", "Gateway timeout."],
  529: ["overloaded_error", "Overloaded"]
}

const errorJson = (type: string, message: string, code?: string | undefined): string =>
  JSON.stringify({ type: "error", error: code === undefined ? { type, message } : { type, message, code } })

const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: 400, body: errorJson("invalid_request_error", error.message) }
    case "InvalidKey":
      return { status: 401, body: errorJson("authentication_error", "invalid x-api-key") }
    case "RateLimited":
      return {
        status: 429,
        body: errorJson(
          "rate_limit_error",
          `This request would exceed the rate limit for your organization of ${error.limit} requests per minute.`
        )
      }
    case "ModelNotFound":
      return { status: 404, body: errorJson("not_found_error", `model: ${error.model}`) }
    case "ContextLength":
      return {
        status: 400,
        body: errorJson(
          "invalid_request_error",
          `prompt is too long: ${error.promptTokens + error.completionTokens} tokens > ${error.limit} maximum`
        )
      }
    case "NotFound":
      return { status: 404, body: errorJson("not_found_error", `Not found: ${error.method} ${error.path}`) }
    case "Injected": {
      const { fault } = error
      const [type, message] = errorTypes[fault.status] ??
        (fault.status >= 500
          ? ["api_error", `Simulated server error (HTTP ${fault.status}).`]
          : ["invalid_request_error", `Simulated client error (HTTP ${fault.status}).`])
      return { status: fault.status, body: errorJson(fault.type ?? type, fault.message ?? message, fault.code) }
    }
  }
}

const streamErrorJson = (shape: StreamErrorShape): string =>
  shape === "openai" ? errorJson("overloaded_error", "Overloaded") : errorJson("api_error", "Internal server error")

/**
 * The Anthropic Messages wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: (headers) => {
    const key = headers["x-api-key"]
    if (typeof key === "string") return key.trim()
    return bearerKey(headers)
  },
  decode,
  renderError,
  renderReply,
  renderStream,
  renderStreamError: (shape) => event("error", streamErrorJson(shape)),
  renderBodyError: streamErrorJson,
  malformedEvent: "event: content_block_delta\ndata: {not json\n\n",
  streamContentType: "text/event-stream; charset=utf-8",
  idPrefix: "msg_",
  requestIdHeader: "request-id",
  rateLimitHeaders: (headers, { limit, now, remaining, resetMs }) => {
    headers["anthropic-ratelimit-requests-limit"] = String(limit)
    headers["anthropic-ratelimit-requests-remaining"] = String(remaining)
    // RFC 3339, whole seconds, as the API sends it.
    headers["anthropic-ratelimit-requests-reset"] = new Date(Math.ceil((now + resetMs) / 1000) * 1000).toISOString()
      .replace(/\.\d{3}Z$/, "Z")
  }
}
