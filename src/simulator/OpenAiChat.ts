/**
 * The simulator's OpenAI Chat Completions wire format (`POST /v1/chat/completions`),
 * per WIRE.md §1: request decoding, response and chunk shapes, errors; and
 * OpenAI embeddings (`POST /v1/embeddings`, §7.1) with the same errors.
 *
 * Requests are checked by hand, field by field, rather than with a Schema: the
 * simulator has to answer tens of thousands of requests a second and name the
 * offending field the way OpenAI does (`Invalid 'messages': empty array…`).
 * Responses are built by string concatenation around the generated tokens.
 *
 * Prompt tokens are counted over message text: string contents, text parts,
 * and assistant tool-call names and arguments (`Reply.countTokens`), plus 85
 * per image, audio or file part. Tool definitions are not counted.
 *
 * @since 0.1.0
 */
import { openAiErrorJson as errorBody } from "../internal/openAiErrorJson.js"
import { decoded } from "../internal/simulator/decoded.js"
import { invalidType, missingParameter, requiredArray } from "../internal/simulator/openAiErrors.js"
import { quoteToken } from "../internal/simulator/quoteToken.js"
import { bearerKey, invalid, isRecord, typeName } from "../internal/simulator/requestChecks.js"
import type * as Reply from "./Reply.js"
import type { StreamErrorShape } from "./Simulator.js"
import type { ApiError, Decoded, EmbeddingFormat, EmbeddingRequest, RenderedStream, ReplyMeta, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** `stream_options.include_usage`: a final `choices: []` chunk with usage, and `"usage": null` on the others. */
  readonly includeUsage: boolean
}

const roles = new Set(["system", "developer", "user", "assistant", "tool", "function"])

/** Text and non-text parts of a message's `content`; a string result is what is wrong with it. */
const contentOf = (
  content: unknown,
  path: string
): { readonly text: string; readonly media: number } | ApiError => {
  if (typeof content === "string") return { text: content, media: 0 }
  if (content === null || content === undefined) return { text: "", media: 0 }
  if (!Array.isArray(content)) return invalidType(path, "one of a string or array of objects", content)
  let text = ""
  let media = 0
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i]
    if (!isRecord(part) || typeof part.type !== "string") {
      return invalid(`Invalid '${path}[${i}]': expected an object with a 'type'.`, `${path}[${i}]`)
    }
    if (part.type === "text") {
      if (typeof part.text !== "string") return missingParameter(`${path}[${i}].text`)
      text += part.text
    } else {
      media++
    }
  }
  return { text, media }
}

const decodeTools = (tools: unknown): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return invalidType("tools", "an array", tools)
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i]
    if (!isRecord(tool)) return invalid(`Invalid type for 'tools[${i}]': expected an object.`, `tools[${i}]`)
    if (tool.type === "custom") continue
    if (tool.type !== "function" || !isRecord(tool.function) || typeof tool.function.name !== "string") {
      return missingParameter(`tools[${i}].function.name`)
    }
    out.push({ name: tool.function.name, parameters: tool.function.parameters })
  }
  return out
}

const decodeToolChoice = (
  choice: unknown,
  tools: ReadonlyArray<Reply.Tool>,
  anyTools: boolean
): Reply.ToolChoice | ApiError => {
  if (choice === undefined || choice === null) return { _tag: "Auto" }
  if (!anyTools && choice !== "none") {
    return invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice")
  }
  if (choice === "auto") return { _tag: "Auto" }
  if (choice === "none") return { _tag: "None" }
  if (choice === "required") return { _tag: "Required" }
  if (isRecord(choice)) {
    if (choice.type === "function" && isRecord(choice.function) && typeof choice.function.name === "string") {
      const name = choice.function.name
      if (!tools.some((tool) => tool.name === name)) {
        return invalid(`Invalid value for 'tool_choice': function '${name}' is not in 'tools'.`, "tool_choice")
      }
      return { _tag: "Named", name }
    }
    if (choice.type === "allowed_tools") return { _tag: "Auto" }
  }
  return invalid(
    "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', function: {name}}.",
    "tool_choice"
  )
}

