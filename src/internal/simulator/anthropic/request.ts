/**
 * The Messages request (`POST /v1/messages`), checked by hand as the API does
 * (its messages name the field as pydantic does: `max_tokens: Field required`),
 * with the tool-use and thinking rules it enforces, and reduced to a
 * `Reply.Prompt`.
 */
import type { Extra } from "../../../simulator/Anthropic.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { minThinkingBudget, takesMidConversationSystem } from "../../codec/anthropic/request.js"
import { decoded } from "../decoded.js"
import { bareTypeName, invalid, isRecord } from "../requestChecks.js"
import { signatureOf } from "./render.js"

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
    if (!isRecord(block) || typeof block.type !== "string") {
      return invalid(`${at}: Input should be an object with a type`, at)
    }
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
        if (typeof block.tool_use_id !== "string") {
          return invalid(`${at}.tool_use_id: Field required`, `${at}.tool_use_id`)
        }
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
    if (!isRecord(tool) || typeof tool.name !== "string") {
      return invalid(`tools.${i}.name: Field required`, `tools.${i}.name`)
    }
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
        "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', " +
          "'none'",
        "tool_choice.type"
      )
  }
}

/**
 * The JSON Schema `output_config.format` asks the reply to follow (Anthropic's structured outputs: a `json_schema`
 * format), `undefined` for none, or what is wrong with it.
 */
const decodeOutputFormat = (config: unknown): { readonly schema: unknown } | ApiError => {
  if (config === undefined || config === null) return { schema: undefined }
  if (!isRecord(config)) return invalid("output_config: Input should be an object", "output_config")
  const format = config.format
  if (format === undefined || format === null) return { schema: undefined }
  if (!isRecord(format) || format.type !== "json_schema") {
    return invalid(
      "output_config.format: Input tag found using 'type' does not match any of the expected tags: 'json_schema'",
      "output_config.format.type"
    )
  }
  if (!isRecord(format.schema)) {
    return invalid("output_config.format.schema: Field required", "output_config.format.schema")
  }
  return { schema: format.schema }
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

const roleAt = (messages: ReadonlyArray<unknown>, i: number): unknown => {
  const message = messages[i]
  return isRecord(message) ? message.role : undefined
}

/**
 * The characters of the system message at `messages[i]`, or why the API refuses it there (its mid-conversation
 * system messages reference): it must follow a user message (so it is never first, nor next to another system
 * message), be last or be followed by an assistant message, and hold text only.
 */
const systemMessage = (messages: ReadonlyArray<unknown>, i: number): number | ApiError => {
  const path = `messages.${i}`
  if (roleAt(messages, i - 1) !== "user") {
    return invalid(`${path}: a system message must immediately follow a user message`, path)
  }
  if (i < messages.length - 1 && roleAt(messages, i + 1) !== "assistant") {
    return invalid(`${path}: a system message must be the last message or be followed by an assistant message`, path)
  }
  const content = (messages[i] as { readonly content?: unknown }).content
  if (typeof content === "string") return content.length
  if (!Array.isArray(content)) {
    return invalid(`${path}.content: Input should be a valid string or list`, `${path}.content`)
  }
  let chars = 0
  for (let j = 0; j < content.length; j++) {
    const block: unknown = content[j]
    if (!isRecord(block) || block.type !== "text" || typeof block.text !== "string") {
      return invalid(`${path}.content.${j}: system messages take text blocks only`, `${path}.content.${j}`)
    }
    chars += block.text.length
  }
  return chars
}

export const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, got ${bareTypeName(body)}`)
  const model = body.model
  if (typeof model !== "string") return invalid("model: Field required", "model")
  const maxTokens = body.max_tokens
  if (maxTokens === undefined || maxTokens === null) return invalid("max_tokens: Field required", "max_tokens")
  if (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return invalid(
      `max_tokens: Input should be an integer of at least 1, got ${JSON.stringify(maxTokens)}`,
      "max_tokens"
    )
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
      return invalid(
        "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'",
        "thinking"
      )
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
    if (role === "system" && takesMidConversationSystem(model)) {
      const systemChars = systemMessage(messages, i)
      if (typeof systemChars !== "number") return systemChars
      chars += systemChars
      continue
    }
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
        `${path}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`tool_use\`. When ` +
          "`thinking` is enabled, a final `assistant` message must start with a thinking block.",
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
  if (
    temperature !== undefined && temperature !== null &&
    !(typeof temperature === "number" && temperature >= 0 && temperature <= 1)
  ) {
    return invalid("temperature: Input should be less than or equal to 1", "temperature")
  }

  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.tool_choice, tools)
  if ("_tag" in toolChoice) return toolChoice
  const outputFormat = decodeOutputFormat(body.output_config)
  if ("_tag" in outputFormat) return outputFormat

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
      responseSchema: outputFormat.schema,
      chars,
      media
    },
    stream === true,
    undefined
  )
}

/**
 * A `count_tokens` body (Anthropic's token counting reference): a Messages body
 * without `max_tokens` or `stream`, checked as one; what would bound the reply
 * is not read.
 */
export const decodeCount = (body: unknown): Decoded<Extra> | ApiError =>
  decode(isRecord(body) ? { ...body, max_tokens: Number.MAX_SAFE_INTEGER, stream: false } : body)
