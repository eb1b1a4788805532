/**
 * An OpenAI Chat Completions request body turned into the library's
 * `ChatRequest`, for the gateway (`internal/gateway/wire.ts`, which adds the
 * body's `model` as required, `stream` and `stream_options`) and for the
 * `batch` command's input lines (where `model` may be absent: `--model` is the
 * default). The body is an Effect Schema of the wire (snake_case, unknown
 * fields ignored, `null` taken as unset); a body that does not fit is a
 * `Problem` naming its wire path (`messages[1].role`). Ranges (a
 * `temperature` of 5, no messages) are the `ChatRequest` schema's, which the
 * `Llm` checks before sending, failing with `InvalidRequestError`.
 *
 * As the `Llm`'s own check does, a compiled check that accepts exactly what
 * the schema accepts runs first (decoding the schema costs far more per call;
 * docs/performance.md has the figures); the schema's decode runs only when that
 * check refuses, to name the field. A property test holds the two together.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../ChatRequest.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../Message.js"

// OpenAI's clients send `null` for an unset field as often as they leave it out.
/** An optional wire field: missing, `undefined`, `null` or an `S`. */
export const maybe = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const Part = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("image_url"),
    image_url: Schema.Struct({ url: Schema.String, detail: maybe(Schema.Literals(["auto", "low", "high"])) })
  })
]).annotate({ expected: "a text or image_url part" })

const Content = Schema.Union([Schema.String, Schema.Array(Part)]).annotate({
  expected: "a string or an array of parts"
})

const WireToolCall = Schema.Struct({
  id: Schema.String,
  type: maybe(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

// One struct with the role as a literal, so a bad role is named at `messages[i].role`.
const WireMessage = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
  content: maybe(Content),
  tool_calls: maybe(Schema.Array(WireToolCall)),
  tool_call_id: maybe(Schema.String),
  name: maybe(Schema.String),
  reasoning_content: maybe(Schema.String)
})

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const WireTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: maybe(Schema.String),
    parameters: maybe(JsonObject),
    strict: maybe(Schema.Boolean)
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
      description: maybe(Schema.String),
      schema: maybe(JsonObject),
      strict: maybe(Schema.Boolean)
    })
  })
])

