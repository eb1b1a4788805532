/**
 * Anthropic Messages wire mapping (`anthropic-version: 2023-06-01`): the
 * request body, the whole reply, usage and stop reasons. Plain functions over
 * `JSON.parse` output, checked with `typeof`, as `codec/openAiChat.ts` does.
 */
import type { Input as ChatRequest, ReasoningEffort, ToolChoice } from "../../../ChatRequest.js"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type {
  AssistantMessage,
  CacheBreakpoint,
  ContentPart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition
} from "../../../Message.js"
import { tokenCount } from "../../tokens/count.js"
import type { Reply } from "../adapter.js"
import { reportedUsage } from "../usage.js"
import { argumentsObject, isRecord, type JsonRecord, replyId, replyModel, RequestError, ShapeError } from "../wire.js"

export { isRecord, type JsonRecord, RequestError, ShapeError }

/** The key of this API in `providerMetadata`. */
export const metadataKey = "anthropic"

// ---------------------------------------------------------------------------
// Request

/**
 * `thinking.budget_tokens` per reasoning effort. `none` sends no `thinking`
 * (the API's default, disabled). The API's least budget is 1024.
 */
export const thinkingBudgets: Readonly<Record<Exclude<ReasoningEffort, "none">, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
  max: 63999
}

const minThinkingBudget = 1024

const dataUrl = /^data:([^;,]+);base64,(.*)$/s

/** A cache breakpoint as the block's `cache_control` (Anthropic's prompt caching reference). */
export const cacheControl = (cache: CacheBreakpoint): JsonRecord =>
  cache.ttl === undefined ? { type: "ephemeral" } : { type: "ephemeral", ttl: cache.ttl }

// `block` with the `cache_control` of `cache`, when there is one.
const cached = (block: JsonRecord, cache: CacheBreakpoint | undefined): JsonRecord =>
  cache === undefined ? block : { ...block, cache_control: cacheControl(cache) }

const contentPart = (part: ContentPart): JsonRecord => {
  if (part.type === "text") return cached({ type: "text", text: part.text }, part.cache)
  const inline = dataUrl.exec(part.url)
  return cached(
    inline === null
      ? { type: "image", source: { type: "url", url: part.url } }
      : { type: "image", source: { type: "base64", media_type: inline[1], data: inline[2] } },
    part.cache
  )
}

/** The signed thinking blocks a reply left in its `providerMetadata`, to send back unchanged. */
export const thinkingBlocksOf = (metadata: ProviderMetadata | undefined): ReadonlyArray<JsonRecord> => {
  const ours = metadata?.[metadataKey]
  const blocks = isRecord(ours) ? ours["thinking"] : undefined
  if (!Array.isArray(blocks)) return []
  return blocks.filter((block): block is JsonRecord =>
    isRecord(block) && (block["type"] === "thinking" || block["type"] === "redacted_thinking")
  )
}

const assistantContent = (message: AssistantMessage, at: number): string | Array<JsonRecord> => {
  const thinking = thinkingBlocksOf(message.providerMetadata)
  const calls = message.toolCalls ?? []
  if (thinking.length === 0 && calls.length === 0 && (message.cache === undefined || message.content === "")) {
    return message.content
  }
  // Thinking first, then text, then tool_use: the order the API produced and expects back.
  const blocks: Array<JsonRecord> = [...thinking]
  if (message.content !== "") blocks.push({ type: "text", text: message.content })
  for (const call of calls) {
    blocks.push({
      type: "tool_use",
      id: call.id,
      name: call.name,
      input: argumentsObject(call, "Anthropic", `messages[${at}].toolCalls`)
    })
  }
  const last = blocks.length - 1
  if (message.cache !== undefined && last >= 0) blocks[last] = cached(blocks[last]!, message.cache)
  return blocks
}

/** A system message's text and its cache breakpoint. */
interface SystemText {
  readonly text: string
  readonly cache: CacheBreakpoint | undefined
}

