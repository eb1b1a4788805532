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
 * The schema is the check (`internal/schemaCheck.ts`): its guard accepts a
 * body as it is, and its decode runs only for a body it refuses, to name the
 * field.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../ChatRequest.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../Message.js"
import { bracketed, checker, Refused } from "../schemaCheck.js"

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
  user: maybe(Schema.String),
  prompt_cache_key: maybe(Schema.String)
})

/**
 * A body refused before anything is sent: the wire field (`messages[2].role`,
 * none for the body as a whole) and what is wrong. A class, so a body that
 * writes its own `_tag` is never taken for one.
 */
export class Problem {
  readonly _tag = "Problem"
  constructor(readonly param: string | undefined, readonly message: string) {}
}

/** A wire body's refusal (its first issue) as a `Problem`, its path as `written` writes it. */
export const problemOf = (refused: Refused, written: (path: ReadonlyArray<PropertyKey>) => string = bracketed) => {
  const { message, path } = refused.refusals[0]
  const param = written(path)
  return param === "" ? new Problem(undefined, message) : new Problem(param, `${param}: ${message}`)
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

/** An OpenAI function tool (of chat completions or of the Responses API) as a `ToolDefinition`. */
export const functionTool = (fn: {
  readonly name: string
  readonly description?: string | null | undefined
  readonly parameters?: ToolDefinition["parameters"] | null | undefined
  readonly strict?: boolean | null | undefined
}): ToolDefinition => {
  // OpenAI takes a function without parameters as one without arguments.
  const out: Mutable<ToolDefinition> = {
    name: fn.name,
    parameters: fn.parameters ?? { type: "object", properties: {} }
  }
  set(out, "description", fn.description)
  set(out, "strict", fn.strict)
  return out
}

const tool = (wire: typeof WireTool.Type): ToolDefinition => functionTool(wire.function)

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
  // The conversation a router with affinity keeps on the deployment whose cache it warmed.
  set(request, "session", body.prompt_cache_key)
  set(request, "promptCacheKey", body.prompt_cache_key)
  return request
}

/** The wire's names of the engine's `maxTokens`: OpenAI's current one and the one it replaced. */
export type MaxTokensField = "max_completion_tokens" | "max_tokens"

/** Which name of the reply's limit `toRequest` took from the body (`max_completion_tokens` when it gave both). */
export const maxTokensField = (body: typeof ChatBody.Type): MaxTokensField =>
  body.max_completion_tokens === null || body.max_completion_tokens === undefined
    ? "max_tokens"
    : "max_completion_tokens"

/** `ChatBody`'s check: a parsed JSON body as itself (not a copy), or what the schema finds wrong with it. */
export const checkChatBody = checker(ChatBody, { errors: "first" })

/**
 * A parsed JSON body as a `ChatRequest` (its `model` kept when set), or what
 * is wrong with it in one line naming the wire field.
 */
export const toChatRequest = (json: unknown): Result.Result<ChatRequest, string> => {
  const body = checkChatBody(json)
  if (body instanceof Refused) return Result.fail(problemOf(body).message)
  const request = toRequest(body)
  if (request instanceof Problem) return Result.fail(request.message)
  return Result.succeed(body.model === null || body.model === undefined ? request : { ...request, model: body.model })
}
