/**
 * The Chat Completions wire (`POST /v1/chat/completions`, OpenAI's API reference "Create chat completion" and "The chat
 * completion object") in both directions: the request (decoded for the gateway, the simulator and the `batch` command's
 * input lines; `requestBody` for the client), the reply (`reply`, `completion`), the stream's chunk (`readChunk` and
 * the templates the one writer, `writer.ts`, fills in) and OpenAI's error body, which the Responses API shares.
 *
 * Ranges (a `temperature` of 5, no messages) are the `ChatRequest` schema's, which the `Llm` checks. The schema's guard
 * accepts a body as it is; its decode runs only for a body it refuses, to name the field (`internal/schemaCheck.ts`).
 * The readers are plain functions over `JSON.parse` output, checked with `typeof`, as decoding a schema union per call
 * or per stream event costs more than the event.
 */
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type { CacheBreakpoint, ContentPart, ImagePart, Message, ToolCall, ToolDefinition } from "../../../Message.js"
import { optionalString, RequestError, ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject, JsonObjectSchema, parseJson, replyId, replyModel } from "../../json.js"
import { requireArray, requireObject } from "../../json.js"
import type { Reply } from "../../providers/adapter.js"
import { checker, maybe, type Problem, problemOf, set } from "../../schemaCheck.js"
import { asciiJson } from "../asciiJson.js"
import { breakpointOf, CacheControl } from "../breakpoint.js"
import { carriedBy, idCarrying } from "../carried.js"
import { requireMediaKind } from "../contentKinds.js"
import { problem } from "../problem.js"
import { toolDeclaration } from "../toolDeclaration.js"
import { openAiUsage, openAiUsageFields } from "../usage.js"

// A file's bytes, as the API's `file_data` and `input_file` take them: a data URL.
export const fileBytes = Schema.String.check(Schema.isPattern(/^data:/, { message: "a data: URL of the file's bytes" }))

const Part = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String, cache_control: maybe(CacheControl) }),
  Schema.Struct({
    type: Schema.Literal("image_url"),
    image_url: Schema.Struct({ url: Schema.String, detail: maybe(Schema.Literals(["auto", "low", "high"])) }),
    cache_control: maybe(CacheControl)
  }),
  // A file by its bytes (the API reference's file content part; a PDF): the gateway takes none by `file_id`.
  Schema.Struct({
    type: Schema.Literal("file"),
    file: Schema.Struct({ file_data: fileBytes, filename: maybe(Schema.String) }),
    cache_control: maybe(CacheControl)
  })
]).annotate({ expected: "a text, image_url or file part" })

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
  reasoning_content: maybe(Schema.String),
  // DeepSeek's "Chat Prefix Completion (Beta)": a last assistant message to go on from (`requestBody`'s prefill).
  prefix: maybe(Schema.Boolean),
  cache_control: maybe(CacheControl)
})

const WireTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: maybe(Schema.String),
    parameters: maybe(JsonObjectSchema),
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
      schema: maybe(JsonObjectSchema),
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
  prompt_cache_key: maybe(Schema.String),
  service_tier: maybe(Schema.String),
  parallel_tool_calls: maybe(Schema.Boolean),
  // vLLM's flags for going on from a last assistant message (`requestBody`'s prefill).
  continue_final_message: maybe(Schema.Boolean),
  add_generation_prompt: maybe(Schema.Boolean)
})

/** The body a server reads: `ChatBody` with `model` required (the address) and the stream's fields. */
export const CreateRequest = Schema.Struct({
  ...ChatBody.fields,
  // In `ChatBody`'s place (first), so a body without one is named at `model`.
  model: Schema.String,
  stream: maybe(Schema.Boolean),
  stream_options: maybe(Schema.Struct({ include_usage: maybe(Schema.Boolean) }))
})

/** `CreateRequest`'s check: a parsed JSON body as itself, or what the schema finds wrong with it (the first thing). */
export const checkCreateRequest = checker(CreateRequest, { errors: "first" })

type WireContent = typeof Content.Type | null | undefined

// A message's text: its text parts joined (the reply's reader, which takes the same shapes).
function messageText(content: WireContent): string {
  return textOf(content, "content") ?? ""
}

/**
 * The breakpoint of a message that is not a user's, which the library sets on the message: its own `cache_control`,
 * else its last part's that has one (its parts are joined into one text).
 */
function messageBreakpoint(wire: typeof WireMessage.Type): { readonly cache?: CacheBreakpoint } {
  let cache = breakpointOf(wire.cache_control)
  const content = wire.content
  if (cache === undefined && Array.isArray(content)) {
    for (const part of content) cache = breakpointOf(part.cache_control) ?? cache
  }
  return cache === undefined ? {} : { cache }
}

/** A user message's content, each part with its breakpoint, the message's own on its last part. */
function userContent(wire: typeof WireMessage.Type): string | ReadonlyArray<ContentPart> {
  const content = wire.content
  const own = breakpointOf(wire.cache_control)
  if (content == null || typeof content === "string") {
    return own === undefined ? content ?? "" : [{ type: "text", text: content ?? "", cache: own }]
  }
  return content.map((part, j): ContentPart => {
    const cache = breakpointOf(part.cache_control) ?? (j === content.length - 1 ? own : undefined)
    const marked = cache === undefined ? {} : { cache }
    if (part.type === "text") return { type: "text", text: part.text, ...marked }
    // A file's name is not carried: Converse's document names take no dots, and no other API reads one.
    if (part.type === "file") return { type: "image", url: part.file.file_data, ...marked }
    const detail = part.image_url.detail
    return detail == null
      ? { type: "image", url: part.image_url.url, ...marked }
      : { type: "image", url: part.image_url.url, detail, ...marked }
  })
}

