/**
 * The simulator's Ollama native wire format (`POST /api/chat` and `POST /api/embed`), per Ollama's API docs: request
 * decoding (what it refuses worded as Ollama's server words it), the whole-reply body, the NDJSON stream and errors.
 * Its stream, usage and faults' form are in docs/simulator.md ("Each wire's own rules").
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { isJsonObject } from "../internal/json.js"
import type { Refused } from "../internal/schemaCheck.js"
import { replyChunks, responseOf, writeChunks } from "../internal/simulator/chunks.js"
import { requestPrompt } from "../internal/simulator/decoded.js"
import { embeddingFormatOf } from "../internal/simulator/embeddingFormat.js"
import { bareTypeName, bearerKey, invalid, valueAt } from "../internal/simulator/requestChecks.js"
import * as Images from "../internal/tokens/images.js"
import { FramedEvents } from "../internal/wire/eventSink.js"
import {
  type ChatBody,
  checkChatBody,
  embeddingsJson,
  errorJson,
  line,
  malformed,
  type Metrics,
  objectHead,
  responseJson,
  streamWriter,
  toRequest
} from "../internal/wire/ollama/codec.js"
import { ndjson } from "../internal/wire/ollama/ndjson.js"
import type * as Reply from "./Reply.js"
import type {
  ApiError,
  Decoded,
  EmbeddingFormat,
  EmbeddingRequest,
  RenderedStream,
  ReplyMeta,
  WireFormat
} from "./WireFormat.js"

/**
 * What rendering needs beyond the reply: nothing, for this format.
 *
 * @since 0.1.0
 * @category Models
 */
export type Extra = Readonly<Record<string, never>>

const unmarshal = (value: unknown, field: string, expected: string): ApiError =>
  invalid(
    `json: cannot unmarshal ${bareTypeName(value)} into Go struct field ChatRequest.${field} of type ${expected}`,
    field
  )

type Wire = typeof ChatBody.Type

const modelRequired = invalid("model is required", "model")

const formatError = (format: unknown): ApiError => invalid(`invalid format: ${JSON.stringify(format)}`, "format")

const toolCallError = (message: number): ApiError =>
  invalid(`messages[${message}].tool_calls: a tool call needs function.name`, `messages[${message}].tool_calls`)

/** What is wrong with `messages[i]` at `path` (below it), as Ollama's server (Go's `encoding/json`) words it. */
function messageError(body: unknown, path: ReadonlyArray<PropertyKey>): ApiError {
  const value = valueAt(body, path.slice(0, 3))
  const at = `messages[${String(path[1])}]`
  switch (path.length === 2 ? undefined : path[2]) {
    case undefined:
      return unmarshal(value, "messages", "api.Message")
    case "role":
      return invalid(`${at}.role: invalid role ${JSON.stringify(value) ?? "nothing"}`, `${at}.role`)
    case "content":
      return unmarshal(value, "messages.content", "string")
    case "images":
      return unmarshal(value, "messages.images", "[]api.ImageData")
    case "tool_calls": {
      if (path.length === 3) return unmarshal(value, "messages.tool_calls", "[]api.ToolCall")
      const args = valueAt(body, path.slice(0, 6))
      return path[5] === "arguments"
        ? unmarshal(args, "messages.tool_calls.function.arguments", "api.ToolCallFunctionArguments")
        : toolCallError(path[1] as number)
    }
    default:
      return unmarshal(value, `messages.${String(path[2])}`, "string")
  }
}

