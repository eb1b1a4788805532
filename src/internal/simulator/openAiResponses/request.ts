/**
 * The Responses request (`POST /v1/responses`), read with the Responses codec (`wire/openAiResponses/codec.ts`), then
 * held to the rules OpenAI's server adds past the wire's shape (no Chat Completions field, encrypted content made by
 * the simulator's organisation, tool pairing in `toolPairs.ts`; docs/simulator.md and each check's doc give the rest)
 * and reduced to a `Reply.Prompt`: a compaction when the input ends with `compaction_trigger`, a compaction item given
 * back read as its summary. What is wrong is worded as OpenAI words it, naming the offending field.
 */
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import { bracketed, type Problem, type Refused } from "../../schemaCheck.js"
import * as Images from "../../tokens/images.js"
import * as ClientTools from "../../wire/openAiResponses/clientTools.js"
import {
  type Body,
  checkBody,
  flatTools,
  hostedTypes,
  inputMessages,
  isOtherItem,
  type KnownItem,
  minMaxOutputTokens,
  toRequest
} from "../../wire/openAiResponses/codec.js"
import { isTriggered, withoutTrigger } from "../../wire/openAiResponses/compaction.js"
import type { Names } from "../../wire/openAiResponses/namespace.js"
import { requestPrompt } from "../decoded.js"
import { emptyArray, invalidType, missingParameter, refusedField } from "../openAiErrors.js"
import {
  fixedSamplingError,
  outputFormatError,
  serviceTierError,
  streamOptionsError,
  supported
} from "../openAiRequest.js"
import { invalid, typeName, valueAt } from "../requestChecks.js"
import { unpaired } from "../toolPairs.js"
import { summaryOf } from "./compactionContent.js"
import type { Organization } from "./organization.js"

/** Chat Completions fields the Responses API does not know. */
const chatOnly = (
  "messages response_format max_tokens max_completion_tokens reasoning_effort stop seed functions " +
  "function_call"
).split(" ")

const messageRoles = new Set(["user", "assistant", "system", "developer"])

const contentTypes = "one of a string or array of input items"

const maxOutputTokensError = (value: unknown): ApiError =>
  invalid(
    `Invalid 'max_output_tokens': integer below minimum value. Expected a value >= ${minMaxOutputTokens}, but got ${
      JSON.stringify(value)
    } instead.`,
    "max_output_tokens",
    "integer_below_min_value"
  )

/** What is wrong with a message item's `content` (or an output's) at `path`, as OpenAI words it. */
function contentError(content: unknown, path: string): ApiError | undefined {
  if (content === undefined) return missingParameter(path)
  if (!Array.isArray(content)) return invalidType(path, contentTypes, content)
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    const at = `${path}[${i}]`
    if (!isJsonObject(part)) return invalid(`Invalid type for '${at}': expected an object.`, at)
    switch (part.type) {
      case "input_text":
      case "output_text":
        if (typeof part.text !== "string") return missingParameter(`${at}.text`)
        break
      case "refusal":
        if (typeof part.refusal !== "string") return missingParameter(`${at}.refusal`)
        break
      case "input_image":
      case "input_file":
        break
      default:
        return supported(
          part.type,
          "'input_text', 'input_image', 'input_file', 'output_text' and 'refusal'",
          `${at}.type`
        )
    }
  }
  return undefined
}

// The first of `fields` an item lacks.
function missingField(item: Readonly<Record<string, unknown>>, path: string, fields: ReadonlyArray<string>) {
  const missing = fields.find((field) => typeof item[field] !== "string")
  return missing === undefined ? undefined : missingParameter(`${path}.${missing}`)
}

/** What is wrong with the input item at `input[i]`, read from the item itself (a union's refusal names no member). */
function itemError(body: unknown, i: number): ApiError | undefined {
  const item = valueAt(body, ["input", i])
  const path = `input[${i}]`
  if (!isJsonObject(item)) return invalidType(path, "an object", item)
  const type = item.type ?? "message"
  switch (type) {
    case "message":
      if (typeof item.role !== "string" || !messageRoles.has(item.role)) {
        return invalid(
          `Invalid value for '${path}.role': expected one of 'user', 'assistant', 'system' or 'developer', got ${
            JSON.stringify(item.role) ?? "nothing"
          }.`,
          `${path}.role`
        )
      }
      return typeof item.content === "string" ? undefined : contentError(item.content, `${path}.content`)
    case "function_call":
      return missingField(item, path, ["call_id", "name", "arguments"])
    case "function_call_output":
      return missingField(item, path, ["call_id"]) ??
        (typeof item.output === "string" ? undefined : contentError(item.output, `${path}.output`))
    case "reasoning":
      return Array.isArray(item.summary) ? undefined : missingParameter(`${path}.summary`)
    default:
      return typeof type === "string"
        ? undefined
        : supported(
          type,
          "'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference'",
          `${path}.type`
        )
  }
}

