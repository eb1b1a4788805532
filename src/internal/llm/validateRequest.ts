/**
 * The check an `Llm` makes of every request before it takes a permit or a
 * key: the request against its schema (`ChatRequest`, `EmbeddingRequest`),
 * failing with `InvalidRequestError` that names each bad path.
 *
 * The schema is the authority, but running it costs a few microseconds per
 * call (more with long histories), so a compiled check that accepts exactly
 * what `Schema.is` accepts runs first, and the schema's decode runs only when
 * that check refuses, for the paths and the messages (and to overrule the
 * check, should they ever disagree). A property test holds the two together.
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import { ChatRequest } from "../../ChatRequest.js"
import { EmbeddingRequest } from "../../Embedding.js"
import { InvalidRequestError } from "../../LlmError.js"

type Fields = { readonly [key: string]: unknown }

// What `Schema.Struct` and `Schema.Record` take: an object, not an array (nor null).
const isFields = (u: unknown): u is Fields => typeof u === "object" && u !== null && !Array.isArray(u)

const isString = (u: unknown): u is string => typeof u === "string"

// `Schema.optional(X)` takes a missing key and `undefined` alike.
const optionalString = (u: unknown): boolean => u === undefined || typeof u === "string"
const optionalBoolean = (u: unknown): boolean => u === undefined || typeof u === "boolean"
const optionalFields = (u: unknown): boolean => u === undefined || isFields(u)
const optionalBetween = (u: unknown, minimum: number, maximum: number): boolean =>
  u === undefined || (typeof u === "number" && u >= minimum && u <= maximum)
const optionalIntFrom = (u: unknown, minimum: number): boolean =>
  u === undefined || (Number.isSafeInteger(u) && (u as number) >= minimum)
const optionalDuration = (u: unknown): boolean => u === undefined || Duration.isDuration(u)

const isArrayOf = (u: unknown, element: (u: unknown) => boolean): boolean => {
  if (!Array.isArray(u)) return false
  for (let i = 0; i < u.length; i++) {
    if (!element(u[i])) return false
  }
  return true
}

const isPart = (u: unknown): boolean => {
  if (!isFields(u)) return false
  if (u.type === "text") return isString(u.text)
  const detail = u.detail
  return u.type === "image" && isString(u.url) &&
    (detail === undefined || detail === "auto" || detail === "low" || detail === "high")
}

const isToolCall = (u: unknown): boolean =>
  isFields(u) && isString(u.id) && isString(u.name) && isString(u.arguments) && optionalFields(u.providerMetadata)

const isMessage = (u: unknown): boolean => {
  if (!isFields(u)) return false
  switch (u.role) {
    case "system":
      return isString(u.content)
    case "user":
      return isString(u.content) || isArrayOf(u.content, isPart)
    case "assistant":
      return isString(u.content) && (u.toolCalls === undefined || isArrayOf(u.toolCalls, isToolCall)) &&
        optionalString(u.reasoning) && optionalFields(u.providerMetadata)
    case "tool":
      return isString(u.toolCallId) && optionalString(u.name) && isString(u.content)
    default:
      return false
  }
}

// `Message.ToolDefinition`'s name pattern.
const toolName = /^[a-zA-Z0-9_-]{1,64}$/

const isTool = (u: unknown): boolean =>
  isFields(u) && isString(u.name) && toolName.test(u.name) && optionalString(u.description) &&
  isFields(u.parameters) && optionalBoolean(u.strict)

const isToolChoice = (u: unknown): boolean =>
  u === "auto" || u === "none" || u === "required" || (isFields(u) && isString(u.tool))

const isResponseFormat = (u: unknown): boolean => {
  if (!isFields(u)) return false
  if (u.type === "text" || u.type === "json_object") return true
  return u.type === "json_schema" && isString(u.name) && optionalString(u.description) && isFields(u.schema) &&
    optionalBoolean(u.strict)
}

const efforts: ReadonlyArray<unknown> = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]

/** Exactly what `Schema.is(ChatRequest)` accepts. */
export const isChatRequest = (u: unknown): boolean => {
  if (!isFields(u)) return false
  const messages = u.messages
  return Array.isArray(messages) && messages.length >= 1 && isArrayOf(messages, isMessage) &&
    optionalString(u.model) &&
    optionalBetween(u.temperature, 0, 2) &&
    optionalBetween(u.topP, 0, 1) &&
    optionalIntFrom(u.maxTokens, 1) &&
    (u.stop === undefined || isArrayOf(u.stop, isString)) &&
    (u.tools === undefined || isArrayOf(u.tools, isTool)) &&
    (u.toolChoice === undefined || isToolChoice(u.toolChoice)) &&
    (u.responseFormat === undefined || isResponseFormat(u.responseFormat)) &&
    (u.reasoningEffort === undefined || efforts.includes(u.reasoningEffort)) &&
    optionalIntFrom(u.seed, 0) &&
    optionalString(u.user) &&
    optionalDuration(u.timeout) &&
    optionalFields(u.providerOptions)
}

