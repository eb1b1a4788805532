/**
 * The Responses wire (`POST /v1/responses`, OpenAI's Responses API reference: "Create a model response", "The
 * response object" and "Streaming events") in both directions: the request (decoded for the gateway and the simulator,
 * `requestBody` for the client), the response object (`reply`, `responseObject`) and the stream's events (`event`).
 *
 * A reasoning item's `encrypted_content` is kept in provider metadata, so a Responses deployment gets it back unchanged
 * and every other one leaves it out. Items the gateway made (`wire/carried.ts`, `compaction.ts`) give back what they
 * carry. Non-function tools, a hosted tool's `tool_choice` and input items of other types are passed on as they came,
 * for the gateway to give to a Responses deployment or refuse by name (`gateway/responses/hosted.ts`). The response's
 * status stands for the finish reason the API does not send.
 *
 * The hot-path readers (a reply, a stream event) are plain functions over `JSON.parse` output, checked with `typeof`,
 * as decoding a schema union per event costs more than the event; a property test holds them to the schemas. The error
 * body is Chat Completions' (`wire/openAiChat/codec.ts`).
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import type { Input as ChatRequest, PreviousResponse, ToolChoice } from "../../../ChatRequest.js"
import { ReasoningEffort } from "../../../ChatRequest.js"
import { emptyUsage, type FinishReason, type Usage } from "../../../ChatResponse.js"
import type {
  AssistantMessage,
  ContentPart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition
} from "../../../Message.js"
import { optionalString, ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject, JsonObjectSchema, pickDefined, replyId, replyModel } from "../../json.js"
import { requireArray } from "../../json.js"
import type { Reply } from "../../providers/adapter.js"
import { checker, maybe, Problem, set } from "../../schemaCheck.js"
import { type Carried, opened, restoreCalls } from "../carried.js"
import { requireMediaKind } from "../contentKinds.js"
import { argumentsOf, pdfFile } from "../openAiChat/codec.js"
import { encodeFormat, fileBytes, fixedSampling, functionTool, responseFormatOf } from "../openAiChat/codec.js"
import { problem } from "../problem.js"
import { toolDeclaration } from "../toolDeclaration.js"
import { countAt, openAiUsage, openAiUsageFields } from "../usage.js"
import { flatten, type Flattened, nameOf, type Placed } from "./namespace.js"

export { Problem }

/** The key of this API's entry in `providerMetadata`. */
export const metadataKey = "openaiResponses"

// ---------------------------------------------------------------------------
// The request body: its schema

const TextPart = Schema.Struct({ type: Schema.Literals(["input_text", "output_text"]), text: Schema.String })

const Part = Schema.Union([
  TextPart,
  Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("input_image"),
    image_url: maybe(Schema.String),
    file_id: maybe(Schema.String),
    detail: maybe(Schema.Literals(["auto", "low", "high", "original"]))
  }),
  // A file (a PDF) by its bytes (the API reference's input file); the gateway takes none by `file_url` or `file_id`.
  Schema.Struct({
    type: Schema.Literal("input_file"),
    file_data: maybe(fileBytes),
    file_id: maybe(Schema.String),
    filename: maybe(Schema.String)
  })
]).annotate({ expected: "an input_text, output_text, refusal, input_image or input_file part" })

const Content = Schema.Union([Schema.String, Schema.Array(Part)]).annotate({
  expected: "a string or an array of content parts"
})

// One struct with the role as a literal, so a bad role is named at `input[i].role`.
const MessageItem = Schema.Struct({
  type: maybe(Schema.Literal("message")),
  role: Schema.Literals(["user", "assistant", "system", "developer"]),
  content: Content
})

const FunctionCallItem = Schema.Struct({
  type: Schema.Literal("function_call"),
  /** The item's own id (`fc_…`), by which the API pairs it with the reasoning item before it. */
  id: maybe(Schema.String),
  call_id: Schema.String,
  name: Schema.String,
  /** The namespace of a namespace tool's function (`namespace.ts`). */
  namespace: maybe(Schema.String),
  arguments: Schema.String
})

const FunctionCallOutputItem = Schema.Struct({
  type: Schema.Literal("function_call_output"),
  call_id: Schema.String,
  output: Content
})

const ReasoningItem = Schema.Struct({
  type: Schema.Literal("reasoning"),
  id: maybe(Schema.String),
  summary: Schema.Array(Schema.Struct({ type: maybe(Schema.String), text: Schema.String })),
  encrypted_content: maybe(Schema.String)
})

// An object of `fields` with every other field it holds, which the gateway passes on as it came.
function withRest<F extends Schema.Struct.Fields>(fields: F) {
  return Schema.StructWithRest(Schema.Struct(fields), [Schema.Record(Schema.String, Schema.Unknown)])
}

/**
 * A custom tool's call (OpenAI's Responses API reference, "Custom tools": free-text input) and a client tool search's,
 * with their outputs: passed on as they came to a Responses deployment, as a function's (`clientTools.ts`) to another.
 */
const CustomToolCallItem = withRest({
  type: Schema.Literal("custom_tool_call"),
  call_id: Schema.String,
  name: Schema.String,
  namespace: maybe(Schema.String),
  input: Schema.String
})

const CustomToolCallOutputItem = withRest({
  type: Schema.Literal("custom_tool_call_output"),
  call_id: Schema.String,
  output: Content
})

const ToolSearchCallItem = withRest({
  type: Schema.Literal("tool_search_call"),
  call_id: maybe(Schema.String),
  execution: maybe(Schema.String),
  arguments: maybe(JsonObjectSchema)
})

// Any tool type is read, so that one only a Responses deployment runs is passed to it as it came, or refused by name.
const OneTool = withRest({
  type: Schema.String.check(
    Schema.makeFilter((type: string) => type !== "namespace", {
      message: "expected a tool type other than namespace"
    })
  ),
  name: maybe(Schema.String),
  description: maybe(Schema.String),
  parameters: maybe(JsonObjectSchema),
  strict: maybe(Schema.Boolean)
})

// A group of tools under one name (`namespace.ts`).
const NamespaceTool = withRest({
  type: Schema.Literal("namespace"),
  name: Schema.String,
  description: maybe(Schema.String),
  tools: Schema.Array(OneTool)
})

/** A tool of a body's `tools` (or of an item holding tools), as the wire reads it. */
export const WireTool = Schema.Union([OneTool, NamespaceTool]).annotate({
  expected: "a tool (a function, a hosted tool) or a namespace of tools"
})

