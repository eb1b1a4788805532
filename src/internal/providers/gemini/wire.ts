/**
 * Gemini API wire mapping: the request body, the non-streaming
 * response, usage, finish reasons and the parts every response and stream
 * event carries. Plain functions over `JSON.parse` output, checked with
 * `typeof`, as in the Chat Completions mapping.
 */
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type {
  AssistantMessage,
  ContentPart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition,
  ToolMessage
} from "../../../Message.js"
import { tokenCount } from "../../tokens/count.js"
import type { Reply } from "../adapter.js"
import { reportedUsage } from "../usage.js"
import { argumentsObject, isRecord, type JsonRecord, replyId, replyModel, RequestError, ShapeError } from "../wire.js"
import { geminiSchema } from "./schema.js"

export { isRecord, type JsonRecord, RequestError, ShapeError }

/** What this adapter keeps in `providerMetadata.gemini` of a tool call or a reply. */
export interface GeminiMetadata {
  /** Sent back unchanged on the same part (the Gemini API docs, thought signatures). */
  readonly thoughtSignature?: string
  /** The call's own id, when the model gave one; echoed in the call and its `functionResponse`. */
  readonly id?: string
}

/** `models/{id}` for a bare id; a resource name (`tunedModels/x`) as it is. */
export const resourceOf = (model: string): string => (model.includes("/") ? model : `models/${model}`)

/** The key of this adapter's entry in `providerMetadata`. */
export const metadataKey = "gemini"

/** This adapter's entry in a message's or a call's `providerMetadata`, when there is one. */
export const metadataOf = (metadata: ProviderMetadata | undefined): GeminiMetadata | undefined => {
  const value = metadata?.[metadataKey]
  return isRecord(value) ? value as GeminiMetadata : undefined
}

const withMetadata = (signature: string | undefined, id: string | undefined): ProviderMetadata | undefined =>
  signature === undefined && id === undefined
    ? undefined
    : {
      [metadataKey]: {
        ...(signature !== undefined ? { thoughtSignature: signature } : {}),
        ...(id !== undefined ? { id } : {})
      }
    }

// ---------------------------------------------------------------------------
// Request

const imageTypes: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  heic: "image/heic",
  heif: "image/heif",
  pdf: "application/pdf"
}

/**
 * An image part: a `data:` URL becomes `inlineData` (base64); any other URL
 * `fileData` with the URL as `fileUri` and the MIME type guessed from its
 * extension (left out when the extension is unknown, as for Files API URIs).
 */