// A call as the client sent it back: the provider's id, and what the provider needs back on it, out of the id that
// carried it (`carried.ts`).
function toolCallOf(call: typeof WireToolCall.Type): ToolCall {
  const { id, metadata } = carriedBy(call.id)
  return {
    id,
    name: call.function.name,
    arguments: call.function.arguments,
    ...(metadata !== undefined ? { providerMetadata: metadata } : {})
  }
}

// The message at `index` pushed onto `out`, or what is wrong with it (a tool message without its call's id).
function messageInto(wire: typeof WireMessage.Type, index: number, out: Array<Message>): Problem | undefined {
  switch (wire.role) {
    case "system":
    case "developer":
      out.push({ role: "system", content: messageText(wire.content), ...messageBreakpoint(wire) })
      return undefined
    case "user":
      out.push({ role: "user", content: userContent(wire) })
      return undefined
    case "assistant": {
      const calls = wire.tool_calls ?? []
      const reasoning = wire.reasoning_content ?? undefined
      out.push({
        role: "assistant",
        content: messageText(wire.content),
        ...(calls.length > 0 ? { toolCalls: calls.map(toolCallOf) } : {}),
        ...(reasoning !== undefined ? { reasoning } : {}),
        ...messageBreakpoint(wire)
      })
      return undefined
    }
    case "tool":
      return wire.tool_call_id == null
        ? problem(`messages[${index}].tool_call_id`, "missing (a tool message answers a tool call by its id)")
        : toolMessageInto(wire, carriedBy(wire.tool_call_id).id, index, out)
  }
}

// A tool message: its content a string, or text parts (the only parts the API takes in one).
function toolMessageInto(
  wire: typeof WireMessage.Type,
  toolCallId: string,
  index: number,
  out: Array<Message>
): Problem | undefined {
  const content = wire.content
  const named = wire.name != null ? { name: wire.name } : {}
  const cache = messageBreakpoint(wire)
  if (content == null || typeof content === "string") {
    out.push({ role: "tool", toolCallId, ...named, content: content ?? "", ...cache })
    return undefined
  }
  const parts: Array<ContentPart> = []
  for (let j = 0; j < content.length; j++) {
    const part = content[j]!
    if (part.type !== "text") {
      return problem(`messages[${index}].content[${j}].type`, "a tool message takes text parts only")
    }
    parts.push({ type: "text", text: part.text })
  }
  out.push({ role: "tool", toolCallId, ...named, content: parts, ...cache })
  return undefined
}

/** An OpenAI function tool (of chat completions or of the Responses API) as a `ToolDefinition`. */
export function functionTool(fn: {
  readonly name: string
  readonly description?: string | null | undefined
  readonly parameters?: ToolDefinition["parameters"] | null | undefined
  readonly strict?: boolean | null | undefined
}): ToolDefinition {
  // OpenAI takes a function without parameters as one without arguments.
  const out: Mutable<ToolDefinition> = {
    name: fn.name,
    parameters: fn.parameters ?? { type: "object", properties: {} }
  }
  set(out, "description", fn.description)
  set(out, "strict", fn.strict)
  return out
}

function toolOf(wire: typeof WireTool.Type): ToolDefinition {
  return functionTool(wire.function)
}

function toolChoiceOf(choice: typeof WireToolChoice.Type): ToolChoice {
  return typeof choice === "string" ? choice : { tool: choice.function.name }
}

/** An OpenAI response format as the library's (the Responses API's `text.format` with its fields as `json_schema`). */
export function responseFormatOf(format: typeof WireResponseFormat.Type): ResponseFormat {
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
 * A checked body as the engine's request, or what is wrong with it. The body's `model` is left out: the gateway reads
 * it as its address, `batch` as the line's model.
 */
export function toRequest(body: typeof ChatBody.Type): Result.Result<ChatRequest, Problem> {
  const messages: Array<Message> = []
  for (let i = 0; i < body.messages.length; i++) {
    const problem = messageInto(body.messages[i]!, i, messages)
    if (problem !== undefined) return Result.fail(problem)
  }
  const request: Mutable<ChatRequest> = { messages }
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "maxTokens", body.max_completion_tokens ?? body.max_tokens)
  set(request, "stop", typeof body.stop === "string" ? [body.stop] : body.stop)
  if (body.tools != null && body.tools.length > 0) request.tools = body.tools.map(toolOf)
  if (body.tool_choice != null) request.toolChoice = toolChoiceOf(body.tool_choice)
  set(request, "parallelToolCalls", body.parallel_tool_calls)
  if (body.response_format != null) {
    request.responseFormat = responseFormatOf(body.response_format)
  }
  // Checked against `ReasoningEffort` with the rest of the request, by the `Llm`.
  set(request, "reasoningEffort", body.reasoning_effort as ReasoningEffort | null | undefined)
  set(request, "seed", body.seed)
  set(request, "user", body.user)
  // The conversation a router with affinity keeps on the deployment whose cache it warmed.
  set(request, "session", body.prompt_cache_key)
  set(request, "promptCacheKey", body.prompt_cache_key)
  set(request, "serviceTier", body.service_tier)
  return Result.succeed(request)
}

