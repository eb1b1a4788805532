/**
 * The simulator's Gemini API wire format (`POST /v1beta/models/{model}:generateContent`
 * and `:streamGenerateContent?alt=sse`), per WIRE.md §5: request decoding,
 * response and stream shapes, errors; and its embeddings
 * (`:batchEmbedContents`, `:embedContent`, §7.2).
 *
 * - The model and the method come from the URL, not the body. The key is read
 *   from `x-goog-api-key`, or from the `?key=` query parameter when the header
 *   is absent. `:streamGenerateContent` without `?alt=sse` (a JSON array on the
 *   real API) is answered with 400; only `v1beta` is served.
 * - A bad key is answered as Gemini does: HTTP 400 `INVALID_ARGUMENT` with an
 *   `ErrorInfo` of reason `API_KEY_INVALID`; a missing one with 403
 *   `PERMISSION_DENIED`. A rate limit is 429 `RESOURCE_EXHAUSTED` with
 *   `QuotaFailure` and `RetryInfo` details (the engine adds `retry-after`
 *   headers too, which the real API does not send).
 * - An injected `status=429` whose `code` is `insufficient_quota` or names a
 *   per-day quota (`PerDay`) gets a per-day `QuotaFailure`, as a daily quota
 *   exhausted; `status=400;code=API_KEY_INVALID` an invalid-key body. Every
 *   `stream-error` shape sends Gemini's one error event,
 *   `data: {"error":{"code":500,…,"status":"INTERNAL"}}`.
 * - A prompt whose last user text contains {@link blockedPromptMarker} is
 *   blocked: HTTP 200 with `promptFeedback.blockReason: "SAFETY"` and no
 *   candidates (one such event when streamed).
 * - Reasoning is returned as `thought: true` parts when
 *   `generationConfig.thinkingConfig.includeThoughts` is true and the budget is
 *   not 0, counted in `thoughtsTokenCount`.
 * - Function calls come whole, without an id, and the first of each reply
 *   carries a `thoughtSignature`, as Gemini 3 sends them. As Gemini 3 checks, a
 *   request whose current turn (the model contents after the last user text)
 *   replays a function call without its signature on the first `functionCall`
 *   part of a content is answered with 400.
 * - A stream sends one event per reasoning token, one per text token, function
 *   calls two to an event, then a closing event with `finishReason` and the
 *   final usage; there is no end marker. Every event carries the running
 *   `usageMetadata`. Events end with CRLF CRLF, as Google's servers send them.
 *
 * Prompt tokens are counted over the text of `systemInstruction` and every
 * part (text, function call names and arguments, function responses), plus 85
 * per inline or file part (`Reply.countTokens`). Tool declarations are not counted.
 *
 * @since 0.1.0
 */
import { decoded } from "../internal/simulator/decoded.js"
import { quoteToken } from "../internal/simulator/quoteToken.js"
import { invalid, isRecord, typeName } from "../internal/simulator/requestChecks.js"
import type * as Reply from "./Reply.js"
import type { ApiError, Decoded, EmbeddingFormat, EmbeddingRequest, RenderedStream, ReplyMeta, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** The prompt was blocked: the response has `promptFeedback` and no candidates. */
  readonly blocked: boolean
}

/**
 * The text that, in the last user message, makes the simulator block the prompt.
 *
 * @since 0.1.0
 * @category Models
 */
export const blockedPromptMarker = "[simulator:block]"

/** Gemini reports bad fields as `Invalid JSON payload received. Unknown name…` or plain sentences; these mimic the latter. */
const badValue = (path: string, expected: string, got: unknown): ApiError =>
  invalid(`Invalid value at '${path}': expected ${expected}, got ${typeName(got)}.`, path)