const imagePart = (url: string, where: string): JsonRecord => {
  if (url.startsWith("data:")) {
    const comma = url.indexOf(",")
    if (comma < 0) throw new RequestError("an image data: URL has no data", where)
    const meta = url.slice(5, comma).split(";")
    const mimeType = meta[0] === "" || meta[0] === undefined ? "application/octet-stream" : meta[0]
    const payload = url.slice(comma + 1)
    let data: string
    if (meta.includes("base64")) {
      data = payload
    } else {
      try {
        data = Buffer.from(decodeURIComponent(payload), "utf8").toString("base64")
      } catch {
        throw new RequestError("an image data: URL is not valid percent-encoded text", where)
      }
    }
    return { inlineData: { mimeType, data } }
  }
  const path = url.split(/[?#]/, 1)[0] ?? ""
  const dot = path.lastIndexOf(".")
  const mimeType = dot < 0 ? undefined : imageTypes[path.slice(dot + 1).toLowerCase()]
  return { fileData: mimeType === undefined ? { fileUri: url } : { mimeType, fileUri: url } }
}

const userParts = (content: string | ReadonlyArray<ContentPart>, where: string): Array<JsonRecord> => {
  if (typeof content === "string") return [{ text: content }]
  const parts: Array<JsonRecord> = []
  content.forEach((part, i) => {
    parts.push(part.type === "text" ? { text: part.text } : imagePart(part.url, `${where}.content[${i}].url`))
  })
  return parts.length === 0 ? [{ text: "" }] : parts
}

/**
 * The signature the Gemini API docs (thought signatures) name for a call it did not sign, as from another model or a
 * client that cannot keep signatures: without one, the API refuses the first function call of a step.
 */
const unsignedCallSignature = "skip_thought_signature_validator"

const modelParts = (message: AssistantMessage, where: string): Array<JsonRecord> => {
  const parts: Array<JsonRecord> = []
  const signature = metadataOf(message.providerMetadata)?.thoughtSignature
  if (message.content !== "" || (signature !== undefined && (message.toolCalls?.length ?? 0) === 0)) {
    parts.push(
      signature === undefined ? { text: message.content } : { text: message.content, thoughtSignature: signature }
    )
  }
  message.toolCalls?.forEach((call, i) => {
    const meta = metadataOf(call.providerMetadata)
    const functionCall: JsonRecord = {
      name: call.name,
      args: argumentsObject(call, "Gemini", `${where}.toolCalls[${i}].arguments`)
    }
    if (meta?.id !== undefined) functionCall["id"] = meta.id
    // The first call of a step must be signed.
    const thoughtSignature = meta?.thoughtSignature ?? (i === 0 ? unsignedCallSignature : undefined)
    parts.push(thoughtSignature === undefined ? { functionCall } : { functionCall, thoughtSignature })
  })
  return parts.length === 0 ? [{ text: "" }] : parts
}

/** The call a tool result answers: the nearest earlier assistant call with its id. */
const callOf = (messages: ReadonlyArray<Message>, index: number, id: string): ToolCall | undefined => {
  for (let i = index - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant" || message.toolCalls === undefined) continue
    const call = message.toolCalls.find((c) => c.id === id)
    if (call !== undefined) return call
  }
  return undefined
}

/** `response` must be an object: a JSON object result is sent as it is, anything else as `{result}`. */
const responseOf = (content: string): JsonRecord => {
  const trimmed = content.trim()
  if (
    trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed === "true" || trimmed === "false" ||
    /^-?\d/.test(trimmed)
  ) {
    try {
      const value: unknown = JSON.parse(trimmed)
      return isRecord(value) ? value : { result: value }
    } catch {
      // Not JSON after all: sent as text.
    }
  }
  return { result: content }
}

const functionResponse = (messages: ReadonlyArray<Message>, index: number, message: ToolMessage): JsonRecord => {
  const call = callOf(messages, index, message.toolCallId)
  const name = message.name ?? call?.name
  if (name === undefined) {
    throw new RequestError(
      `the tool result for call ${message.toolCallId} names no tool and no earlier assistant message has that call; ` +
        `Gemini matches results by name`,
      `messages[${index}].name`
    )
  }
  const id = metadataOf(call?.providerMetadata)?.id
  const out: JsonRecord = { name, response: responseOf(message.content) }
  if (id !== undefined) out["id"] = id
  return { functionResponse: out }
}

const tool = (tool: ToolDefinition, index: number): JsonRecord => {
  const declaration: JsonRecord = { name: tool.name }
  if (tool.description !== undefined) declaration["description"] = tool.description
  const parameters = geminiSchema(tool.parameters, `tools[${index}].parameters`)
  // Gemini rejects an object schema with no properties: a tool without arguments declares none.
  if (isRecord(parameters) && !(parameters["type"] === "object" && !hasProperties(parameters))) {
    declaration["parameters"] = parameters
  }
  return declaration
}

const hasProperties = (schema: JsonRecord): boolean => {
  const properties = schema["properties"]
  return isRecord(properties) && Object.keys(properties).length > 0
}

const toolConfig = (choice: ToolChoice): JsonRecord => {
  if (typeof choice !== "string") {
    return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.tool] } }
  }
  const mode = choice === "auto" ? "AUTO" : choice === "none" ? "NONE" : "ANY"
  return { functionCallingConfig: { mode } }
}

/**
 * `reasoningEffort` as a thinking budget in tokens (Gemini 2.5 budgets; Gemini
 * 3 models accept them too). `none` turns thinking off where the model allows
 * it; `xhigh` and `max` ask for the largest budget every 2.5 model accepts.
 */
export const thinkingBudgets: Readonly<Record<ReasoningEffort, number>> = {
  none: 0,
  minimal: 128,
  low: 1024,
  medium: 8192,
  high: 16384,
  xhigh: 24576,
  max: 24576
}

/**
 * `json_object` asks for JSON (`responseMimeType`); `json_schema` adds
 * `responseSchema`, the schema converted to Gemini's OpenAPI subset by
 * `geminiSchema` (`$ref`s inlined, `$schema`, `$defs`, `additionalProperties`
 * dropped, `null` as `nullable`; a recursive schema, or one that expands past
 * its bounds, refused before anything is sent). `responseSchema` rather than
 * `responseJsonSchema`: every Gemini model takes it, where the JSON Schema
 * field is newer and not on every model; the conversion is the one tool
 * parameters already go through.
 */
const responseFormat = (format: ResponseFormat, config: JsonRecord): void => {
  if (format.type === "text") return
  config["responseMimeType"] = "application/json"
  if (format.type === "json_schema") config["responseSchema"] = geminiSchema(format.schema, "responseFormat.schema")
}

/**
 * Merges `providerOptions` into the body: objects merge key by key (so
 * `{generationConfig: {topK: 40}}` keeps the other generation settings), a
 * `null` removes a key, anything else replaces it.
 */