/** Which name of the reply's limit `toRequest` took from the body (`max_completion_tokens` when it gave both). */
export function maxTokensField(body: typeof ChatBody.Type): MaxTokensField {
  return body.max_completion_tokens == null
    ? "max_tokens"
    : "max_completion_tokens"
}

/** `ChatBody`'s check: a parsed JSON body as itself (not a copy), or what the schema finds wrong with it. */
export const checkChatBody = checker(ChatBody, { errors: "first" })

/**
 * A parsed JSON body as a `ChatRequest` (its `model` kept when set), or what is wrong with it, naming the wire field.
 */
export function toChatRequest(json: unknown): Result.Result<ChatRequest, string> {
  const checked = checkChatBody(json)
  if (Result.isFailure(checked)) return Result.fail(problemOf(checked.failure).message)
  const body = checked.success
  const request = toRequest(body)
  if (Result.isFailure(request)) return Result.fail(request.failure.message)
  const model = body.model
  return Result.succeed(model == null ? request.success : { ...request.success, model })
}

/** The wire's names of the engine's `maxTokens`: OpenAI's current one and the one it replaced. */
export type MaxTokensField = "max_completion_tokens" | "max_tokens"

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  topP: "top_p",
  toolChoice: "tool_choice",
  responseFormat: "response_format",
  reasoningEffort: "reasoning_effort",
  toolCalls: "tool_calls",
  toolCallId: "tool_call_id"
}

/**
 * A path of the engine's request (`tools[0].name`) as the wire request writes it (`tools[0].function.name`);
 * `maxTokens` is the name the body gave it.
 */
export function wirePath(path: string, maxTokens: MaxTokensField = "max_tokens"): string {
  return path
    .replace(
      /\b(topP|maxTokens|toolChoice|responseFormat|reasoningEffort|toolCalls|toolCallId)\b/g,
      (name) => name === "maxTokens" ? maxTokens : renamed[name]!
    )
    .replace(/\btools\[(\d+)\]\.(name|description|parameters|strict)/, "tools[$1].function.$2")
    .replace(/(tool_calls\[\d+\])\.(name|arguments)/, "$1.function.$2")
    .replace(/\bresponse_format\.(name|description|schema|strict)/, "response_format.json_schema.$1")
}

// ---------------------------------------------------------------------------
// Encoding: the library's request as the body a client sends

/** `OpenAI-Organization` and `OpenAI-Project` when set, then the client's own headers. */
export function headers(options: {
  readonly organization?: string | undefined
  readonly project?: string | undefined
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
}): Readonly<Record<string, string | Redacted.Redacted<string>>> {
  return {
    ...(options.organization !== undefined ? { "openai-organization": options.organization } : {}),
    ...(options.project !== undefined ? { "openai-project": options.project } : {}),
    ...options.headers
  }
}

function encodePart(part: ContentPart, where: string): JsonObject {
  if (part.type === "text") return { type: "text", text: part.text }
  if (requireMediaKind(part, where, "the Chat Completions API", ["image", "pdf"]) === "pdf") {
    return { type: "file", file: pdfFile(part, where, "the Chat Completions API takes a PDF's bytes only") }
  }
  return {
    type: "image_url",
    image_url: part.detail === undefined ? { url: part.url } : { url: part.url, detail: part.detail }
  }
}

/**
 * A PDF part as OpenAI's file part takes it (Chat Completions' `file`, Responses' `input_file`): its name and its bytes
 * as a data URL, not a web URL (`refusal`, what is said of one).
 */
export function pdfFile(part: ImagePart, where: string, refusal: string) {
  if (!part.url.startsWith("data:")) throw new RequestError(`${where} is a PDF by URL: ${refusal}`, where)
  return { filename: part.document?.title ?? "document.pdf", file_data: part.url }
}

/** A tool call as the wire writes it, in a request's history and in a reply. */
export function encodeToolCall(call: ToolCall): JsonObject {
  return { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } }
}

function encodeMessage(message: Message, index: number): JsonObject {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content }
    case "user":
      return {
        role: "user",
        content: typeof message.content === "string"
          ? message.content
          : message.content.map((part, j) => encodePart(part, `messages[${index}].content[${j}]`))
      }
    case "assistant": {
      const calls = message.toolCalls
      if (calls === undefined || calls.length === 0) return { role: "assistant", content: message.content }
      const out: JsonObject = {
        role: "assistant",
        // OpenAI documents null content beside tool calls; some compatible servers reject "".
        content: message.content === "" ? null : message.content,
        tool_calls: calls.map(encodeToolCall)
      }
      // DeepSeek's thinking mode requires the reasoning back on tool-call turns
      // and ignores it elsewhere; older servers reject it, so send it only there.
      if (message.reasoning !== undefined) out["reasoning_content"] = message.reasoning
      return out
    }
    case "tool":
      // Its text, as one string (OpenAI takes text parts there too, but compatible servers do not all); its media go
      // in the user message after it (`encodeMessages`).
      return {
        role: "tool",
        tool_call_id: message.toolCallId,
        content: typeof message.content === "string"
          ? message.content
          : message.content.map((part) => part.type === "text" ? part.text : "").join("")
      }
  }
}