/** What the codec's schema refused (its first refusal), worded as Ollama's server words it. */
function refusalError(body: unknown, refused: Refused): ApiError {
  const { path } = refused.refusals[0]
  if (path.length === 0) {
    return invalid(`json: cannot unmarshal ${bareTypeName(body)} into Go value of type api.ChatRequest`)
  }
  const value = valueAt(body, path.slice(0, 1))
  switch (path[0]) {
    case "model":
      return value === undefined || value === null ? modelRequired : unmarshal(value, "model", "string")
    case "messages":
      return path.length === 1 ? unmarshal(value, "messages", "[]api.Message") : messageError(body, path)
    case "tools":
      return path.length === 1
        ? unmarshal(value, "tools", "api.Tools")
        : invalid(`tools[${String(path[1])}]: a tool needs function.name`, `tools[${String(path[1])}]`)
    case "format":
      return formatError(value)
    case "options":
      return unmarshal(value, "options", "map[string]interface {}")
    case "stream":
      return unmarshal(value, "stream", "bool")
    case "think":
      return invalid(`invalid think value: ${JSON.stringify(value)}`, "think")
    default:
      return invalid(`invalid ${String(path[0])}: ${JSON.stringify(value)}`, String(path[0]))
  }
}

/** What Ollama's server refuses in a body that fits the wire: its rules past the shape. */
function ruleError(wire: Wire): ApiError | undefined {
  if (wire.model === "") return modelRequired
  const messages = wire.messages ?? []
  // Ollama answers an empty `messages` with a load (done_reason "load"); the simulator has no model to load.
  if (messages.length === 0) {
    return invalid("messages must not be empty (the simulator does not load models)", "messages")
  }
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    // Go decodes `[]byte` from base64; a URL is not base64.
    if (message.images?.some((image) => !/^[A-Za-z0-9+/]*={0,2}$/.test(image))) {
      return invalid("illegal base64 data in images", `messages[${i}].images`)
    }
    const calls = message.tool_calls
    if (calls !== undefined && calls !== null && message.role !== "assistant") {
      return unmarshal(calls, "messages.tool_calls", "[]api.ToolCall")
    }
  }
  const numPredict = wire.options?.num_predict
  if (numPredict !== undefined && numPredict !== null && !Number.isInteger(numPredict)) {
    return invalid(`option "num_predict" must be of type integer`, "options.num_predict")
  }
  const format = wire.format
  if (typeof format === "string" && format !== "" && format !== "json") return formatError(format)
  return undefined
}

function decode(body: unknown): Result.Result<Decoded<Extra>, ApiError> {
  const checked = checkChatBody(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const wire = checked.success
  const broken = ruleError(wire)
  if (broken !== undefined) return Result.fail(broken)
  const converted = toRequest(wire)
  if (Result.isFailure(converted)) return Result.fail(invalid(converted.failure.message, converted.failure.param))
  const request = converted.success
  // Ollama has no tool choice (the codec reads none): offered tools may be called.
  return requestPrompt(request, {
    model: wire.model,
    stream: wire.stream !== false,
    extra: {},
    parallelToolCalls: true,
    reasoning: request.reasoningEffort !== undefined && request.reasoningEffort !== "none",
    images: Images.openAi
  })
}

/** Nanoseconds the simulated model "spent", derived from the counts so replies stay deterministic. */
const nanosPerPromptToken = 250_000
const nanosPerEvalToken = 20_000_000
const loadNanos = 1_500_000

function metricsOf(reply: Reply.Reply): Metrics {
  const usage = reply.usage
  const evaluated = Math.max(0, usage.promptTokens - usage.cachedTokens)
  const promptNanos = evaluated * nanosPerPromptToken
  const evalNanos = usage.completionTokens * nanosPerEvalToken
  return {
    // Ollama's done_reason stays "stop" when tool calls were made.
    doneReason: reply.finishReason === "length" ? "length" : "stop",
    totalDuration: loadNanos + promptNanos + evalNanos,
    loadDuration: loadNanos,
    promptEvalCount: evaluated,
    promptEvalDuration: promptNanos,
    evalCount: usage.completionTokens,
    evalDuration: evalNanos
  }
}

function renderReply(reply: Reply.Reply, meta: ReplyMeta): string {
  return responseJson(responseOf(reply, meta), objectHead(meta.model, meta.created), metricsOf(reply))
}

// The stream through the dialect's writer: a line a token, one line of the whole calls, the counts' line its tail.
function renderStream(reply: Reply.Reply, meta: ReplyMeta): RenderedStream {
  const out = new FramedEvents(ndjson)
  const writer = streamWriter(objectHead(meta.model, meta.created), () => metricsOf(reply), out)
  return writeChunks(writer, out, replyChunks(reply, meta, "together"))
}

const injected: Readonly<Record<number, string>> = {
  400: "the simulator rejected this request (injected fault)",
  401: "unauthorized",
  403: "forbidden",
  404: "model not found (injected fault)",
  429: "too many requests, please retry later",
  500: "an internal error occurred (injected fault)",
  502: "an error was encountered while running the model: unexpected EOF",
  503: "server busy, please try again. maximum pending requests exceeded"
}

const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  const [status, message] = errorOf(error)
  return { status, body: errorJson(message) }
}