/**
 * The tools a client gives in its input rather than in `tools` (Codex's models of the Responses API's "lite" form
 * send all theirs so): read as the body's own by a deployment of another API (`clientTools.ts`).
 */
const AdditionalToolsItem = withRest({ type: Schema.Literal("additional_tools"), tools: Schema.Array(WireTool) })

const ToolSearchOutputItem = withRest({
  type: Schema.Literal("tool_search_output"),
  call_id: maybe(Schema.String),
  execution: maybe(Schema.String),
  tools: Schema.Array(WireTool)
})

/** A client tool's call or output of a kind only the Responses API has, as the wire reads it. */
export type ClientToolItem =
  | typeof CustomToolCallItem.Type
  | typeof CustomToolCallOutputItem.Type
  | typeof ToolSearchCallItem.Type
  | typeof ToolSearchOutputItem.Type
  | typeof AdditionalToolsItem.Type

const modelledItems: ReadonlySet<string> = new Set(["message", "function_call", "function_call_output", "reasoning"])

/** The types of `ClientToolItem`, which only a Responses deployment reads as they are. */
export const clientToolItems: ReadonlySet<string> = new Set([
  "additional_tools",
  "custom_tool_call",
  "custom_tool_call_output",
  "tool_search_call",
  "tool_search_output"
])

/**
 * The tools OpenAI runs on its side (OpenAI's Responses API reference, "Built-in tools"), each billed per call apart
 * from tokens (`Pricing.defaultHostedToolCalls`).
 */
export const hostedTypes: ReadonlySet<string> = new Set([
  "web_search",
  "web_search_preview",
  "file_search",
  "code_interpreter",
  "image_generation",
  "mcp"
])

/**
 * The hosted tool calls a request is taken to make when it sets no `max_tool_calls`: `Pricing.estimate` reserves that
 * many at its dearest hosted tool's price, and the Responses adapter sends it as the bound, so no reply makes more.
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultMaxToolCalls = 10

/** The output item type of a hosted tool's call (`web_search_preview`'s is `web_search_call`, as `web_search`'s). */
export function callItemType(tool: string): string {
  return tool === "web_search_preview" ? "web_search_call" : `${tool}_call`
}

// An item of another type (a hosted tool's call, a client tool's call or output other than a function's): passed
// as it came to a Responses deployment, refused by name for any other.
const OtherItem = withRest({
  type: Schema.String.check(
    Schema.makeFilter((type: string) => !modelledItems.has(type) && !clientToolItems.has(type), {
      message: "expected another item type"
    })
  )
})

// The message last of the modelled items: its `type` may be left out, so it is a candidate for any item, and an item
// of another type that does not hold what it must is refused by its own type's schema, not the message's.
const Item = Schema.Union([
  FunctionCallItem,
  FunctionCallOutputItem,
  ReasoningItem,
  AdditionalToolsItem,
  CustomToolCallItem,
  CustomToolCallOutputItem,
  ToolSearchCallItem,
  ToolSearchOutputItem,
  MessageItem,
  OtherItem
]).annotate({ expected: "a message, function_call, function_call_output, reasoning or other typed item" })

/** A tool of a body's `tools` (or of an item holding tools), as the wire reads it. */
export type BodyTool = typeof WireTool.Type

/** A tool of a body once its namespaces are flattened (`namespace.ts`). */
export type FlatTool = typeof OneTool.Type

// A function's by name (and namespace), or a hosted tool's (`{"type": "web_search"}`, `allowed_tools`, `mcp`...).
const WireToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  withRest({ type: Schema.String, name: maybe(Schema.String), namespace: maybe(Schema.String) })
]).annotate({ expected: `"auto", "none", "required" or {"type": "function", "name"}` })

const WireFormat = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["text", "json_object"]) }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    name: Schema.String,
    schema: JsonObjectSchema,
    description: maybe(Schema.String),
    strict: maybe(Schema.Boolean)
  })
]).annotate({ expected: "a text, json_object or json_schema format" })

/** The Responses body, as far as the gateway reads it. */
export const WireResponsesRequest = Schema.Struct({
  model: Schema.String,
  input: Schema.Union([Schema.String, Schema.Array(Item)]).annotate({ expected: "a string or an array of items" }),
  instructions: maybe(Schema.String),
  tools: maybe(Schema.Array(WireTool)),
  tool_choice: maybe(WireToolChoice),
  text: maybe(Schema.Struct({ format: maybe(WireFormat) })),
  reasoning: maybe(Schema.Struct({
    effort: maybe(ReasoningEffort),
    summary: maybe(Schema.Literals(["auto", "concise", "detailed"]))
  })),
  max_output_tokens: maybe(Schema.Number),
  max_tool_calls: maybe(Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0))),
  temperature: maybe(Schema.Number),
  top_p: maybe(Schema.Number),
  parallel_tool_calls: maybe(Schema.Boolean),
  store: maybe(Schema.Boolean),
  metadata: maybe(Schema.Record(Schema.String, Schema.String)),
  user: maybe(Schema.String),
  prompt_cache_key: maybe(Schema.String),
  service_tier: maybe(Schema.String),
  stream: maybe(Schema.Boolean),
  previous_response_id: maybe(Schema.String),
  /** What the response should carry besides its output (`reasoning.encrypted_content`...). */
  include: maybe(Schema.Array(Schema.String))
})

/** A checked Responses body. */
export type Body = typeof WireResponsesRequest.Type

/** The body of `POST /v1/responses/input_tokens`: a Responses body whose `model` and `input` may be left out. */
export const WireInputTokensRequest = Schema.Struct({
  ...WireResponsesRequest.fields,
  model: maybe(Schema.String),
  input: maybe(WireResponsesRequest.fields.input)
})

/** A checked `input_tokens` body. */
export type CountBody = typeof WireInputTokensRequest.Type

/**
 * The body of `POST /v1/responses/compact` (OpenAI's "Compact a response"): a Responses body whose `input` may be left
 * out (`previous_response_id` names the conversation); its response settings (`stream`, `store`...) are not read.
 */
export const WireCompactRequest = Schema.Struct({
  ...WireResponsesRequest.fields,
  input: maybe(WireResponsesRequest.fields.input)
})

/** A checked `compact` body. */
export type CompactBody = typeof WireCompactRequest.Type

/** An input item as the wire reads it. */
export type WireItem = typeof Item.Type
type WireContent = typeof Content.Type
// ---------------------------------------------------------------------------
// The request body: decoding