export const mergeOptions = (target: JsonRecord, options: Readonly<Record<string, unknown>>): JsonRecord => {
  for (const key of Object.keys(options)) {
    const value = options[key]
    const current = target[key]
    if (value === null) delete target[key]
    else if (isRecord(value) && isRecord(current)) target[key] = mergeOptions({ ...current }, value)
    else target[key] = value
  }
  return target
}

/**
 * The JSON body of `:generateContent` and `:streamGenerateContent`; throws
 * `RequestError` for what Gemini cannot be sent.
 */
export const requestBody = (request: ChatRequest): JsonRecord => {
  const messages = request.messages
  const system: Array<JsonRecord> = []
  const contents: Array<JsonRecord> = []
  // The user content that holds the latest run of tool results, while it lasts.
  let results: Array<JsonRecord> | undefined
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const where = `messages[${i}]`
    switch (message.role) {
      case "system":
        system.push({ text: message.content })
        continue
      case "user":
        contents.push({ role: "user", parts: userParts(message.content, where) })
        break
      case "assistant":
        contents.push({ role: "model", parts: modelParts(message, where) })
        break
      case "tool": {
        const part = functionResponse(messages, i, message)
        if (results !== undefined) {
          results.push(part)
        } else {
          results = [part]
          contents.push({ role: "user", parts: results })
        }
        continue
      }
    }
    results = undefined
  }
  const body: JsonRecord = { contents }
  if (system.length > 0) body["systemInstruction"] = { parts: system }
  if (request.tools !== undefined && request.tools.length > 0) {
    body["tools"] = [{ functionDeclarations: request.tools.map(tool) }]
  }
  if (request.toolChoice !== undefined) body["toolConfig"] = toolConfig(request.toolChoice)
  const config: JsonRecord = {}
  if (request.temperature !== undefined) config["temperature"] = request.temperature
  if (request.topP !== undefined) config["topP"] = request.topP
  if (request.maxTokens !== undefined) config["maxOutputTokens"] = request.maxTokens
  if (request.stop !== undefined && request.stop.length > 0) config["stopSequences"] = request.stop
  if (request.seed !== undefined) config["seed"] = request.seed
  if (request.responseFormat !== undefined) responseFormat(request.responseFormat, config)
  if (request.reasoningEffort !== undefined) {
    const budget = thinkingBudgets[request.reasoningEffort]
    config["thinkingConfig"] = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true }
  }
  if (Object.keys(config).length > 0) body["generationConfig"] = config
  if (request.providerOptions !== undefined) mergeOptions(body, request.providerOptions)
  return body
}

// ---------------------------------------------------------------------------
// Response

const filterReasons = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION"
])

/** Gemini has no tool-call reason: a reply with function calls ends with `STOP`. */
export const finishReason = (reason: string | undefined, hasCalls: boolean): FinishReason => {
  if (reason === "STOP") return hasCalls ? "tool_calls" : "stop"
  if (reason === "MAX_TOKENS") return "length"
  if (reason !== undefined && filterReasons.has(reason)) return "content_filter"
  return "other"
}

/** Usage from `usageMetadata`: thoughts are part of the completion, as OpenAI counts reasoning. */
export const usage = (value: unknown): Usage | undefined => {
  if (!isRecord(value)) return undefined
  const promptTokens = tokenCount(value["promptTokenCount"])
  const reasoningTokens = tokenCount(value["thoughtsTokenCount"])
  const completionTokens = tokenCount(value["candidatesTokenCount"]) + reasoningTokens
  return reportedUsage(
    promptTokens,
    completionTokens,
    value["totalTokenCount"],
    tokenCount(value["cachedContentTokenCount"]),
    reasoningTokens
  )
}

/** The count of a `countTokens` reply (`{totalTokens}`); throws `ShapeError` when it has none. */
export const totalTokensOf = (body: JsonRecord): number => {
  const total = body["totalTokens"]
  if (typeof total !== "number" || !Number.isInteger(total) || total < 0) {
    throw new ShapeError("totalTokens is not a count")
  }
  return total
}

/** Whether a parsed body or event is `{"error": {...}}`. */
export const isErrorPayload = (value: JsonRecord): boolean => {
  const error = value["error"]
  return error !== undefined && error !== null
}

/** The first candidate, or undefined when there is none. */
export const candidateOf = (body: JsonRecord): JsonRecord | undefined => {
  const candidates = body["candidates"]
  if (candidates === undefined || candidates === null) return undefined
  if (!Array.isArray(candidates)) throw new ShapeError("candidates is not an array")
  const first: unknown = candidates[0]
  if (first === undefined) return undefined
  if (!isRecord(first)) throw new ShapeError("candidates[0] is not an object")
  return first
}

