/**
 * The Chat Completions request (`POST /v1/chat/completions`), read with the Chat Completions codec
 * (`wire/openAiChat/codec.ts`), then held to the rules OpenAI's server adds past the wire's shape (docs/simulator.md
 * and each check's doc give them; tool pairing in `toolPairs.ts`) and reduced to a `Reply.Prompt`. What is wrong is
 * worded as OpenAI words it, naming the offending field.
 */
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import { bracketed, type Refused } from "../../schemaCheck.js"
import * as Images from "../../tokens/images.js"
import { checkCreateRequest, type CreateRequest, maxStop, toRequest } from "../../wire/openAiChat/codec.js"
import { requestPrompt } from "../decoded.js"
import { emptyArray, invalidType, missingParameter, modelError, refusedField } from "../openAiErrors.js"
import { fixedSamplingError, outputFormatError, serviceTierError, streamOptionsError } from "../openAiRequest.js"
import { invalid, type InvalidRequest, typeName, valueAt } from "../requestChecks.js"
import { unpaired } from "../toolPairs.js"

type Wire = typeof CreateRequest.Type

const toolChoiceError = invalid(
  "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', function: {name}}.",
  "tool_choice"
)

const unknownToolError = (name: string): InvalidRequest =>
  invalid(`Invalid value for 'tool_choice': function '${name}' is not in 'tools'.`, "tool_choice")

const toolCallIdError = (param: string): ApiError =>
  invalid(`Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.`, param)

const maxTokensError = (name: string, value: unknown): ApiError =>
  invalid(
    `Invalid '${name}': expected an integer of at least 1, but got ${JSON.stringify(value)} instead.`,
    name,
    "invalid_value"
  )

/** What is wrong with a message at `path` (below `messages[i]`), as OpenAI words it. */
function messageError(body: unknown, path: ReadonlyArray<PropertyKey>, message: string): ApiError {
  const param = bracketed(path)
  const value = valueAt(body, path)
  if (path.length === 2) return invalidType(param, "an object", value)
  switch (path[2]) {
    case "role":
      return invalid(
        `Invalid value for '${param}': expected one of 'system', 'developer', 'user', 'assistant', 'tool', got ${
          JSON.stringify(value) ?? "nothing"
        }.`,
        param
      )
    case "content": {
      if (path.length === 3) return invalidType(param, "one of a string or array of objects", value)
      const partParam = bracketed(path.slice(0, 4))
      const part = valueAt(body, path.slice(0, 4))
      if (!isJsonObject(part) || typeof part.type !== "string") {
        return invalid(`Invalid '${partParam}': expected an object with a 'type'.`, partParam)
      }
      return part.type === "text" ? missingParameter(`${partParam}.text`) : refusedField(param, value, message)
    }
    case "tool_call_id":
      return toolCallIdError(param)
    default:
      return refusedField(param, value, message)
  }
}

/** What the codec's schema refused (its first refusal) worded as OpenAI words it. */
function refusalError(body: unknown, refused: Refused): ApiError {
  const { message, path } = refused.refusals[0]
  if (path.length === 0) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const param = bracketed(path)
  const value = valueAt(body, path)
  switch (path[0]) {
    case "model":
      return modelError(value)
    case "messages":
      if (path.length > 1) return messageError(body, path, message)
      return value === undefined ? missingParameter("messages") : invalidType("messages", "an array", value)
    case "stream":
      return invalidType("stream", "a boolean", value)
    case "stream_options":
      if (valueAt(body, ["stream"]) !== true) return streamOptionsError
      return path.length === 1
        ? invalid(`Invalid type for 'stream_options': expected an object.`, "stream_options")
        : refusedField(param, value, message)
    case "max_tokens":
    case "max_completion_tokens":
      return maxTokensError(path[0], value)
    case "tools":
      if (path.length === 1) return invalidType("tools", "an array", value)
      if (path.length === 2) return invalid(`Invalid type for '${param}': expected an object.`, param)
      // A tool that is not a function, or a function without its name.
      return path[2] === "type" || path.length === 3 || path[3] === "name"
        ? missingParameter(`${bracketed(path.slice(0, 2))}.function.name`)
        : refusedField(param, value, message)
    case "tool_choice":
      return toolChoiceError
    case "response_format":
      return outputFormatError(valueAt(body, ["response_format"]), "response_format", nestedSchemaName)
        ?? refusedField(param, value, message)
    default:
      return refusedField(param, value, message)
  }
}

// A `json_schema` response format's schema is nested in a `json_schema` wrapper, unlike the Responses API's
// `text.format`.
function nestedSchemaName(format: Readonly<Record<string, unknown>>): ApiError | undefined {
  const wrapper = format.json_schema
  return isJsonObject(wrapper) && typeof wrapper.name === "string"
    ? undefined
    : missingParameter("response_format.json_schema.name")
}

/**
 * What OpenAI refuses in the tool fields: an empty `tools`, and `tool_choice` (but `none`) or `parallel_tool_calls`
 * without tools, each worded as its answer words it. A `none` choice without tools is taken: it asks for what a request
 * without tools gets.
 */