function textOf(content: WireContent): string {
  if (typeof content === "string") return content
  let out = ""
  for (const part of content) if (part.type === "input_text" || part.type === "output_text") out += part.text
  return out
}

// What is wrong with a message's content (`field`: a function_call_output's is its `output`), if anything: an image
// or a file by file id.
function contentRefusal(content: WireContent, at: string, field = "content"): Problem | undefined {
  if (typeof content === "string") return undefined
  for (let j = 0; j < content.length; j++) {
    const part = content[j]!
    const where = `${at}.${field}[${j}]`
    if (part.type === "input_image" && part.image_url == null) {
      return problem(`${where}.image_url`, "missing (this gateway takes images by URL or data URL, not by file_id)")
    }
    if (part.type === "input_file" && !part.file_data) {
      return problem(
        `${where}.file_data`,
        "missing (this gateway takes files by their bytes, not by file_url or file_id)"
      )
    }
  }
  return undefined
}

// A message's content, which `contentRefusal` took, as the library's.
function userContent(content: WireContent): string | ReadonlyArray<ContentPart> {
  if (typeof content === "string") return content
  const parts: Array<ContentPart> = []
  for (let j = 0; j < content.length; j++) {
    const part = content[j]!
    if (part.type === "input_text" || part.type === "output_text") parts.push({ type: "text", text: part.text })
    else if (part.type === "input_image" && part.image_url != null) {
      const url = part.image_url
      // `original` has no counterpart in the library's details: the provider's default applies.
      const detail = part.detail === "original" ? undefined : part.detail
      parts.push(detail == null ? { type: "image", url } : { type: "image", url, detail })
    } else if (part.type === "input_file" && part.file_data) {
      // Its name is not carried: Converse's document names take no dots, and no other API reads one.
      parts.push({ type: "image", url: part.file_data })
    }
  }
  return parts
}

// The assistant turn being built: the last message when it is the assistant's, and reasoning waiting for its turn.
interface Turn {
  readonly messages: Array<Message>
  reasoning: Array<typeof ReasoningItem.Type>
  /** The carried metadata of calls (`wire/carried.ts`), by call id. */
  readonly calls: Map<string, ProviderMetadata>
}

function newTurn(): Turn {
  return { messages: [], reasoning: [], calls: new Map() }
}

// A carrier of the gateway's: its reply's metadata back on the last assistant message, its calls' kept for theirs.
function carriedInto(carried: Carried, turn: Turn): void {
  for (const [id, metadata] of Object.entries(carried.calls ?? {})) turn.calls.set(id, metadata)
  if (carried.message === undefined) return
  for (let i = turn.messages.length - 1; i >= 0; i--) {
    const message = turn.messages[i]!
    if (message.role !== "assistant") continue
    turn.messages[i] = { ...message, providerMetadata: { ...message.providerMetadata, ...carried.message } }
    return
  }
}

function reasoningOf(items: ReadonlyArray<typeof ReasoningItem.Type>): Partial<Mutable<AssistantMessage>> {
  if (items.length === 0) return {}
  const summaries = items.flatMap((item) => item.summary.map((part) => part.text))
  const kept = items.flatMap((item) => {
    const one = keptReasoning(item, false)
    return one === undefined ? [] : [one]
  })
  const metadata = metadataOf(kept)
  return {
    ...(summaries.length > 0 ? { reasoning: summaries.join(reasoningSeparator) } : {}),
    ...(metadata !== undefined ? { providerMetadata: metadata } : {})
  }
}

// The assistant message an item of the assistant's adds to: the last one, unless reasoning opens a new turn.
function assistantOf(turn: Turn): Mutable<AssistantMessage> {
  const last = turn.messages[turn.messages.length - 1]
  if (turn.reasoning.length === 0 && last?.role === "assistant") return last as Mutable<AssistantMessage>
  const message: Mutable<AssistantMessage> = { role: "assistant", content: "", ...reasoningOf(turn.reasoning) }
  turn.reasoning = []
  turn.messages.push(message)
  return message
}

// An item after a message's text and calls opens a message of its own, as the adapter sends a message's other items
// before those (a `compaction_trigger` after the assistant's answer stays last).
function otherItemsOf(turn: Turn): Mutable<AssistantMessage> {
  const last = turn.messages[turn.messages.length - 1]
  if (
    turn.reasoning.length > 0 || last?.role !== "assistant" || (last.content === "" && last.toolCalls === undefined)
  ) {
    return assistantOf(turn)
  }
  const message: Mutable<AssistantMessage> = { role: "assistant", content: "" }
  turn.messages.push(message)
  return message
}

/** An input item of a type this library models (not `isOtherItem`). */
export type KnownItem =
  | typeof MessageItem.Type
  | typeof FunctionCallItem.Type
  | typeof FunctionCallOutputItem.Type
  | typeof ReasoningItem.Type

/** The types of a compaction item (`compaction_summary` is an older name of `compaction`). */
const compactionTypes: ReadonlySet<string> = new Set(["compaction", "compaction_summary"])

/**
 * The summary a `compaction` item of the gateway's carries (`wire/carried.ts`); undefined for any other item, and for
 * a Responses deployment's own compaction item, whose content only it can read.
 */
export function summaryOf(wire: WireItem): string | undefined {
  if (typeof wire.type !== "string" || !compactionTypes.has(wire.type)) return undefined
  return opened((wire as JsonObject)["encrypted_content"] as string | undefined)?.summary
}

/**
 * Whether a body asks for encrypted content (`include: ["reasoning.encrypted_content"]`) or replays some (an input item
 * with its `encrypted_content`), which only the organisation that made it reads back.
 */
export function holdsEncrypted(body: Pick<CountBody, "include" | "input">): boolean {
  if (body.include?.includes("reasoning.encrypted_content") === true) return true
  const input = body.input
  return Array.isArray(input) &&
    input.some((item) => typeof (item as JsonObject)["encrypted_content"] === "string")
}

/** The user message a compacted conversation's summary stands as, in place of the conversation. */
export function summaryMessage(summary: string): Message {
  return { role: "user", content: `${summaryPreamble}\n\n${summary}` }
}

const summaryPreamble = "The conversation before this point was compacted into the summary below, written for you " +
  "to take over the work from it: rely on it as on the turns it replaces."

/**
 * Whether an item is of a type only a Responses deployment takes (a hosted tool's call, a custom tool's output, a
 * compaction item of its own...); a compaction item of the gateway's is read by every deployment.
 */
export function isOtherItem(wire: WireItem): wire is typeof OtherItem.Type {
  return typeof wire.type === "string" && !modelledItems.has(wire.type) && summaryOf(wire) === undefined
}

