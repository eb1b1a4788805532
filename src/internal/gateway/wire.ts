/**
 * The gateway's OpenAI request bodies: `POST /v1/chat/completions` and
 * `POST /v1/embeddings` decoded with Effect Schemas of the wire (snake_case,
 * unknown fields ignored), then turned into the library's `ChatRequest` and
 * `EmbeddingRequest`. The wire schemas check shapes and types and name the
 * wire field that is wrong; the ranges (a `temperature` of 5, no messages)
 * are the `ChatRequest` schema's, checked by the `Llm` before anything is
 * sent, and its `InvalidRequestError` paths are renamed here to the wire's.
 *
 * As the `Llm`'s own check does, a compiled check that accepts exactly what
 * the wire schema accepts runs first (decoding the schema costs about 10 us
 * for one message and 70 us for twenty); the schema's decode runs only when
 * that check refuses, to name the field. A property test holds the two
 * together.
 */
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../ChatRequest.js"
import type { Input as EmbeddingRequest } from "../../Embedding.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../Message.js"

const optional = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const TextPart = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String })

const Part = Schema.Union([
  TextPart,
  Schema.Struct({
    type: Schema.Literal("image_url"),
    image_url: Schema.Struct({ url: Schema.String, detail: optional(Schema.Literals(["auto", "low", "high"])) })
  })
]).annotate({ expected: "a text or image_url part" })

const Content = Schema.Union([Schema.String, Schema.Array(Part)]).annotate({ expected: "a string or an array of parts" })

const WireToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

// One struct with the role as a literal, so a bad role is named at `messages[i].role`.
const WireMessage = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
  content: optional(Content),
  tool_calls: optional(Schema.Array(WireToolCall)),
  tool_call_id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  reasoning_content: optional(Schema.String)
})

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const WireTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: Schema.optional(Schema.String),
    parameters: Schema.optional(JsonObject),
    strict: optional(Schema.Boolean)
  })
})

const WireToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
])

const WireResponseFormat = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["text", "json_object"]) }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    json_schema: Schema.Struct({
      name: Schema.String,
      description: Schema.optional(Schema.String),
      schema: Schema.optional(JsonObject),
      strict: optional(Schema.Boolean)
    })
  })
])

/** The chat completions body, as far as the gateway reads it. */
export const WireChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(WireMessage),
  stream: optional(Schema.Boolean),
  stream_options: optional(Schema.Struct({ include_usage: optional(Schema.Boolean) })),
  temperature: optional(Schema.Number),
  top_p: optional(Schema.Number),
  max_tokens: optional(Schema.Number),
  max_completion_tokens: optional(Schema.Number),
  stop: optional(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
  tools: optional(Schema.Array(WireTool)),
  tool_choice: optional(WireToolChoice),
  response_format: optional(WireResponseFormat),
  reasoning_effort: optional(Schema.String),
  seed: optional(Schema.Number),
  user: Schema.optional(Schema.String)
})

/** The embeddings body. */
export const WireEmbeddingRequest = Schema.Struct({
  model: Schema.String,
  input: Schema.Union([Schema.String, Schema.Array(Schema.String)]).annotate({
    expected: "a string or an array of strings"
  }),
  dimensions: optional(Schema.Number),
  encoding_format: optional(Schema.Literals(["float", "base64"]))
})

type Fields = { readonly [key: string]: unknown }

// What `Schema.Struct` and `Schema.Record` take: an object, not an array (nor null).
const isFields = (u: unknown): u is Fields => typeof u === "object" && u !== null && !Array.isArray(u)
const isString = (u: unknown): u is string => typeof u === "string"
const isNumber = (u: unknown): u is number => typeof u === "number"
const isBoolean = (u: unknown): u is boolean => typeof u === "boolean"
// `optional(X)` above: missing, `undefined`, `null` or an X; `Schema.optional(X)`: missing, `undefined` or an X.
const nullable = (u: unknown, is: (u: unknown) => boolean): boolean => u === undefined || u === null || is(u)
const absent = (u: unknown, is: (u: unknown) => boolean): boolean => u === undefined || is(u)