type Turn =
  | {
    readonly role: "user" | "assistant"
    content: string | Array<JsonRecord>
    /** A user turn opened by tool results, which a following user message joins. */
    readonly results: boolean
  }
  | { readonly role: "system"; readonly texts: Array<SystemText>; readonly results: false }

/**
 * The model ids that take a `system` message among the messages (Anthropic's mid-conversation system messages
 * reference names Claude Opus 4.8 only; another model refuses one with a 400).
 */
export const takesMidConversationSystem = (model: string): boolean => model.startsWith("claude-opus-4-8")

/** The system texts as the top-level `system` or a system turn's content: a string when one text without a cache. */
const systemContent = (texts: ReadonlyArray<SystemText>): string | Array<JsonRecord> =>
  texts.length === 1 && texts[0]!.cache === undefined
    ? texts[0]!.text
    : texts.map(({ cache, text }) => cached({ type: "text", text }, cache))

/**
 * A system turn where the API's placement rules allow one (right after a user turn, and last or before an
 * assistant turn; consecutive ones are merged already); the others' texts join the top-level `system`.
 */
const placed = (system: Array<SystemText>, turns: ReadonlyArray<Turn>): Array<Turn> =>
  turns.filter((turn, k) => {
    if (turn.role !== "system") return true
    const next = turns[k + 1]
    if (turns[k - 1]?.role === "user" && (next === undefined || next.role === "assistant")) return true
    system.push(...turn.texts)
    return false
  })

/**
 * Messages with the system prompt hoisted out: the leading system messages form the top-level `system`, as do
 * later ones unless `inPlace` (a model that takes them, `takesMidConversationSystem`) and their place is one the
 * API takes a `system` message in. Tool results become
 * `tool_result` blocks of one user turn (consecutive results merged, as every
 * `tool_use` of a turn must be answered in the very next message), and a user
 * message right after them joins that turn behind them.
 */
const messagesOf = (
  messages: ReadonlyArray<Message>,
  inPlace: boolean
): { system: Array<SystemText>; turns: Array<Turn> } => {
  const system: Array<SystemText> = []
  const turns: Array<Turn> = []
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const last = turns[turns.length - 1]
    switch (message.role) {
      case "system": {
        const text = { text: message.content, cache: message.cache }
        if (!inPlace || last === undefined) system.push(text)
        else if (last.role === "system") last.texts.push(text)
        else turns.push({ role: "system", texts: [text], results: false })
        break
      }
      case "user": {
        if (last !== undefined && last.results && Array.isArray(last.content)) {
          if (typeof message.content === "string") {
            if (message.content !== "") last.content.push({ type: "text", text: message.content })
          } else {
            for (const part of message.content) last.content.push(contentPart(part))
          }
        } else {
          turns.push({
            role: "user",
            content: typeof message.content === "string" ? message.content : message.content.map(contentPart),
            results: false
          })
        }
        break
      }
      case "assistant":
        turns.push({ role: "assistant", content: assistantContent(message, i), results: false })
        break
      case "tool": {
        const block = cached(
          { type: "tool_result", tool_use_id: message.toolCallId, content: message.content },
          message.cache
        )
        if (last !== undefined && last.results && Array.isArray(last.content)) {
          last.content.push(block)
        } else {
          turns.push({ role: "user", content: [block], results: true })
        }
      }
    }
  }
  return { system, turns: inPlace ? placed(system, turns) : turns }
}

const tool = (tool: ToolDefinition): JsonRecord => {
  const out: JsonRecord = { name: tool.name }
  if (tool.description !== undefined) out["description"] = tool.description
  out["input_schema"] = tool.parameters
  if (tool.strict !== undefined) out["strict"] = tool.strict
  if (tool.cache !== undefined) out["cache_control"] = cacheControl(tool.cache)
  return out
}

const toolChoice = (choice: ToolChoice): JsonRecord =>
  typeof choice === "string"
    ? { type: choice === "required" ? "any" : choice }
    : { type: "tool", name: choice.tool }

/**
 * The name of the forced tool a `json_schema` response format is sent as (the
 * format's `name`), or undefined when the request asks for no schema.
 */