function item(wire: WireItem, at: string, turn: Turn): Problem | undefined {
  const summary = summaryOf(wire)
  if (summary !== undefined) {
    turn.messages.push(summaryMessage(summary))
    return undefined
  }
  if (isOtherItem(wire)) {
    // Kept on the assistant's turn as the library's Responses adapter sends such items back, in order.
    const message = otherItemsOf(turn)
    message.providerMetadata = withOutputItem(message.providerMetadata, wire)
    return undefined
  }
  return knownItem(wire as KnownItem, at, turn)
}

function knownItem(wire: KnownItem, at: string, turn: Turn): Problem | undefined {
  switch (wire.type) {
    case "function_call": {
      const message = assistantOf(turn)
      const call: ToolCall = { id: wire.call_id, name: nameOf(wire.name, wire.namespace), arguments: wire.arguments }
      message.toolCalls = [...(message.toolCalls ?? []), call]
      return undefined
    }
    case "function_call_output": {
      // An output of parts keeps them (its text and images), as a user message's content does.
      const refused = contentRefusal(wire.output, at, "output")
      if (refused !== undefined) return refused
      turn.messages.push({ role: "tool", toolCallId: wire.call_id, content: userContent(wire.output) })
      return undefined
    }
    case "reasoning": {
      const carried = opened(wire.encrypted_content)
      if (carried === undefined) turn.reasoning.push(wire)
      else carriedInto(carried, turn)
      return undefined
    }
    default:
      break
  }
  switch (wire.role) {
    case "system":
    case "developer":
      turn.messages.push({ role: "system", content: textOf(wire.content) })
      return undefined
    case "user": {
      const refused = contentRefusal(wire.content, at)
      if (refused !== undefined) return refused
      turn.messages.push({ role: "user", content: userContent(wire.content) })
      return undefined
    }
    case "assistant": {
      const message = assistantOf(turn)
      // Text after the turn's tool calls is a new message: a provider reads a turn's text before its calls.
      if (message.toolCalls !== undefined) {
        turn.messages.push({ role: "assistant", content: textOf(wire.content) })
      } else {
        message.content += textOf(wire.content)
      }
      return undefined
    }
  }
}

// `metadata` with `item` after the output items it keeps (`outputItemsOf`).
function withOutputItem(metadata: ProviderMetadata | undefined, item: JsonObject): ProviderMetadata {
  const entry = metadata?.[metadataKey]
  return {
    ...metadata,
    [metadataKey]: { ...(isJsonObject(entry) ? entry : {}), outputItems: [...outputItemsOf(metadata), item] }
  }
}

/** Whether a tool choice is a hosted tool's (any but a function's). */
export function isHostedChoice(
  choice: typeof WireToolChoice.Type | null | undefined
): choice is Exclude<typeof WireToolChoice.Type, string> {
  return typeof choice === "object" && choice !== null && choice.type !== "function"
}

function toolChoice(choice: typeof WireToolChoice.Type): Result.Result<ToolChoice, Problem> {
  if (typeof choice === "string") return Result.succeed(choice)
  if (choice.name == null) {
    return Result.fail(problem("tool_choice.name", "missing"))
  }
  return Result.succeed({ tool: nameOf(choice.name, choice.namespace) })
}

// The messages of `items` (a body's input, a stored response's output) folded into `turn`.
function itemsInto(items: ReadonlyArray<WireItem>, turn: Turn): Problem | undefined {
  for (let i = 0; i < items.length; i++) {
    const refused = item(items[i]!, `input[${i}]`, turn)
    if (refused !== undefined) return refused
  }
  restoreCalls(turn.messages, turn.calls)
  return undefined
}

/** The messages of a body's `input`: a string is one user message; each item in place. */
export function inputMessages(body: CountBody): Result.Result<Array<Message>, Problem> {
  if (body.input == null) return Result.succeed([])
  if (typeof body.input === "string") return Result.succeed([{ role: "user", content: body.input }])
  const turn = newTurn()
  const refused = itemsInto(body.input, turn)
  return refused === undefined ? Result.succeed(turn.messages) : Result.fail(refused)
}

const checkItem = checker(Item, { errors: "first" })

/**
 * The messages of a response's output items, as a later turn replays them (an item that is not one the gateway
 * reads, which it never renders, is left out).
 */
export function outputMessages(output: ReadonlyArray<unknown>): Array<Message> {
  const items: Array<WireItem> = []
  for (const one of output) {
    const checked = checkItem(one)
    if (Result.isSuccess(checked)) items.push(checked.success)
  }
  const turn = newTurn()
  itemsInto(items, turn)
  return turn.messages
}

/** A body's tools with their namespaces flattened (`namespace.ts`), or the problem with a qualified name. */
export function flatTools(body: CountBody): Result.Result<Flattened<FlatTool>, Problem> {
  const placed = (body.tools ?? []).map((tool, i) => ({ tool, at: `tools[${i}]` }))
  return flatten<FlatTool | typeof NamespaceTool.Type>(placed) as Result.Result<Flattened<FlatTool>, Problem>
}

/**
 * A checked body as the engine's request: `instructions` (which a later turn does not inherit), then `conversation`
 * (an earlier response's, then the input's); or what is wrong with it (a tool type it cannot run).
 */
export function toRequest(
  body: CountBody,
  conversation: ReadonlyArray<Message>,
  tools: ReadonlyArray<Placed<FlatTool>>
): Result.Result<ChatRequest, Problem> {
  const instructions = body.instructions
  const messages = instructions == null
    ? conversation
    : [{ role: "system" as const, content: instructions }, ...conversation]
  const request: Mutable<ChatRequest> = { messages }
  const definitions: Array<ToolDefinition> = []
  for (const { at, tool: one } of tools) {
    if (one.type !== "function") continue
    if (one.name == null) {
      return Result.fail(problem(`${at}.name`, "missing"))
    }
    definitions.push(functionTool({ ...one, name: one.name }))
  }
  if (definitions.length > 0) request.tools = definitions
  // The whole list (namespaces flattened), and a hosted tool's choice, for the Responses deployment the route checked
  // it has.
  const passed: Record<string, unknown> = {}
  if (definitions.length < tools.length) {
    passed["tools"] = tools.map((placed) => placed.tool)
    // The bound on the hosted tools' calls goes with them.
    set(passed, "max_tool_calls", body.max_tool_calls)
  }
  const choice = body.tool_choice
  if (isHostedChoice(choice)) passed["tool_choice"] = choice
  else if (choice != null) {
    const chosen = toolChoice(choice)
    if (Result.isFailure(chosen)) return Result.fail(chosen.failure)
    request.toolChoice = chosen.success
  }
  if (Object.keys(passed).length > 0) request.providerOptions = passed
  set(request, "parallelToolCalls", body.parallel_tool_calls)
  const format = body.text?.format
  if (format != null) {
    request.responseFormat = responseFormatOf(
      format.type === "json_schema" ? { type: format.type, json_schema: format } : format
    )
  }
  set(request, "reasoningEffort", body.reasoning?.effort)
  set(request, "maxTokens", body.max_output_tokens)
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "user", body.user)
  set(request, "promptCacheKey", body.prompt_cache_key)
  set(request, "serviceTier", body.service_tier)
  return Result.succeed(request)
}