// A `json_schema` text format's schema is flat, unlike Chat Completions' nested `json_schema` wrapper.
function flatSchemaError(format: Readonly<Record<string, unknown>>): ApiError | undefined {
  if (typeof format.name !== "string") return missingParameter("text.format.name")
  return isJsonObject(format.schema) ? undefined : missingParameter("text.format.schema")
}

/** What the codec's schema refused (its first refusal) worded as OpenAI words it. */
export function refusalError(body: unknown, refused: Refused): ApiError {
  const { message, path } = refused.refusals[0]
  if (path.length === 0) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const param = bracketed(path)
  const value = valueAt(body, path)
  const generic = () => refusedField(param, value, message)
  switch (path[0]) {
    case "model":
      return value === undefined ? missingParameter("model") : invalidType("model", "a string", value)
    case "input":
      if (path.length === 1) {
        return value === undefined
          ? missingParameter("input")
          : invalidType("input", contentTypes, value)
      }
      return itemError(body, path[1] as number) ?? generic()
    case "max_output_tokens":
      return maxOutputTokensError(value)
    case "reasoning":
    case "text":
      if (path.length === 1) return invalidType(path[0], "an object", value)
      return path[0] === "text"
        ? outputFormatError(valueAt(body, ["text", "format"]), "text.format", flatSchemaError) ?? generic()
        : generic()
    case "tools":
      if (path.length === 1) return invalidType("tools", "an array", value)
      return path.length === 2 ? invalid(`Invalid type for '${param}': expected an object.`, param) : generic()
    case "tool_choice":
      return invalid(
        "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', name}.",
        "tool_choice"
      )
    default:
      return generic()
  }
}

/** What OpenAI's server refuses before reading a body: a Chat Completions field, and `stream_options`' misuse. */
function unknownFieldError(body: Readonly<Record<string, unknown>>): ApiError | undefined {
  for (const name of chatOnly) {
    if (body[name] !== undefined) return invalid(`Unknown parameter: '${name}'.`, name, "unknown_parameter")
  }
  const options = body.stream_options
  if (options === undefined || options === null) return undefined
  if (body.stream !== true) return streamOptionsError
  return isJsonObject(options) && options.include_usage !== undefined
    ? invalid(
      "Unknown parameter: 'stream_options.include_usage'.",
      "stream_options.include_usage",
      "unknown_parameter"
    )
    : undefined
}

/**
 * What OpenAI's server refuses in the input items: an `item_reference` or a reasoning item by id, which the simulator
 * does not keep, and (with reasoning on) a `function_call` with an id replayed without the reasoning item before it.
 */