/**
 * The messages as the API takes them. A tool message takes text only (the API reference's tool message), so a tool
 * result's images and PDFs go in one user message after the tool messages of its turn (the API wants those right
 * after the assistant's calls), each tool result's after a line naming its call.
 */
function encodeMessages(messages: ChatRequest["messages"]): Array<JsonObject> {
  const out: Array<JsonObject> = []
  let media: Array<JsonObject> = []
  messages.forEach((message, index) => {
    if (message.role !== "tool" && media.length > 0) {
      out.push({ role: "user", content: media })
      media = []
    }
    out.push(encodeMessage(message, index))
    if (message.role !== "tool" || typeof message.content === "string") return
    const parts = message.content.flatMap((part, j) =>
      part.type === "text" ? [] : [encodePart(part, `messages[${index}].content[${j}]`)]
    )
    if (parts.length > 0) media.push({ type: "text", text: `The tool result ${message.toolCallId} holds:` }, ...parts)
  })
  if (media.length > 0) out.push({ role: "user", content: media })
  return out
}

function encodeTool(tool: ToolDefinition): JsonObject {
  return { type: "function", function: toolDeclaration(tool, "parameters") }
}

function encodeToolChoice(choice: ToolChoice): unknown {
  return typeof choice === "string" ? choice : { type: "function", function: { name: choice.tool } }
}

/**
 * A response format as OpenAI writes it: a JSON schema's fields `nested` under `json_schema` (chat completions'), or
 * beside its `type` (the Responses API's `text.format`).
 */
export function encodeFormat(format: ResponseFormat, nested: boolean): JsonObject {
  if (format.type !== "json_schema") return { type: format.type }
  const schema: JsonObject = { name: format.name }
  if (format.description !== undefined) schema["description"] = format.description
  schema["schema"] = format.schema
  schema["strict"] = format.strict ?? true
  return nested ? { type: "json_schema", json_schema: schema } : { type: "json_schema", ...schema }
}

/**
 * How a server is asked to go on from a last assistant message (`OpenAiChat.Options.prefill`): `true`, the message
 * alone; `"continue_final_message"`, vLLM's flags; `"prefix"`, `prefix: true` on the message; `false`, never asked.
 */
export type Prefill = boolean | "continue_final_message" | "prefix"

// A last assistant message (without tool calls) is a prefill; the flags the server's style wants go with it.
function askToContinue(request: ChatRequest, body: JsonObject, messages: Array<JsonObject>, prefill: Prefill) {
  const last = request.messages.at(-1)
  if (last?.role !== "assistant" || (last.toolCalls?.length ?? 0) > 0) return
  if (prefill === "continue_final_message") {
    // vLLM's OpenAI-compatible server docs (Chat API extra parameters): `continue_final_message` leaves the final
    // message open for the model to continue; it cannot go with `add_generation_prompt`, which is true by default.
    body["continue_final_message"] = true
    body["add_generation_prompt"] = false
  } else if (prefill === "prefix") {
    // DeepSeek's "Chat Prefix Completion (Beta)": the last message is the assistant's, with `prefix: true`.
    messages[messages.length - 1] = { ...messages[messages.length - 1], prefix: true }
  }
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  readonly includeUsage: boolean
  readonly maxTokensField: MaxTokensField
  /** Whether `promptCacheKey` is sent (`OpenAiChat.Options.sendPromptCacheKey`). */
  readonly promptCacheKey: boolean
  /** Whether `serviceTier` is sent (`OpenAiChat.Options.sendServiceTier`). */
  readonly serviceTier: boolean
  /** How a last assistant message is sent (`OpenAiChat.Options.prefill`). */
  readonly prefill: Prefill
}

/** The most stop sequences Chat Completions takes (OpenAI's reference: up to four); Anthropic's clients send more. */
export const maxStop = 4

/**
 * Whether a model's sampling is its own: OpenAI's reasoning models (the o-series, GPT-5 but `gpt-5-chat`) refuse
 * `stop`, and a `temperature` or `top_p` but the default, on Chat Completions and the Responses API. Read over the
 * name's last segment (`openai/o3`). GPT-5.1 and later take them at effort `none`, but leaving them out there too keeps
 * the request valid at any effort.
 */
export const fixedSampling = (model: string): boolean =>
  /^(?:o[1-9](?![0-9])|gpt-5(?![0-9])(?!-chat))/.test(model.slice(model.lastIndexOf("/") + 1))

/**
 * The JSON body of `POST /chat/completions`; `providerOptions` are merged last, so they win. What the API refuses in a
 * state the request may be in is left out rather than sent (OpenAI's Chat Completions reference): a tool choice and
 * `parallel_tool_calls` without tools (with nothing offered, no reply calls a tool), more than four `stop` sequences
 * (`maxStop`), and `stop` and sampling to a reasoning model (`fixedSampling`). `service_tier` goes only where
 * `sendServiceTier` (OpenAI's own API).
 */