/** The JSON Schema of `response_format` (undefined for none), or what is wrong with it. */
const decodeResponseFormat = (format: unknown): { readonly schema: unknown } | ApiError | undefined => {
  if (format === undefined || format === null) return undefined
  if (!isRecord(format)) return invalid("Invalid type for 'response_format': expected an object.", "response_format")
  switch (format.type) {
    case "text":
    case "json_object":
      return undefined
    case "json_schema": {
      // Nested in a `json_schema` wrapper, unlike the Responses API's flat `text.format`.
      const wrapper = format.json_schema
      if (!isRecord(wrapper) || typeof wrapper.name !== "string") return missingParameter("response_format.json_schema.name")
      return { schema: wrapper.schema ?? {} }
    }
    default:
      return invalid(
        `Invalid value: ${JSON.stringify(format.type) ?? "nothing"}. Supported values are: 'text', 'json_object' and 'json_schema'.`,
        "response_format.type",
        "invalid_value"
      )
  }
}

/** The `model` of a request body, or what is wrong with it. */
const modelOf = (body: Readonly<Record<string, unknown>>): string | ApiError => {
  const model = body.model
  if (model === undefined || model === null) return invalid("you must provide a model parameter", "model")
  return typeof model === "string"
    ? model
    : invalidType("model", "a string", model)
}

const decode = (body: unknown): Decoded<Extra> | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const model = modelOf(body)
  if (typeof model !== "string") return model
  const messages = requiredArray("messages", body.messages, "an array")
  if (!Array.isArray(messages)) return messages
  let chars = 0
  let media = 0
  let lastUserText = ""
  let lastRole = ""
  let lastText = ""
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i]
    const path = `messages[${i}]`
    if (!isRecord(message)) return invalidType(path, "an object", message)
    const role = message.role
    if (typeof role !== "string" || !roles.has(role)) {
      return invalid(
        `Invalid value for '${path}.role': expected one of 'system', 'developer', 'user', 'assistant', 'tool', got ${
          JSON.stringify(role) ?? "nothing"
        }.`,
        `${path}.role`
      )
    }
    const content = contentOf(message.content, `${path}.content`)
    if ("_tag" in content) return content
    if (role === "tool" && typeof message.tool_call_id !== "string") {
      return invalid(
        `Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.`,
        `${path}.tool_call_id`
      )
    }
    chars += content.text.length
    media += content.media
    if (role === "assistant" && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls as ReadonlyArray<unknown>) {
        if (isRecord(call) && isRecord(call.function)) {
          const fn = call.function
          chars += (typeof fn.name === "string" ? fn.name.length : 0) +
            (typeof fn.arguments === "string" ? fn.arguments.length : 0)
        }
      }
    }
    if (role === "user") lastUserText = content.text
    lastRole = role
    lastText = content.text
  }

  const stream = body.stream
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") return invalidType("stream", "a boolean", stream)
  const streamOptions = body.stream_options
  let includeUsage = false
  if (streamOptions !== undefined && streamOptions !== null) {
    if (stream !== true) {
      return invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    }
    if (!isRecord(streamOptions)) {
      return invalid(`Invalid type for 'stream_options': expected an object.`, "stream_options")
    }
    includeUsage = streamOptions.include_usage === true
  }

  let maxTokens: number | undefined
  for (const name of ["max_completion_tokens", "max_tokens"] as const) {
    const value = body[name]
    if (value === undefined || value === null) continue
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      return invalid(
        `Invalid '${name}': expected an integer of at least 1, but got ${JSON.stringify(value)} instead.`,
        name,
        "invalid_value"
      )
    }
    maxTokens ??= value
  }

  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.tool_choice, tools, Array.isArray(body.tools) && body.tools.length > 0)
  if ("_tag" in toolChoice && toolChoice._tag === "InvalidRequest") return toolChoice
  const responseFormat = decodeResponseFormat(body.response_format)
  if (responseFormat !== undefined && "_tag" in responseFormat) return responseFormat
  const effort = body.reasoning_effort ?? (isRecord(body.reasoning) ? body.reasoning.effort : undefined)
  const reasoning = typeof effort === "string" && effort !== "none"

  return decoded(
    {
      model,
      lastUserText,
      lastRole,
      toolResult: lastRole === "tool" ? lastText : undefined,
      tools,
      toolChoice: toolChoice as Reply.ToolChoice,
      parallelToolCalls: body.parallel_tool_calls !== false,
      reasoning,
      maxTokens,
      responseSchema: responseFormat?.schema,
      chars,
      media
    },
    stream === true,
    { includeUsage }
  )
}

