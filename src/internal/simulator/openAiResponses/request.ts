/**
 * The Responses request (`POST /v1/responses`), checked by hand, field by
 * field, naming the offending field as OpenAI does, with the rules of the real
 * API the simulator enforces, and reduced to a `Reply.Prompt`.
 */
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { Transcript } from "../decoded.js"
import { invalidType, missingParameter, requiredArray } from "../openAiErrors.js"
import { decodeOutputFormat, decodeTools, type OutputFormat } from "../openAiRequest.js"
import { invalid, isRecord, typeName } from "../requestChecks.js"

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
        if (typeof part.image_url !== "string" && typeof part.file_id !== "string") {
          return missingParameter(`${at}.image_url`)
        }
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
          }. Supported values are: 'message', 'function_call', 'function_call_output', 'reasoning' and ` +
            "'item_reference'.",
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

/** A `json_schema` text format's schema: flat, unlike Chat Completions' nested `json_schema` wrapper. */
const flatSchema = (format: Readonly<Record<string, unknown>>): { readonly schema: unknown } | ApiError => {
  if (typeof format.name !== "string") return missingParameter("text.format.name")
  if (!isRecord(format.schema)) return missingParameter("text.format.schema")
  return { schema: format.schema }
}

/** What `text.format` asks of the reply (a JSON Schema, JSON mode, or nothing), or what is wrong with it. */
const decodeText = (text: unknown): ApiError | OutputFormat => {
  if (text !== undefined && text !== null && !isRecord(text)) return invalidType("text", "an object", text)
  return decodeOutputFormat(isRecord(text) ? text.format : undefined, "text.format", flatSchema)
}

export const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  for (const name of chatOnly) {
    if (body[name] !== undefined) return invalid(`Unknown parameter: '${name}'.`, name, "unknown_parameter")
  }
  const model = body.model
  if (model === undefined || model === null) return missingParameter("model")
  if (typeof model !== "string") return invalidType("model", "a string", model)
  const previous = body.previous_response_id
  if (previous !== undefined && previous !== null && typeof previous !== "string") {
    return invalidType("previous_response_id", "a string", previous)
  }
  const store = body.store !== false
  const reasoningConfig = body.reasoning
  if (reasoningConfig !== undefined && reasoningConfig !== null && !isRecord(reasoningConfig)) {
    return invalidType("reasoning", "an object", reasoningConfig)
  }
  const effort = isRecord(reasoningConfig) && typeof reasoningConfig.effort === "string"
    ? reasoningConfig.effort
    : undefined
  const reasoning = isRecord(reasoningConfig) && effort !== "none"
  const summary = isRecord(reasoningConfig) && typeof reasoningConfig.summary === "string"

  const instructions = body.instructions
  if (instructions !== undefined && instructions !== null && typeof instructions !== "string") {
    return invalidType("instructions", "a string", instructions)
  }
  const input = decodeInput(body.input, reasoning, store)
  if (isError(input)) return input

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    return invalidType("stream", "a boolean", stream)
  }
  const streamOptions = body.stream_options
  if (streamOptions !== undefined && streamOptions !== null) {
    if (stream !== true) {
      return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    }
    if (isRecord(streamOptions) && streamOptions.include_usage !== undefined) {
      return invalid(
        "Unknown parameter: 'stream_options.include_usage'.",
        "stream_options.include_usage",
        "unknown_parameter"
      )
    }
  }
  const include = body.include
  if (include !== undefined && include !== null && !Array.isArray(include)) {
    return invalidType("include", "an array", include)
  }

  const maxTokens = body.max_output_tokens
  if (
    maxTokens !== undefined && maxTokens !== null &&
    (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 16)
  ) {
    return invalid(
      `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${
        JSON.stringify(maxTokens)
      } instead.`,
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
  const decoded = input.decoded(
    {
      model,
      tools,
      toolChoice,
      parallelToolCalls: body.parallel_tool_calls !== false,
      reasoning,
      maxTokens: typeof maxTokens === "number" ? maxTokens : undefined,
      responseSchema: text.schema,
      jsonObject: text.jsonObject
    },
    stream === true,
    {
      store,
      encryptedReasoning: Array.isArray(include) && include.includes("reasoning.encrypted_content"),
      summary,
      effort,
      previous: typeof previous === "string" ? previous : undefined
    }
  )
  return { ...decoded, keeps: store, ...(typeof previous === "string" ? { continues: previous } : {}) }
}
