/**
 * Ollama's native wire (`POST /api/chat` and `POST /api/embed`, Ollama's API docs) in both directions: the request
 * (`requestBody` for the client, `toRequest` for the simulator), the reply, whole or one NDJSON line at a time (plain
 * functions over `JSON.parse` output checked with `typeof`), the error body, and the embeddings request and reply.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat } from "../../../ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type { AssistantMessage, ContentPart, Message, ToolCall, ToolDefinition, ToolMessage } from "../../../Message.js"
import { optionalString, RequestError, ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject, JsonObjectSchema, replyModel, requestArguments } from "../../json.js"
import { type EmbeddingsRead, isVector } from "../../providers/embeddingBatches.js"
import { checker, maybe, type Problem, set } from "../../schemaCheck.js"
import { requireImage, toolResultText } from "../contentKinds.js"
import { emit, type EventSink, eventText } from "../eventSink.js"
import { readToolCalls } from "../openAiChat/codec.js"
import { problem } from "../problem.js"
import { namedTool } from "../toolDeclaration.js"
import { reportedUsage, tokenCount } from "../usage.js"
import { ndjson } from "./ndjson.js"

// ---------------------------------------------------------------------------
// Request: its schema (Ollama's API docs, "Generate a chat completion"; unknown fields ignored, `null` as unset)

const WireToolCall = Schema.Struct({
  id: maybe(Schema.String),
  function: Schema.Struct({ name: Schema.String, arguments: maybe(JsonObjectSchema) })
})

// One struct with the role as a literal, so a bad role is named at `messages[i].role`.
const WireMessage = Schema.Struct({
  role: Schema.Literals(["system", "user", "assistant", "tool"]),
  content: maybe(Schema.String),
  // Base64, as Go decodes a `[]byte`.
  images: maybe(Schema.Array(Schema.String)),
  tool_calls: maybe(Schema.Array(WireToolCall)),
  thinking: maybe(Schema.String),
  tool_name: maybe(Schema.String),
  tool_call_id: maybe(Schema.String)
})

const WireTool = Schema.Struct({
  type: maybe(Schema.String),
  function: Schema.Struct({ name: Schema.String, description: maybe(Schema.String), parameters: maybe(Schema.Unknown) })
})

/** The `/api/chat` body. `format` is `"json"` (any JSON) or a JSON Schema; `think` a boolean or a level. */
export const ChatBody = Schema.Struct({
  model: Schema.String,
  messages: maybe(Schema.Array(WireMessage)),
  tools: maybe(Schema.Array(WireTool)),
  format: maybe(Schema.Union([Schema.String, JsonObjectSchema])),
  options: maybe(JsonObjectSchema),
  stream: maybe(Schema.Boolean),
  think: maybe(Schema.Union([Schema.Boolean, Schema.String]))
})

/** `ChatBody`'s check: a parsed JSON body as itself, or what the schema finds wrong with it (the first thing). */
export const checkChatBody = checker(ChatBody, { errors: "first" })

/** A checked `/api/chat` body. */
export type Body = typeof ChatBody.Type

// ---------------------------------------------------------------------------
// Request: the body read back, `requestBody`'s inverse

// Ollama takes images as bare base64 and finds their type in the bytes; a `data:` URL names it.
const imageSignatures: ReadonlyArray<readonly [prefix: string, type: string]> = [
  ["iVBORw0KGgo", "image/png"],
  ["/9j/", "image/jpeg"],
  ["R0lGOD", "image/gif"],
  ["UklGR", "image/webp"]
]

function imageUrl(data: string): string {
  const type = imageSignatures.find(([prefix]) => data.startsWith(prefix))?.[1] ?? "application/octet-stream"
  return `data:${type};base64,${data}`
}

