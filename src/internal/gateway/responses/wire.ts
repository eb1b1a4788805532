/**
 * The gateway's Responses request body: `POST /v1/responses` (OpenAI's Responses API reference), its text parsed as
 * JSON and checked against an Effect Schema of the wire (snake_case, unknown fields ignored, `null` taken as unset),
 * then turned into the library's `ChatRequest`, whatever deployment answers it. A body that does not fit is a
 * `Problem` naming the field (`input[2].role`), answered in OpenAI's error shape.
 *
 * The mapping: `instructions` and `system`/`developer` messages become system messages, in place; `input` as a
 * string is one user message; a user message's `input_text` and `input_image` parts its content; an assistant
 * message's text, the `function_call` items after it (its tool calls, by `call_id`) and the `reasoning` item before
 * it (its summaries as the reasoning) make one assistant message; a `function_call_output` is a tool message. A
 * reasoning item's `encrypted_content` is kept in the message's provider metadata as the library's Responses adapter
 * reads it, so a Responses deployment gets it back unchanged and every other one leaves it out; a reasoning item the
 * gateway made to carry another provider's state (`carried.ts`) gives that state back. `tools` are function
 * tools; the other types (`web_search`, `file_search`, `mcp`, `computer_use_preview`, custom tools...), a hosted
 * tool's `tool_choice` and input items of other types (their calls and outputs) are what only a Responses deployment
 * runs (`responses/hosted.ts`): the route refuses them, naming them, for a model that reaches any other, and
 * otherwise they go to it as they came (the tools and the choice in the request's `providerOptions`, the items in
 * the assistant's provider metadata as the library's Responses adapter sends them back). `text.format` is the
 * response format, `reasoning.effort` the effort, `max_output_tokens` the reply's limit, `user` the end-user id,
 * `prompt_cache_key` the request's `promptCacheKey`; `previous_response_id` puts a stored response's conversation
 * before the input (`responses/store.ts`). Accepted and echoed, not carried: `metadata`, `parallel_tool_calls`,
 * `reasoning.summary` (a Responses deployment asks for summaries with any effort).
 */
import * as Schema from "effect/Schema"
import type { Input as ChatRequest, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import { ReasoningEffort } from "../../../ChatRequest.js"
import type {
  AssistantMessage,
  ContentPart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition
} from "../../../Message.js"
import { functionTool } from "../../codec/openAiChat.js"
import {
  isRecord,
  type JsonRecord,
  keptReasoning,
  metadataKey,
  metadataOf,
  outputItemsOf,
  reasoningSeparator
} from "../../providers/openAiResponses/wire.js"
import { checker, maybe, Problem, Refused, set } from "../../schemaCheck.js"
import { type Carried, opened, restoreCalls } from "../carried.js"
import { decodeBody } from "../openai/wire.js"
import { flatten, type Flattened, nameOf, type Placed } from "./namespace.js"

export { Problem } from "../../schemaCheck.js"

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const TextPart = Schema.Struct({ type: Schema.Literals(["input_text", "output_text"]), text: Schema.String })

const Part = Schema.Union([
  TextPart,
  Schema.Struct({ type: Schema.Literal("refusal"), refusal: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("input_image"),
    image_url: maybe(Schema.String),
    file_id: maybe(Schema.String),
    detail: maybe(Schema.Literals(["auto", "low", "high", "original"]))
  })
]).annotate({ expected: "an input_text, output_text, refusal or input_image part" })

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
  call_id: Schema.String,
  name: Schema.String,
  /** The namespace of a namespace tool's function (`responses/namespace.ts`). */
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

// Every field of an object the gateway passes on as it came, beside those it reads.
const rest = [Schema.Record(Schema.String, Schema.Unknown)] as const

const modelledItems: ReadonlySet<string> = new Set(["message", "function_call", "function_call_output", "reasoning"])

// An item of another type (a hosted tool's call, a client tool's call or output other than a function's): passed
// as it came to a Responses deployment, refused by name for any other.
const OtherItem = Schema.StructWithRest(
  Schema.Struct({
    type: Schema.String.check(
      Schema.makeFilter((type: string) => !modelledItems.has(type), { message: "expected another item type" })
    )
  }),
  rest
)

const Item = Schema.Union([MessageItem, FunctionCallItem, FunctionCallOutputItem, ReasoningItem, OtherItem])
  .annotate({ expected: "a message, function_call, function_call_output, reasoning or other typed item" })

// Any tool type is read, so that one only a Responses deployment runs is passed to it as it came, or refused by name.
const OneTool = Schema.StructWithRest(
  Schema.Struct({
    type: Schema.String.check(
      Schema.makeFilter((type: string) => type !== "namespace", {
        message: "expected a tool type other than namespace"
      })
    ),
    name: maybe(Schema.String),
    description: maybe(Schema.String),
    parameters: maybe(JsonObject),
    strict: maybe(Schema.Boolean)
  }),
  rest
)

// A group of tools under one name (`responses/namespace.ts`).
const NamespaceTool = Schema.StructWithRest(
  Schema.Struct({
    type: Schema.Literal("namespace"),
    name: Schema.String,
    description: maybe(Schema.String),
    tools: Schema.Array(OneTool)
  }),
  rest
)

const WireTool = Schema.Union([OneTool, NamespaceTool]).annotate({
  expected: "a tool (a function, a hosted tool) or a namespace of tools"
})

/** A tool of a body as the wire reads it. */
export type WireTool = typeof WireTool.Type

/** A tool of a body once its namespaces are flattened (`responses/namespace.ts`). */
export type FlatTool = typeof OneTool.Type

// A function's by name (and namespace), or a hosted tool's (`{"type": "web_search"}`, `allowed_tools`, `mcp`...).
const WireToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  Schema.StructWithRest(
    Schema.Struct({ type: Schema.String, name: maybe(Schema.String), namespace: maybe(Schema.String) }),
    rest
  )
]).annotate({ expected: `"auto", "none", "required" or {"type": "function", "name"}` })