export const outputTool = (request: ChatRequest): string | undefined => {
  const format = request.responseFormat
  return format === undefined || format.type !== "json_schema" ? undefined : format.name
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  /** `max_tokens` when the request sets none (the API requires it). */
  readonly maxTokens: number
  /** Whether a system message that is not first may be sent in its place (`takesMidConversationSystem`). */
  readonly systemInPlace: boolean
}

/**
 * Whether thinking may be on for `messages`: Anthropic refuses it when the last assistant turn called tools without
 * its signed thinking (its extended thinking with tool use reference), as a turn of another provider's, or of a client
 * that does not send thinking back, has none.
 */
const thinkingAllowed = (messages: ReadonlyArray<Message>): boolean => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant") continue
    return (message.toolCalls?.length ?? 0) === 0 || thinkingBlocksOf(message.providerMetadata).length > 0
  }
  return true
}

/**
 * The JSON body of `POST /v1/messages`; `providerOptions` are merged last, so
 * they win. Throws `RequestError` for a request this format cannot carry.
 *
 * - `reasoningEffort` becomes `thinking: {type: "enabled", budget_tokens}`
 *   per `thinkingBudgets` (`none`: no thinking). The API wants `max_tokens`
 *   above the budget: without `maxTokens`, `max_tokens` is the budget plus the
 *   default; with it, the budget is lowered to `maxTokens - 1` (not below 1024).
 *   Thinking stays off while the last assistant turn's tool calls came without
 *   signed thinking (`thinkingAllowed`), which Anthropic would refuse.
 * - `responseFormat` `json_schema` becomes a forced tool (`outputTool`): a
 *   tool named after the format whose `input_schema` is the schema, and
 *   `tool_choice: {type: "tool", name}`; the model's input to it is the reply
 *   (see `reply` and the stream parser). Every model with tool use supports
 *   this, unlike `output_config.format`. It cannot be combined with `tools`
 *   (the forced tool would shut them out) nor with thinking (the API refuses
 *   a forced tool with thinking on): both throw `RequestError`. `json_object`
 *   has no equivalent and is not sent (ask for JSON in the prompt).
 * - `user` becomes `metadata.user_id`; `seed` has no equivalent and is not sent.
 * - A system message after the first other message is sent in its place (`role: "system"`, Anthropic's
 *   mid-conversation system message) when `systemInPlace` and the API's placement rules allow it there;
 *   otherwise it joins the top-level `system`, after the leading ones.
 * - A `cache` breakpoint becomes `cache_control` on its block: a system message's text block (the system is then
 *   sent as blocks), a part, a tool result, a tool definition, or an assistant message's last block.
 */
export const requestBody = (request: ChatRequest, options: BodyOptions): JsonRecord => {
  const { system, turns } = messagesOf(request.messages, options.systemInPlace)
  const effort = request.reasoningEffort
  const budget = effort === undefined || effort === "none" || !thinkingAllowed(request.messages)
    ? undefined
    : thinkingBudgets[effort]
  const body: JsonRecord = {
    model: options.model,
    max_tokens: request.maxTokens ?? (budget === undefined ? options.maxTokens : budget + options.maxTokens)
  }
  if (system.length > 0) body["system"] = systemContent(system)
  body["messages"] = turns.map((turn) =>
    turn.role === "system"
      ? { role: "system", content: systemContent(turn.texts) }
      : { role: turn.role, content: turn.content }
  )
  if (budget !== undefined) {
    const cap = request.maxTokens === undefined
      ? budget
      : Math.max(minThinkingBudget, Math.min(budget, request.maxTokens - 1))
    body["thinking"] = { type: "enabled", budget_tokens: cap }
  }
  if (request.temperature !== undefined) body["temperature"] = request.temperature
  if (request.topP !== undefined) body["top_p"] = request.topP
  if (request.stop !== undefined && request.stop.length > 0) body["stop_sequences"] = request.stop
  const output = outputTool(request)
  if (output !== undefined) {
    if (request.tools !== undefined && request.tools.length > 0) {
      throw new RequestError(
        "a json_schema response format is sent to Anthropic as a forced tool, which would shut out the request's " +
          "tools; ask for the structured answer in a call without tools",
        "responseFormat"
      )
    }
    if (budget !== undefined) {
      throw new RequestError(
        "a json_schema response format is sent to Anthropic as a forced tool, and Anthropic refuses a forced tool " +
          "with thinking on; drop reasoningEffort (or set it to none)",
        "reasoningEffort"
      )
    }
    const format = request.responseFormat as Extract<ChatRequest["responseFormat"], { readonly type: "json_schema" }>
    body["tools"] = [{
      name: output,
      description: format.description ?? "Give the answer as this tool's input, which follows the required schema.",
      input_schema: format.schema
    }]
    body["tool_choice"] = { type: "tool", name: output }
  } else if (request.tools !== undefined && request.tools.length > 0) {
    body["tools"] = request.tools.map(tool)
    if (request.toolChoice !== undefined) body["tool_choice"] = toolChoice(request.toolChoice)
  }
  if (request.user !== undefined) body["metadata"] = { user_id: request.user }
  if (options.stream) body["stream"] = true
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  return body
}