// JSON arrays have no holes, so `every` sees each item.
const isArrayOf = (u: unknown, element: (u: unknown) => boolean): boolean => Array.isArray(u) && u.every(element)

const isPart = (u: unknown): boolean =>
  isFields(u) && (u.type === "text"
    ? isString(u.text)
    : u.type === "image_url" && isFields(u.image_url) && isString(u.image_url.url) &&
      nullable(u.image_url.detail, (d) => d === "auto" || d === "low" || d === "high"))

const isContent = (u: unknown): boolean => isString(u) || isArrayOf(u, isPart)

const isToolCall = (u: unknown): boolean =>
  isFields(u) && isString(u.id) && absent(u.type, (t) => t === "function") && isFields(u.function) &&
  isString(u.function.name) && isString(u.function.arguments)

const roles: ReadonlyArray<unknown> = ["system", "developer", "user", "assistant", "tool"]

const isMessage = (u: unknown): boolean =>
  isFields(u) && roles.includes(u.role) && nullable(u.content, isContent) &&
  nullable(u.tool_calls, (calls) => isArrayOf(calls, isToolCall)) && absent(u.tool_call_id, isString) &&
  absent(u.name, isString) && nullable(u.reasoning_content, isString)

const isTool = (u: unknown): boolean => {
  if (!isFields(u) || u.type !== "function" || !isFields(u.function)) return false
  const fn = u.function
  return isString(fn.name) && absent(fn.description, isString) && absent(fn.parameters, isFields) &&
    nullable(fn.strict, isBoolean)
}

const isToolChoice = (u: unknown): boolean =>
  u === "auto" || u === "none" || u === "required" ||
  (isFields(u) && u.type === "function" && isFields(u.function) && isString(u.function.name))

const isResponseFormat = (u: unknown): boolean => {
  if (!isFields(u)) return false
  if (u.type === "text" || u.type === "json_object") return true
  const format = u.json_schema
  return u.type === "json_schema" && isFields(format) && isString(format.name) && absent(format.description, isString) &&
    absent(format.schema, isFields) && nullable(format.strict, isBoolean)
}

/** Exactly what `Schema.is(WireChatRequest)` accepts. */
export const isWireChat = (u: unknown): boolean =>
  isFields(u) && isString(u.model) && isArrayOf(u.messages, isMessage) &&
  nullable(u.stream, isBoolean) &&
  nullable(u.stream_options, (options) => isFields(options) && nullable(options.include_usage, isBoolean)) &&
  nullable(u.temperature, isNumber) && nullable(u.top_p, isNumber) && nullable(u.max_tokens, isNumber) &&
  nullable(u.max_completion_tokens, isNumber) &&
  nullable(u.stop, (stop) => isString(stop) || isArrayOf(stop, isString)) &&
  nullable(u.tools, (tools) => isArrayOf(tools, isTool)) && nullable(u.tool_choice, isToolChoice) &&
  nullable(u.response_format, isResponseFormat) && nullable(u.reasoning_effort, isString) &&
  nullable(u.seed, isNumber) && absent(u.user, isString)

/** Exactly what `Schema.is(WireEmbeddingRequest)` accepts. */
export const isWireEmbedding = (u: unknown): boolean =>
  isFields(u) && isString(u.model) && (isString(u.input) || isArrayOf(u.input, isString)) &&
  nullable(u.dimensions, isNumber) && nullable(u.encoding_format, (f) => f === "float" || f === "base64")

/** A request the gateway refuses before anything is sent: the wire field (`messages[2].role`) and what is wrong. */
export interface Problem {
  readonly _tag: "Problem"
  readonly param: string | undefined
  readonly message: string
}

const problem = (param: string | undefined, message: string): Problem => ({ _tag: "Problem", param, message })

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => issue._tag === "MissingKey" ? "missing" : SchemaIssue.defaultLeafHook(issue)
})