/** `WireResponsesRequest`'s check: a parsed body as itself (not a copy), or what the schema finds wrong with it. */
export const checkBody = checker(WireResponsesRequest, { errors: "first" })

/** `WireInputTokensRequest`'s check, as `checkBody`. */
export const checkCountBody = checker(WireInputTokensRequest, { errors: "first" })

/** `WireCompactRequest`'s check, as `checkBody`. */
export const checkCompactBody = checker(WireCompactRequest, { errors: "first" })

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  topP: "top_p",
  maxTokens: "max_output_tokens",
  toolChoice: "tool_choice",
  responseFormat: "text.format",
  reasoningEffort: "reasoning.effort"
}

/**
 * A path of the engine's request as the Responses body writes it: `maxTokens` is `max_output_tokens`,
 * `responseFormat` `text.format`; a message's path is `input` (items and messages do not map one to one).
 */
export function responsesPath(path: string): string {
  return path.startsWith("messages")
    ? "input"
    : path.replace(/^(topP|maxTokens|toolChoice|responseFormat|reasoningEffort)\b/, (name) => renamed[name]!)
}

// ---------------------------------------------------------------------------
// The request body: encoding

function encodeInputPart(part: ContentPart, where: string): JsonObject {
  if (part.type === "text") return { type: "input_text", text: part.text }
  if (requireMediaKind(part, where, "the Responses API", ["image", "pdf"]) === "pdf") {
    return { type: "input_file", ...pdfFile(part, where, "this gateway sends the Responses API a PDF's bytes only") }
  }
  // `detail` is required by the API's input image type.
  return { type: "input_image", image_url: part.url, detail: part.detail ?? "auto" }
}

// The items under `field` of this API's entry in `metadata`.
function keptItems(metadata: ProviderMetadata | undefined, field: string): ReadonlyArray<unknown> {
  const entry = metadata?.[metadataKey]
  if (!isJsonObject(entry)) return []
  const items = entry[field]
  return Array.isArray(items) ? items : []
}

/** The reasoning items an earlier reply left in its provider metadata, to send back first. */
export function reasoningItemsOf(metadata: ProviderMetadata | undefined): ReadonlyArray<unknown> {
  return keptItems(metadata, "reasoningItems")
}

/**
 * The output items of types this library does not model (hosted tool calls, non-function client tool calls, with
 * their outputs) that an earlier reply left in its provider metadata, in order, to send back as they came.
 */
export function outputItemsOf(metadata: ProviderMetadata | undefined): ReadonlyArray<OutputItem> {
  return keptItems(metadata, "outputItems").filter(isTyped)
}

// An item kept to pass on as it came: an object naming its type.
function isTyped(value: unknown): value is OutputItem {
  return isJsonObject(value) && typeof value["type"] === "string"
}

function assistantItems(message: AssistantMessage, items: Array<unknown>): void {
  const calls = message.toolCalls ?? []
  const others = outputItemsOf(message.providerMetadata)
  // Reasoning first: the API pairs each reasoning item with the items that follow it, and refuses one followed by
  // nothing, as a reply cut off while reasoning would leave it.
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
export function input(
  messages: ChatRequest["messages"],
  from = 0
): { instructions: string | undefined; items: Array<unknown> } {
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
            : message.content.map((part, j) => encodeInputPart(part, `messages[${index}].content[${j}]`))
        })
        break
      case "assistant":
        assistantItems(message, items)
        break
      case "tool":
        items.push({
          type: "function_call_output",
          call_id: message.toolCallId,
          output: typeof message.content === "string"
            ? message.content
            : message.content.map((part, j) => encodeInputPart(part, `messages[${index}].content[${j}]`))
        })
    }
  }
  return { instructions, items }
}

// The Responses API treats an absent `strict` as true; the domain's default is off.
function encodeTool(tool: ToolDefinition): JsonObject {
  return { type: "function", ...toolDeclaration(tool, "parameters"), strict: tool.strict ?? false }
}