export function requestBody(request: ChatRequest, options: BodyOptions): JsonObject {
  const messages = encodeMessages(request.messages)
  const body: JsonObject = { model: options.model, messages }
  askToContinue(request, body, messages, options.prefill)
  if (!fixedSampling(options.model)) {
    if (request.temperature !== undefined) body["temperature"] = request.temperature
    if (request.topP !== undefined) body["top_p"] = request.topP
    if (request.stop !== undefined && request.stop.length > 0) body["stop"] = request.stop.slice(0, maxStop)
  }
  if (request.maxTokens !== undefined) body[options.maxTokensField] = request.maxTokens
  if (request.tools !== undefined && request.tools.length > 0) {
    body["tools"] = request.tools.map(encodeTool)
    if (request.toolChoice !== undefined) body["tool_choice"] = encodeToolChoice(request.toolChoice)
    if (request.parallelToolCalls !== undefined) body["parallel_tool_calls"] = request.parallelToolCalls
  }
  if (request.responseFormat !== undefined) body["response_format"] = encodeFormat(request.responseFormat, true)
  if (request.reasoningEffort !== undefined) body["reasoning_effort"] = request.reasoningEffort
  if (request.seed !== undefined) body["seed"] = request.seed
  if (request.user !== undefined) body["user"] = request.user
  if (options.promptCacheKey && request.promptCacheKey !== undefined) body["prompt_cache_key"] = request.promptCacheKey
  if (options.serviceTier && request.serviceTier !== undefined) body["service_tier"] = request.serviceTier
  if (options.stream) {
    body["stream"] = true
    if (options.includeUsage) body["stream_options"] = { include_usage: true }
  }
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  return body
}

// ---------------------------------------------------------------------------
// The reply

export function finishReason(reason: unknown): FinishReason {
  if (reason === "stop" || reason === "length" || reason === "tool_calls" || reason === "content_filter") return reason
  return reason === "function_call" ? "tool_calls" : "other"
}

const usageFields = openAiUsageFields("prompt", "completion")

/**
 * Usage from `usage` (OpenAI and compatibles, Groq's `x_groq.usage`) and the `service_tier` of its reply or chunk;
 * undefined when it is not an object.
 */
export function usage(value: unknown, serviceTier?: unknown): Usage | undefined {
  return openAiUsage(value, usageFields, serviceTier)
}

/** `content`: a string, null, or (some compatible servers) an array of text parts. */
export function textOf(value: unknown, field: string): string | undefined {
  if (value == null) return undefined
  if (typeof value === "string") return value
  if (Array.isArray(value)) {
    let out = ""
    for (const part of value) {
      if (isJsonObject(part) && typeof part["text"] === "string") out += part["text"]
    }
    return out
  }
  throw new ShapeError(`${field} is neither a string nor null`)
}

/** Tool-call arguments are a JSON string; a few servers send the object itself. */
export function argumentsOf(value: unknown): string {
  return typeof value === "string" ? value : value == null ? "" : JSON.stringify(value)
}

/**
 * Reasoning text: `reasoning_content` (DeepSeek, older vLLM) or `reasoning` (OpenRouter, Ollama, Groq, newer vLLM).
 * Servers in transition send both with the same text, so only one is read. `contentField` is a constant path, as a
 * stream reads it per event.
 */
export function reasoningOf(record: JsonObject, contentField: string): string | undefined {
  const content = textOf(record["reasoning_content"], contentField)
  if (content !== undefined && content !== "") return content
  const reasoning = record["reasoning"]
  // OpenRouter may also send `reasoning` as structured details in some modes; only text counts.
  return typeof reasoning === "string" && reasoning !== "" ? reasoning : content
}

/** Whether a parsed body or event is an error object: an `error` field, or vLLM's flat `object: "error"`. */
export function isErrorPayload(value: JsonObject): boolean {
  const error = value["error"]
  return error != null || value["object"] === "error"
}

/**
 * A message's `tool_calls` (OpenAI's shape, which Ollama's takes too), each read by `read` from its object and its
 * `function`, in order; throws `ShapeError` when the list or a call is not of that shape.
 */
export function readToolCalls(
  value: unknown,
  read: (raw: JsonObject, fn: JsonObject, index: number) => ToolCall
): Array<ToolCall> {
  if (value == null) return []
  if (!Array.isArray(value)) throw new ShapeError("message.tool_calls is not an array")
  return value.map((raw: unknown, index) => {
    const fn = isJsonObject(raw) ? raw["function"] : undefined
    if (!isJsonObject(raw) || !isJsonObject(fn)) throw new ShapeError("a tool call has no function object")
    return read(raw, fn, index)
  })
}

/** Reads a non-streaming reply; throws `ShapeError` when it is not one. */
export function reply(body: JsonObject): Reply {
  const choices = requireArray(body["choices"], "choices")
  const choice = requireObject(choices[0], "choices[0]")
  const message = requireObject(choice["message"], "choices[0].message")
  const toolCalls = readToolCalls(message["tool_calls"], (raw, fn) => ({
    id: optionalString(raw["id"], "tool_calls[].id") ?? "",
    name: optionalString(fn["name"], "tool_calls[].function.name") ?? "",
    arguments: argumentsOf(fn["arguments"])
  }))
  return {
    id: replyId(body["id"]),
    model: replyModel(body["model"]),
    text: textOf(message["content"], "message.content") ?? "",
    reasoning: reasoningOf(message, "message.reasoning_content"),
    refusal: optionalString(message["refusal"], "message.refusal"),
    toolCalls,
    finishReason: finishReason(choice["finish_reason"]),
    usage: usage(body["usage"], body["service_tier"])
  }
}

export const maxRaw = 2_000