const usageJson = (usage: Reply.Usage): string =>
  `{"prompt_tokens":${usage.promptTokens},"completion_tokens":${usage.completionTokens},"total_tokens":${usage.totalTokens},` +
  `"prompt_tokens_details":{"cached_tokens":${usage.cachedTokens},"audio_tokens":0},` +
  `"completion_tokens_details":{"reasoning_tokens":${usage.reasoningTokens},"audio_tokens":0,` +
  `"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`

const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string => {
  const hasCalls = reply.toolCalls.length > 0
  let message = `{"role":"assistant","content":${hasCalls ? "null" : JSON.stringify(reply.content.join(""))}`
  if (reply.reasoning.length > 0) message += `,"reasoning_content":${JSON.stringify(reply.reasoning.join(""))}`
  message += `,"refusal":null`
  if (hasCalls) {
    message += `,"tool_calls":[${
      reply.toolCalls.map((call) =>
        `{"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":${
          JSON.stringify(call.arguments)
        }}}`
      ).join(",")
    }]`
  }
  message += `,"annotations":[]}`
  return `{"id":"${meta.id}","object":"chat.completion","created":${meta.created},"model":${JSON.stringify(meta.model)},` +
    `"choices":[{"index":0,"message":${message},"logprobs":null,"finish_reason":"${reply.finishReason}"}],` +
    `"usage":${usageJson(reply.usage)},"service_tier":"default","system_fingerprint":"fp_sim"}`
}

const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const head = `data: {"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},` +
    `"model":${JSON.stringify(meta.model)},"system_fingerprint":"fp_sim","choices":[{"index":0,"delta":`
  const usageNull = extra.includeUsage ? `,"usage":null` : ""
  const mid = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
  const calls = reply.toolCalls
  const events: Array<string> = [
    `${head}{"role":"assistant","content":${calls.length > 0 ? "null" : `""`},"refusal":null}${mid}`
  ]
  for (const token of reply.reasoning) events.push(`${head}{"reasoning_content":${quoteToken(token)}}${mid}`)
  for (const token of reply.content) events.push(`${head}{"content":${quoteToken(token)}}${mid}`)
  // Parallel calls interleave: every call's opening fragment, then argument
  // pieces round-robin, so a client must merge by index.
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    events.push(
      `${head}{"tool_calls":[{"index":${i},"id":"${call.id}","type":"function","function":{"name":${
        JSON.stringify(call.name)
      },"arguments":""}}]}${mid}`
    )
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      events.push(`${head}{"tool_calls":[{"index":${i},"function":{"arguments":${JSON.stringify(piece)}}}]}${mid}`)
    }
  }
  let tail = `${head}{},"logprobs":null,"finish_reason":"${reply.finishReason}"}]${usageNull}}\n\n`
  if (extra.includeUsage) {
    tail += `data: {"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":"fp_sim","choices":[],"usage":${usageJson(reply.usage)}}\n\n`
  }
  tail += "data: [DONE]\n\n"
  return { events, tail }
}