const signatureMissing = (name: string, position: number): ApiError =>
  invalid(
    `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, ` +
      `and missing thought_signature may lead to degraded model performance. Additional data, function call ` +
      `\`default_api:${name}\` , position ${position}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
    "contents"
  )

const decodeTools = (tools: unknown): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return badValue("tools", "a list", tools)
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i]
    if (!isRecord(tool)) return badValue(`tools[${i}]`, "an object", tool)
    const declarations = tool.functionDeclarations
    // googleSearch, codeExecution, urlContext... are accepted and ignored.
    if (declarations === undefined) continue
    if (!Array.isArray(declarations)) return badValue(`tools[${i}].function_declarations`, "a list", declarations)
    for (let j = 0; j < declarations.length; j++) {
      const declaration: unknown = declarations[j]
      const path = `tools[${i}].function_declarations[${j}]`
      if (!isRecord(declaration) || typeof declaration.name !== "string" || declaration.name === "") {
        return invalid(`* GenerateContentRequest.${path}.name: Name cannot be empty.`, `${path}.name`)
      }
      out.push({ name: declaration.name, parameters: declaration.parameters ?? declaration.parametersJsonSchema })
    }
  }
  return out
}

const decodeToolChoice = (config: unknown, tools: ReadonlyArray<Reply.Tool>): Reply.ToolChoice | ApiError => {
  if (config === undefined || config === null) return { _tag: "Auto" }
  if (!isRecord(config)) return badValue("tool_config", "an object", config)
  const calling = config.functionCallingConfig
  if (calling === undefined || calling === null) return { _tag: "Auto" }
  if (!isRecord(calling)) return badValue("tool_config.function_calling_config", "an object", calling)
  const allowed = calling.allowedFunctionNames
  if (allowed !== undefined && !(Array.isArray(allowed) && allowed.every((name) => typeof name === "string"))) {
    return badValue("tool_config.function_calling_config.allowed_function_names", "a list of strings", allowed)
  }
  const names = (allowed ?? []) as ReadonlyArray<string>
  switch (calling.mode ?? "AUTO") {
    case "AUTO":
    case "MODE_UNSPECIFIED":
      return { _tag: "Auto" }
    case "NONE":
      return { _tag: "None" }
    case "ANY":
    case "VALIDATED": {
      for (const name of names) {
        if (!tools.some((tool) => tool.name === name)) {
          return invalid(
            `* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: ` +
              `function '${name}' is not declared in tools.`,
            "tool_config.function_calling_config.allowed_function_names"
          )
        }
      }
      return names.length === 1 ? { _tag: "Named", name: names[0]! } : { _tag: "Required" }
    }
    default:
      return invalid(
        `Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), ${
          JSON.stringify(calling.mode)
        }`,
        "tool_config.function_calling_config.mode"
      )
  }
}

/** The text a function response stands for: its `result` or `output` string, or its JSON. */
const responseText = (response: unknown): string => {
  if (isRecord(response)) {
    const inner = response.result ?? response.output
    if (typeof inner === "string") return inner
    if (inner !== undefined && Object.keys(response).length === 1) return JSON.stringify(inner)
  }
  return JSON.stringify(response ?? {})
}

interface Turn {
  readonly role: "user" | "model"
  readonly text: string
  readonly hasText: boolean
  readonly media: number
  /** Characters of function calls and responses. */
  readonly toolChars: number
  /** Each `functionCall` part: its name and whether it carries a signature. */
  readonly calls: ReadonlyArray<{ readonly name: string; readonly signed: boolean }>
  /** The last function response's text, when the content holds any. */
  readonly toolResult: string | undefined
}

const decodeContent = (content: unknown, path: string): Turn | ApiError => {
  if (!isRecord(content)) return badValue(path, "an object", content)
  const role = content.role ?? "user"
  if (role !== "user" && role !== "model") {
    return invalid(`Please use a valid role: user, model.`, `${path}.role`)
  }
  const parts = content.parts
  if (!Array.isArray(parts) || parts.length === 0) {
    return invalid(
      `* GenerateContentRequest.${path}.parts: contents.parts must not be empty.`,
      `${path}.parts`
    )
  }
  let text = ""
  let hasText = false
  let media = 0
  let toolChars = 0
  let toolResult: string | undefined
  const calls: Array<{ readonly name: string; readonly signed: boolean }> = []
  for (let i = 0; i < parts.length; i++) {
    const part: unknown = parts[i]
    const at = `${path}.parts[${i}]`
    if (!isRecord(part)) return badValue(at, "an object", part)
    if (typeof part.text === "string") {
      // Thought summaries sent back are not prompt text the reply answers.
      if (part.thought !== true) {
        text += part.text
        hasText = true
      }
    } else if (isRecord(part.inlineData) || isRecord(part.fileData)) {
      media++
    } else if (isRecord(part.functionCall)) {
      const call = part.functionCall
      if (typeof call.name !== "string" || call.name === "") {
        return invalid(`* GenerateContentRequest.${at}.function_call.name: Name cannot be empty.`, `${at}.function_call.name`)
      }
      if (call.args !== undefined && !isRecord(call.args)) return badValue(`${at}.function_call.args`, "an object", call.args)
      toolChars += call.name.length + JSON.stringify(call.args ?? {}).length
      calls.push({ name: call.name, signed: typeof part.thoughtSignature === "string" && part.thoughtSignature !== "" })
    } else if (isRecord(part.functionResponse)) {
      const response = part.functionResponse
      if (typeof response.name !== "string" || response.name === "") {
        return invalid(
          `* GenerateContentRequest.${at}.function_response.name: Name cannot be empty.`,
          `${at}.function_response.name`
        )
      }
      if (response.response !== undefined && !isRecord(response.response)) {
        return badValue(`${at}.function_response.response`, "an object", response.response)
      }
      toolResult = responseText(response.response)
      toolChars += response.name.length + toolResult.length
    } else {
      return invalid(`* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field`, `${at}.data`)
    }
  }
  return { role, text, hasText, media, toolChars, calls, toolResult }
}

/** The keywords of Gemini's `Schema` (an OpenAPI 3.0 subset); `responseSchema` takes no others. */
const schemaKeywords = new Set([
  "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
  "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
  "default", "items", "minimum", "maximum"
])

/** The first keyword outside Gemini's `Schema`, with its path, as the API names it. */
const unknownKeyword = (schema: unknown, path: string): ApiError | undefined => {
  if (!isRecord(schema)) return undefined
  for (const [key, value] of Object.entries(schema)) {
    if (!schemaKeywords.has(key)) {
      return invalid(`Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`, path)
    }
    const nested = key === "properties" && isRecord(value)
      ? Object.entries(value).map(([name, property]) => unknownKeyword(property, `${path}.properties[${name}].value`))
      : key === "items"
      ? [unknownKeyword(value, `${path}.items`)]
      : key === "anyOf" && Array.isArray(value)
      ? value.map((branch, i) => unknownKeyword(branch, `${path}.any_of[${i}]`))
      : []
    const found = nested.find((error) => error !== undefined)
    if (found !== undefined) return found
  }
  return undefined
}

const decodeGenerationConfig = (config: unknown): {
  readonly maxTokens: number | undefined
  readonly reasoning: boolean
  readonly responseSchema: unknown
} | ApiError => {
  if (config === undefined || config === null) return { maxTokens: undefined, reasoning: false, responseSchema: undefined }
  if (!isRecord(config)) return badValue("generation_config", "an object", config)
  const max = config.maxOutputTokens
  if (max !== undefined && !(typeof max === "number" && Number.isInteger(max) && max >= 1)) {
    return invalid(
      `Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), ${JSON.stringify(max)}`,
      "generation_config.max_output_tokens"
    )
  }
  const temperature = config.temperature
  if (temperature !== undefined && !(typeof temperature === "number" && temperature >= 0 && temperature <= 2)) {
    return invalid(
      `* GenerateContentRequest.generation_config.temperature: temperature must be in the range [0.0, 2.0]`,
      "generation_config.temperature"
    )
  }
  const thinking = config.thinkingConfig
  if (thinking !== undefined && !isRecord(thinking)) return badValue("generation_config.thinking_config", "an object", thinking)
  const reasoning = isRecord(thinking) && thinking.includeThoughts === true && thinking.thinkingBudget !== 0
  const { responseJsonSchema, responseSchema } = config
  if (responseSchema !== undefined && responseJsonSchema !== undefined) {
    return invalid("responseSchema and responseJsonSchema cannot both be set.", "generation_config.response_schema")
  }
  if ((responseSchema !== undefined || responseJsonSchema !== undefined) && config.responseMimeType !== "application/json") {
    return invalid(
      "* GenerateContentRequest.generation_config.response_mime_type: a response schema needs response_mime_type application/json.",
      "generation_config.response_mime_type"
    )
  }
  const badKeyword = unknownKeyword(responseSchema, "generation_config.response_schema")
  if (badKeyword !== undefined) return badKeyword
  return { maxTokens: max as number | undefined, reasoning, responseSchema: responseSchema ?? responseJsonSchema }
}

const decode = (body: unknown, params?: Readonly<Record<string, string | undefined>>): Decoded<Extra> | ApiError => {
  const model = params?.model ?? ""
  const method = params?.method
  if (method === "streamGenerateContent" && params?.alt !== "sse") {
    return invalid(
      "The simulator streams only as server-sent events: add ?alt=sse to :streamGenerateContent.",
      "alt"
    )
  }
  if (!isRecord(body)) return invalid(`Invalid JSON payload received. Expected an object, got ${typeName(body)}.`)
  const contents = body.contents
  if (contents === undefined || contents === null || (Array.isArray(contents) && contents.length === 0)) {
    return invalid("* GenerateContentRequest.contents: contents is not specified", "contents")
  }
  if (!Array.isArray(contents)) return badValue("contents", "a list", contents)

  let chars = 0
  let media = 0
  const system = body.systemInstruction
  if (system !== undefined && system !== null) {
    const turn = decodeContent({ role: "user", ...(isRecord(system) ? system : {}) }, "system_instruction")
    if ("_tag" in turn) return turn
    chars += turn.text.length
  }
  const turns: Array<Turn> = []
  for (let i = 0; i < contents.length; i++) {
    const turn = decodeContent(contents[i], `contents[${i}]`)
    if ("_tag" in turn) return turn
    turns.push(turn)
    chars += turn.text.length + turn.toolChars
    media += turn.media
  }
  // The current turn starts after the last user content with text; its function
  // calls must carry their signatures (on the first call part of each content).
  let lastUserText = ""
  let current = 0
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!
    if (turn.role === "user" && turn.hasText) {
      lastUserText = turn.text
      current = i + 1
      break
    }
  }
  for (let i = current; i < turns.length; i++) {
    const first = turns[i]!.calls[0]
    if (turns[i]!.role === "model" && first !== undefined && !first.signed) return signatureMissing(first.name, i)
  }
  const last = turns[turns.length - 1]!
  const lastRole = last.role === "model" ? "assistant" : last.toolResult !== undefined ? "tool" : "user"

  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.toolConfig, tools)
  if ("_tag" in toolChoice && toolChoice._tag === "InvalidRequest") return toolChoice
  const generation = decodeGenerationConfig(body.generationConfig)
  if ("_tag" in generation) return generation

  return decoded(
    {
      model,
      lastUserText,
      lastRole,
      toolResult: lastRole === "tool" ? last.toolResult : undefined,
      tools,
      toolChoice: toolChoice as Reply.ToolChoice,
      parallelToolCalls: true,
      reasoning: generation.reasoning,
      maxTokens: generation.maxTokens,
      responseSchema: generation.responseSchema,
      chars,
      media
    },
    method === "streamGenerateContent",
    { blocked: lastUserText.includes(blockedPromptMarker) }
  )
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/** A stable signature for a call: opaque base64, as Gemini's are. */
const signatureOf = (call: Reply.ToolCall): string => Buffer.from(`sim-thought-signature:${call.id}`).toString("base64")

const finishReasonOf = (reason: Reply.FinishReason): string => (reason === "length" ? "MAX_TOKENS" : "STOP")

/** `usageMetadata` after `candidates` visible and `thoughts` reasoning tokens. */
const usageJson = (usage: Reply.Usage, candidates: number, thoughts: number): string => {
  let json = `{"promptTokenCount":${usage.promptTokens},"candidatesTokenCount":${candidates}` +
    `,"totalTokenCount":${usage.promptTokens + candidates + thoughts}`
  if (usage.cachedTokens > 0) json += `,"cachedContentTokenCount":${usage.cachedTokens}`
  if (thoughts > 0) json += `,"thoughtsTokenCount":${thoughts}`
  return `${json},"promptTokensDetails":[{"modality":"TEXT","tokenCount":${usage.promptTokens}}]}`
}

const finalUsage = (reply: Reply.Reply): string =>
  usageJson(reply.usage, reply.usage.completionTokens - reply.usage.reasoningTokens, reply.usage.reasoningTokens)

const callPart = (call: Reply.ToolCall, first: boolean): string =>
  `{"functionCall":{"name":${JSON.stringify(call.name)},"args":${call.arguments}}` +
  (first ? `,"thoughtSignature":"${signatureOf(call)}"` : "") + "}"

const trailer = (meta: ReplyMeta): string => `,"modelVersion":${JSON.stringify(meta.model)},"responseId":"${meta.id}"}`

const blockedJson = (reply: Reply.Reply, meta: ReplyMeta): string =>
  `{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT",` +
  `"probability":"HIGH","blocked":true}]},"usageMetadata":{"promptTokenCount":${reply.usage.promptTokens},` +
  `"totalTokenCount":${reply.usage.promptTokens}}${trailer(meta)}`

const renderReply = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string => {
  if (extra.blocked) return blockedJson(reply, meta)
  const parts: Array<string> = []
  if (reply.reasoning.length > 0) parts.push(`{"text":${JSON.stringify(reply.reasoning.join(""))},"thought":true}`)
  if (reply.content.length > 0) parts.push(`{"text":${JSON.stringify(reply.content.join(""))}}`)
  reply.toolCalls.forEach((call, i) => parts.push(callPart(call, i === 0)))
  if (parts.length === 0) parts.push(`{"text":""}`)
  return `{"candidates":[{"content":{"parts":[${parts.join(",")}],"role":"model"},` +
    `"finishReason":"${finishReasonOf(reply.finishReason)}","index":0}],"usageMetadata":${finalUsage(reply)}${trailer(meta)}`
}

const end = "\r\n\r\n"

const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const close = trailer(meta) + end
  if (extra.blocked) return { events: [], tail: `data: ${blockedJson(reply, meta)}${end}` }
  const head = `data: {"candidates":[{"content":{"parts":[`
  const mid = `],"role":"model"},"index":0}],"usageMetadata":`
  const events: Array<string> = []
  let thoughts = 0
  let candidates = 0
  for (const token of reply.reasoning) {
    thoughts++
    events.push(`${head}{"text":${quoteToken(token)},"thought":true}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  for (const token of reply.content) {
    candidates++
    events.push(`${head}{"text":${quoteToken(token)}}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  const calls = reply.toolCalls
  for (let i = 0; i < calls.length; i += 2) {
    const parts = calls.slice(i, i + 2).map((call, j) => callPart(call, i + j === 0))
    candidates = Math.min(reply.usage.completionTokens - reply.usage.reasoningTokens, candidates + parts.length)
    events.push(`${head}${parts.join(",")}${mid}${usageJson(reply.usage, candidates, thoughts)}${close}`)
  }
  return {
    events,
    tail: `${head}{"text":""}],"role":"model"},"finishReason":"${finishReasonOf(reply.finishReason)}","index":0}],` +
      `"usageMetadata":${finalUsage(reply)}${close}`
  }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const googleStatus: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

const statusName = (status: number): string =>
  googleStatus[status] ?? (status >= 500 ? "INTERNAL" : status === 412 ? "FAILED_PRECONDITION" : "INVALID_ARGUMENT")

const errorBody = (code: number, message: string, details?: ReadonlyArray<unknown>): string =>
  JSON.stringify({
    error: { code, message, status: statusName(code), ...(details !== undefined ? { details } : {}) }
  })

const errorInfo = (reason: string) => ({
  "@type": "type.googleapis.com/google.rpc.ErrorInfo",
  reason,
  domain: "googleapis.com",
  metadata: { service: "generativelanguage.googleapis.com" }
})

const invalidKeyBody = errorBody(400, "API key not valid. Please pass a valid API key.", [
  errorInfo("API_KEY_INVALID"),
  { "@type": "type.googleapis.com/google.rpc.LocalizedMessage", locale: "en-US", message: "API key not valid. Please pass a valid API key." }
])

const quotaDetails = (quotaId: string, retrySeconds: number | undefined): ReadonlyArray<unknown> => [
  {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    violations: [{
      quotaMetric: "generativelanguage.googleapis.com/generate_content_requests",
      quotaId,
      quotaDimensions: { location: "global", model: "simulator" },
      quotaValue: "1"
    }]
  },
  { "@type": "type.googleapis.com/google.rpc.Help", links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }] },
  ...(retrySeconds === undefined ? [] : [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retrySeconds}s` }])
]

const injected: Readonly<Record<number, string>> = {
  400: "Request contains an invalid argument. (injected fault)",
  401: "Request had invalid authentication credentials.",
  403: "Permission denied: Consumer does not have access to this model.",
  404: "Requested entity was not found.",
  429: "Resource has been exhausted (e.g. check quota).",
  500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
  503: "The model is overloaded. Please try again later.",
  504: "Deadline expired before operation could complete."
}

const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return {
        status: 400,
        body: errorBody(400, error.message, error.code === undefined ? undefined : [errorInfo(error.code)])
      }
    case "InvalidKey":
      return error.maskedKey === undefined
        ? {
          status: 403,
          body: errorBody(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
          )
        }
        : { status: 400, body: invalidKeyBody }
    case "RateLimited": {
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000))
      return {
        status: 429,
        body: errorBody(
          429,
          `You exceeded your current quota, please check your plan and billing details. Quota exceeded for metric: ` +
            `generativelanguage.googleapis.com/generate_content_requests, limit: ${error.limit}. Please retry in ${seconds}s.`,
          quotaDetails("GenerateRequestsPerMinutePerProjectPerModel", seconds)
        )
      }
    }
    case "ModelNotFound":
      return {
        status: 404,
        body: errorBody(
          404,
          `models/${error.model} is not found for API version v1beta, or is not supported for generateContent. ` +
            "Call ListModels to see the list of available models and their supported methods."
        )
      }
    case "ContextLength":
      return {
        status: 400,
        body: errorBody(
          400,
          `The input token count (${error.promptTokens + error.completionTokens}) exceeds the maximum number of tokens allowed (${error.limit}).`
        )
      }
    case "NotFound":
      return { status: 404, body: errorBody(404, `The requested URL ${error.method} ${error.path} was not found on this server.`) }
    case "Injected": {
      const { fault } = error
      const code = fault.code ?? ""
      if (fault.status === 400 && code === "API_KEY_INVALID") return { status: 400, body: invalidKeyBody }
      const message = fault.message ?? injected[fault.status] ?? `Simulated error (HTTP ${fault.status}).`
      if (fault.status === 429) {
        const daily = code === "insufficient_quota" || /perday/i.test(code)
        return {
          status: 429,
          body: errorBody(
            429,
            message,
            daily
              ? quotaDetails("GenerateRequestsPerDayPerProjectPerModel-FreeTier", undefined)
              : quotaDetails(
                "GenerateRequestsPerMinutePerProjectPerModel",
                fault.retryAfter === "none" ? undefined : fault.retryAfter ?? 1
              )
          )
        }
      }
      return {
        status: fault.status,
        body: errorBody(fault.status, message, code === "" ? undefined : [errorInfo(code)])
      }
    }
  }
}

const streamErrorJson =
  `{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}`

/**
 * What a route took from a Gemini URL: the model and method from the path
 * segment (`gemini-2.5-flash:streamGenerateContent`), `alt` from the query, and
 * the headers with a `?key=` moved into `x-goog-api-key` when that header is
 * absent. Undefined for a method the simulator does not serve.
 *
 * @since 0.1.0
 * @category Routes
 */
export const target = <H extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>>(
  segment: string,
  url: string,
  headers: H
): { readonly params: Readonly<Record<string, string | undefined>>; readonly headers: H } | undefined => {
  const colon = segment.lastIndexOf(":")
  const method = colon < 0 ? "" : segment.slice(colon + 1)
  if (!methods.has(method)) return undefined
  const q = url.indexOf("?")
  const query = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1))
  const key = query?.get("key")
  return {
    params: { model: segment.slice(0, colon), method, alt: query?.get("alt") ?? undefined },
    headers: key === null || key === undefined || headers["x-goog-api-key"] !== undefined
      ? headers
      : { ...headers, "x-goog-api-key": key }
  }
}

const embeddingMethods = new Set(["batchEmbedContents", "embedContent"])
const methods = new Set(["generateContent", "streamGenerateContent", ...embeddingMethods])

/**
 * Whether a route's target (from {@link target}) is an embedding method.
 *
 * @since 0.1.0
 * @category Routes
 */
export const isEmbedding = (params: Readonly<Record<string, string | undefined>>): boolean =>
  embeddingMethods.has(params.method ?? "")

/** The most requests one `batchEmbedContents` call takes. */
const maxEmbeddingRequests = 100

/** The text of one `EmbedContentRequest`'s content, and its `outputDimensionality`, or what is wrong with it. */
const embedContentOf = (
  request: unknown,
  path: string,
  resource: string
): { readonly text: string; readonly dimensions: number | undefined } | ApiError => {
  if (!isRecord(request)) return badValue(path, "an EmbedContentRequest object", request)
  if (request.model !== undefined && request.model !== resource) {
    return invalid(`${path}.model: the model "${String(request.model)}" does not match the URL's "${resource}".`, `${path}.model`)
  }
  const content = request.content
  if (!isRecord(content) || !Array.isArray(content.parts) || content.parts.length === 0) {
    return invalid(`${path}.content: must have at least one part.`, `${path}.content`)
  }
  let text = ""
  for (let i = 0; i < content.parts.length; i++) {
    const part: unknown = content.parts[i]
    if (!isRecord(part) || typeof part.text !== "string") {
      return badValue(`${path}.content.parts[${i}].text`, "a string", isRecord(part) ? part.text : part)
    }
    text += part.text
  }
  if (text === "") return invalid(`${path}.content: the text is empty.`, `${path}.content`)
  const dimensions = request.outputDimensionality
  if (dimensions !== undefined && !(typeof dimensions === "number" && Number.isInteger(dimensions) && dimensions >= 1 && dimensions <= 3072)) {
    return badValue(`${path}.outputDimensionality`, "an integer from 1 to 3072", dimensions)
  }
  return { text, dimensions }
}

/**
 * Reads `batchEmbedContents` (`{requests: [...]}`, at most 100, each naming the
 * URL's model) or `embedContent` (one request at the top level).
 */
const decodeEmbedding = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): EmbeddingRequest | ApiError => {
  const model = (params?.model ?? "").replace(/^models\//, "")
  const resource = `models/${model}`
  if (!isRecord(body)) return badValue("body", "a JSON object", body)
  const batch = params?.method === "batchEmbedContents"
  const requests: ReadonlyArray<unknown> = batch ? (Array.isArray(body.requests) ? body.requests : []) : [body]
  if (batch && !Array.isArray(body.requests)) return badValue("requests", "an array", body.requests)
  if (requests.length === 0) return invalid("requests: at least one request is required.", "requests")
  if (requests.length > maxEmbeddingRequests) {
    return invalid(
      `* BatchEmbedContentsRequest.requests: at most ${maxEmbeddingRequests} requests can be in one batch, got ${requests.length}.`,
      "requests"
    )
  }
  const inputs: Array<string> = []
  let dimensions: number | undefined
  for (let i = 0; i < requests.length; i++) {
    const one = embedContentOf(requests[i], batch ? `requests[${i}]` : "body", resource)
    if ("_tag" in one) return one
    inputs.push(one.text)
    dimensions = one.dimensions ?? dimensions
  }
  return { model, inputs, dimensions, base64: false, single: !batch }
}

/** Gemini reports no usage for embeddings. */
const renderEmbedding = (vectors: ReadonlyArray<ReadonlyArray<number>>, request: EmbeddingRequest): string =>
  request.single
    ? JSON.stringify({ embedding: { values: vectors[0] } })
    : JSON.stringify({ embeddings: vectors.map((values) => ({ values })) })

/**
 * The Gemini API wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: (headers) => {
    const value = headers["x-goog-api-key"]
    return typeof value === "string" ? value.trim() : undefined
  },
  decode,
  renderError,
  renderReply,
  renderStream,
  renderStreamError: () => `data: ${streamErrorJson}${end}`,
  renderBodyError: () => streamErrorJson,
  malformedEvent: `data: {not json${end}`,
  streamContentType: "text/event-stream",
  idPrefix: "gemini-"
}

/**
 * Gemini's embedding methods, with the errors and key handling of its wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = {
  apiKey: format.apiKey,
  renderError,
  renderBodyError: () => streamErrorJson,
  decode: decodeEmbedding,
  render: renderEmbedding
}