/** The start of a text that failed to decode, for `OutputDecodeError.raw`. */
export function excerpt(text: string): string {
  return text.length > maxRaw ? `${text.slice(0, maxRaw)}…` : text
}

/** The library's finish reason as the wire's: `other` has no name there, and a client reads `stop` as done. */
export function wireFinishReason(reason: FinishReason): string {
  return reason === "other" ? "stop" : reason
}

/** `usage` as the wire writes it, in a reply and in a stream's last chunk, with the details OpenAI reports. */
export function usageObject(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedPromptTokens, audio_tokens: usage.audioPromptTokens ?? 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: usage.audioCompletionTokens ?? 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0
    }
  }
}

/** A reply's `service_tier`, where it names one other than the standard one (`Usage.serviceTier`). */
function serviceTierOf(usage: Usage): { readonly service_tier?: string } {
  return usage.serviceTier === undefined ? {} : { service_tier: usage.serviceTier }
}

/** What a `chat.completion` body says: the gateway writes a `ChatResponse`, the simulator its generated reply. */
export type Completion = Pick<
  ChatResponse,
  "model" | "text" | "reasoning" | "refusal" | "toolCalls" | "finishReason" | "usage"
>

/**
 * A whole reply as a `chat.completion` body of id `id`: the writer's own (the gateway's `chatcmpl-…`, as its stream
 * has), never the id the provider gave the reply.
 */
export function completion(
  response: Completion,
  id: string,
  created: number,
  options: CompletionOptions = {}
): string {
  const calls = response.toolCalls
  const message: Record<string, unknown> = {
    role: "assistant",
    content: calls.length > 0 && response.text === "" ? null : response.text
  }
  if (response.reasoning !== undefined) message["reasoning_content"] = response.reasoning
  message["refusal"] = response.refusal ?? null
  // Each call's id carries what its provider needs back on it (`carried.ts`): the client returns nothing else of it.
  if (calls.length > 0) {
    message["tool_calls"] = calls.map((call) =>
      encodeToolCall({ ...call, id: idCarrying(call.id, call.providerMetadata) })
    )
  }
  return JSON.stringify({
    id,
    object: "chat.completion",
    created,
    model: response.model,
    choices: [{
      index: 0,
      message,
      logprobs: null,
      finish_reason: wireFinishReason(response.finishReason),
      ...(options.contentFilters === true ? { content_filter_results: contentFilterResults } : {})
    }],
    usage: usageObject(response.usage),
    ...serviceTierOf(response.usage),
    ...(options.contentFilters === true ? { prompt_filter_results: promptFilterResults } : {})
  })
}

/** What a server adds to a `chat.completion` body of its own. */
export interface CompletionOptions {
  /**
   * Azure OpenAI's content-filter results (Azure OpenAI's REST API reference, "Content filtering"):
   * `content_filter_results` on the choice and `prompt_filter_results` on the body, every category safe. Default off.
   */
  readonly contentFilters?: boolean | undefined
}

// Azure's results of a filter that found nothing, for the prompt and for a reply's choice.
const safe = { filtered: false, severity: "safe" }
const contentFilterResults = { hate: safe, self_harm: safe, sexual: safe, violence: safe }
const promptFilterResults = [{ prompt_index: 0, content_filter_results: contentFilterResults }]

// The stream: `chat.completion.chunk` events (OpenAI's API reference, "The chat completion chunk object"), each
// `data: <chunk>`, ending with `data: [DONE]`

const ChunkToolCall = Schema.Struct({
  index: maybe(Schema.Number),
  id: maybe(Schema.String),
  function: maybe(Schema.Struct({ name: maybe(Schema.String), arguments: maybe(Schema.String) }))
})

const Delta = Schema.Struct({
  content: maybe(Schema.Union([Schema.String, Schema.Array(Schema.Struct({ text: maybe(Schema.String) }))])),
  reasoning_content: maybe(Schema.String),
  reasoning: maybe(Schema.String),
  refusal: maybe(Schema.String),
  tool_calls: maybe(Schema.Array(ChunkToolCall))
})

/**
 * One `chat.completion.chunk`, as far as a client reads it (usage on the last chunk with `include_usage`, on every one
 * from vLLM; an error a server sends in place of a chunk). `readChunk` reads the same fields by hand; a property test
 * holds the two to agree.
 */
export const Chunk = Schema.Struct({
  id: maybe(Schema.String),
  model: maybe(Schema.String),
  choices: maybe(Schema.Array(Schema.Struct({
    index: maybe(Schema.Number),
    delta: maybe(Delta),
    finish_reason: maybe(Schema.String)
  }))),
  usage: maybe(Schema.Unknown),
  x_groq: maybe(Schema.Struct({ usage: maybe(Schema.Unknown), error: maybe(Schema.String) })),
  // An error body in place of a chunk (`isErrorPayload`).
  error: maybe(Schema.Unknown),
  object: maybe(Schema.String)
})

/** A fragment of a streamed tool call: the first names the call, the next ones carry pieces of its arguments. */
export interface ChunkToolCallRead {
  /** Which call the fragment belongs to; some compatible servers send none, or reuse one for another call. */
  readonly index: number | undefined
  readonly id: string | undefined
  readonly name: string | undefined
  readonly arguments: string
}