// Images are taken on user turns only, as the library's messages carry them.
function messageOf(wire: NonNullable<Body["messages"]>[number]): Message {
  const content = wire.content ?? ""
  switch (wire.role) {
    case "system":
      return { role: "system", content }
    case "user": {
      const images = wire.images ?? []
      if (images.length === 0) return { role: "user", content }
      const parts: Array<ContentPart> = content === "" ? [] : [{ type: "text", text: content }]
      for (const data of images) parts.push({ type: "image", url: imageUrl(data) })
      return { role: "user", content: parts }
    }
    case "assistant": {
      const out: Mutable<AssistantMessage> = { role: "assistant", content }
      if (wire.thinking != null && wire.thinking !== "") out.reasoning = wire.thinking
      const calls = wire.tool_calls ?? []
      if (calls.length > 0) {
        out.toolCalls = calls.map((call) => ({
          id: call.id ?? "",
          name: call.function.name,
          arguments: JSON.stringify(call.function.arguments ?? {})
        }))
      }
      return out
    }
    case "tool": {
      const out: Mutable<ToolMessage> = { role: "tool", toolCallId: wire.tool_call_id ?? "", content }
      set(out, "name", wire.tool_name)
      return out
    }
  }
}

const levels: ReadonlySet<string> = new Set(["low", "medium", "high", "max"])

// `think` set on `request`: `false` is no reasoning, `true` the model's default (taken as `medium`), or a level.
function effortInto(think: boolean | string, request: Mutable<ChatRequest>): Problem | undefined {
  if (think === "") return undefined
  if (think === false || think === true || levels.has(think)) {
    request.reasoningEffort = think === false ? "none" : think === true ? "medium" : think as ReasoningEffort
    return undefined
  }
  return problem("think", `expected true, false or a level (low, medium, high, max), got ${JSON.stringify(think)}`)
}

// The sampling options the library carries; others (`num_ctx`, `top_k`...) are the deployment's.
function samplingInto(options: Readonly<Record<string, unknown>>, request: Mutable<ChatRequest>): void {
  const number = (key: string) => typeof options[key] === "number" ? options[key] : undefined
  set(request, "temperature", number("temperature"))
  set(request, "topP", number("top_p"))
  const predict = number("num_predict")
  // -1 (no limit) and -2 (fill the context) are no cap.
  if (predict !== undefined && predict > 0) request.maxTokens = predict
  const stop = options["stop"]
  if (Array.isArray(stop) && stop.length > 0 && stop.every((s) => typeof s === "string")) request.stop = stop
  set(request, "seed", number("seed"))
}

/**
 * A checked body as the library's request, or what is wrong with it: `requestBody`'s inverse. Ollama has no tool
 * choice: tools offered may be called.
 */
export function toRequest(body: Body): Result.Result<ChatRequest, Problem> {
  const request: Mutable<ChatRequest> = { model: body.model, messages: (body.messages ?? []).map(messageOf) }
  const tools = body.tools ?? []
  if (tools.length > 0) {
    const definitions: Array<ToolDefinition> = []
    for (let i = 0; i < tools.length; i++) {
      const fn = tools[i]!.function
      const parameters = fn.parameters ?? {}
      if (!isJsonObject(parameters)) {
        return Result.fail(problem(`tools[${i}].function.parameters`, "expected an object"))
      }
      const definition: Mutable<ToolDefinition> = { name: fn.name, parameters }
      set(definition, "description", fn.description)
      definitions.push(definition)
    }
    request.tools = definitions
  }
  const format = body.format
  if (format === "json") request.responseFormat = { type: "json_object" }
  else if (isJsonObject(format)) request.responseFormat = { type: "json_schema", name: "response", schema: format }
  if (body.think != null) {
    const refused = effortInto(body.think, request)
    if (refused !== undefined) return Result.fail(refused)
  }
  if (body.options != null) samplingInto(body.options, request)
  return Result.succeed(request)
}

// ---------------------------------------------------------------------------
// Request: the body a client writes

