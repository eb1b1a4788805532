/**
 * The Chat Completions request (`POST /v1/chat/completions`), checked by hand,
 * field by field, naming the offending field as OpenAI does, and reduced to a
 * `Reply.Prompt`.
 */
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { Transcript } from "../decoded.js"
import { invalidType, missingParameter, requiredArray } from "../openAiErrors.js"
import { decodeOutputFormat, decodeTools } from "../openAiRequest.js"
import { invalid, isRecord, typeName } from "../requestChecks.js"

const roles = new Set(["system", "developer", "user", "assistant", "tool", "function"])

/** Text and non-text parts of a message's `content`; a string result is what is wrong with it. */
const contentOf = (
  content: unknown,
  path: string
): { readonly text: string; readonly media: number } | ApiError => {
  if (typeof content === "string") return { text: content, media: 0 }
  if (content === null || content === undefined) return { text: "", media: 0 }
  if (!Array.isArray(content)) return invalidType(path, "one of a string or array of objects", content)
  let text = ""
  let media = 0
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    if (!isRecord(part) || typeof part.type !== "string") {
      return invalid(`Invalid '${path}[${i}]': expected an object with a 'type'.`, `${path}[${i}]`)
    }
    if (part.type === "text") {
      if (typeof part.text !== "string") return missingParameter(`${path}[${i}].text`)
      text += part.text
    } else {
      media++
    }
  }
  return { text, media }
}

/** A Chat Completions tool: a `function` with its name; `custom` (free-form) tools are never called. */
const functionOf = (tool: Readonly<Record<string, unknown>>, path: string): Reply.Tool | ApiError | undefined => {
  if (tool.type === "custom") return undefined
  if (tool.type !== "function" || !isRecord(tool.function) || typeof tool.function.name !== "string") {
    return missingParameter(`${path}.function.name`)
  }
  return { name: tool.function.name, parameters: tool.function.parameters }
}

const decodeToolChoice = (
  choice: unknown,
  tools: ReadonlyArray<Reply.Tool>,
  anyTools: boolean
): Reply.ToolChoice | ApiError => {
  if (choice === undefined || choice === null) return { _tag: "Auto" }
  if (!anyTools && choice !== "none") {
    return invalid(
      "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
      "tool_choice"
    )
  }
  if (choice === "auto") return { _tag: "Auto" }
  if (choice === "none") return { _tag: "None" }
  if (choice === "required") return { _tag: "Required" }
  if (isRecord(choice)) {
    if (choice.type === "function" && isRecord(choice.function) && typeof choice.function.name === "string") {
      const name = choice.function.name
      if (!tools.some((tool) => tool.name === name)) {
        return invalid(`Invalid value for 'tool_choice': function '${name}' is not in 'tools'.`, "tool_choice")
      }
      return { _tag: "Named", name }
    }
    if (choice.type === "allowed_tools") return { _tag: "Auto" }
  }
  return invalid(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', function: {name}}.",
    "tool_choice"
  )
}

/**
 * A `json_schema` response format's schema: nested in a `json_schema` wrapper, unlike the Responses API's flat
 * `text.format`.
 */
const nestedSchema = (format: Readonly<Record<string, unknown>>): { readonly schema: unknown } | ApiError => {
  const wrapper = format.json_schema
  if (!isRecord(wrapper) || typeof wrapper.name !== "string") {
    return missingParameter("response_format.json_schema.name")
  }
  return { schema: wrapper.schema ?? {} }
}

/**
 * The flags asking to go on from the last message, the assistant's: vLLM's `continue_final_message` (which, as vLLM's
 * OpenAI-compatible server, cannot go with `add_generation_prompt`, true by default) and DeepSeek's `prefix: true` on
 * that message ("Chat Prefix Completion (Beta)").
 */