/** What one chunk says of the first choice, and the chunk's own fields. */
export interface ChunkRead {
  /** `""` when the chunk names no id. */
  readonly id: string
  readonly model: string | undefined
  readonly usage: Usage | undefined
  /** The error body the chunk carries instead of an answer (OpenAI's, vLLM's, OpenRouter's, Groq's). */
  readonly failure: unknown
  readonly reasoning: string | undefined
  readonly text: string | undefined
  readonly refusal: string | undefined
  readonly toolCalls: ReadonlyArray<ChunkToolCallRead>
  readonly finishReason: string | undefined
}

const noToolCalls: ReadonlyArray<ChunkToolCallRead> = []

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined
}

function toolCallFragment(raw: unknown): ChunkToolCallRead {
  if (!isJsonObject(raw)) throw new ShapeError("a tool call fragment is not an object")
  const fn = raw["function"]
  const index = raw["index"]
  return {
    index: typeof index === "number" ? index : undefined,
    id: nonEmpty(raw["id"]),
    name: isJsonObject(fn) ? nonEmpty(fn["name"]) : undefined,
    arguments: isJsonObject(fn) ? argumentsOf(fn["arguments"]) : ""
  }
}

function joined(a: string | undefined, b: string | undefined): string | undefined {
  return a === undefined ? b : b === undefined ? a : a + b
}

/**
 * Reads one chunk parsed from an event's data; throws `ShapeError` when it is not one. Usage may sit on any chunk
 * (OpenAI's last, vLLM's running totals, Groq's `x_groq`): the caller keeps the last. Only the first choice is read
 * (`n` > 1 is not supported); a server that splits it over several entries has them joined.
 */
export function readChunk(value: JsonObject): ChunkRead {
  let failure: unknown = isErrorPayload(value) ? value : undefined
  let usageRead = value["usage"] == null
    ? undefined
    : usage(value["usage"], value["service_tier"])
  const groq = value["x_groq"]
  if (isJsonObject(groq)) {
    if (typeof groq["error"] === "string") failure ??= { error: { message: groq["error"] } }
    usageRead = usage(groq["usage"], value["service_tier"]) ?? usageRead
  }
  let reasoning: string | undefined
  let text: string | undefined
  let refusal: string | undefined
  let toolCalls = noToolCalls
  let reason: string | undefined
  const choices = value["choices"]
  if (choices != null) {
    if (!Array.isArray(choices)) throw new ShapeError("choices is not an array")
    for (let i = 0; i < choices.length; i++) {
      const choice = requireObject(choices[i], "a choice")
      const index = choice["index"]
      if (typeof index === "number" && index !== 0) continue
      const finish = choice["finish_reason"]
      // OpenRouter marks a failed generation this way, usually with a top-level `error` too.
      if (finish === "error") failure ??= value
      if (typeof finish === "string") reason = finish
      const delta = choice["delta"]
      if (!isJsonObject(delta)) continue
      reasoning = joined(reasoning, reasoningOf(delta, "delta.reasoning_content"))
      text = joined(text, textOf(delta["content"], "delta.content"))
      const refused = delta["refusal"]
      if (typeof refused === "string") refusal = joined(refusal, refused)
      const calls = delta["tool_calls"]
      if (calls == null) continue
      if (!Array.isArray(calls)) throw new ShapeError("delta.tool_calls is not an array")
      const fragments = toolCalls === noToolCalls ? [] : [...toolCalls]
      for (let c = 0; c < calls.length; c++) fragments.push(toolCallFragment(calls[c]))
      toolCalls = fragments
    }
  }
  return {
    id: replyId(value["id"]),
    model: replyModel(value["model"]),
    usage: usageRead,
    failure,
    reasoning,
    text,
    refusal,
    toolCalls,
    finishReason: reason
  }
}

/** What names a stream's chunks. */
export interface ChunkMeta {
  readonly id: string
  /** Unix seconds. */
  readonly created: number
  /** The model producing the chunks. */
  readonly model: string
  /** `system_fingerprint`, when the server names its configuration. */
  readonly systemFingerprint?: string | undefined
  /** `stream_options.include_usage`: `"usage": null` on every chunk but a last one with `choices: []` and the usage. */
  readonly includeUsage: boolean
  /**
   * Azure OpenAI's content-filter results (`CompletionOptions`): a first chunk of no choices with the prompt's, and
   * each delta's choice with its own (not the finish's). Default off.
   */
  readonly contentFilters?: boolean | undefined
}

/**
 * The fixed text of one stream's chunk events' data, built once per stream and model so that a chunk costs a
 * concatenation. ASCII whatever the id and model hold, as the gateway writes ASCII templates without checking them. The
 * events' framing is the sink's (`wire/eventSink.ts`).
 */
export interface ChunkTemplates {
  readonly meta: ChunkMeta
  /** An event's data up to its `choices`. */
  readonly head: string
  /** An event's data with one choice, up to its delta. */
  readonly open: string
  /** The end of an event's data after its delta, with no finish reason yet. */
  readonly close: string
  /** The first event's data: the assistant's role. */
  readonly role: string
  /** `open` and a delta up to the JSON string of its text; `closeText` ends the event's data. */
  readonly content: string
  readonly reasoning: string
  /** `open` and a delta up to the JSON string of its refusal (OpenAI's `delta.refusal`), ended by `closeText`. */
  readonly refusal: string
  readonly closeText: string
  /** `open` and a delta up to its tool call fragments; `closeTools` ends the event's data. */
  readonly tools: string
  readonly closeTools: string
}