/** `data:<type>;base64,<payload>` -> the payload; Ollama takes images as bare base64 strings. */
const imageData = (part: Extract<ContentPart, { readonly type: "image" }>, param: string): string => {
  const url = part.url
  if (url.startsWith("data:")) {
    const comma = url.indexOf(",")
    if (comma !== -1 && /;base64$/i.test(url.slice(0, comma))) return url.slice(comma + 1)
    throw new RequestError("an image data: URL must be base64-encoded (data:<type>;base64,<data>)", param)
  }
  throw new RequestError(
    `Ollama takes images inline only, not by URL (${url.slice(0, 60)}${url.length > 60 ? "…" : ""}); ` +
      "fetch the image and send it as a data: URL",
    param
  )
}

const message = (message: Message, index: number, names: Map<string, string>): JsonObject => {
  const param = `messages[${index}]`
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content }
    case "user": {
      if (typeof message.content === "string") return { role: "user", content: message.content }
      let text = ""
      const images: Array<string> = []
      message.content.forEach((part, j) => {
        if (part.type === "text") {
          text += part.text
        } else {
          requireImage(part, `${param}.content[${j}]`, "Ollama's chat API")
          images.push(imageData(part, `${param}.content`))
        }
      })
      return images.length === 0 ? { role: "user", content: text } : { role: "user", content: text, images }
    }
    case "assistant": {
      const out: JsonObject = { role: "assistant", content: message.content }
      // Ollama accepts earlier thinking back on assistant turns.
      if (message.reasoning !== undefined && message.reasoning !== "") out["thinking"] = message.reasoning
      const calls = message.toolCalls
      if (calls !== undefined && calls.length > 0) {
        out["tool_calls"] = calls.map((call, i) => {
          names.set(call.id, call.name)
          return toolCallObject(call, i, requestArguments(call, "Ollama", `${param}.toolCalls[${i}].arguments`))
        })
      }
      return out
    }
    case "tool": {
      // Ollama matches results by tool name; a result without one takes its call's.
      const name = message.name ?? names.get(message.toolCallId)
      const out: JsonObject = { role: "tool", content: toolResultText(message.content, param, "Ollama's API") }
      if (name !== undefined) out["tool_name"] = name
      if (message.toolCallId !== "") out["tool_call_id"] = message.toolCallId
      return out
    }
  }
}

/** A tool call as Ollama writes it, in a request's history and in a reply: its arguments an object, not JSON text. */
export function toolCallObject(call: Pick<ToolCall, "id" | "name">, index: number, args: unknown): JsonObject {
  const fn = { index, name: call.name, arguments: args }
  return call.id === "" ? { function: fn } : { id: call.id, function: fn }
}

function tool(tool: ToolDefinition): JsonObject {
  return { type: "function", function: { ...namedTool(tool), parameters: tool.parameters } }
}

const format = (format: ResponseFormat): unknown =>
  format.type === "json_object" ? "json" : format.type === "json_schema" ? format.schema : undefined

/** `think`: `false` for `none`, else a level; models without levels take any level as `true`. */
const thinkOf: Readonly<Record<ReasoningEffort, boolean | string>> = {
  none: false,
  minimal: "low",
  low: "low",
  medium: "medium",
  high: "high",
  xhigh: "high",
  max: "max"
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  /** Already in Ollama's form: a Go duration string, or -1 for forever. */
  readonly keepAlive: string | number | undefined
  readonly numCtx: number | undefined
}

/**
 * The JSON body of `POST /api/chat`; throws `RequestError` for what Ollama cannot take (image URLs, tool-call arguments
 * that are not a JSON object). `providerOptions` are merged last, so they win; an `options` object in them is merged
 * into the sampling options rather than replacing them. Ollama has no tool choice (`none` sends no tools; no model can
 * be made to call one), nor `parallelToolCalls`, `serviceTier`, `promptCacheKey`, `previousResponse`.
 */