/** Why the prompt was blocked (`promptFeedback.blockReason`), with Gemini's message when it sent one. */
export const blockedDetail = (body: JsonRecord): string | undefined => {
  const feedback = body["promptFeedback"]
  if (!isRecord(feedback)) return undefined
  const reason = feedback["blockReason"]
  if (typeof reason !== "string" || reason === "") return undefined
  const message = feedback["blockReasonMessage"]
  return `the prompt was blocked (${reason})${typeof message === "string" && message !== "" ? `: ${message}` : ""}`
}

/** The parts of a candidate's content (an empty list when it has none, as after SAFETY). */
export const partsOf = (candidate: JsonRecord): ReadonlyArray<unknown> => {
  const content = candidate["content"]
  if (content === undefined || content === null) return []
  if (!isRecord(content)) throw new ShapeError("candidate.content is not an object")
  const parts = content["parts"]
  if (parts === undefined || parts === null) return []
  if (!Array.isArray(parts)) throw new ShapeError("candidate.content.parts is not an array")
  return parts
}

/** What one part is, for the reply and for stream events alike. */
export type Part =
  | { readonly _tag: "Text"; readonly text: string; readonly thought: boolean; readonly signature: string | undefined }
  | { readonly _tag: "Call"; readonly call: (index: number) => ToolCall }
  | { readonly _tag: "Other"; readonly signature: string | undefined }

const optionalSignature = (part: JsonRecord): string | undefined => {
  const signature = part["thoughtSignature"]
  return typeof signature === "string" && signature !== "" ? signature : undefined
}

/** The id of a call Gemini gave none (newer models do): its index in the reply, the same in stream and whole reply. */
export const madeCallId = (index: number): string => `call_${index}`

const madeCallIdShape = /^call_\d+$/

/** Whether `id` is one `madeCallId` made rather than Gemini's own, which is never sent back to Gemini. */
export const isMadeCallId = (id: string): boolean => madeCallIdShape.test(id)

/** Reads a part; a function call is turned into a `ToolCall` once its index in the reply is known. */
export const partOf = (raw: unknown): Part => {
  if (!isRecord(raw)) throw new ShapeError("a part is not an object")
  const signature = optionalSignature(raw)
  const text = raw["text"]
  if (typeof text === "string") return { _tag: "Text", text, thought: raw["thought"] === true, signature }
  const fn = raw["functionCall"]
  if (isRecord(fn)) {
    const name = fn["name"]
    if (typeof name !== "string") throw new ShapeError("functionCall.name is not a string")
    const args = fn["args"]
    const id = typeof fn["id"] === "string" && fn["id"] !== "" ? fn["id"] : undefined
    const json = args === undefined || args === null ? "{}" : JSON.stringify(args)
    return {
      _tag: "Call",
      call: (index) => {
        const metadata = withMetadata(signature, id)
        return metadata === undefined
          ? { id: id ?? madeCallId(index), name, arguments: json }
          : { id: id ?? madeCallId(index), name, arguments: json, providerMetadata: metadata }
      }
    }
  }
  return { _tag: "Other", signature }
}

/** The reply-level metadata: the signature Gemini put on a part other than a function call. */
export const replyMetadata = (signature: string | undefined): ProviderMetadata | undefined =>
  signature === undefined ? undefined : { [metadataKey]: { thoughtSignature: signature } }

/** Reads a non-streaming reply with a candidate; throws `ShapeError` when it is not one. */
export const reply = (body: JsonRecord, candidate: JsonRecord): Reply => {
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  const toolCalls: Array<ToolCall> = []
  for (const raw of partsOf(candidate)) {
    const part = partOf(raw)
    switch (part._tag) {
      case "Text":
        if (part.thought) reasoning = (reasoning ?? "") + part.text
        else text += part.text
        if (part.signature !== undefined) signature = part.signature
        break
      case "Call":
        toolCalls.push(part.call(toolCalls.length))
        break
      case "Other":
        if (part.signature !== undefined) signature = part.signature
    }
  }
  const reason = candidate["finishReason"]
  return {
    id: replyId(body["responseId"]),
    model: replyModel(body["modelVersion"]),
    text,
    reasoning,
    toolCalls,
    finishReason: finishReason(typeof reason === "string" ? reason : undefined, toolCalls.length > 0),
    usage: usage(body["usageMetadata"]),
    providerMetadata: replyMetadata(signature)
  }
}

const maxRaw = 2_000

/** The start of a text that failed to decode, for `OutputDecodeError.raw`. */
export const excerpt = (text: string): string => text.length > maxRaw ? `${text.slice(0, maxRaw)}…` : text

const statusNames: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

/**
 * The gRPC code name Google's APIs give an HTTP status in an error body (`error.status`): a request they cannot take
 * is `INVALID_ARGUMENT`, an unnamed server failure `INTERNAL`.
 */
export const statusName = (code: number): string => statusNames[code] ?? (code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT")
