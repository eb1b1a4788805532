/**
 * The failures a caller can act on, and the one function that maps an HTTP failure (a status, headers and a body, or
 * an error inside a 200 stream) to them. Every error carries `provider`, `model`, `status?`, `requestId?` and `detail?`
 * (the provider's own words, shortened), and a `message` that says what happened and what to do. An adapter's errors
 * never hold its key: it is masked (`maskKey`) in every field, whatever the provider echoed back.
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { describe, formatDollars, formatDuration, formatWait } from "./internal/llmError/describe.js"
import * as ErrorInfo from "./internal/llmError/errorInfo.js"
import * as Mapping from "./internal/llmError/fromHttpFailure.js"
import * as Retryable from "./internal/llmError/retryable.js"

/**
 * Which limit a `TimeoutError` hit:
 * - `"headers"`: no response headers within `HttpOptions.headersTimeout` (a silent provider);
 * - `"firstToken"`: a stream's first chunk did not come within `HttpOptions.firstTokenTimeout`;
 * - `"idle"`: a stream sent nothing for `HttpOptions.idleTimeout` (a stall);
 * - `"request"`: the request's own `timeout` (`HttpOptions.timeout`) passed;
 * - `"deadline"`: an `Llm`'s or `Router`'s whole-call deadline passed, retries included.
 *
 * @since 0.1.0
 * @category Errors
 */
export const TimeoutPhase = Schema.Literals(["headers", "firstToken", "idle", "request", "deadline"])

/**
 * @since 0.1.0
 * @category Errors
 */
export type TimeoutPhase = typeof TimeoutPhase.Type

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
  message: Schema.String,
  /** A `TimeoutError`'s `phase` (which limit it hit); absent for other errors. */
  phase: Schema.optional(TimeoutPhase)
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
   * Set by `Router` on the error that ends a call: every deployment tried, in order, this error's own attempt last.
   * Absent on errors of a single `Llm`.
   */
  attempts: Schema.optional(Schema.Array(Attempt))
}

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
 * Why a key was rejected; `credential_unavailable` (since 0.3.0): a deployment authenticated by a cloud's credential
 * (Azure OpenAI's Microsoft Entra ID, Vertex AI's Google credential, Bedrock's AWS credentials) got no token from it.
 *
 * @since 0.1.0
 * @category Errors
 */
export const AuthReason = Schema.Literals([
  "invalid_key",
  "forbidden",
  "quota_exhausted",
  "payment_required",
  "credential_unavailable"
])

/**
 * The key was rejected (401, 403), or its account is out of quota or credit (429 `insufficient_quota`, 402), or no
 * token came from the deployment's credential. Retrying with the same key will not help.
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
      payment_required: ["reports the account has no credit left", "Add credit, or use another key."],
      credential_unavailable: [
        "could not be called: no token from its credential",
        "Sign in or configure the credential the detail names."
      ]
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
 * The provider failed or is overloaded (500, 502, 503, 504, 529, and errors inside a stream that name no other cause).
 * Worth retrying after a pause.
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
    return describe(
      this,
      "is unavailable or failed",
      `Retry${formatWait(this.retryAfter)}, or fall back to another provider.`
    )
  }
}

/**
 * No answer came within a time limit (its `phase` says which), or the provider answered 408 (no `phase`).
 *
 * @since 0.1.0
 * @category Errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>()("TimeoutError", {
  ...common,
  timeout: Schema.optional(Schema.Duration),
  phase: Schema.optional(TimeoutPhase)
}) {
  override get message() {
    const after = this.timeout === undefined ? "" : ` within ${formatDuration(this.timeout)}`
    const what = this.phase === "headers"
      ? `sent no response headers${after}`
      : this.phase === "firstToken"
      ? `sent no first token${after}`
      : this.phase === "idle"
      ? `stalled: its stream sent nothing for ${this.timeout === undefined ? "too long" : formatDuration(this.timeout)}`
      : `did not answer${after}`
    return describe(this, what, "Retry, or raise the timeout.")
  }
}

/**
 * The connection failed: refused, reset, DNS, TLS. With `responseStarted`, it broke after the provider's response had
 * begun: a stream cut mid-way.
 *
 * @since 0.1.0
 * @category Errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  ...common,
  /** The connection broke after the response's headers arrived (the body, or a stream, was cut). */
  responseStarted: Schema.optional(Schema.Boolean)
}) {
  override get message() {
    return this.responseStarted === true
      ? describe(
        this,
        "broke the connection after the response had started",
        "The partial reply is not reliable; retry, or fall back to another provider."
      )
      : describe(this, "could not be reached", "Check the base URL and the network, then retry.")
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
 * A body or event that does not decode, or a structured output that does not match its schema. `raw` holds the text
 * that failed (a body or event shortened; a structured output's reply text whole). A stream event that is not JSON at
 * all is not this error: it is skipped and logged, and the stream must still end properly (or `StreamTruncatedError`).
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
      "A malformed body or event is a provider or compatibility bug; a structured output that fails its schema may " +
        "pass on another try or with a clearer prompt."
    )
  }
}