const WireFormat = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["text", "json_object"]) }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    name: Schema.String,
    schema: JsonObject,
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
  temperature: maybe(Schema.Number),
  top_p: maybe(Schema.Number),
  parallel_tool_calls: maybe(Schema.Boolean),
  store: maybe(Schema.Boolean),
  metadata: maybe(Schema.Record(Schema.String, Schema.String)),
  user: maybe(Schema.String),
  prompt_cache_key: maybe(Schema.String),
  stream: maybe(Schema.Boolean),
  previous_response_id: maybe(Schema.String)
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

/** An input item as the wire reads it. */
export type WireItem = typeof Item.Type
type WireContent = typeof Content.Type

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const textOf = (content: WireContent): string => {
  if (typeof content === "string") return content
  let out = ""
  for (const part of content) if (part.type === "input_text" || part.type === "output_text") out += part.text
  return out
}

const userContent = (content: WireContent, at: string): string | ReadonlyArray<ContentPart> | Problem => {
  if (typeof content === "string") return content
  const parts: Array<ContentPart> = []
  for (let j = 0; j < content.length; j++) {
    const part = content[j]!
    if (part.type === "input_text" || part.type === "output_text") parts.push({ type: "text", text: part.text })
    else if (part.type === "input_image") {
      const url = part.image_url
      if (url === null || url === undefined) {
        return new Problem(
          `${at}.content[${j}].image_url`,
          `${at}.content[${j}].image_url: missing (this gateway takes images by URL or data URL, not by file_id)`
        )
      }
      // `original` has no counterpart in the library's details: the provider's default applies.
      const detail = part.detail === "original" ? undefined : part.detail
      parts.push(detail === null || detail === undefined ? { type: "image", url } : { type: "image", url, detail })
    }
  }
  return parts
}

// The assistant turn being built: the last message when it is the assistant's, and reasoning waiting for its turn.
interface Turn {
  readonly messages: Array<Message>
  reasoning: Array<typeof ReasoningItem.Type>
  /** The carried metadata of calls (`carried.ts`), by call id. */
  readonly calls: Map<string, ProviderMetadata>
}

const newTurn = (): Turn => ({ messages: [], reasoning: [], calls: new Map() })