const injected: Readonly<Record<number, readonly [type: string, code: string | null, message: string]>> = {
  400: ["invalid_request_error", null, "The simulator rejected this request (injected fault)."],
  401: ["invalid_request_error", "invalid_api_key", "Incorrect API key provided."],
  402: ["invalid_request_error", "insufficient_balance", "Insufficient balance. Add credits to continue."],
  403: ["invalid_request_error", "request_forbidden", "You are not allowed to sample from this model."],
  404: ["invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."],
  408: ["server_error", null, "Request timed out."],
  409: ["server_error", null, "The request conflicted with another one; retry it."],
  413: ["invalid_request_error", "request_too_large", "The request is too large."],
  422: ["invalid_request_error", null, "The request could not be processed."],
  429: ["requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."],
  500: ["server_error", null, "The server had an error while processing your request. Sorry about that!"],
  502: ["server_error", null, "Bad gateway."],
  503: ["server_error", null, "The engine is currently overloaded, please try again later."],
  504: ["server_error", null, "Gateway timeout."],
  529: ["overloaded_error", null, "Overloaded"]
}

const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: 400, body: errorBody(error.message, "invalid_request_error", error.param ?? null, error.code ?? null) }
    case "InvalidKey":
      return {
        status: 401,
        body: errorBody(
          error.maskedKey === undefined
            ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            : `Incorrect API key provided: ${error.maskedKey}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          "invalid_request_error",
          null,
          "invalid_api_key"
        )
      }
    case "RateLimited":
      return {
        status: 429,
        body: errorBody(
          `Rate limit reached for requests on this key: Limit ${error.limit} / min. Please try again in ${
            Math.ceil(error.retryAfterMs)
          }ms.`,
          "requests",
          null,
          "rate_limit_exceeded"
        )
      }
    case "ModelNotFound":
      return {
        status: 404,
        body: errorBody(
          `The model \`${error.model}\` does not exist or you do not have access to it.`,
          "invalid_request_error",
          null,
          "model_not_found"
        )
      }
    case "ContextLength": {
      const total = error.promptTokens + error.completionTokens
      return {
        status: 400,
        body: errorBody(
          `This model's maximum context length is ${error.limit} tokens. However, you requested ${total} tokens ` +
            `(${error.promptTokens} in the messages, ${error.completionTokens} in the completion). ` +
            "Please reduce the length of the messages or completion.",
          "invalid_request_error",
          "messages",
          "context_length_exceeded"
        )
      }
    }
    case "NotFound":
      return {
        status: 404,
        body: errorBody(`Invalid URL (${error.method} ${error.path})`, "invalid_request_error", null, null)
      }
    case "Injected": {
      const { fault } = error
      const quota = fault.code === "insufficient_quota"
      const [type, code, message] = injected[fault.status] ??
        (fault.status >= 500
          ? ["server_error", null, `Simulated server error (HTTP ${fault.status}).`]
          : ["invalid_request_error", null, `Simulated client error (HTTP ${fault.status}).`])
      return {
        status: fault.status,
        body: errorBody(
          fault.message ??
            (quota ? "You exceeded your current quota, please check your plan and billing details." : message),
          fault.type ?? (quota ? "insufficient_quota" : type),
          null,
          fault.code ?? code
        )
      }
    }
  }
}

const streamErrorJson = (shape: StreamErrorShape, meta: ReplyMeta): string => {
  switch (shape) {
    case "openai":
      return errorBody(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        null,
        null
      )
    case "vllm":
      return `{"object":"error","message":"The engine failed while generating (simulated).","type":"InternalServerError","param":null,"code":500}`
    case "openrouter":
      return `{"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},"model":${
        JSON.stringify(meta.model)
      },"provider":"simulator","error":{"code":502,"message":"Provider returned error","metadata":{"provider_name":"simulator"}},` +
        `"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":"error"}]}`
  }
}