/**
 * Every key is disabled or cooling down, or (`exhausted: "deployments"`, from a `Router`) every deployment of the
 * address is held back (breaker open, rate-limited, too small, or tried already), each named in `detail`.
 * `availableAt` (epoch milliseconds) is when the first one frees, when any will. `model` is empty when a key pool
 * serves several models. `storeUnavailable`: the limits' `Store` is unreachable and fails closed (a gateway answers
 * 503).
 *
 * @since 0.1.0
 * @category Errors
 */
export class NoCapacityError extends Schema.TaggedError<NoCapacityError>()("NoCapacityError", {
  ...common,
  availableAt: Schema.optional(Schema.Number),
  storeUnavailable: Schema.optional(Schema.Boolean),
  /**
   * What ran out: a key pool's keys (the default), or a router's deployments.
   *
   * @since 0.3.0
   */
  exhausted: Schema.optional(Schema.Literals(["keys", "deployments"]))
}) {
  override get message() {
    if (this.storeUnavailable === true) {
      return describe(
        this,
        "cannot take calls now",
        "The shared store (Redis) that holds its limits is unreachable, and it fails closed: retry shortly, or " +
          "configure fail-open."
      )
    }
    if (this.exhausted === "deployments") {
      const when = this.availableAt === undefined
        ? "No deployment frees at a known time: retry later, or add a fallback."
        : `The first deployment frees at ${new Date(this.availableAt).toISOString()}.`
      return describe(this, "has no usable deployment", when)
    }
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
    const estimate = this.estimate === undefined ? "" : `, this call about ${formatDollars(this.estimate)}`
    const next = this.periodEnd === undefined
      ? "Raise the budget or wait for the next period."
      : `Raise the budget or wait for the next period, at ${new Date(this.periodEnd).toISOString()}.`
    return describe(
      this,
      `would pass the ${this.scope} budget (spent ${formatDollars(this.spent)} of ${
        formatDollars(this.limit)
      }${estimate})`,
      next
    )
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
 * Whether retrying the same call (after a pause, or with another key) can succeed: rate limits, rejected keys (with
 * another key), unavailable providers, timeouts and transport failures.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, LlmError, Message } from "effect-llm-router"
 *
 * // A canned answer when retrying cannot help; other failures go on to the caller.
 * const answer = Llm.chat({ messages: [Message.user("Hi")] }).pipe(
 *   Effect.map((reply) => reply.text),
 *   Effect.catchIf((error) => !LlmError.isRetryable(error), (error) => Effect.succeed(`Sorry (${error._tag}).`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Predicates
 */
export const isRetryable: (error: LlmError) => boolean = Retryable.isRetryable

// ---------------------------------------------------------------------------
// Mapping an HTTP failure
// ---------------------------------------------------------------------------

/**
 * What is known of a failed call. `status` is absent for an error inside a 200 stream; `body` is the raw text, or an
 * error event's parsed JSON; `headers` are keyed by lower-case name.
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
  /** Values that must never appear in an error: they are masked (`maskKey`) in every field. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
}

/**
 * A short, printable id for a key (the `keyId` of responses, key status and ledgers): its first three and last four
 * characters (short keys: only their last two), then `#` and four hex digits of its SHA-256, so two keys that end
 * alike get different ids.
 *
 * @example
 * ```ts
 * import { LlmError } from "effect-llm-router"
 *
 * LlmError.maskKey("sk-proj-0123456789f3a9") // "sk-…f3a9#0d64"
 * ```
 *
 * @since 0.1.0
 * @category Mapping
 */
export const maskKey: (key: string) => string = ErrorInfo.maskKey

/**
 * Maps a failed call to its `LlmError`: by status code, refined by the body's error code, type and message, with
 * `retryAfter` read from `retry-after-ms`, `retry-after` (seconds or HTTP date), `x-ratelimit-reset-*` and Gemini's
 * `RetryInfo`. A body that is not JSON maps by status and keeps a short excerpt.

 *
 * @example
 * ```ts
 * import { LlmError } from "effect-llm-router"
 *
 * const error = LlmError.fromHttpFailure({
 *   provider: "openai",
 *   model: "gpt-4o-mini",
 *   status: 429,
 *   headers: { "retry-after": "2" },
 *   body: `{"error":{"message":"Slow down","code":"rate_limit_exceeded"}}`,
 *   nowMillis: 0
 * })
 * // error._tag === "RateLimitError", error.retryAfter: 2 seconds
 * ```
 *
 * @since 0.1.0
 * @category Mapping
 */
export const fromHttpFailure = (failure: HttpFailure): LlmError =>
  // A call rather than the internal function itself: its module imports this one's classes, so either may load first.
  Mapping.fromHttpFailure(failure)