export const requestBody = (request: ChatRequest, options: BodyOptions): JsonObject => {
  const names = new Map<string, string>()
  const body: JsonObject = {
    model: options.model,
    messages: request.messages.map((m, i) => message(m, i, names)),
    // Ollama streams unless told not to.
    stream: options.stream
  }
  // Ollama has no tool choice: `none` sends no tools; `required` and a named tool cannot be enforced.
  if (request.tools !== undefined && request.tools.length > 0 && request.toolChoice !== "none") {
    body["tools"] = request.tools.map(tool)
  }
  if (request.responseFormat !== undefined) {
    const value = format(request.responseFormat)
    if (value !== undefined) body["format"] = value
  }
  if (request.reasoningEffort !== undefined) body["think"] = thinkOf[request.reasoningEffort]
  if (options.keepAlive !== undefined) body["keep_alive"] = options.keepAlive
  const sampling: JsonObject = {}
  if (request.temperature !== undefined) sampling["temperature"] = request.temperature
  if (request.topP !== undefined) sampling["top_p"] = request.topP
  if (request.maxTokens !== undefined) sampling["num_predict"] = request.maxTokens
  if (request.stop !== undefined && request.stop.length > 0) sampling["stop"] = request.stop
  if (request.seed !== undefined) sampling["seed"] = request.seed
  if (options.numCtx !== undefined) sampling["num_ctx"] = options.numCtx
  const extra = request.providerOptions ?? {}
  const extraSampling = extra["options"]
  Object.assign(body, extra)
  if (isJsonObject(extraSampling)) body["options"] = { ...sampling, ...extraSampling }
  else if (extraSampling === undefined && Object.keys(sampling).length > 0) body["options"] = sampling
  return body
}

// ---------------------------------------------------------------------------
// Response

/** `done_reason`: `stop` becomes `tool_calls` when calls were made (Ollama never says so itself). */
export const finishReason = (reason: unknown, madeToolCalls: boolean): FinishReason => {
  if (reason === "length") return "length"
  // `load` and `unload` answer requests without messages; anything else is new.
  if (reason != null && reason !== "" && reason !== "stop") return "other"
  return madeToolCalls ? "tool_calls" : "stop"
}

/** Usage from the final object's counts; a missing count is 0 (they are `omitempty`). */
export const usage = (body: JsonObject): Usage => {
  return reportedUsage(tokenCount(body["prompt_eval_count"]), tokenCount(body["eval_count"]), undefined, 0, 0)
}

/**
 * The tool calls of one message, numbered from `first` (ids that Ollama left
 * empty become `call_<number>`, stable between a stream and a whole reply).
 */
export const toolCalls = (value: unknown, first: number): Array<ToolCall> =>
  readToolCalls(value, (raw, fn, i) => {
    const name = fn["name"]
    if (typeof name !== "string") throw new ShapeError("a tool call has no function.name")
    const args = fn["arguments"]
    const id = raw["id"]
    return {
      id: typeof id === "string" && id !== "" ? id : `call_${first + i}`,
      name,
      arguments: typeof args === "string" ? args : args == null ? "{}" : JSON.stringify(args)
    }
  })

/** The parts of one object (a whole reply, or one stream line) that the response is built from. */
export interface Fragment {
  readonly model: string | undefined
  readonly text: string
  readonly reasoning: string
  readonly toolCalls: ReadonlyArray<ToolCall>
}

/** Reads `model` and `message` of a reply or stream line; throws `ShapeError` when they are not Ollama's. */
export const fragment = (body: JsonObject, firstCall: number): Fragment => {
  const message = body["message"]
  const modelName = replyModel(body["model"])
  if (message == null) return { model: modelName, text: "", reasoning: "", toolCalls: [] }
  if (!isJsonObject(message)) throw new ShapeError("message is not an object")
  return {
    model: modelName,
    text: optionalString(message["content"], "message.content") ?? "",
    reasoning: optionalString(message["thinking"], "message.thinking") ?? "",
    toolCalls: toolCalls(message["tool_calls"], firstCall)
  }
}

/** A whole (non-streamed) reply. */
export interface Reply extends Fragment {
  readonly finishReason: FinishReason
  readonly usage: Usage
}