function encodeToolChoice(choice: ToolChoice): unknown {
  return typeof choice === "string" ? choice : { type: "function", name: choice.tool }
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
export function previousFor(
  request: ChatRequest,
  context: { readonly provider: string; readonly keyId: string; readonly store: boolean }
): PreviousResponse | undefined {
  const previous = request.previousResponse
  return context.store && previous !== undefined && previous.provider === context.provider &&
      previous.keyId === context.keyId && previous.messages <= request.messages.length
    ? previous
    : undefined
}

// Function tools, or the tools of other types the request passes on as they came (`toRequest`).
function offersTools(request: ChatRequest): boolean {
  const passed = request.providerOptions?.["tools"]
  return (request.tools?.length ?? 0) > 0 || (Array.isArray(passed) && passed.length > 0)
}

/** The least `max_output_tokens` the Responses API takes (its reference); a smaller limit is sent as this one. */
export const minMaxOutputTokens = 16

/**
 * The JSON body of `POST /responses`; `providerOptions` are merged last, so they win. `stop` and `seed` have no
 * Responses counterpart. No tools means no `tool_choice` nor `parallel_tool_calls`; `max_output_tokens` is at least
 * 16, the API's least; a reasoning model (`fixedSampling`) refuses `temperature` and `top_p`, so they are left out.
 */
export function requestBody(request: ChatRequest, options: BodyOptions): JsonObject {
  const { previous } = options
  const { instructions, items } = input(request.messages, previous?.messages)
  const body: JsonObject = { model: options.model }
  if (instructions !== undefined) body["instructions"] = instructions
  if (previous !== undefined) body["previous_response_id"] = previous.id
  body["input"] = items
  body["store"] = options.store
  if (!fixedSampling(options.model)) {
    if (request.temperature !== undefined) body["temperature"] = request.temperature
    if (request.topP !== undefined) body["top_p"] = request.topP
  }
  if (request.maxTokens !== undefined) body["max_output_tokens"] = Math.max(request.maxTokens, minMaxOutputTokens)
  if (request.tools !== undefined && request.tools.length > 0) body["tools"] = request.tools.map(encodeTool)
  if (offersTools(request)) {
    if (request.toolChoice !== undefined) body["tool_choice"] = encodeToolChoice(request.toolChoice)
    if (request.parallelToolCalls !== undefined) body["parallel_tool_calls"] = request.parallelToolCalls
  }
  if (request.responseFormat !== undefined) body["text"] = { format: encodeFormat(request.responseFormat, false) }
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
  if (request.serviceTier !== undefined) body["service_tier"] = request.serviceTier
  if (options.stream) body["stream"] = true
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  // Hosted tools are billed per call: a request with them and no bound of its own makes no more calls than a budget
  // reserved (`Pricing.estimate`).
  const tools = body["tools"]
  if (
    body["max_tool_calls"] === undefined && Array.isArray(tools) &&
    tools.some((tool) => isJsonObject(tool) && hostedTypes.has(tool["type"] as string))
  ) body["max_tool_calls"] = defaultMaxToolCalls
  return body
}

/** The fields of a Responses body `POST /v1/responses/input_tokens` counts (OpenAI's "Get input token counts"). */
const countedFields = [
  "model",
  "instructions",
  "input",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "text",
  "reasoning"
] as const

/** A `POST /v1/responses/input_tokens` body for `request`: its whole conversation, with no kept response. */
export function countBody(request: ChatRequest, model: string): JsonObject {
  return pickDefined(requestBody(request, { model, stream: false, store: false }), countedFields)
}

/** A `POST /v1/responses/input_tokens` reply: the input's `tokens`. */
export const countReply = (tokens: number): string =>
  JSON.stringify({ object: "response.input_tokens", input_tokens: tokens })

/** The count of an `input_tokens` reply; throws `ShapeError` when it has none. */
export const countOf = (body: JsonObject): number => countAt(body, "input_tokens")

// ---------------------------------------------------------------------------
// The response object: its schema and its writers

const OutputText = Schema.Struct({
  type: Schema.Literal("output_text"),
  text: Schema.String,
  annotations: Schema.Array(Schema.Unknown),
  logprobs: Schema.optional(Schema.Array(Schema.Unknown))
})

const RefusalPart = Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String })

const SummaryText = Schema.Struct({ type: Schema.Literal("summary_text"), text: Schema.String })

const ItemStatus = Schema.Literals(["in_progress", "completed", "incomplete"])

export type ItemStatus = typeof ItemStatus.Type

const MessageOutput = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("message"),
  status: ItemStatus,
  role: Schema.Literal("assistant"),
  content: Schema.Array(Schema.Union([OutputText, RefusalPart]))
})

const FunctionCallOutput = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("function_call"),
  status: ItemStatus,
  arguments: Schema.String,
  call_id: Schema.String,
  name: Schema.String,
  namespace: Schema.optional(Schema.String)
})

const ReasoningOutput = Schema.Struct({
  id: Schema.String,
  type: Schema.Literal("reasoning"),
  summary: Schema.Array(SummaryText),
  encrypted_content: maybe(Schema.String)
})

const OutputItem = Schema.Union([MessageOutput, FunctionCallOutput, ReasoningOutput, OtherItem])

/** An output item as the wire writes it; one of another type (a hosted tool's call) is passed on as it came. */
export type OutputItem = typeof OutputItem.Encoded

const Tokens = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

const ResponseUsage = Schema.Struct({
  input_tokens: Tokens,
  input_tokens_details: Schema.Struct({ cached_tokens: Tokens }),
  output_tokens: Tokens,
  output_tokens_details: Schema.Struct({ reasoning_tokens: Tokens }),
  total_tokens: Tokens
})

const ResponseStatus = Schema.Literals(["in_progress", "completed", "incomplete", "failed", "cancelled", "queued"])

/** The response object, as far as the library reads and writes it (the settings it echoes are `echoOf`'s). */
export const ResponseObject = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("response"),
  created_at: Schema.Number,
  status: ResponseStatus,
  completed_at: maybe(Schema.Number),
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String })),
  incomplete_details: Schema.NullOr(Schema.Struct({ reason: Schema.String })),
  model: Schema.String,
  output: Schema.Array(OutputItem),
  usage: Schema.NullOr(ResponseUsage)
})

/** A response object as the wire writes it. */
export type ResponseObject = typeof ResponseObject.Encoded & JsonObject

/** A response's status, and why it is incomplete when it is: the finish reason, which the API does not send. */
export function statusOf(
  reason: FinishReason
): { readonly status: "completed" | "incomplete"; readonly incomplete: { readonly reason: string } | null } {
  return reason === "length"
    ? { status: "incomplete", incomplete: { reason: "max_output_tokens" } }
    : reason === "content_filter"
    ? { status: "incomplete", incomplete: { reason: "content_filter" } }
    : { status: "completed", incomplete: null }
}

/** The token counts `usageObject` writes (the library's `Usage`, or the simulator's). */
export type UsageCounts = Pick<
  Usage,
  "promptTokens" | "completionTokens" | "totalTokens" | "cachedPromptTokens" | "reasoningTokens" | "serviceTier"
>

/** Usage as the Responses API reports it. */
export function usageObject(usage: UsageCounts): typeof ResponseUsage.Encoded {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedPromptTokens },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.totalTokens
  }
}

/** The settings a response echoes, as a request set them: a Responses body, or what the simulator read of one. */
export type Echoed = Omit<Body, "model" | "input" | "stream" | "reasoning"> & {
  readonly reasoning?:
    | { readonly effort?: string | null | undefined; readonly summary?: string | null | undefined }
    | null
    | undefined
}

function orNull<A>(value: A | null | undefined): A | null {
  return value ?? null
}

/** The request's settings as a response echoes them (`Outcome.echo`), OpenAI's defaults where the body has none. */
export function echoOf(body: Echoed): JsonObject {
  return {
    instructions: orNull(body.instructions),
    max_output_tokens: orNull(body.max_output_tokens),
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: orNull(body.previous_response_id),
    prompt_cache_key: orNull(body.prompt_cache_key),
    reasoning: { effort: orNull(body.reasoning?.effort), summary: orNull(body.reasoning?.summary) },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: "text" } },
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: "disabled",
    user: orNull(body.user)
  }
}

