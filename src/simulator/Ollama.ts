/**
 * The simulator's Ollama native wire format (`POST /api/chat`), per Ollama's API docs:
 * request decoding, the whole-reply body, the NDJSON stream and `{"error": "…"}`
 * errors; and `POST /api/embed`.
 *
 * As Ollama does, a request streams unless it says `"stream": false`. A stream
 * is one JSON object per line: a line per reasoning (`message.thinking`) or
 * text (`message.content`) token, every tool call whole in one line (arguments
 * as a JSON object, `done_reason` left at `"stop"`), then a `done: true` line
 * with the counts. The shared faults map onto it: `stream-error` writes an
 * `{"error": …}` line (the `shape` parameter is ignored), `malformed` a line that
 * is not JSON, `truncate` ends the body before the `done` line.
 *
 * Usage: `prompt_eval_count` is the prompt minus `x-simulator-cached-tokens`
 * (Ollama counts only the tokens it evaluated) and, like every count, is left
 * out when it is zero (Go's `omitempty`); `eval_count` holds reasoning, text
 * and tool-call tokens. Durations are nanoseconds derived from the counts.
 * Sampling comes from `options`: `num_predict` caps the reply; `think` (true or
 * a level) asks for reasoning. Prompt tokens are counted as for Chat
 * Completions: message text and tool-call names and arguments, plus 85 per
 * image in `images`.
 *
 * @since 0.1.0
 */
import {
  embeddingsJson,
  errorJson,
  type Metrics,
  objectHead,
  replyJson,
  streamLines,
  toolCallsJson
} from "../internal/codec/ollama.js"
import { Transcript } from "../internal/simulator/decoded.js"
import { embeddingFormatOf } from "../internal/simulator/embeddingFormat.js"
import { quoteToken } from "../internal/simulator/quoteToken.js"
import { bareTypeName, bearerKey, invalid, isRecord } from "../internal/simulator/requestChecks.js"
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

const roles = new Set(["system", "user", "assistant", "tool"])

const decodeTools = (tools: unknown): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return unmarshal(tools, "tools", "api.Tools")
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i]
    if (!isRecord(tool) || !isRecord(tool.function) || typeof tool.function.name !== "string") {
      return invalid(`tools[${i}]: a tool needs function.name`, `tools[${i}]`)
    }
    out.push({ name: tool.function.name, parameters: tool.function.parameters })
  }
  return out
}

const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) {
    return invalid(`json: cannot unmarshal ${bareTypeName(body)} into Go value of type api.ChatRequest`)
  }
  const model = body.model
  if (model === undefined || model === null || model === "") return invalid("model is required", "model")
  if (typeof model !== "string") return unmarshal(model, "model", "string")
  const messages = body.messages ?? []
  if (!Array.isArray(messages)) return unmarshal(messages, "messages", "[]api.Message")
  // Ollama answers an empty `messages` with a load (done_reason "load"); the simulator has no model to load.
  if (messages.length === 0) {
    return invalid("messages must not be empty (the simulator does not load models)", "messages")
  }
  const transcript = new Transcript()
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const path = `messages[${i}]`
    if (!isRecord(message)) return unmarshal(message, "messages", "api.Message")
    const role = message.role
    if (typeof role !== "string" || !roles.has(role)) {
      return invalid(`${path}.role: invalid role ${JSON.stringify(role) ?? "nothing"}`, `${path}.role`)
    }
    const content = message.content ?? ""
    if (typeof content !== "string") return unmarshal(content, "messages.content", "string")
    const imageList = message.images ?? []
    if (!Array.isArray(imageList) || !imageList.every((image) => typeof image === "string")) {
      return unmarshal(imageList, "messages.images", "[]api.ImageData")
    }
    for (const image of imageList as ReadonlyArray<string>) {
      // Go decodes `[]byte` from base64; a URL is not base64.
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(image)) return invalid("illegal base64 data in images", `${path}.images`)
    }
    transcript.add(role, content, imageList.length)
    const calls = message.tool_calls
    if (calls !== undefined && calls !== null) {
      if (role !== "assistant" || !Array.isArray(calls)) {
        return unmarshal(calls, "messages.tool_calls", "[]api.ToolCall")
      }
      for (const call of calls as ReadonlyArray<unknown>) {
        if (!isRecord(call) || !isRecord(call.function) || typeof call.function.name !== "string") {
          return invalid(`${path}.tool_calls: a tool call needs function.name`, `${path}.tool_calls`)
        }
        const args = call.function.arguments ?? {}
        // Ollama's arguments are an object; a JSON string fails to unmarshal.
        if (!isRecord(args)) {
          return unmarshal(args, "messages.tool_calls.function.arguments", "api.ToolCallFunctionArguments")
        }
        transcript.chars += call.function.name.length + JSON.stringify(args).length
      }
    }
  }

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") return unmarshal(stream, "stream", "bool")
  const options = body.options ?? {}
  if (!isRecord(options)) return unmarshal(options, "options", "map[string]interface {}")
  const numPredict = options.num_predict
  if (
    numPredict !== undefined && numPredict !== null && !(typeof numPredict === "number" && Number.isInteger(numPredict))
  ) {
    return invalid(`option "num_predict" must be of type integer`, "options.num_predict")
  }
  const maxTokens = typeof numPredict === "number" && numPredict > 0 ? numPredict : undefined
  const think = body.think
  if (think !== undefined && think !== null && typeof think !== "boolean" && typeof think !== "string") {
    return invalid(`invalid think value: ${JSON.stringify(think)}`, "think")
  }
  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  // `format` is "json" (JSON mode: any JSON) or a JSON Schema object.
  const format = body.format
  if (format !== undefined && format !== null && format !== "" && format !== "json" && !isRecord(format)) {
    return invalid(`invalid format: ${JSON.stringify(format)}`, "format")
  }

  return transcript.decoded(
    {
      model,
      tools,
      // Ollama has no tool choice: offered tools may be called.
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: true,
      reasoning: think === true || (typeof think === "string" && think !== "" && think !== "none"),
      maxTokens,
      responseSchema: isRecord(format) ? format : undefined,
      jsonObject: format === "json"
    },
    stream !== false,
    {}
  )
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
  return replyJson(objectHead(meta.model, meta.created), {
    text: reply.content.join(""),
    reasoning: reply.reasoning.join(""),
    toolCalls: reply.toolCalls
  }, metricsOf(reply))
}

