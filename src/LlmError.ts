/**
 * The failures a caller can act on, and the one function that maps an HTTP
 * failure (a status, headers and a body, or an error inside a 200 stream) to them.
 *
 * Every error carries `provider`, `model`, `status?`, `requestId?` and `detail?`
 * (the provider's own words, shortened, with any key scrubbed out), and a
 * `message` that says what happened and what to do.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as RetryAfter from "./internal/retryAfter.js"

/**
 * One failed try of a routed call, as the error that ends the call lists it.
 *
 * @since 0.1.0
 * @category Errors
 */
export const Attempt = Schema.Struct({
  /** The router's name of the deployment tried. */
  deployment: Schema.String,
  /** The `_tag` of the error it failed with. */
  error: Schema.String,
  /** That error's message. */
  message: Schema.String
})

/**
 * @since 0.1.0
 * @category Errors
 */
export type Attempt = typeof Attempt.Type

const common = {
  provider: Schema.String,
  model: Schema.String,
  status: Schema.optional(Schema.Number),
  requestId: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String),
  /**
   * Set by `Router` on the error that ends a call: every deployment tried, in
   * order, this error's own attempt last. Absent on errors of a single `Llm`.
   */
  attempts: Schema.optional(Schema.Array(Attempt))
}

interface Common {
  readonly provider: string
  readonly model: string
  readonly status?: number | undefined
  readonly requestId?: string | undefined
  readonly detail?: string | undefined
  readonly attempts?: ReadonlyArray<Attempt> | undefined
}

const describe = (self: Common, what: string, advice: string): string => {
  const where = self.model === "" ? self.provider : `${self.provider} (${self.model})`
  const status = self.status === undefined ? "" : ` [HTTP ${self.status}]`
  const detail = self.detail === undefined || self.detail === "" ? "" : `: ${self.detail}`
  const request = self.requestId === undefined ? "" : ` (request id ${self.requestId})`
  const attempts = self.attempts === undefined || self.attempts.length === 0
    ? ""
    : ` Tried: ${self.attempts.map((attempt) => `${attempt.deployment} (${attempt.error})`).join(", ")}.`
  return `${where}${status} ${what}${detail}${request}. ${advice}${attempts}`
}

const formatWait = (wait: Duration.Duration | undefined) =>
  wait === undefined ? "" : ` in ${Duration.format(wait)}`

/**
 * The provider refused the call for now (HTTP 429 that is not a quota).
 *
 * @since 0.1.0
 * @category Errors
 */
export class RateLimitError extends Schema.TaggedError<RateLimitError>()("RateLimitError", {
  ...common,
  /** How long the provider asked to wait, when it said. */
  retryAfter: Schema.optional(Schema.Duration)
}) {
  override get message() {
    return describe(
      this,
      "rate-limited the request",
      `Retry${formatWait(this.retryAfter)}, or with another key.`
    )
  }
}

/**
 * Why a key was rejected.
 *
 * @since 0.1.0
 * @category Errors
 */
export const AuthReason = Schema.Literals(["invalid_key", "forbidden", "quota_exhausted", "payment_required"])

/**
 * The key was rejected (401, 403), or its account is out of quota or credit
 * (429 `insufficient_quota`, 402). Retrying with the same key will not help.
 *
 * @since 0.1.0
 * @category Errors
 */
export class AuthError extends Schema.TaggedError<AuthError>()("AuthError", {
  ...common,
  reason: AuthReason
}) {
  override get message() {
    const what = {
      invalid_key: ["rejected the API key", "Check the key, or use another one."],
      forbidden: ["refused access with this key", "Check the key's permissions for this model and project."],
      quota_exhausted: [
        "reports the key's quota is exhausted",
        "Add billing or quota to the account, or use another key."
      ],
      payment_required: ["reports the account has no credit left", "Add credit, or use another key."]
    }[this.reason]
    return describe(this, what[0]!, what[1]!)
  }
}