function toolFieldError(wire: Wire): ApiError | undefined {
  if (wire.tools !== undefined && wire.tools !== null && wire.tools.length === 0) return emptyArray("tools")
  if ((wire.tools?.length ?? 0) > 0) return undefined
  const choice = wire.tool_choice
  if (choice !== undefined && choice !== null && choice !== "none") return onlyWithTools("tool_choice")
  if (wire.parallel_tool_calls !== undefined && wire.parallel_tool_calls !== null) {
    return onlyWithTools("parallel_tool_calls")
  }
  return undefined
}

function onlyWithTools(param: "tool_choice" | "parallel_tool_calls"): ApiError {
  return invalid(`Invalid value for '${param}': '${param}' is only allowed when 'tools' are specified.`, param)
}

/** What OpenAI's server refuses in a body that fits the wire: its rules past the shape. */
function ruleError(wire: Wire): ApiError | undefined {
  if (wire.messages.length === 0) return emptyArray("messages")
  if (wire.stream_options !== undefined && wire.stream_options !== null && wire.stream !== true) {
    return streamOptionsError
  }
  for (const name of ["max_completion_tokens", "max_tokens"] as const) {
    const value = wire[name]
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value < 1)) {
      return maxTokensError(name, value)
    }
  }
  const broken = toolFieldError(wire) ?? serviceTierError(wire.service_tier) ??
    fixedSamplingError(wire.model, wire.reasoning_effort, wire) ?? reasoningBackError(wire)
  if (broken !== undefined) return broken
  if (Array.isArray(wire.stop) && wire.stop.length > maxStop) {
    return invalid(
      `Invalid 'stop': array too long. Expected an array with maximum length ${maxStop}, but got an array with ` +
        `length ${wire.stop.length} instead.`,
      "stop",
      "array_above_max_length"
    )
  }
  // vLLM's OpenAI-compatible server: `continue_final_message` cannot go with `add_generation_prompt`, true by default.
  if (wire.continue_final_message === true && wire.add_generation_prompt !== false) {
    return invalid(
      "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
      "continue_final_message"
    )
  }
  return undefined
}

/** Whether `model` is DeepSeek's thinking model (under any server's prefix: `deepseek/deepseek-reasoner`). */
const thinksAlways = (model: string): boolean => /(?:^|\/)deepseek-reasoner$/.test(model)

/**
 * DeepSeek's rule for tool calls in thinking mode (its thinking mode guide, "Tool Calls"): each assistant message of
 * the tool loop in progress (after the last user message) sends its `reasoning_content` back, else 400, in its words.
 */
function reasoningBackError(wire: Wire): ApiError | undefined {
  if (!thinksAlways(wire.model)) return undefined
  let from = wire.messages.length
  while (from > 0 && wire.messages[from - 1]!.role !== "user") from--
  for (let i = from; i < wire.messages.length; i++) {
    const message = wire.messages[i]!
    if (message.role !== "assistant" || (message.tool_calls?.length ?? 0) === 0) continue
    if (typeof message.reasoning_content === "string") continue
    return invalid(
      `Missing \`reasoning_content\` field in the assistant message at message index ${i}. For more information, ` +
        "please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls",
      "messages",
      "invalid_request_error"
    )
  }
  return undefined
}

/**
 * The flags asking to go on from the last message, the assistant's: vLLM's `continue_final_message` and DeepSeek's
 * `prefix: true` on that message ("Chat Prefix Completion (Beta)").
 */
function prefillFlagsOf(wire: Wire): ReadonlyArray<Reply.PrefillFlag> {
  const flags: Array<Reply.PrefillFlag> = []
  if (wire.continue_final_message === true) flags.push("continue_final_message")
  const last = wire.messages.at(-1)
  if (last?.role === "assistant" && last.prefix === true) flags.push("prefix")
  return flags
}

/** A checked body (its limits, rules and tool message ids held) as the prompt it asks about. */
function promptOf(wire: Wire, request: ChatRequest): Result.Result<Decoded<Extra>, ApiError> {
  const broken = unpaired(request.messages)
  if (broken?._tag === "Unanswered") {
    return Result.fail(invalid(
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
        `The following tool_call_ids did not have response messages: ${broken.ids.join(", ")}`,
      "messages"
    ))
  }
  if (broken?._tag === "Unasked") {
    return Result.fail(invalid(
      "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
      "messages"
    ))
  }
  return requestPrompt(request, {
    model: wire.model,
    stream: wire.stream === true,
    extra: { includeUsage: wire.stream_options?.include_usage === true },
    parallelToolCalls: wire.parallel_tool_calls !== false,
    reasoning: thinksAlways(wire.model) ||
      (request.reasoningEffort !== undefined && request.reasoningEffort !== "none"),
    prefillFlags: prefillFlagsOf(wire),
    unknownTool: unknownToolError,
    images: Images.openAi
  })
}

export function decode(body: unknown): Result.Result<Decoded<Extra>, ApiError> {
  const checked = checkCreateRequest(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const wire = checked.success
  const broken = ruleError(wire)
  if (broken !== undefined) return Result.fail(broken)
  const request = toRequest(wire)
  // The mapping refuses one thing the schema lets through: a tool message without its call's id.
  if (Result.isFailure(request)) return Result.fail(toolCallIdError(request.failure.param ?? "messages"))
  return promptOf(wire, request.success)
}