/** The chat completions body, as far as the library reads it; `model` may be absent. */
export const ChatBody = Schema.Struct({
  model: maybe(Schema.String),
  messages: Schema.Array(WireMessage),
  temperature: maybe(Schema.Number),
  top_p: maybe(Schema.Number),
  max_tokens: maybe(Schema.Number),
  max_completion_tokens: maybe(Schema.Number),
  stop: maybe(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
  tools: maybe(Schema.Array(WireTool)),
  tool_choice: maybe(WireToolChoice),
  response_format: maybe(WireResponseFormat),
  reasoning_effort: maybe(Schema.String),
  seed: maybe(Schema.Number),
  user: maybe(Schema.String)
})

/** A JSON object's fields, as the compiled checks read them. */
export type Fields = { readonly [key: string]: unknown }

/** An object, not an array (nor null): what `Schema.Struct` and `Schema.Record` take. */
export const isFields = (u: unknown): u is Fields => typeof u === "object" && u !== null && !Array.isArray(u)
/** A string. */
export const isString = (u: unknown): u is string => typeof u === "string"
/** What `maybe(X)` accepts: missing, `undefined`, `null` or what `is` accepts. */
export const nullable = (u: unknown, is: (u: unknown) => boolean): boolean => u === undefined || u === null || is(u)
// One function per kind rather than `nullable(u, isString)`: the hot check calls these for most
// fields, and a call site that sees one callee stays inlined.
/** Missing, `undefined`, `null` or a string. */
export const unsetOrString = (u: unknown): boolean => u === undefined || u === null || typeof u === "string"
/** Missing, `undefined`, `null` or a number. */
export const unsetOrNumber = (u: unknown): boolean => u === undefined || u === null || typeof u === "number"
/** Missing, `undefined`, `null` or a boolean. */
export const unsetOrBoolean = (u: unknown): boolean => u === undefined || u === null || typeof u === "boolean"
/** An array each of whose items `element` accepts (JSON arrays have no holes, so `every` sees each one). */
export const isArrayOf = (u: unknown, element: (u: unknown) => boolean): boolean => Array.isArray(u) && u.every(element)

const isPart = (u: unknown): boolean =>
  isFields(u) && (u.type === "text"
    ? isString(u.text)
    : u.type === "image_url" && isFields(u.image_url) && isString(u.image_url.url) &&
      nullable(u.image_url.detail, (d) => d === "auto" || d === "low" || d === "high"))

const isContent = (u: unknown): boolean => isString(u) || isArrayOf(u, isPart)

const isToolCall = (u: unknown): boolean =>
  isFields(u) && isString(u.id) && nullable(u.type, (t) => t === "function") && isFields(u.function) &&
  isString(u.function.name) && isString(u.function.arguments)

const roles: ReadonlyArray<unknown> = ["system", "developer", "user", "assistant", "tool"]

const isMessage = (u: unknown): boolean =>
  isFields(u) && roles.includes(u.role) && nullable(u.content, isContent) &&
  nullable(u.tool_calls, (calls) => isArrayOf(calls, isToolCall)) && unsetOrString(u.tool_call_id) &&
  unsetOrString(u.name) && unsetOrString(u.reasoning_content)

const isTool = (u: unknown): boolean => {
  if (!isFields(u) || u.type !== "function" || !isFields(u.function)) return false
  const fn = u.function
  return isString(fn.name) && unsetOrString(fn.description) && nullable(fn.parameters, isFields) &&
    unsetOrBoolean(fn.strict)
}

const isToolChoice = (u: unknown): boolean =>
  u === "auto" || u === "none" || u === "required" ||
  (isFields(u) && u.type === "function" && isFields(u.function) && isString(u.function.name))

const isResponseFormat = (u: unknown): boolean => {
  if (!isFields(u)) return false
  if (u.type === "text" || u.type === "json_object") return true
  const format = u.json_schema
  return u.type === "json_schema" && isFields(format) && isString(format.name) &&
    unsetOrString(format.description) && nullable(format.schema, isFields) && unsetOrBoolean(format.strict)
}

/** Exactly what `Schema.is(ChatBody)` accepts. */
export const isChatBody = (u: unknown): u is Fields =>
  isFields(u) && unsetOrString(u.model) && isArrayOf(u.messages, isMessage) &&
  unsetOrNumber(u.temperature) && unsetOrNumber(u.top_p) && unsetOrNumber(u.max_tokens) &&
  unsetOrNumber(u.max_completion_tokens) &&
  nullable(u.stop, (stop) => isString(stop) || isArrayOf(stop, isString)) &&
  nullable(u.tools, (tools) => isArrayOf(tools, isTool)) && nullable(u.tool_choice, isToolChoice) &&
  nullable(u.response_format, isResponseFormat) && unsetOrString(u.reasoning_effort) &&
  unsetOrNumber(u.seed) && unsetOrString(u.user)

/**
 * A body refused before anything is sent: the wire field (`messages[2].role`,
 * none for the body as a whole) and what is wrong. A class, so a body that
 * writes its own `_tag` is never taken for one.
 */
export class Problem {
  readonly _tag = "Problem"
  constructor(readonly param: string | undefined, readonly message: string) {}
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => issue._tag === "MissingKey" ? "missing" : SchemaIssue.defaultLeafHook(issue)
})