/**
 * The model does not exist, or this key has no access to it.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ModelNotFoundError extends Schema.TaggedError<ModelNotFoundError>()("ModelNotFoundError", common) {
  override get message() {
    return describe(this, "does not know the model", "Check the model name, or fall back to another model.")
  }
}

/**
 * The prompt (plus the requested output) does not fit the model's context window.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ContextLengthError extends Schema.TaggedError<ContextLengthError>()("ContextLengthError", {
  ...common,
  /** The model's context window in tokens, when the provider said. */
  contextWindow: Schema.optional(Schema.Number)
}) {
  override get message() {
    return describe(
      this,
      "rejected the prompt as too long for the context window",
      "Shorten the messages or maxTokens, or use a model with a larger context."
    )
  }
}

/**
 * A safety system refused the prompt or cut the reply.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ContentFilterError extends Schema.TaggedError<ContentFilterError>()("ContentFilterError", common) {
  override get message() {
    return describe(this, "refused the content through its safety system", "Rephrase, or use another model.")
  }
}

/**
 * The request itself is wrong (other 400 and 422 answers): retrying it will fail again.
 *
 * @since 0.1.0
 * @category Errors
 */
export class InvalidRequestError extends Schema.TaggedError<InvalidRequestError>()("InvalidRequestError", {
  ...common,
  /** The request field the provider named, when it did. */
  param: Schema.optional(Schema.String),
  /** The provider's error code, when it sent one. */
  code: Schema.optional(Schema.String)
}) {
  override get message() {
    const param = this.param === undefined ? "" : ` (field ${this.param})`
    return describe(this, `rejected the request${param}`, "Fix the request; retrying it unchanged will fail again.")
  }
}

/**
 * The provider failed or is overloaded (500, 502, 503, 504, 529, and errors inside
 * a stream that name no other cause). Worth retrying after a pause.
 *
 * @since 0.1.0
 * @category Errors
 */
export class ProviderUnavailableError extends Schema.TaggedError<ProviderUnavailableError>()(
  "ProviderUnavailableError",
  {
    ...common,
    retryAfter: Schema.optional(Schema.Duration)
  }
) {
  override get message() {
    return describe(this, "is unavailable or failed", `Retry${formatWait(this.retryAfter)}, or fall back to another provider.`)
  }
}

/**
 * No answer came within the request timeout (or the provider answered 408).
 *
 * @since 0.1.0
 * @category Errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>()("TimeoutError", {
  ...common,
  timeout: Schema.optional(Schema.Duration)
}) {
  override get message() {
    const after = this.timeout === undefined ? "" : ` within ${Duration.format(this.timeout)}`
    return describe(this, `did not answer${after}`, "Retry, or raise the timeout.")
  }
}

/**
 * The connection failed: refused, reset, DNS, TLS.
 *
 * @since 0.1.0
 * @category Errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", common) {
  override get message() {
    return describe(this, "could not be reached", "Check the base URL and the network, then retry.")
  }
}

/**
 * A stream ended without its terminal event (no `[DONE]`, no finish reason).
 *
 * @since 0.1.0
 * @category Errors
 */
export class StreamTruncatedError extends Schema.TaggedError<StreamTruncatedError>()("StreamTruncatedError", common) {
  override get message() {
    return describe(this, "ended the stream before the reply was complete", "The partial reply is not reliable; retry.")
  }
}

/**
 * A body or event that does not decode, or a structured output that does not
 * match its schema. `raw` holds the text that failed (a body or event
 * shortened; a structured output's reply text whole).
 *
 * @since 0.1.0
 * @category Errors
 */
export class OutputDecodeError extends Schema.TaggedError<OutputDecodeError>()("OutputDecodeError", {
  ...common,
  raw: Schema.String
}) {
  override get message() {
    return describe(
      this,
      "sent output that could not be decoded",
      "A malformed body or event is a provider or compatibility bug; a structured output that fails its schema may pass on another try or with a clearer prompt."
    )
  }
}

/**
 * Every key is disabled or cooling down. `availableAt` (epoch milliseconds) is
 * when the first one frees, when any will. `model` is empty when the failure
 * came from a key pool that serves several models.
 *
 * @since 0.1.0
 * @category Errors
 */