/** Reads a non-streamed reply; throws `ShapeError` when it is not one. */
export const reply = (body: JsonObject): Reply => {
  if (!isJsonObject(body["message"])) throw new ShapeError("message is not an object")
  const parts = fragment(body, 0)
  return { ...parts, finishReason: finishReason(body["done_reason"], parts.toolCalls.length > 0), usage: usage(body) }
}

// ---------------------------------------------------------------------------
// Writing a reply (the simulator): the whole body, or a stream of lines of the same shape

/** A reply's last object's counts and durations (nanoseconds); a zero count is left out, as Ollama's `omitempty`. */
export interface Metrics {
  /** Ollama's `done_reason` stays `stop` when tool calls were made. */
  readonly doneReason: "stop" | "length"
  readonly totalDuration: number
  readonly loadDuration: number
  readonly promptEvalCount: number
  readonly promptEvalDuration: number
  readonly evalCount: number
  readonly evalDuration: number
}

/** The fields that end a reply: `done`, its reason, counts and durations (without the braces). */
export function doneFields(metrics: Metrics): string {
  let out = `"done":true,"done_reason":"${metrics.doneReason}","total_duration":${metrics.totalDuration},` +
    `"load_duration":${metrics.loadDuration}`
  if (metrics.promptEvalCount > 0) {
    out += `,"prompt_eval_count":${metrics.promptEvalCount},"prompt_eval_duration":${metrics.promptEvalDuration}`
  }
  if (metrics.evalCount > 0) out += `,"eval_count":${metrics.evalCount},"eval_duration":${metrics.evalDuration}`
  return out
}

/** Tool calls as the JSON of `message.tool_calls`; their arguments are JSON object text. */
export function toolCallsJson(calls: ReadonlyArray<Pick<ToolCall, "id" | "name" | "arguments">>): string {
  return JSON.stringify(calls.map((call, index) => toolCallObject(call, index, JSON.parse(call.arguments))))
}

/** An object's opening up to its `message`: the model and `created_at` (RFC 3339) of `created`, Unix seconds. */
export function objectHead(model: string, created: number): string {
  return `{"model":${JSON.stringify(model)},"created_at":"${new Date(created * 1000).toISOString()}",`
}

/** A whole reply as its JSON body: `head` (`objectHead`), the message, and `metrics`' counts. */
export function responseJson(
  response: Pick<ChatResponse, "text" | "reasoning" | "refusal" | "toolCalls">,
  head: string,
  metrics: Metrics
): string {
  // Ollama has no refusal field: a refusal's words follow the text, as its stream's last text line.
  let json = `{"role":"assistant","content":${JSON.stringify(response.text + (response.refusal ?? ""))}`
  const reasoning = response.reasoning ?? ""
  if (reasoning !== "") json += `,"thinking":${JSON.stringify(reasoning)}`
  if (response.toolCalls.length > 0) json += `,"tool_calls":${toolCallsJson(response.toolCalls)}`
  return `${head}"message":${json}},${doneFields(metrics)}}`
}

/** A stream's lines around their JSON strings; the line end is the sink's (`ndjson.ts`' framing). */
function streamLines(head: string) {
  const start = `${head}"message":{"role":"assistant","content":`
  return {
    start,
    thinking: `"","thinking":`,
    toolCalls: `"","tool_calls":`,
    textEnd: `},"done":false}`,
    last: (metrics: Metrics): string => `${start}""},${doneFields(metrics)}}`
  }
}

/** A stream's writer: each write's chunks as its lines, the finish as the last line with `metrics`' counts. */
export interface StreamWriter {
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => void
}

/**
 * The writer of a stream whose lines start with `head` (`objectHead`): a write's tool calls go on one line, each call
 * whole; usage chunks write nothing, as the last line carries the counts.
 */