const prefillFlagsOf = (
  body: Readonly<Record<string, unknown>>,
  messages: ReadonlyArray<unknown>
): ReadonlyArray<Reply.PrefillFlag> | ApiError => {
  const flags: Array<Reply.PrefillFlag> = []
  if (body.continue_final_message === true) {
    if (body.add_generation_prompt !== false) {
      return invalid(
        "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
        "continue_final_message"
      )
    }
    flags.push("continue_final_message")
  }
  const last = messages.at(-1)
  if (isRecord(last) && last.role === "assistant" && last.prefix === true) flags.push("prefix")
  return flags
}

/** The `model` of a request body, or what is wrong with it. */
export const modelOf = (body: Readonly<Record<string, unknown>>): string | ApiError => {
  const model = body.model
  if (model === undefined || model === null) return invalid("you must provide a model parameter", "model")
  return typeof model === "string"
    ? model
    : invalidType("model", "a string", model)
}

export const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const model = modelOf(body)
  if (typeof model !== "string") return model
  const messages = requiredArray("messages", body.messages, "an array")
  if (!Array.isArray(messages)) return messages
  const transcript = new Transcript()
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const path = `messages[${i}]`
    if (!isRecord(message)) return invalidType(path, "an object", message)
    const role = message.role
    if (typeof role !== "string" || !roles.has(role)) {
      return invalid(
        `Invalid value for '${path}.role': expected one of 'system', 'developer', 'user', 'assistant', 'tool', got ${
          JSON.stringify(role) ?? "nothing"
        }.`,
        `${path}.role`
      )
    }
    const content = contentOf(message.content, `${path}.content`)
    if ("_tag" in content) return content
    if (role === "tool" && typeof message.tool_call_id !== "string") {
      return invalid(
        `Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.`,
        `${path}.tool_call_id`
      )
    }
    transcript.add(role, content.text, content.media)
    if (role === "assistant" && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls as ReadonlyArray<unknown>) {
        if (isRecord(call) && isRecord(call.function)) {
          const fn = call.function
          transcript.chars += (typeof fn.name === "string" ? fn.name.length : 0) +
            (typeof fn.arguments === "string" ? fn.arguments.length : 0)
        }
      }
    }
  }

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") {
    return invalidType("stream", "a boolean", stream)
  }
  const streamOptions = body.stream_options
  let includeUsage = false
  if (streamOptions !== undefined && streamOptions !== null) {
    if (stream !== true) {
      return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    }
    if (!isRecord(streamOptions)) {
      return invalid(`Invalid type for 'stream_options': expected an object.`, "stream_options")
    }
    includeUsage = streamOptions.include_usage === true
  }

  let maxTokens: number | undefined
  for (const name of ["max_completion_tokens", "max_tokens"] as const) {
    const value = body[name]
    if (value === undefined || value === null) continue
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      return invalid(
        `Invalid '${name}': expected an integer of at least 1, but got ${JSON.stringify(value)} instead.`,
        name,
        "invalid_value"
      )
    }
    maxTokens ??= value
  }

  const tools = decodeTools(body.tools, functionOf)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.tool_choice, tools, Array.isArray(body.tools) && body.tools.length > 0)
  if ("_tag" in toolChoice && toolChoice._tag === "InvalidRequest") return toolChoice
  const responseFormat = decodeOutputFormat(body.response_format, "response_format", nestedSchema)
  if ("_tag" in responseFormat) return responseFormat
  const effort = body.reasoning_effort ?? (isRecord(body.reasoning) ? body.reasoning.effort : undefined)
  const reasoning = typeof effort === "string" && effort !== "none"
  const prefillFlags = prefillFlagsOf(body, messages)
  if ("_tag" in prefillFlags) return prefillFlags

  return transcript.decoded(
    {
      model,
      tools,
      toolChoice: toolChoice as Reply.ToolChoice,
      parallelToolCalls: body.parallel_tool_calls !== false,
      reasoning,
      maxTokens,
      responseSchema: responseFormat.schema,
      jsonObject: responseFormat.jsonObject,
      prefillFlags
    },
    stream === true,
    { includeUsage }
  )
}