export class NoCapacityError extends Schema.TaggedError<NoCapacityError>()("NoCapacityError", {
  ...common,
  availableAt: Schema.optional(Schema.Number)
}) {
  override get message() {
    const when = this.availableAt === undefined
      ? "No key frees at a known time: every key is disabled, or busy at its concurrency cap."
      : `The first key frees at ${new Date(this.availableAt).toISOString()}.`
    return describe(this, "has no usable key", when)
  }
}

/**
 * A spend limit would be passed; the call was not sent.
 *
 * @since 0.1.0
 * @category Errors
 */
export class BudgetExceededError extends Schema.TaggedError<BudgetExceededError>()("BudgetExceededError", {
  ...common,
  /** What the budget covers: a deployment, a group, or `overall`. */
  scope: Schema.String,
  /** US dollars per period. */
  limit: Schema.Number,
  /** US dollars spent in the current period, calls in flight included. */
  spent: Schema.Number,
  /** The refused call's estimated cost. */
  estimate: Schema.optional(Schema.Number),
  /** When the current period ends (epoch milliseconds), and the budget is whole again. */
  periodEnd: Schema.optional(Schema.Number)
}) {
  override get message() {
    const estimate = this.estimate === undefined ? "" : `, this call about $${this.estimate}`
    const next = this.periodEnd === undefined
      ? "Raise the budget or wait for the next period."
      : `Raise the budget or wait for the next period, at ${new Date(this.periodEnd).toISOString()}.`
    return describe(this, `would pass the ${this.scope} budget (spent $${this.spent} of $${this.limit}${estimate})`, next)
  }
}

/**
 * Every failure `Llm.chat` and `Llm.chatStream` can end with.
 *
 * @since 0.1.0
 * @category Errors
 */
export type LlmError =
  | RateLimitError
  | AuthError
  | ModelNotFoundError
  | ContextLengthError
  | ContentFilterError
  | InvalidRequestError
  | ProviderUnavailableError
  | TimeoutError
  | TransportError
  | StreamTruncatedError
  | OutputDecodeError
  | NoCapacityError
  | BudgetExceededError

/**
 * The schema of the whole family, to encode errors across a process boundary.
 *
 * @since 0.1.0
 * @category Errors
 */
export const LlmError = Schema.Union([
  RateLimitError,
  AuthError,
  ModelNotFoundError,
  ContextLengthError,
  ContentFilterError,
  InvalidRequestError,
  ProviderUnavailableError,
  TimeoutError,
  TransportError,
  StreamTruncatedError,
  OutputDecodeError,
  NoCapacityError,
  BudgetExceededError
])

/**
 * The same error with `attempts` set: what `Router` fails with at the end of a
 * chain of deployments.
 *
 * @since 0.1.0
 * @category Errors
 */
export const withAttempts = <E extends LlmError>(error: E, attempts: ReadonlyArray<Attempt>): E => {
  const { _tag, ...fields } = error
  const Class = error.constructor as new(fields: Omit<E, "_tag">) => E
  return new Class({ ...fields, attempts } as Omit<E, "_tag">)
}

/**
 * Whether retrying the same call (after a pause, or with another key) can
 * succeed: rate limits, rejected keys (with another key), unavailable providers,
 * timeouts and transport failures.
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isRetryable = (error: LlmError): boolean => {
  switch (error._tag) {
    case "RateLimitError":
    case "AuthError":
    case "ProviderUnavailableError":
    case "TimeoutError":
    case "TransportError":
      return true
    default:
      return false
  }
}

// ---------------------------------------------------------------------------
// Mapping an HTTP failure
// ---------------------------------------------------------------------------

/**
 * What is known of a failed call. `status` is absent for an error that arrived
 * inside a 200 stream. `body` is the raw text, or the already-parsed JSON value of
 * an error event. `headers` are keyed by lower-case name.
 *
 * @since 0.1.0
 * @category Mapping
 */