// `messages[2].content`, as the request is written.
const wirePathOf = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string =>
  path.reduce<string>((out, segment) => {
    const key = typeof segment === "object" ? segment.key : segment
    return typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`
  }, "")

// A schema's first issue with a wire body as a `Problem`: `messages[1].role: expected ...`.
const fromIssue = (issue: SchemaIssue.Issue): Problem => {
  const first = formatIssues(issue).issues[0]!
  const path = wirePathOf(first.path ?? [])
  const message = first.message.replace(/^Expected /, "expected ")
  return path === "" ? new Problem(undefined, message) : new Problem(path, `${path}: ${message}`)
}

/**
 * A parsed JSON body as `A` when the compiled check `is` accepts it (no
 * decode, no copy), else decoded by `decode`, for what is wrong with it.
 */
export const checked = <A>(
  body: unknown,
  is: (u: unknown) => boolean,
  decode: (body: unknown) => Result.Result<A, Schema.SchemaError>
): A | Problem => {
  if (is(body)) return body as A
  const decoded = decode(body)
  return decoded._tag === "Failure" ? fromIssue(decoded.failure.issue) : decoded.success
}

type WireContent = typeof Content.Type | null | undefined

const textOf = (content: WireContent): string => {
  if (content === null || content === undefined) return ""
  if (typeof content === "string") return content
  let out = ""
  for (const part of content) if (part.type === "text") out += part.text
  return out
}

const userContent = (content: WireContent): string | ReadonlyArray<ContentPart> => {
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
      return wire.tool_call_id === undefined || wire.tool_call_id === null
        ? new Problem(
          `messages[${index}].tool_call_id`,
          `messages[${index}].tool_call_id: missing (a tool message answers a tool call by its id)`
        )
        : {
          role: "tool",
          toolCallId: wire.tool_call_id,
          ...(wire.name !== undefined && wire.name !== null ? { name: wire.name } : {}),
          content: textOf(wire.content)
        }
  }
}

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

/** Sets `out[key]` when the body sets it (not null): unset fields are not sent. */
export const set = <A, K extends keyof A>(out: A, key: K, value: A[K] | null | undefined) => {
  if (value !== null && value !== undefined) out[key] = value
}

const tool = ({ function: fn }: typeof WireTool.Type): ToolDefinition => {
  // OpenAI takes a function without parameters as one without arguments.
  const out: Mutable<ToolDefinition> = {
    name: fn.name,
    parameters: fn.parameters ?? { type: "object", properties: {} }
  }
  set(out, "description", fn.description)
  set(out, "strict", fn.strict)
  return out
}

const toolChoice = (choice: typeof WireToolChoice.Type): ToolChoice =>
  typeof choice === "string" ? choice : { tool: choice.function.name }

const responseFormat = (format: typeof WireResponseFormat.Type): ResponseFormat => {
  if (format.type !== "json_schema") return { type: format.type }
  const { description, name, schema, strict } = format.json_schema
  const out: Mutable<Extract<ResponseFormat, { readonly type: "json_schema" }>> = {
    type: "json_schema",
    name,
    schema: schema ?? {}
  }
  set(out, "description", description)
  set(out, "strict", strict)
  return out
}

/**
 * A checked body as the engine's request, or what is wrong with it (a tool
 * message without its call's id). The body's `model` is left out: the gateway
 * reads it as its address, `batch` as the line's model.
 */
export const toRequest = (body: typeof ChatBody.Type): ChatRequest | Problem => {
  const messages: Array<Message> = []
  for (let i = 0; i < body.messages.length; i++) {
    const converted = message(body.messages[i]!, i)
    if (converted instanceof Problem) return converted
    messages.push(converted)
  }
  const request: Mutable<ChatRequest> = { messages }
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "maxTokens", body.max_completion_tokens ?? body.max_tokens)
  set(request, "stop", typeof body.stop === "string" ? [body.stop] : body.stop)
  if (body.tools !== null && body.tools !== undefined && body.tools.length > 0) request.tools = body.tools.map(tool)
  if (body.tool_choice !== null && body.tool_choice !== undefined) request.toolChoice = toolChoice(body.tool_choice)
  if (body.response_format !== null && body.response_format !== undefined) {
    request.responseFormat = responseFormat(body.response_format)
  }
  // Checked against `ReasoningEffort` with the rest of the request, by the `Llm`.
  set(request, "reasoningEffort", body.reasoning_effort as ReasoningEffort | null | undefined)
  set(request, "seed", body.seed)
  set(request, "user", body.user)
  return request
}

/** The wire's names of the engine's `maxTokens`: OpenAI's current one and the one it replaced. */
export type MaxTokensField = "max_completion_tokens" | "max_tokens"

/** Which name of the reply's limit `toRequest` took from the body (`max_completion_tokens` when it gave both). */
export const maxTokensField = (body: typeof ChatBody.Type): MaxTokensField =>
  body.max_completion_tokens === null || body.max_completion_tokens === undefined
    ? "max_tokens"
    : "max_completion_tokens"

const decodeChatBody = Schema.decodeUnknownResult(ChatBody)

/**
 * A parsed JSON body as a `ChatRequest` (its `model` kept when set), or what
 * is wrong with it in one line naming the wire field.
 */
export const toChatRequest = (json: unknown): Result.Result<ChatRequest, string> => {
  const body = checked(json, isChatBody, decodeChatBody)
  if (body instanceof Problem) return Result.fail(body.message)
  const request = toRequest(body)
  if (request instanceof Problem) return Result.fail(request.message)
  return Result.succeed(body.model === null || body.model === undefined ? request : { ...request, model: body.model })
}