/** What a response object says of its run: where it stands, what it holds, and why it failed or stopped. */
export interface Outcome {
  readonly id: string
  /** The seconds of its creation. */
  readonly createdAt: number
  readonly status: typeof ResponseStatus.Type
  readonly model: string
  readonly output: ReadonlyArray<OutputItem>
  readonly usage: UsageCounts | undefined
  /** The request's settings as the response echoes them. */
  readonly echo: JsonObject
  readonly error?: { readonly code: string; readonly message: string } | undefined
  readonly incomplete?: { readonly reason: string } | null | undefined
  /** The seconds of its completion, once it has completed. */
  readonly completedAt?: number | null | undefined
}

/** A `response` object as `outcome` says. */
export function responseObject(outcome: Outcome): ResponseObject {
  return {
    id: outcome.id,
    object: "response",
    created_at: outcome.createdAt,
    status: outcome.status,
    ...(outcome.completedAt !== undefined ? { completed_at: outcome.completedAt } : {}),
    error: outcome.error ?? null,
    incomplete_details: outcome.incomplete ?? null,
    model: outcome.model,
    output: outcome.output,
    ...outcome.echo,
    usage: outcome.usage === undefined ? null : usageObject(outcome.usage),
    // The tier the call was served at, where it was not the standard one (a request's own is echoed above).
    ...(outcome.usage?.serviceTier === undefined ? {} : { service_tier: outcome.usage.serviceTier })
  }
}

export function outputText(text: string): typeof OutputText.Encoded {
  return { type: "output_text", text, annotations: [], logprobs: [] }
}

export function summaryText(text: string): typeof SummaryText.Encoded {
  return { type: "summary_text", text }
}

export function refusalPart(refusal: string): typeof RefusalPart.Encoded {
  return { type: "refusal", refusal }
}

/** The assistant's `message` item `id` of `content` parts. */
export function messageItem(
  id: string,
  status: ItemStatus,
  content: ReadonlyArray<typeof OutputText.Encoded | typeof RefusalPart.Encoded>
): typeof MessageOutput.Encoded {
  return { id, type: "message", status, role: "assistant", content }
}

/**
 * The name a `function_call` item of a reply calls, qualified by its `namespace` when it has one (`namespace.ts`);
 * empty when it names none.
 */
export function callNameOf(item: JsonObject): string {
  const name = optionalString(item["name"], "function_call.name") ?? ""
  return nameOf(name, optionalString(item["namespace"], "function_call.namespace"))
}

/** The `function_call` item `id` of `call`, named as `fields` name it (a namespace's function with its namespace). */
export function functionCallItem(
  id: string,
  status: ItemStatus,
  call: ToolCall,
  fields: { readonly name: string; readonly namespace?: string }
): typeof FunctionCallOutput.Encoded {
  return { id, type: "function_call", status, arguments: call.arguments, call_id: call.id, ...fields }
}

/** The output item `id` of a call of the hosted tool `tool` (a `web_search_call`...), as a server writes one. */
export function hostedCallItem(id: string, tool: string, status: ItemStatus): OutputItem {
  return { id, type: callItemType(tool), status }
}

/** The `reasoning` item `id` of `summary`, with its `encrypted_content` when it has one. */
export function reasoningItem(
  id: string,
  summary: ReadonlyArray<typeof SummaryText.Encoded>,
  encrypted?: string | null
): typeof ReasoningOutput.Encoded {
  return encrypted === undefined
    ? { id, type: "reasoning", summary }
    : { id, type: "reasoning", summary, encrypted_content: encrypted }
}

// ---------------------------------------------------------------------------
// The response object: its reader

const usageFields = openAiUsageFields("input", "output")

/** Usage from `response.usage` and the response's `service_tier`; undefined when it is not an object. */
export function usage(value: unknown, serviceTier?: unknown): Usage | undefined {
  return openAiUsage(value, usageFields, serviceTier)
}

/**
 * The finish reason, which the API does not send: an incomplete response says why; one with function calls stopped
 * for them; anything else stopped.
 */
export function finishReason(response: JsonObject, hasToolCalls: boolean): FinishReason {
  if (response["status"] === "incomplete") {
    const details = response["incomplete_details"]
    const reason = isJsonObject(details) ? details["reason"] : undefined
    return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content_filter" : "other"
  }
  return hasToolCalls ? "tool_calls" : "stop"
}

/** A failed response's (or a bare `{error}` body's) error payload, shaped for `fromHttpFailure`. */
export function failureOf(response: JsonObject): JsonObject | undefined {
  const error = response["error"]
  if (isJsonObject(error)) return { error }
  if (response["status"] === "failed") return { error: { message: "the response failed without an error" } }
  return undefined
}

/** Separates reasoning summary parts, in whole replies and streams alike. */
export const reasoningSeparator = "\n\n"

/** The reasoning text of a reasoning item: its summary parts, or raw `reasoning_text` content. */
function reasoningTexts(item: JsonObject, out: Array<string>): void {
  for (const field of ["summary", "content"] as const) {
    const parts = item[field]
    if (!Array.isArray(parts)) continue
    for (const part of parts) {
      if (isJsonObject(part) && typeof part["text"] === "string") out.push(part["text"])
    }
  }
}

/**
 * A reasoning item as it is sent back: with `store`, by id, with its encrypted content when it has one. Without
 * `store`, only an item with encrypted content, sent without its id: that points at nothing stored, and servers reject
 * it ("Items are not persisted when `store` is set to false"), while the encrypted content carries the reasoning.
 */
export function keptReasoning(item: JsonObject, store: boolean): JsonObject | undefined {
  const id = item["id"]
  const encrypted = item["encrypted_content"]
  const summary = Array.isArray(item["summary"]) ? item["summary"] : []
  if (!store) {
    return typeof encrypted === "string" ? { type: "reasoning", summary, encrypted_content: encrypted } : undefined
  }
  if (typeof id !== "string") return undefined
  const kept: JsonObject = { type: "reasoning", id, summary }
  if (typeof encrypted === "string") kept["encrypted_content"] = encrypted
  return kept
}

/** Whether an output item is of a type this library reads (text, function calls, reasoning). */
export function isModelled(type: unknown): boolean {
  return type === "message" || type === "function_call" || type === "reasoning"
}