export function streamWriter(head: string, metrics: () => Metrics, out: EventSink): StreamWriter {
  const lines = streamLines(head)
  // A line of the JSON text `json`, whole.
  const line = (json: string) => emit(out, undefined, json)
  return {
    write(chunks) {
      const calls: Array<{ id: string; name: string; arguments: string }> = []
      const flushCalls = () => {
        if (calls.length > 0) line(lines.start + lines.toolCalls + toolCallsJson(calls) + lines.textEnd)
        calls.length = 0
      }
      for (const chunk of chunks) {
        switch (chunk._tag) {
          case "TextDelta":
            line(lines.start + JSON.stringify(chunk.text) + lines.textEnd)
            break
          case "ReasoningDelta":
            line(lines.start + lines.thinking + JSON.stringify(chunk.text) + lines.textEnd)
            break
          case "ToolCallDelta": {
            const call = calls[chunk.index] ??= { id: chunk.id ?? "", name: chunk.name ?? "", arguments: "" }
            call.arguments += chunk.arguments
            break
          }
          case "Finish":
            flushCalls()
            if (chunk.refusal !== undefined) line(lines.start + JSON.stringify(chunk.refusal) + lines.textEnd)
            line(lines.last(metrics()))
            out.end()
            break
        }
      }
      flushCalls()
    }
  }
}

/** Ollama's error body. */
export function errorJson(message: string): string {
  return JSON.stringify({ error: message })
}

/** A stream's line carrying `json` (an error's, `errorJson`), framed as its other lines. */
export function line(json: string): string {
  return eventText(ndjson, undefined, json)
}

/** A stream line that does not decode (the simulator's malformed fault). */
export const malformed: string = line("{not json")

/** Whether a parsed body or line is Ollama's `{"error": …}`. */
export const isErrorPayload = (value: JsonObject): boolean => value["error"] != null

/**
 * `keepAlive` in Ollama's form: a Go duration string in milliseconds (`"300000ms"`),
 * or `-1` (keep the model loaded forever) for an infinite duration.
 */
export const keepAliveOf = (millis: number): string | number =>
  Number.isFinite(millis) ? `${Math.max(0, Math.round(millis))}ms` : -1

// ---------------------------------------------------------------------------
// Embeddings (`POST /api/embed`, Ollama's API docs)

/**
 * The most inputs sent in one `/api/embed` request. Ollama documents no limit, but it answers only when all of a
 * request's inputs are embedded, so the whole request must fit the client's timeout.
 */
export const maxEmbeddingInputs = 512

/** The body of `POST /api/embed`. */
export const embeddingBody = (
  model: string,
  inputs: ReadonlyArray<string>,
  dimensions: number | undefined,
  keepAlive: string | number | undefined
): JsonObject => {
  const body: JsonObject = { model, input: inputs }
  if (dimensions !== undefined) body["dimensions"] = dimensions
  if (keepAlive !== undefined) body["keep_alive"] = keepAlive
  return body
}

/** An `/api/embed` reply; `totalDuration` in nanoseconds. */
export function embeddingsJson(
  model: string,
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  promptTokens: number,
  totalDuration: number
): string {
  return JSON.stringify({
    model,
    embeddings: vectors,
    total_duration: totalDuration,
    load_duration: 0,
    prompt_eval_count: promptTokens
  })
}

/** The vectors, model and usage (`prompt_eval_count`) of an `/api/embed` reply, or the reason it is not one. */
export function readEmbeddings(body: Readonly<JsonObject>): Result.Result<EmbeddingsRead, string> {
  const embeddings = body["embeddings"]
  if (!Array.isArray(embeddings)) return Result.fail("embeddings is not an array")
  for (let i = 0; i < embeddings.length; i++) {
    if (!isVector(embeddings[i])) return Result.fail(`embeddings[${i}] is not an array of numbers`)
  }
  const prompt = body["prompt_eval_count"]
  const tokens = typeof prompt === "number" && Number.isFinite(prompt) && prompt > 0 ? Math.floor(prompt) : undefined
  return Result.succeed({
    embeddings: embeddings as ReadonlyArray<ReadonlyArray<number>>,
    model: replyModel(body["model"]),
    usage: tokens === undefined ? undefined : { promptTokens: tokens, totalTokens: tokens, estimated: false }
  })
}