// `messages[2].content`, as the request is written.
const wirePathOf = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string =>
  path.reduce<string>((out, segment) => {
    const key = typeof segment === "object" ? segment.key : segment
    return typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`
  }, "")

const fromIssue = (issue: SchemaIssue.Issue): Problem => {
  const first = formatIssues(issue).issues[0]!
  const path = wirePathOf(first.path ?? [])
  const message = first.message.replace(/^Expected /, "expected ")
  return path === "" ? problem(undefined, message) : problem(path, `${path}: ${message}`)
}

const notJson = problem(undefined, "We could not parse the JSON body of your request. The body must be a JSON object.")

// The body's text as JSON, taken when `is` accepts it, else decoded by `decode` for what is wrong with it.
const decodeBody = <A>(
  text: string,
  is: (u: unknown) => boolean,
  decode: (body: unknown) => Result.Result<A, Schema.SchemaError>
): A | Problem => {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return notJson
  }
  if (is(body)) return body as A
  const decoded = decode(body)
  return decoded._tag === "Failure" ? fromIssue(decoded.failure.issue) : decoded.success
}

const textOf = (content: typeof Content.Type | null | undefined): string => {
  if (content === null || content === undefined) return ""
  if (typeof content === "string") return content
  let out = ""
  for (const part of content) if (part.type === "text") out += part.text
  return out
}

const userContent = (content: typeof Content.Type | null | undefined): string | ReadonlyArray<ContentPart> => {
  if (content === null || content === undefined || typeof content === "string") return content ?? ""
  return content.map((part): ContentPart => {
    if (part.type === "text") return { type: "text", text: part.text }
    const detail = part.image_url.detail
    return detail === null || detail === undefined
      ? { type: "image", url: part.image_url.url }
      : { type: "image", url: part.image_url.url, detail }
  })
}

const toolCall = (call: typeof WireToolCall.Type): ToolCall => ({
  id: call.id,
  name: call.function.name,
  arguments: call.function.arguments
})

const message = (wire: typeof WireMessage.Type, index: number): Message | Problem => {
  switch (wire.role) {
    case "system":
    case "developer":
      return { role: "system", content: textOf(wire.content) }
    case "user":
      return { role: "user", content: userContent(wire.content) }
    case "assistant": {
      const calls = wire.tool_calls ?? []
      const reasoning = wire.reasoning_content ?? undefined
      return {
        role: "assistant",
        content: textOf(wire.content),
        ...(calls.length > 0 ? { toolCalls: calls.map(toolCall) } : {}),
        ...(reasoning !== undefined ? { reasoning } : {})
      }
    }
    case "tool":
      return wire.tool_call_id === undefined
        ? problem(`messages[${index}].tool_call_id`, `messages[${index}].tool_call_id: missing (a tool message answers a tool call by its id)`)
        : {
          role: "tool",
          toolCallId: wire.tool_call_id,
          ...(wire.name !== undefined ? { name: wire.name } : {}),
          content: textOf(wire.content)
        }
  }
}

const tool = ({ function: fn }: typeof WireTool.Type): ToolDefinition => ({
  name: fn.name,
  ...(fn.description !== undefined ? { description: fn.description } : {}),
  // OpenAI takes a function without parameters as one without arguments.
  parameters: fn.parameters ?? { type: "object", properties: {} },
  ...(fn.strict !== undefined && fn.strict !== null ? { strict: fn.strict } : {})
})

const toolChoice = (choice: typeof WireToolChoice.Type): ToolChoice =>
  typeof choice === "string" ? choice : { tool: choice.function.name }

const responseFormat = (format: typeof WireResponseFormat.Type): ResponseFormat => {
  if (format.type !== "json_schema") return { type: format.type }
  const { description, name, schema, strict } = format.json_schema
  return {
    type: "json_schema",
    name,
    ...(description !== undefined ? { description } : {}),
    schema: schema ?? {},
    ...(strict !== undefined && strict !== null ? { strict } : {})
  }
}

/** A decoded chat body: the request for the engine (its `model` the address), and how to answer it. */
export interface Chat {
  readonly _tag: "Chat"
  readonly model: string
  readonly request: ChatRequest
  readonly stream: boolean
  readonly includeUsage: boolean
}

const decodeChatWire = Schema.decodeUnknownResult(WireChatRequest)

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

const set = <A, K extends keyof A>(out: A, key: K, value: A[K] | null | undefined) => {
  if (value !== null && value !== undefined) out[key] = value
}

/** A chat completions body (its text) as the engine's request, or what is wrong with it. */
export const chat = (text: string): Chat | Problem => {
  const wire = decodeBody(text, isWireChat, decodeChatWire)
  if ("_tag" in wire) return wire
  const messages: Array<Message> = []
  for (let i = 0; i < wire.messages.length; i++) {
    const converted = message(wire.messages[i]!, i)
    if ("_tag" in converted) return converted
    messages.push(converted)
  }
  // The model is the gateway's address, not the engine's: the handler sets it.
  const request: Mutable<ChatRequest> = { messages }
  set(request, "temperature", wire.temperature)
  set(request, "topP", wire.top_p)
  set(request, "maxTokens", wire.max_completion_tokens ?? wire.max_tokens)
  set(request, "stop", typeof wire.stop === "string" ? [wire.stop] : wire.stop)
  if (wire.tools !== null && wire.tools !== undefined && wire.tools.length > 0) request.tools = wire.tools.map(tool)
  if (wire.tool_choice !== null && wire.tool_choice !== undefined) request.toolChoice = toolChoice(wire.tool_choice)
  if (wire.response_format !== null && wire.response_format !== undefined) {
    request.responseFormat = responseFormat(wire.response_format)
  }
  // Checked against `ReasoningEffort` with the rest of the request, by the `Llm`.
  set(request, "reasoningEffort", wire.reasoning_effort as ReasoningEffort | null | undefined)
  set(request, "seed", wire.seed)
  set(request, "user", wire.user)
  return {
    _tag: "Chat",
    model: wire.model,
    request,
    stream: wire.stream === true,
    includeUsage: wire.stream_options?.include_usage === true
  }
}

/** A decoded embeddings body. */
export interface Embeddings {
  readonly _tag: "Embeddings"
  readonly model: string
  readonly request: EmbeddingRequest
  readonly base64: boolean
}

const decodeEmbeddingWire = Schema.decodeUnknownResult(WireEmbeddingRequest)

/** An embeddings body (its text) as the engine's request, or what is wrong with it. */
export const embeddings = (text: string): Embeddings | Problem => {
  const wire = decodeBody(text, isWireEmbedding, decodeEmbeddingWire)
  if ("_tag" in wire) return wire
  const request: Mutable<EmbeddingRequest> = { input: wire.input }
  set(request, "dimensions", wire.dimensions)
  return {
    _tag: "Embeddings",
    model: wire.model,
    request,
    base64: wire.encoding_format === "base64"
  }
}

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  topP: "top_p",
  maxTokens: "max_tokens",
  toolChoice: "tool_choice",
  responseFormat: "response_format",
  reasoningEffort: "reasoning_effort",
  toolCalls: "tool_calls",
  toolCallId: "tool_call_id"
}

/**
 * A path of the engine's request (`tools[0].name`, `messages[1].toolCallId`)
 * as the wire request writes it (`tools[0].function.name`,
 * `messages[1].tool_call_id`).
 */
export const wirePath = (path: string): string =>
  path
    .replace(/\b(topP|maxTokens|toolChoice|responseFormat|reasoningEffort|toolCalls|toolCallId)\b/g, (name) => renamed[name]!)
    .replace(/\btools\[(\d+)\]\.(name|description|parameters|strict)/, "tools[$1].function.$2")
    .replace(/(tool_calls\[\d+\])\.(name|arguments)/, "$1.function.$2")
    .replace(/\bresponse_format\.(name|description|schema|strict)/, "response_format.json_schema.$1")