/** `providerMetadata` of the reasoning items, other output items (`outputItemsOf`) and `storedOf`, if any. */
export function metadataOf(
  reasoningItems: ReadonlyArray<JsonObject>,
  outputItems: ReadonlyArray<JsonObject> = [],
  stored = false
): ProviderMetadata | undefined {
  return reasoningItems.length === 0 && outputItems.length === 0 && !stored ? undefined : {
    [metadataKey]: {
      ...(reasoningItems.length > 0 ? { reasoningItems } : {}),
      ...(outputItems.length > 0 ? { outputItems } : {}),
      ...(stored ? { stored } : {})
    }
  }
}

/**
 * Whether the API keeps a reply under its id, so that a later call may continue it (`ChatRequest.previousResponse`):
 * it was asked to (`store`), and its response object does not say otherwise.
 */
export function keptUpstream(response: JsonObject, store: boolean): boolean {
  return store && response["store"] !== false
}

/** Whether a reply's `providerMetadata` says the API keeps it under its id (`keptUpstream`). */
export function storedOf(metadata: ProviderMetadata | undefined): boolean {
  const entry = metadata?.[metadataKey]
  return isJsonObject(entry) && entry["stored"] === true
}

/** Reads a response object (whole, or from a terminal stream event); throws `ShapeError` when it is not one. */
export function reply(response: JsonObject, store: boolean): Reply {
  const output = requireArray(response["output"], "output")
  let text = ""
  let refusal: string | undefined
  const reasoning: Array<string> = []
  const reasoningItems: Array<JsonObject> = []
  const toolCalls: Array<ToolCall> = []
  const outputItems: Array<JsonObject> = []
  for (const item of output) {
    if (!isJsonObject(item)) throw new ShapeError("an output item is not an object")
    if (!isModelled(item["type"])) outputItems.push(item)
    switch (item["type"]) {
      case "message": {
        const content = requireArray(item["content"], "a message item's content")
        for (const part of content) {
          if (!isJsonObject(part)) continue
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
          name: callNameOf(item),
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
    usage: withHostedCalls(
      usage(response["usage"], response["service_tier"]),
      hostedCalls(outputItems, response["tools"])
    ),
    providerMetadata: metadataOf(reasoningItems, outputItems, keptUpstream(response, store))
  }
}

/**
 * The calls of hosted tools among a response's output items, by tool type: `web_search_call` is `web_search`'s, or
 * `web_search_preview`'s when the response's echoed `tools` have that one and not the other.
 */
export function hostedCalls(items: ReadonlyArray<JsonObject>, tools: unknown): Readonly<Record<string, number>> {
  const echoed = new Set(Array.isArray(tools) ? tools.map((tool) => isJsonObject(tool) ? tool["type"] : undefined) : [])
  const search = echoed.has("web_search_preview") && !echoed.has("web_search") ? "web_search_preview" : "web_search"
  const calls: Record<string, number> = {}
  for (const item of items) {
    const type = item["type"]
    if (typeof type !== "string" || !type.endsWith("_call")) continue
    const tool = type === "web_search_call" ? search : type.slice(0, -"_call".length)
    if (hostedTypes.has(tool)) calls[tool] = (calls[tool] ?? 0) + 1
  }
  return calls
}

/**
 * `usage` with the hosted tools' calls. A reply with calls and no usage still carries them, on a usage of no tokens,
 * which the `Llm` estimates and keeps the calls of.
 */
function withHostedCalls(
  counted: Usage | undefined,
  calls: Readonly<Record<string, number>>
): Usage | undefined {
  if (Object.keys(calls).length === 0) return counted
  return { ...(counted ?? emptyUsage), hostedToolCalls: calls }
}
// ---------------------------------------------------------------------------
// The stream's events

const At = { item_id: Schema.String, output_index: Schema.Number }
const InContent = { ...At, content_index: Schema.Number }
const InSummary = { ...At, summary_index: Schema.Number }
const Logprobs = { logprobs: Schema.optional(Schema.Array(Schema.Unknown)) }

// The event (or events) named `type`: its name, its number and `fields`.
function event<const T extends string, F extends Schema.Struct.Fields>(type: T | readonly [T, ...Array<T>], fields: F) {
  return Schema.Struct({
    type: typeof type === "string" ? Schema.Literal(type) : Schema.Literals(type),
    sequence_number: Schema.Number,
    ...fields
  })
}

/** The stream's events the library reads or writes; unknown events and fields are the reader's to skip. */
export const StreamEvent = Schema.Union([
  event([
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.completed",
    "response.incomplete",
    "response.failed"
  ], { response: ResponseObject }),
  event(["response.output_item.added", "response.output_item.done"], { output_index: Schema.Number, item: OutputItem }),
  event(["response.content_part.added", "response.content_part.done"], {
    ...InContent,
    part: Schema.Union([OutputText, RefusalPart])
  }),
  event(["response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta"], {
    ...InContent,
    delta: Schema.String,
    ...Logprobs
  }),
  event("response.output_text.done", { ...InContent, text: Schema.String, ...Logprobs }),
  event("response.refusal.done", { ...InContent, refusal: Schema.String }),
  event(["response.reasoning_summary_part.added", "response.reasoning_summary_part.done"], {
    ...InSummary,
    part: SummaryText
  }),
  event("response.reasoning_summary_text.delta", { ...InSummary, delta: Schema.String }),
  event("response.reasoning_summary_text.done", { ...InSummary, text: Schema.String }),
  event("response.function_call_arguments.delta", { ...At, delta: Schema.String }),
  event("response.function_call_arguments.done", {
    ...At,
    arguments: Schema.String,
    name: Schema.optional(Schema.String)
  }),
  event("response.custom_tool_call_input.delta", { ...At, delta: Schema.String }),
  event("response.custom_tool_call_input.done", { ...At, input: Schema.String }),
  // The fields are top-level, not under `error`.
  event("error", { code: Schema.NullOr(Schema.String), message: Schema.String, param: Schema.NullOr(Schema.String) })
])

/** A stream event as the wire writes it. */
export type StreamEvent = typeof StreamEvent.Encoded

/** A stream event's name. */
export type EventType = StreamEvent["type"]

/** The fields of the event named `T`, besides its name and number. */
export type EventFields<T extends EventType> = StreamEvent extends infer E
  ? E extends StreamEvent ? T extends E["type"] ? Omit<E, "type" | "sequence_number"> : never : never
  : never

/** One event's data as the stream sends it (the event is named `type`): its `type`, `sequence_number` and `fields`. */
export function eventData<T extends EventType>(type: T, sequence: number, fields: EventFields<T>): string {
  return JSON.stringify({ type, sequence_number: sequence, ...fields })
}