function inputError(wire: Body, reasoning: boolean, store: boolean): ApiError | undefined {
  if (typeof wire.input === "string") return undefined
  if (wire.input.length === 0) return emptyArray("input")
  let reasoningInTurn = false
  for (let i = 0; i < wire.input.length; i++) {
    const wireItem = wire.input[i]!
    if (isOtherItem(wireItem)) {
      if (wireItem.type !== "item_reference") continue
      return invalid(
        `Item with id '${String(wireItem.id)}' not found. Items are not persisted when \`store\` is set to false.`,
        "input"
      )
    }
    // `isOtherItem` tells the types apart by name, which the item types' own union cannot narrow on.
    const item = wireItem as KnownItem
    switch (item.type) {
      case "reasoning":
        // An item is found by its id, or carries itself encrypted.
        if (item.encrypted_content === undefined || item.encrypted_content === null) {
          if (item.id === undefined || item.id === null) return missingParameter(`input[${i}].id`)
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
      case "function_call":
        if (reasoning && item.id !== undefined && item.id !== null && !reasoningInTurn) {
          return invalid(
            `Item '${item.id}' of type 'function_call' was provided without its required 'reasoning' item.`,
            "input"
          )
        }
        break
      case "function_call_output":
        reasoningInTurn = false
        break
      default:
        if (item.role !== "assistant") reasoningInTurn = false
    }
  }
  return undefined
}

/** What the codec's mapping refused (a field it needs that the schema leaves optional), as OpenAI words it. */
function mappingError(problem: Problem): ApiError {
  const param = problem.param ?? "input"
  if (/^tools\[\d+\]\.name$/.test(param)) return missingParameter(param, "missing_required_parameter")
  return /(\.name|\.image_url|\.file_data)$/.test(param) ? missingParameter(param) : invalid(problem.message, param)
}

/** The hosted tools a reply calls: the body's in turn, `max_tool_calls` calls in all (one when it does not say). */
function hostedCallsOf(wire: Body): ReadonlyArray<string> {
  const hosted = (wire.tools ?? []).map((tool) => tool.type).filter((type) => hostedTypes.has(type))
  if (hosted.length === 0) return []
  const calls = wire.max_tool_calls ?? 1
  return Array.from({ length: calls }, (_, i) => hosted[i % hosted.length]!)
}

// A compaction item given back without its encrypted content.
function contentless(i: number): ApiError {
  return invalid(`Missing required parameter: 'input[${i}].encrypted_content'.`, `input[${i}].encrypted_content`)
}

/**
 * The body with each `compaction` item of its input read as the summary it holds, a user message in its place (the
 * model goes on from it); or the refusal of one the simulator did not make, whose content it cannot read.
 */
function compactionsRead(wire: Body, organization: Organization): Result.Result<Body, ApiError> {
  if (typeof wire.input === "string") return Result.succeed(wire)
  const input: Array<Exclude<Body["input"], string>[number]> = []
  for (let i = 0; i < wire.input.length; i++) {
    const item = wire.input[i]!
    if (item.type !== "compaction" && item.type !== "compaction_summary") {
      input.push(item)
      continue
    }
    const summary = summaryOf(organization, (item as Readonly<Record<string, unknown>>)["encrypted_content"])
    if (summary === undefined) return Result.fail(organization.refusal([item]) ?? contentless(i))
    input.push({ type: "message", role: "user", content: summary })
  }
  return Result.succeed({ ...wire, input })
}

/**
 * The checked body as the engine's request, the client's tools offered as functions (`clientTools.ts`), with how its
 * tools' calls are named back; or what the codec's mapping refused.
 */
function requestOf(wire: Body): Result.Result<{ readonly request: ChatRequest; readonly names: Names }, Problem> {
  const flat = flatTools(wire)
  if (Result.isFailure(flat)) return Result.fail(flat.failure)
  const served = ClientTools.asFunctions({ body: wire, ...flat.success }, [])
  if (Result.isFailure(served)) return Result.fail(served.failure)
  const { body, names, tools } = served.success
  const conversation = inputMessages(body)
  if (Result.isFailure(conversation)) return Result.fail(conversation.failure)
  return Result.map(toRequest(body, conversation.success, tools), (request) => ({ request, names }))
}

/**
 * A checked body (its rules held) as the prompt it asks about, with what rendering needs; a compaction's when
 * `compaction` (its input ended with `compaction_trigger`).
 */
function promptOf(
  wire: Body,
  { names, request }: { readonly request: ChatRequest; readonly names: Names },
  compaction: boolean
): Result.Result<Decoded<Extra>, ApiError> {
  const store = wire.store !== false
  const effort = wire.reasoning?.effort ?? undefined
  const previous = wire.previous_response_id ?? undefined
  // A request continuing a stored response answers that response's calls.
  const broken = unpaired(request.messages, previous === undefined)
  if (broken?._tag === "Unanswered") {
    return Result.fail(invalid(`No tool output found for function call ${broken.ids[0]}.`, "input"))
  }
  if (broken?._tag === "Unasked") {
    return Result.fail(invalid(`No tool call found for function call output with call_id ${broken.id}.`, "input"))
  }
  const decoded = requestPrompt(request, {
    model: wire.model,
    stream: wire.stream === true,
    extra: {
      store,
      encryptedReasoning: wire.include?.includes("reasoning.encrypted_content") === true,
      summary: wire.reasoning?.summary !== undefined && wire.reasoning.summary !== null,
      effort,
      previous,
      hostedCalls: compaction ? [] : hostedCallsOf(wire),
      compaction,
      ...(names.size === 0 ? {} : { calledAs: names })
    },
    parallelToolCalls: wire.parallel_tool_calls !== false,
    reasoning: wire.reasoning !== undefined && wire.reasoning !== null && effort !== "none",
    unknownTool: () => invalid("Tool choice 'function' not found in 'tools' parameter.", "tool_choice"),
    images: Images.openAi
  })
  return Result.map(decoded, (decoded) => ({
    ...decoded,
    prompt: compaction ? { ...decoded.prompt, compaction } : decoded.prompt,
    keeps: store,
    ...(previous !== undefined ? { continues: previous } : {})
  }))
}

/**
 * The body as the engine's request, or what OpenAI's server would refuse in it; encrypted content is checked against
 * `organization`, the one the simulator stands for.
 */
export function decode(body: unknown, organization: Organization): Result.Result<Decoded<Extra>, ApiError> {
  const unknown = isJsonObject(body) ? unknownFieldError(body) : undefined
  if (unknown !== undefined) return Result.fail(unknown)
  const checked = checkBody(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const triggered = isTriggered(checked.success)
  const read = compactionsRead(triggered ? withoutTrigger(checked.success) : checked.success, organization)
  if (Result.isFailure(read)) return Result.fail(read.failure)
  const wire = read.success
  const maxTokens = wire.max_output_tokens
  if (
    maxTokens !== undefined && maxTokens !== null && (!Number.isInteger(maxTokens) || maxTokens < minMaxOutputTokens)
  ) {
    return Result.fail(maxOutputTokensError(maxTokens))
  }
  const reasoning = wire.reasoning !== undefined && wire.reasoning !== null && wire.reasoning.effort !== "none"
  const broken = inputError(wire, reasoning, wire.store !== false) ?? organization.refusal(wire.input) ??
    serviceTierError(wire.service_tier) ??
    fixedSamplingError(wire.model, wire.reasoning?.effort, wire)
  if (broken !== undefined) return Result.fail(broken)
  const request = requestOf(wire)
  if (Result.isFailure(request)) return Result.fail(mappingError(request.failure))
  return promptOf(wire, request.success, triggered)
}