// The fields of a Messages body that `count_tokens` takes too; it refuses the others (`max_tokens`, `stream`...).
const countedFields = ["model", "messages", "system", "tools", "tool_choice", "thinking"] as const

/**
 * The JSON body of `POST /v1/messages/count_tokens` (Anthropic's token counting
 * reference): the Messages body's prompt, as `requestBody` writes it, without
 * the fields that only shape the reply.
 */
export const countBody = (request: ChatRequest, options: Omit<BodyOptions, "stream">): JsonRecord => {
  const whole = requestBody(request, { ...options, stream: false })
  const body: JsonRecord = {}
  for (const field of countedFields) if (whole[field] !== undefined) body[field] = whole[field]
  return body
}

/** The `input_tokens` of a `count_tokens` reply; throws `ShapeError` when it has none. */
export const countOf = (body: JsonRecord): number => {
  const count = body["input_tokens"]
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
    throw new ShapeError("input_tokens is not a count")
  }
  return count
}

// ---------------------------------------------------------------------------
// Response

/**
 * `stop_reason` to the domain's finish reason. `model_context_window_exceeded`
 * is `length`: the request was accepted and the reply is valid up to where the
 * context window filled, as with `max_tokens`; failing would throw away output
 * a stream has already delivered. `pause_turn` (a server-tool loop paused) is
 * `other`.
 */
export const finishReason = (reason: string | undefined): FinishReason => {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "tool_use":
      return "tool_calls"
    case "refusal":
      return "content_filter"
    default:
      return "other"
  }
}

/** The token counts of a usage object, as sent (each absent one undefined). */
export interface WireUsage {
  input?: number
  cacheCreation?: number
  /** Of `cacheCreation`, the tokens written for an hour (`cache_creation.ephemeral_1h_input_tokens`). */
  cacheCreation1h?: number
  cacheRead?: number
  output?: number
  thinking?: number
}

/** Overwrites `into` with every count `value` carries (usage in a stream is cumulative, never added). */
export const readUsage = (value: unknown, into: WireUsage): void => {
  if (!isRecord(value)) return
  const input = value["input_tokens"]
  if (typeof input === "number") into.input = tokenCount(input)
  const creation = value["cache_creation_input_tokens"]
  if (typeof creation === "number") into.cacheCreation = tokenCount(creation)
  const byTtl = value["cache_creation"]
  if (isRecord(byTtl) && typeof byTtl["ephemeral_1h_input_tokens"] === "number") {
    into.cacheCreation1h = tokenCount(byTtl["ephemeral_1h_input_tokens"])
  }
  const read = value["cache_read_input_tokens"]
  if (typeof read === "number") into.cacheRead = tokenCount(read)
  const output = value["output_tokens"]
  if (typeof output === "number") into.output = tokenCount(output)
  const details = value["output_tokens_details"]
  if (isRecord(details) && typeof details["thinking_tokens"] === "number") {
    into.thinking = tokenCount(details["thinking_tokens"])
  }
}