// A carrier of the gateway's: its reply's metadata back on the last assistant message, its calls' kept for theirs.
const carriedInto = (carried: Carried, turn: Turn): void => {
  for (const [id, metadata] of Object.entries(carried.calls ?? {})) turn.calls.set(id, metadata)
  if (carried.message === undefined) return
  for (let i = turn.messages.length - 1; i >= 0; i--) {
    const message = turn.messages[i]!
    if (message.role !== "assistant") continue
    turn.messages[i] = { ...message, providerMetadata: { ...message.providerMetadata, ...carried.message } }
    return
  }
}

const reasoningOf = (items: ReadonlyArray<typeof ReasoningItem.Type>): Partial<Mutable<AssistantMessage>> => {
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
const assistantOf = (turn: Turn): Mutable<AssistantMessage> => {
  const last = turn.messages[turn.messages.length - 1]
  if (turn.reasoning.length === 0 && last?.role === "assistant") return last as Mutable<AssistantMessage>
  const message: Mutable<AssistantMessage> = { role: "assistant", content: "", ...reasoningOf(turn.reasoning) }
  turn.reasoning = []
  turn.messages.push(message)
  return message
}

type KnownItem =
  | typeof MessageItem.Type
  | typeof FunctionCallItem.Type
  | typeof FunctionCallOutputItem.Type
  | typeof ReasoningItem.Type

/** Whether an item is of a type only a Responses deployment takes (a hosted tool's call, a custom tool's output...). */
export const isOtherItem = (wire: WireItem): wire is typeof OtherItem.Type =>
  typeof wire.type === "string" && !modelledItems.has(wire.type)

const item = (wire: WireItem, at: string, turn: Turn): Problem | undefined => {
  if (isOtherItem(wire)) {
    // Kept on the assistant's turn as the library's Responses adapter sends such items back, in order.
    const message = assistantOf(turn)
    message.providerMetadata = withOutputItem(message.providerMetadata, wire)
    return undefined
  }
  return knownItem(wire as KnownItem, at, turn)
}

const knownItem = (wire: KnownItem, at: string, turn: Turn): Problem | undefined => {
  switch (wire.type) {
    case "function_call": {
      const message = assistantOf(turn)
      const call: ToolCall = { id: wire.call_id, name: nameOf(wire.name, wire.namespace), arguments: wire.arguments }
      message.toolCalls = [...(message.toolCalls ?? []), call]
      return undefined
    }
    case "function_call_output":
      turn.messages.push({ role: "tool", toolCallId: wire.call_id, content: textOf(wire.output) })
      return undefined
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
      const content = userContent(wire.content, at)
      if (content instanceof Problem) return content
      turn.messages.push({ role: "user", content })
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
const withOutputItem = (metadata: ProviderMetadata | undefined, item: JsonRecord): ProviderMetadata => {
  const entry = metadata?.[metadataKey]
  return {
    ...metadata,
    [metadataKey]: { ...(isRecord(entry) ? entry : {}), outputItems: [...outputItemsOf(metadata), item] }
  }
}

const tool = (wire: FlatTool, at: string): ToolDefinition | Problem => {
  if (wire.name === null || wire.name === undefined) return new Problem(`${at}.name`, `${at}.name: missing`)
  return functionTool({ ...wire, name: wire.name })
}

/** Whether a tool choice is a hosted tool's (any but a function's). */
export const isHostedChoice = (
  choice: typeof WireToolChoice.Type | null | undefined
): choice is Exclude<typeof WireToolChoice.Type, string> =>
  typeof choice === "object" && choice !== null && choice.type !== "function"

const toolChoice = (choice: typeof WireToolChoice.Type): ToolChoice | Problem => {
  if (typeof choice === "string") return choice
  if (choice.name === null || choice.name === undefined) {
    return new Problem("tool_choice.name", "tool_choice.name: missing")
  }
  return { tool: nameOf(choice.name, choice.namespace) }
}

const responseFormat = (format: typeof WireFormat.Type): ResponseFormat => {
  if (format.type !== "json_schema") return { type: format.type }
  const out: Mutable<Extract<ResponseFormat, { readonly type: "json_schema" }>> = {
    type: "json_schema",
    name: format.name,
    schema: format.schema
  }
  set(out, "description", format.description)
  set(out, "strict", format.strict)
  return out
}

// The messages of `items` (a body's input, a stored response's output) folded into `turn`.
const itemsInto = (items: ReadonlyArray<WireItem>, turn: Turn): Problem | undefined => {
  for (let i = 0; i < items.length; i++) {
    const refused = item(items[i]!, `input[${i}]`, turn)
    if (refused !== undefined) return refused
  }
  restoreCalls(turn.messages, turn.calls)
  return undefined
}

/** The messages of a body's `input`: a string is one user message; each item in place. */
export const inputMessages = (body: CountBody): Array<Message> | Problem => {
  if (body.input === null || body.input === undefined) return []
  if (typeof body.input === "string") return [{ role: "user", content: body.input }]
  const turn = newTurn()
  return itemsInto(body.input, turn) ?? turn.messages
}

const checkItem = checker(Item, { errors: "first" })

/**
 * The messages of a response's output items, as a later turn replays them (an item that is not one the gateway
 * reads, which it never renders, is left out).
 */
export const outputMessages = (output: ReadonlyArray<unknown>): Array<Message> => {
  const items: Array<WireItem> = []
  for (const one of output) {
    const checked = checkItem(one)
    if (!(checked instanceof Refused)) items.push(checked)
  }
  const turn = newTurn()
  itemsInto(items, turn)
  return turn.messages
}

/** A body's tools with their namespaces flattened (`responses/namespace.ts`), or the problem with a qualified name. */
export const flatTools = (body: CountBody): Flattened<FlatTool> | Problem =>
  flatten<FlatTool | typeof NamespaceTool.Type>(body.tools ?? []) as Flattened<FlatTool> | Problem

/**
 * A checked body as the engine's request, its messages `instructions` (which a later turn does not inherit) then
 * `conversation` (an earlier response's, then the input's), its tools `tools` (`flatTools`); or what is wrong with
 * it (a tool type it cannot run).
 */
export const toRequest = (
  body: CountBody,
  conversation: ReadonlyArray<Message>,
  tools: ReadonlyArray<Placed<FlatTool>>
): ChatRequest | Problem => {
  const instructions = body.instructions
  const messages = instructions === null || instructions === undefined
    ? conversation
    : [{ role: "system" as const, content: instructions }, ...conversation]
  const request: Mutable<ChatRequest> = { messages }
  const definitions: Array<ToolDefinition> = []
  for (const { at, tool: one } of tools) {
    if (one.type !== "function") continue
    const definition = tool(one, at)
    if (definition instanceof Problem) return definition
    definitions.push(definition)
  }
  if (definitions.length > 0) request.tools = definitions
  // The whole list (namespaces flattened), and a hosted tool's choice, for the Responses deployment the route checked
  // it has.
  const passed: Record<string, unknown> = {}
  if (definitions.length < tools.length) passed["tools"] = tools.map((placed) => placed.tool)
  const choice = body.tool_choice
  if (isHostedChoice(choice)) passed["tool_choice"] = choice
  else if (choice !== null && choice !== undefined) {
    const chosen = toolChoice(choice)
    if (chosen instanceof Problem) return chosen
    request.toolChoice = chosen
  }
  if (Object.keys(passed).length > 0) request.providerOptions = passed
  const format = body.text?.format
  if (format !== null && format !== undefined) request.responseFormat = responseFormat(format)
  set(request, "reasoningEffort", body.reasoning?.effort)
  set(request, "maxTokens", body.max_output_tokens)
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "user", body.user)
  set(request, "promptCacheKey", body.prompt_cache_key)
  return request
}

const checkBody = checker(WireResponsesRequest, { errors: "first" })

/** The body's text as JSON checked against the wire, or what is wrong with it. */
export const checked = (text: string): Body | Problem => decodeBody(text, checkBody)

const checkCountBody = checker(WireInputTokensRequest, { errors: "first" })

/** An `input_tokens` body's text as JSON checked against the wire, or what is wrong with it. */
export const checkedCount = (text: string): CountBody | Problem => decodeBody(text, checkCountBody)

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
export const responsesPath = (path: string): string =>
  path.startsWith("messages")
    ? "input"
    : path.replace(/^(topP|maxTokens|toolChoice|responseFormat|reasoningEffort)\b/, (name) => renamed[name]!)