export interface HttpFailure {
  readonly provider: string
  readonly model: string
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string | undefined>> | undefined
  readonly body: unknown
  /** The current time (from `Clock`), to read `retry-after` dates. */
  readonly nowMillis: number
  /** Values that must never appear in an error: they are masked in `detail`. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}

const maxDetail = 300

interface ErrorInfo {
  readonly message: string | undefined
  readonly code: string | undefined
  readonly type: string | undefined
  readonly numericCode: number | undefined
  readonly param: string | undefined
  readonly details: unknown
  readonly requestId: string | undefined
  readonly text: string
}

const asString = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const parseBody = (body: unknown): unknown => {
  if (typeof body !== "string") return body
  const trimmed = body.trim()
  if (trimmed === "" || (trimmed[0] !== "{" && trimmed[0] !== "[")) return trimmed
  try {
    return JSON.parse(trimmed)
  } catch {
    return trimmed
  }
}

/** Reads the provider's error fields from any of the shapes in WIRE.md. */
const errorInfo = (body: unknown): ErrorInfo => {
  const parsed = parseBody(body)
  if (!isRecord(parsed)) {
    const text = typeof parsed === "string" ? excerpt(parsed) : ""
    return {
      message: text === "" ? undefined : text,
      code: undefined,
      type: undefined,
      numericCode: undefined,
      param: undefined,
      details: undefined,
      requestId: undefined,
      text
    }
  }
  // {error: {...}} (OpenAI, Gemini, OpenRouter, Anthropic), {error: "text"} (Ollama),
  // or a flat {object: "error", message, type, code} (vLLM before 0.10.1).
  const inner = parsed["error"]
  const source = isRecord(inner) ? inner : parsed
  const message = typeof inner === "string" ? inner : asString(source["message"])
  const rawCode = source["code"]
  const status = asString(source["status"])
  return {
    message,
    code: typeof rawCode === "string" ? rawCode : status,
    type: asString(source["type"]),
    numericCode: typeof rawCode === "number" ? rawCode : undefined,
    param: asString(source["param"]),
    details: source["details"] ?? (isRecord(source["metadata"]) ? source["metadata"] : undefined),
    requestId: asString(parsed["request_id"]),
    text: JSON.stringify(parsed)
  }
}

const excerpt = (text: string): string => {
  const plain = text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]+>/g, " ")
  const collapsed = plain.replace(/\s+/g, " ").trim()
  return collapsed.length > maxDetail ? `${collapsed.slice(0, maxDetail)}…` : collapsed
}

/**
 * A short, printable id for a key: its first three and last four characters
 * (`sk-…f3a9`); short keys show only their last two.
 *
 * @since 0.1.0
 * @category Mapping
 */
export const maskKey = (key: string): string =>
  key.length >= 12 ? `${key.slice(0, 3)}…${key.slice(-4)}` : `…${key.slice(-2)}`

const scrub = (text: string, secrets: ReadonlyArray<Redacted.Redacted<string>> | undefined): string => {
  if (secrets === undefined) return text
  let out = text
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    if (value.length >= 4) out = out.split(value).join(maskKey(value))
  }
  return out
}

const contextSignals = [
  "context_length_exceeded",
  "maximum context length",
  "prompt is too long",
  "exceeds the context window",
  "context length exceeded",
  "exceeds the available context size",
  "greater than the context length",
  "exceeds maximum context length",
  "input length exceeds the context length",
  "reduce the length of the messages",
  "request_too_large",
  "too many tokens"
]

const isContextOverflow = (signals: string): boolean =>
  contextSignals.some((signal) => signals.includes(signal)) ||
  (signals.includes("input token count") && signals.includes("exceeds the maximum"))

const contentFilterSignals = ["content_filter", "content_policy", "safety system", "moderation", "flagged", "guardrail"]

const rateLimitCodes = ["rate_limit_exceeded", "rate_limit_error", "resource_exhausted", "rate_limited"]

const contextWindowOf = (message: string | undefined): number | undefined => {
  const match = message?.match(/maximum context length is (\d+)|(\d+) maximum|maximum number of tokens allowed \((\d+)\)/i)
  const value = match?.[1] ?? match?.[2] ?? match?.[3]
  return value === undefined ? undefined : Number(value)
}

/** Gemini names a rejected key in an `ErrorInfo` detail (`reason: "API_KEY_INVALID"`) whatever the message says ("API key expired..."). */
const isInvalidGoogleKey = (details: unknown): boolean =>
  Array.isArray(details) &&
  details.some((detail) => isRecord(detail) && detail["reason"] === "API_KEY_INVALID")