/**
 * The domain's usage: `input_tokens` leaves out cached tokens, so the prompt is
 * input + cache writes + cache reads, of which the reads are `cachedPromptTokens`,
 * the writes `cacheWriteTokens` and the one-hour writes `cacheWrite1hTokens`.
 */
export const usageOf = (wire: WireUsage): Usage => {
  const promptTokens = (wire.input ?? 0) + (wire.cacheCreation ?? 0) + (wire.cacheRead ?? 0)
  const usage = reportedUsage(promptTokens, wire.output ?? 0, undefined, wire.cacheRead ?? 0, wire.thinking ?? 0)
  if (wire.cacheCreation === undefined) return usage
  return wire.cacheCreation1h === undefined
    ? { ...usage, cacheWriteTokens: wire.cacheCreation }
    : { ...usage, cacheWriteTokens: wire.cacheCreation, cacheWrite1hTokens: wire.cacheCreation1h }
}

/** `{anthropic: {thinking: blocks}}`, or undefined when there are none. */
export const metadataOf = (thinking: ReadonlyArray<JsonRecord>): ProviderMetadata | undefined =>
  thinking.length === 0 ? undefined : { [metadataKey]: { thinking } }

/** Whether a parsed body is Anthropic's error object. */
export const isErrorPayload = (value: JsonRecord): boolean => value["type"] === "error" || isRecord(value["error"])

/**
 * `stop_reason` for a reply whose forced output tool was called: the model
 * answered, so `tool_use` is `stop`.
 */
export const outputFinishReason = (reason: string | undefined): FinishReason =>
  reason === "tool_use" ? "stop" : finishReason(reason)

/**
 * Reads a whole `message`; throws `ShapeError` when it is not one. The input
 * of a `tool_use` of `outputTool` (the forced tool of a `json_schema`
 * response format) is the reply's text, as JSON, not a tool call.
 */
export const reply = (body: JsonRecord, outputTool?: string): Reply => {
  const content = body["content"]
  if (!Array.isArray(content)) throw new ShapeError("content is not an array")
  let text = ""
  let reasoning: string | undefined
  const toolCalls: Array<ToolCall> = []
  const thinking: Array<JsonRecord> = []
  for (let i = 0; i < content.length; i++) {
    const block: unknown = content[i]
    if (!isRecord(block)) throw new ShapeError(`content[${i}] is not an object`)
    switch (block["type"]) {
      case "text": {
        const value = block["text"]
        if (typeof value !== "string") throw new ShapeError(`content[${i}].text is not a string`)
        text += value
        break
      }
      case "tool_use": {
        const { id, name, input } = block
        if (typeof id !== "string" || typeof name !== "string") {
          throw new ShapeError(`content[${i}] (tool_use) has no string id and name`)
        }
        const json = input === undefined || input === null ? "{}" : JSON.stringify(input)
        if (name === outputTool) text += json
        else toolCalls.push({ id, name, arguments: json })
        break
      }
      case "thinking": {
        const value = block["thinking"]
        if (typeof value !== "string") throw new ShapeError(`content[${i}].thinking is not a string`)
        reasoning = (reasoning ?? "") + value
        thinking.push(block)
        break
      }
      case "redacted_thinking":
        thinking.push(block)
        break
        // Server-tool blocks and future types carry nothing the response holds.
    }
  }
  const wire: WireUsage = {}
  readUsage(body["usage"], wire)
  const reason = body["stop_reason"]
  return {
    id: replyId(body["id"]),
    model: replyModel(body["model"]),
    text,
    reasoning,
    toolCalls,
    finishReason: (outputTool === undefined ? finishReason : outputFinishReason)(
      typeof reason === "string" ? reason : undefined
    ),
    usage: usageOf(wire),
    providerMetadata: metadataOf(thinking)
  }
}