function renderStream(reply: Reply.Reply, meta: ReplyMeta): RenderedStream {
  const lines = streamLines(objectHead(meta.model, meta.created))
  const events: Array<string> = []
  for (const token of reply.reasoning) events.push(lines.start + lines.thinking + quoteToken(token) + lines.textEnd)
  for (const token of reply.content) events.push(lines.start + quoteToken(token) + lines.textEnd)
  if (reply.toolCalls.length > 0) {
    events.push(lines.start + lines.toolCalls + toolCallsJson(reply.toolCalls) + lines.textEnd)
  }
  return { events, tail: lines.last(metricsOf(reply)) }
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
  switch (error._tag) {
    case "InvalidRequest":
      return { status: error.status ?? 400, body: errorJson(error.message) }
    case "InvalidKey":
      return { status: 401, body: errorJson("unauthorized") }
    case "RateLimited":
      return {
        status: 429,
        body: errorJson(
          `too many requests: limit ${error.limit} per minute, retry in ${Math.ceil(error.retryAfterMs)}ms`
        )
      }
    case "ModelNotFound":
      return { status: 404, body: errorJson(`model '${error.model}' not found`) }
    case "ContextLength":
      return {
        status: 400,
        body: errorJson(
          `input exceeds maximum context length: ${error.promptTokens} prompt tokens and ${error.completionTokens} ` +
            `to predict, the context length is ${error.limit}`
        )
      }
    case "NotFound":
      return { status: 404, body: errorJson(`${error.method} ${error.path}: 404 page not found`) }
    case "Injected": {
      const { fault } = error
      return {
        status: fault.status,
        body: errorJson(
          fault.message ?? injected[fault.status] ??
            `simulated ${fault.status >= 500 ? "server" : "client"} error (HTTP ${fault.status})`
        )
      }
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
  renderStreamError: () => `${streamError}\n`,
  renderBodyError: () => streamError,
  malformedEvent: "{not json\n",
  streamContentType: "application/x-ndjson",
  idPrefix: ""
}

// ---------------------------------------------------------------------------
// Embeddings (`POST /api/embed`, Ollama's API docs)

/** Reads `model`, `input` (a string or an array of strings) and `dimensions`. Ollama sets no limit on the inputs. */
const decodeEmbedding = (body: unknown): EmbeddingRequest | ApiError => {
  if (!isRecord(body)) return invalid("invalid request body")
  const model = body.model
  if (typeof model !== "string" || model === "") return invalid("model is required", "model")
  const input = body.input
  const inputs: ReadonlyArray<unknown> = typeof input === "string" ? [input] : Array.isArray(input) ? input : []
  if (typeof input !== "string" && !Array.isArray(input)) return invalid("invalid input type", "input")
  if (inputs.length === 0 || inputs.some((text) => typeof text !== "string" || text === "")) {
    return invalid("input must be a non-empty string or an array of non-empty strings", "input")
  }
  const dimensions = body.dimensions
  if (
    dimensions !== undefined && !(typeof dimensions === "number" && Number.isInteger(dimensions) && dimensions >= 1)
  ) {
    return invalid("dimensions must be a positive integer", "dimensions")
  }
  return { model, inputs: inputs as ReadonlyArray<string>, dimensions, base64: false, single: false }
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
