/**
 * An OpenAI Chat Completions request body (as written in a `batch` input
 * line) turned into the library's `ChatRequest`: the wire's shapes are checked
 * with an Effect Schema (snake_case, unknown fields ignored) and a body that
 * does not fit is named by its wire path (`messages[1].role: ...`). Ranges
 * (a `temperature` of 5) are the `ChatRequest` schema's, which the `Llm`
 * checks before sending, failing with `InvalidRequestError`.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { Input as ChatRequest, ReasoningEffort } from "../ChatRequest.js"
import type { ContentPart, Message } from "../Message.js"

// OpenAI's clients send `null` for an unset field as often as they leave it out.
const maybe = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const Part = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("image_url"),
    image_url: Schema.Struct({ url: Schema.String, detail: maybe(Schema.Literals(["auto", "low", "high"])) })
  })
]).annotate({ expected: "a text or image_url part" })

const Content = Schema.Union([Schema.String, Schema.Array(Part)]).annotate({ expected: "a string or an array of parts" })

const WireMessage = Schema.Struct({
  role: Schema.Literals(["system", "developer", "user", "assistant", "tool"]),
  content: maybe(Content),
  tool_calls: maybe(Schema.Array(Schema.Struct({
    id: Schema.String,
    function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
  }))),
  tool_call_id: maybe(Schema.String),
  name: maybe(Schema.String)
})

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const Body = Schema.Struct({
  model: maybe(Schema.String),
  messages: Schema.Array(WireMessage),
  temperature: maybe(Schema.Number),
  top_p: maybe(Schema.Number),
  max_tokens: maybe(Schema.Number),
  max_completion_tokens: maybe(Schema.Number),
  stop: maybe(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
  tools: maybe(Schema.Array(Schema.Struct({
    type: Schema.Literal("function"),
    function: Schema.Struct({
      name: Schema.String,
      description: maybe(Schema.String),
      parameters: maybe(JsonObject),
      strict: maybe(Schema.Boolean)
    })
  }))),
  tool_choice: maybe(Schema.Union([
    Schema.Literals(["auto", "none", "required"]),
    Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
  ])),
  response_format: maybe(Schema.Union([
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
  ])),
  reasoning_effort: maybe(Schema.String),
  seed: maybe(Schema.Number),
  user: maybe(Schema.String)
})

type Body = typeof Body.Type
type WireMessage = typeof WireMessage.Type

const decodeBody = Schema.decodeUnknownResult(Body)

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first issue, as `messages[1].role: expected ...`. */
const describeIssue = (issue: SchemaIssue.Issue): string => {
  const first = formatter(issue).issues[0]!
  const path = (first.path ?? [])
    .map((segment) => (typeof segment === "object" ? segment.key : segment))
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("")
  const message = first.message.replace(/^Expected /, "expected ")
  return path === "" ? message : `${path}: ${message}`
}

const text = (content: WireMessage["content"]): string =>
  typeof content === "string"
    ? content
    : (content ?? []).map((part) => (part.type === "text" ? part.text : "")).join("")

const parts = (content: WireMessage["content"]): string | ReadonlyArray<ContentPart> =>
  typeof content === "string" || content === null || content === undefined
    ? content ?? ""
    : content.map((part): ContentPart =>
      part.type === "text"
        ? { type: "text", text: part.text }
        : { type: "image", url: part.image_url.url, ...(part.image_url.detail ? { detail: part.image_url.detail } : {}) }
    )

const message = (wire: WireMessage, index: number): Message | string => {
  switch (wire.role) {
    case "system":
    case "developer":
      return { role: "system", content: text(wire.content) }
    case "user":
      return { role: "user", content: parts(wire.content) }
    case "assistant": {
      const calls = wire.tool_calls ?? []
      return {
        role: "assistant",
        content: text(wire.content),
        ...(calls.length === 0 ? {} : {
          toolCalls: calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }))
        })
      }
    }
    case "tool":
      return typeof wire.tool_call_id === "string"
        ? {
          role: "tool",
          toolCallId: wire.tool_call_id,
          ...(typeof wire.name === "string" ? { name: wire.name } : {}),
          content: text(wire.content)
        }
        : `messages[${index}].tool_call_id: missing (a tool message answers a tool call by its id)`
  }
}

// Each field of the request only when the body sets it (not null): unset fields are not sent.
const given = <K extends string, A>(key: K, value: A | null | undefined): { readonly [P in K]?: A } =>
  (value === null || value === undefined ? {} : { [key]: value }) as { readonly [P in K]?: A }

const request = (body: Body, messages: ReadonlyArray<Message>): ChatRequest => {
  const format = body.response_format
  const choice = body.tool_choice
  return {
    messages,
    ...given("model", body.model),
    ...given("temperature", body.temperature),
    ...given("topP", body.top_p),
    ...given("maxTokens", body.max_completion_tokens ?? body.max_tokens),
    ...given("stop", typeof body.stop === "string" ? [body.stop] : body.stop),
    ...given(
      "tools",
      body.tools?.map(({ function: fn }) => ({
        name: fn.name,
        // OpenAI takes a function without parameters as one without arguments.
        parameters: fn.parameters ?? { type: "object", properties: {} },
        ...given("description", fn.description),
        ...given("strict", fn.strict)
      }))
    ),
    ...given("toolChoice", typeof choice === "object" && choice !== null ? { tool: choice.function.name } : choice),
    ...given(
      "responseFormat",
      format === null || format === undefined || format.type !== "json_schema"
        ? format
        : {
          type: "json_schema" as const,
          name: format.json_schema.name,
          schema: format.json_schema.schema ?? {},
          ...given("description", format.json_schema.description),
          ...given("strict", format.json_schema.strict)
        }
    ),
    // Checked against `ReasoningEffort` with the rest of the request, by the `Llm`.
    ...given("reasoningEffort", body.reasoning_effort as ReasoningEffort | null | undefined),
    ...given("seed", body.seed),
    ...given("user", body.user)
  }
}

/**
 * A parsed JSON body as a `ChatRequest` (its `model` kept when set), or what
 * is wrong with it in one line naming the wire field.
 */
export const toChatRequest = (json: unknown): Result.Result<ChatRequest, string> => {
  const decoded = decodeBody(json)
  if (Result.isFailure(decoded)) return Result.fail(describeIssue(decoded.failure.issue))
  const body = decoded.success
  const messages: Array<Message> = []
  for (const [index, wire] of body.messages.entries()) {
    const converted = message(wire, index)
    if (typeof converted === "string") return Result.fail(converted)
    messages.push(converted)
  }
  return Result.succeed(request(body, messages))
}