/**
 * The Chat Completions wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: bearerKey,
  decode,
  renderError,
  renderReply,
  renderStream,
  renderStreamError: (shape, meta) => `data: ${streamErrorJson(shape, meta)}\n\n`,
  renderBodyError: streamErrorJson,
  malformedEvent: "data: {not json\n\n",
  streamContentType: "text/event-stream",
  idPrefix: "chatcmpl-"
}

// ---------------------------------------------------------------------------
// Embeddings (`POST /v1/embeddings`, WIRE.md §7.1)

/** The most inputs OpenAI takes in one embeddings request. */
const maxEmbeddingInputs = 2048

/** The most dimensions the simulator makes. */
const maxDimensions = 8192

/**
 * Reads `input` (a string or an array of strings; no token arrays), `model`,
 * `dimensions` and `encoding_format`, with OpenAI's messages for what is wrong.
 */
export const decodeEmbedding = (body: unknown): EmbeddingRequest | ApiError => {
  if (!isRecord(body)) return invalid(`The request body must be a JSON object, but got ${typeName(body)}.`)
  const model = modelOf(body)
  if (typeof model !== "string") return model
  const input = body.input
  if (input === undefined || input === null) return missingParameter("input")
  const inputs: ReadonlyArray<unknown> = typeof input === "string" ? [input] : Array.isArray(input) ? input : []
  if (typeof input !== "string" && !Array.isArray(input)) return invalidType("input", "a string or an array of strings", input)
  if (inputs.length === 0) return invalid("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "input")
  if (inputs.length > maxEmbeddingInputs) {
    return invalid(
      `Invalid 'input': array too long. Expected an array with maximum length ${maxEmbeddingInputs}, but got an array with length ${inputs.length} instead.`,
      "input",
      "array_above_max_length"
    )
  }
  for (let i = 0; i < inputs.length; i++) {
    const text = inputs[i]
    if (typeof text !== "string") return invalidType(`input[${i}]`, "a string", text)
    if (text === "") return invalid(`'$.input[${i}]' is invalid: it must not be empty.`, `input[${i}]`)
  }
  const dimensions = body.dimensions
  if (
    dimensions !== undefined && dimensions !== null &&
    !(typeof dimensions === "number" && Number.isInteger(dimensions) && dimensions >= 1 && dimensions <= maxDimensions)
  ) {
    return invalid(
      `Invalid 'dimensions': expected an integer from 1 to ${maxDimensions}, but got ${JSON.stringify(dimensions)} instead.`,
      "dimensions",
      "invalid_value"
    )
  }
  const encoding = body.encoding_format
  if (encoding !== undefined && encoding !== null && encoding !== "float" && encoding !== "base64") {
    return invalid(
      `Invalid value for 'encoding_format': expected 'float' or 'base64', but got ${JSON.stringify(encoding)} instead.`,
      "encoding_format"
    )
  }
  return {
    model,
    inputs: inputs as ReadonlyArray<string>,
    dimensions: typeof dimensions === "number" ? dimensions : undefined,
    base64: encoding === "base64",
    single: false
  }
}

/** A vector as base64 of little-endian float32s, as OpenAI sends it. */
const base64Floats = (vector: ReadonlyArray<number>): string => {
  const bytes = Buffer.alloc(vector.length * 4)
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4)
  return bytes.toString("base64")
}

const renderEmbedding = (
  vectors: ReadonlyArray<ReadonlyArray<number>>,
  request: EmbeddingRequest,
  promptTokens: number
): string =>
  JSON.stringify({
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: request.base64 ? base64Floats(vector) : vector
    })),
    model: request.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }
  })

/**
 * The OpenAI embeddings wire format, with the errors and headers of Chat Completions.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = {
  apiKey: format.apiKey,
  renderError,
  renderBodyError: streamErrorJson,
  decode: decodeEmbedding,
  render: renderEmbedding
}