const isDailyQuota = (details: unknown): boolean =>
  Array.isArray(details) &&
  details.some((detail) =>
    isRecord(detail) && Array.isArray(detail["violations"]) &&
    detail["violations"].some((violation) =>
      isRecord(violation) && /perday/i.test(String(violation["quotaId"] ?? "") + String(violation["quotaMetric"] ?? ""))
    )
  )

/**
 * Maps a failed call to its `LlmError`: the status code first, refined by the
 * body's error code, type and message (context overflow signals of every
 * provider, `insufficient_quota`, content filters), with `retryAfter` read from
 * `retry-after-ms`, `retry-after` (seconds or HTTP date), `x-ratelimit-reset-*`,
 * and Gemini's `RetryInfo`. Bodies that are not JSON map by status and keep a
 * short excerpt.
 *
 * @since 0.1.0
 * @category Mapping
 */
export const fromHttpFailure = (failure: HttpFailure): LlmError => {
  const info = errorInfo(failure.body)
  const headers = failure.headers ?? {}
  const header = (name: string) => headers[name]
  const status = failure.status ?? (info.numericCode !== undefined && info.numericCode >= 400 ? info.numericCode : undefined)
  const detailText = info.message ?? (info.text === "" ? undefined : excerpt(info.text))
  const requestId = header("x-request-id") ?? header("request-id") ?? header("x-generation-id") ?? info.requestId
  const fields: Common = {
    provider: failure.provider,
    model: failure.model,
    ...(status !== undefined ? { status } : {}),
    ...(requestId !== undefined ? { requestId } : {}),
    ...(detailText !== undefined ? { detail: scrub(excerpt(detailText), failure.secrets) } : {})
  }
  const code = (info.code ?? "").toLowerCase()
  const type = (info.type ?? "").toLowerCase()
  const signals = `${code} ${type} ${(info.message ?? info.text).toLowerCase()}`
  const retryAfter = () =>
    RetryAfter.fromHeaders(header, failure.nowMillis) ?? RetryAfter.fromGoogleDetails(info.details)

  if (code === "insufficient_quota" || type === "insufficient_quota" || (status === 429 && isDailyQuota(info.details))) {
    return new AuthError({ ...fields, reason: "quota_exhausted" })
  }
  if (status === 402) return new AuthError({ ...fields, reason: "payment_required" })
  if (
    status === 401 || code === "invalid_api_key" || type === "authentication_error" ||
    signals.includes("api_key_invalid") || signals.includes("api key not valid") || isInvalidGoogleKey(info.details)
  ) {
    return new AuthError({ ...fields, reason: "invalid_key" })
  }
  if (status === 403) {
    return contentFilterSignals.some((signal) => signals.includes(signal))
      ? new ContentFilterError(fields)
      : new AuthError({ ...fields, reason: "forbidden" })
  }
  if (status === 429 || rateLimitCodes.includes(code) || rateLimitCodes.includes(type)) {
    const wait = retryAfter()
    return new RateLimitError(wait === undefined ? fields : { ...fields, retryAfter: wait })
  }
  // 413: the body is too large (Anthropic's edge answers before the API, often not in JSON).
  if (status === 413 || isContextOverflow(signals)) {
    const contextWindow = contextWindowOf(info.message)
    return new ContextLengthError(contextWindow === undefined ? fields : { ...fields, contextWindow })
  }
  if (contentFilterSignals.some((signal) => signals.includes(signal))) return new ContentFilterError(fields)
  if (code === "model_not_found" || (status === 404 && /model/.test(signals))) return new ModelNotFoundError(fields)
  if (status === 408) return new TimeoutError(fields)
  // An error event inside a 200 stream that names no other cause is the provider failing.
  if (status === undefined || status >= 500 || status === 409 || status === 498) {
    const wait = retryAfter()
    return new ProviderUnavailableError(wait === undefined ? fields : { ...fields, retryAfter: wait })
  }
  return new InvalidRequestError({
    ...fields,
    ...(info.param !== undefined ? { param: info.param } : {}),
    ...(info.code !== undefined ? { code: info.code } : {})
  })
}