const isTokenId = (u: unknown): boolean => Number.isSafeInteger(u) && (u as number) >= 0
const isTokens = (u: unknown): boolean => isArrayOf(u, isTokenId)

/** Exactly what the `input` of `EmbeddingRequest` accepts: a text, texts, token ids, or arrays of them. */
export const isEmbeddingInput = (u: unknown): boolean =>
  isString(u) || isArrayOf(u, isString) || isTokens(u) || isArrayOf(u, isTokens)

/** Exactly what `Schema.is(EmbeddingRequest)` accepts. */
export const isEmbeddingRequest = (u: unknown): boolean =>
  isFields(u) && isEmbeddingInput(u.input) && optionalString(u.model) &&
  optionalIntFrom(u.dimensions, 1) && optionalDuration(u.timeout)

const options = { errors: "all", reportInput: true } as const
const decodeChat = Schema.decodeUnknownResult(ChatRequest, options)
const decodeEmbedding = Schema.decodeUnknownResult(EmbeddingRequest, options)

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => issue._tag === "MissingKey" ? "missing" : SchemaIssue.defaultLeafHook(issue)
})

// `messages[2].content`, as the request would be written.
const pathOf = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string => {
  let out = ""
  for (const segment of path) {
    const key = typeof segment === "object" ? segment.key : segment
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`
  }
  return out
}

// A message quotes the bad value: cut it short (a whole history can be one).
const shortened = (text: string) => (text.length > 160 ? `${text.slice(0, 157)}...` : text)

const shown = 5

const problem = (issue: SchemaIssue.Issue, provider: string, model: string): InvalidRequestError => {
  const issues = formatIssues(issue).issues.map((issue) => {
    const path = pathOf(issue.path ?? [])
    const message = shortened(issue.message.replace(/^Expected /, "expected "))
    return { path, text: `${path === "" ? "the request" : path}: ${message}` }
  })
  const more = issues.length > shown ? `; and ${issues.length - shown} more` : ""
  return new InvalidRequestError({
    provider,
    model,
    ...(issues[0]!.path === "" ? {} : { param: issues[0]!.path }),
    detail: `${issues.slice(0, shown).map((issue) => issue.text).join("; ")}${more} (nothing was sent)`
  })
}

// The model an error names: the request's own, else the service's.
const modelOf = (u: unknown, model: string | undefined): string =>
  isFields(u) && isString(u.model) ? u.model : model ?? ""

/** `undefined` when the request is a `ChatRequest`; else the error naming what is wrong with it. */
export const invalidChat = (
  u: unknown,
  provider: string,
  model: string | undefined
): InvalidRequestError | undefined => {
  if (isChatRequest(u)) return undefined
  const decoded = decodeChat(u)
  return decoded._tag === "Success" ? undefined : problem(decoded.failure.issue, provider, modelOf(u, model))
}

/** `undefined` when the request is an `EmbeddingRequest`; else the error naming what is wrong with it. */
export const invalidEmbedding = (
  u: unknown,
  provider: string,
  model: string | undefined
): InvalidRequestError | undefined => {
  if (isEmbeddingRequest(u)) return undefined
  const decoded = decodeEmbedding(u)
  return decoded._tag === "Success" ? undefined : problem(decoded.failure.issue, provider, modelOf(u, model))
}