// An error's status and Ollama's message for it.
function errorOf(error: ApiError): readonly [status: number, message: string] {
  switch (error._tag) {
    case "InvalidRequest":
      return [error.status ?? 400, error.message]
    case "InvalidKey":
      return [401, "unauthorized"]
    case "RateLimited":
      return [429, `too many requests: limit ${error.limit} per minute, retry in ${Math.ceil(error.retryAfterMs)}ms`]
    case "ModelNotFound":
      return [404, `model '${error.model}' not found`]
    case "ContextLength":
      return [
        400,
        `input exceeds maximum context length: ${error.promptTokens} prompt tokens and ${error.completionTokens} ` +
        `to predict, the context length is ${error.limit}`
      ]
    case "NotFound":
      return [404, `${error.method} ${error.path}: 404 page not found`]
    case "Injected": {
      const { fault } = error
      return [
        fault.status,
        fault.message ?? injected[fault.status] ??
          `simulated ${fault.status >= 500 ? "server" : "client"} error (HTTP ${fault.status})`
      ]
    }
  }
}

const streamError = errorJson("an error was encountered while running the model: simulated failure")

/**
 * The Ollama `/api/chat` wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  // Ollama itself takes no key; Ollama cloud takes a bearer token.
  apiKey: bearerKey,
  decode,
  renderError,
  renderReply,
  renderStream,
  renderStreamError: () => line(streamError),
  renderBodyError: () => streamError,
  malformedEvent: malformed,
  streamContentType: "application/x-ndjson",
  idPrefix: ""
}

// ---------------------------------------------------------------------------
// Embeddings (`POST /api/embed`, Ollama's API docs)

/** Reads `model`, `input` (a string or an array of strings) and `dimensions`. Ollama sets no limit on the inputs. */
const decodeEmbedding = (body: unknown): Result.Result<EmbeddingRequest, ApiError> => {
  if (!isJsonObject(body)) return Result.fail(invalid("invalid request body"))
  const model = body.model
  if (typeof model !== "string" || model === "") return Result.fail(invalid("model is required", "model"))
  const input = body.input
  const inputs: ReadonlyArray<unknown> = typeof input === "string" ? [input] : Array.isArray(input) ? input : []
  if (typeof input !== "string" && !Array.isArray(input)) return Result.fail(invalid("invalid input type", "input"))
  if (inputs.length === 0 || inputs.some((text) => typeof text !== "string" || text === "")) {
    return Result.fail(invalid("input must be a non-empty string or an array of non-empty strings", "input"))
  }
  const dimensions = body.dimensions
  if (
    dimensions !== undefined && !(typeof dimensions === "number" && Number.isInteger(dimensions) && dimensions >= 1)
  ) {
    return Result.fail(invalid("dimensions must be a positive integer", "dimensions"))
  }
  return Result.succeed({ model, inputs: inputs as ReadonlyArray<string>, dimensions, base64: false, single: false })
}

const renderEmbedding = (
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  request: EmbeddingRequest,
  promptTokens: number
): string => embeddingsJson(request.model, vectors, promptTokens, 1_000_000)

/**
 * The Ollama `/api/embed` wire format, with the errors of `/api/chat`.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = embeddingFormatOf(format, decodeEmbedding, renderEmbedding)