/** The templates of the chunks of `meta`'s stream. */
export function chunkTemplates(meta: ChunkMeta): ChunkTemplates {
  const fingerprint = meta.systemFingerprint === undefined
    ? ""
    : `"system_fingerprint":${asciiJson(meta.systemFingerprint)},`
  const head = `{"id":${asciiJson(meta.id)},"object":"chat.completion.chunk","created":${meta.created},` +
    `"model":${asciiJson(meta.model)},${fingerprint}"choices":`
  const open = `${head}[{"index":0,"delta":`
  const filters = meta.contentFilters === true
  const close = `,"logprobs":null,"finish_reason":null${filters ? contentFilterField : ""}}]${
    meta.includeUsage ? `,"usage":null` : ""
  }}`
  return {
    meta,
    head,
    open,
    close,
    role: `${open}{"role":"assistant","content":"","refusal":null}${close}`,
    content: `${open}{"content":`,
    reasoning: `${open}{"reasoning_content":`,
    refusal: `${open}{"refusal":`,
    closeText: `}${close}`,
    tools: `${open}{"tool_calls":[`,
    closeTools: `]}${close}`
  }
}

const contentFilterField = `,"content_filter_results":${JSON.stringify(contentFilterResults)}`

/** Azure's first chunk's data, before the role's (`contentFilters`): no choices, the prompt's results. */
export const promptResultsData = JSON.stringify({
  choices: [],
  created: 0,
  id: "",
  model: "",
  object: "",
  prompt_filter_results: promptFilterResults
})

/**
 * A fragment of a streamed tool call as JSON: its `id` (carrying what the provider needs back on the call, as a whole
 * reply's does) and `name` on the first, then pieces of its arguments.
 */
export function toolCallFragmentJson(fragment: {
  readonly index: number
  readonly id?: string | undefined
  readonly name?: string | undefined
  readonly arguments: string
  readonly providerMetadata?: ToolCall["providerMetadata"]
}): string {
  const call: Record<string, unknown> = { index: fragment.index }
  if (fragment.id !== undefined) {
    call["id"] = idCarrying(fragment.id, fragment.providerMetadata)
    call["type"] = "function"
  }
  call["function"] = fragment.name === undefined
    ? { arguments: fragment.arguments }
    : { name: fragment.name, arguments: fragment.arguments }
  return JSON.stringify(call)
}

/** The data of the stream's finishing event: no delta, the finish reason. */
export function finishData(templates: ChunkTemplates, reason: FinishReason): string {
  return `${templates.open}{},"logprobs":null,"finish_reason":"${wireFinishReason(reason)}"}]${
    templates.meta.includeUsage ? `,"usage":null` : ""
  }}`
}

/**
 * The data of the usage event the client asked for (`include_usage`): no choices, the whole usage, and the service tier
 * the call was served at when it was not the standard one.
 */
export function usageData(templates: ChunkTemplates, usage: Usage): string {
  const tier = usage.serviceTier === undefined ? "" : `,"service_tier":${JSON.stringify(usage.serviceTier)}`
  return `${templates.head}[],"usage":${JSON.stringify(usageObject(usage))}${tier}}`
}

/** The data of the stream's end marker. */
export const doneData = "[DONE]"

// ---------------------------------------------------------------------------
// The error body

/** The JSON text of OpenAI's error body. */
export function openAiErrorJson(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } })
}

/**
 * Azure OpenAI's error body for what Azure answers itself (a key, a limit, a deployment): no `type`, a string `code`.
 */
export function azureErrorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } })
}

/**
 * The flat error body of vLLM before 0.10.1 (`object: "error"`, its `code` the HTTP status), read by `isErrorPayload`.
 */
export function vllmErrorJson(message: string, type: string, code: number): string {
  return JSON.stringify({ object: "error", message, type, param: null, code })
}

/** What an OpenRouter error chunk says: the failing upstream provider, and its error. */
export interface OpenRouterError {
  readonly provider: string
  readonly code: number
  readonly message: string
}

/**
 * OpenRouter's failed generation mid-stream: a chunk of `meta`'s stream with a top-level `error` and a choice whose
 * `finish_reason` is `error`, which `readChunk` reads as the failure.
 */
export function openRouterErrorChunk(
  meta: Pick<ChunkMeta, "id" | "created" | "model">,
  error: OpenRouterError
): string {
  return JSON.stringify({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    provider: error.provider,
    error: { code: error.code, message: error.message, metadata: { provider_name: error.provider } },
    choices: [{ index: 0, delta: { content: "" }, finish_reason: "error", native_finish_reason: "error" }]
  })
}

/** OpenAI's error body, as far as the library reads it (`code` is a number on some compatible servers). */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: maybe(Schema.String),
    param: maybe(Schema.String),
    code: maybe(Schema.Union([Schema.String, Schema.Number]))
  })
})

/** The `error` of an OpenAI error body. */
export type ErrorFields = typeof ErrorBody.Type["error"]

const isErrorBody = Schema.is(ErrorBody)

/** The `error` of the OpenAI error body `text`, or undefined when `text` is not one. */
export function errorOf(text: string): ErrorFields | undefined {
  const parsed = Option.getOrUndefined(parseJson(text))
  return isErrorBody(parsed) ? parsed.error : undefined
}
