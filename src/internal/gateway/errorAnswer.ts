/**
 * What a client is told of a failure, decided once for every route (`ErrorAnswer`, worded by each dialect's
 * `ErrorWriter`, `wire/dialect.ts`): a status the official clients turn into their own error classes (429
 * `RateLimitError`, 401 `AuthenticationError`, 404 `NotFoundError`, 400 `BadRequestError`, 5xx `InternalServerError`),
 * a message, and a `Retry-After` where a wait is known.
 *
 * An engine failure's own message names deployments, upstream addresses and provider request ids, which are the
 * operator's: the client gets the gateway's words (the provider's only for a 400, about its own request), and the
 * request log keeps the full message (`ErrorAnswer.logged`). A 400's paths are the wire's, not the engine's.
 */
import * as Duration from "effect/Duration"
import type { GuardrailError } from "../../Guardrail.js"
import type { LlmError } from "../../LlmError.js"
import { formatDuration, formatWait } from "../llmError/describe.js"
import type { ErrorAnswer, ErrorWriter } from "../wire/dialect.js"

export type { ErrorAnswer } from "../wire/dialect.js"

export const answer = (
  status: number,
  message: string,
  type: string,
  param: string | null,
  code: string | null,
  retryAfter?: number
): ErrorAnswer => ({ status, message, type, param, code, retryAfter })

/** A request the gateway refuses before anything is sent. */
export const invalidRequest = (message: string, param: string | undefined): ErrorAnswer =>
  answer(400, message, "invalid_request_error", param ?? null, null)

/** A `model` that names no router, deployment, model or group of the configuration. */
export const modelNotFound = (model: string, known: ReadonlyArray<string>): ErrorAnswer =>
  answer(
    404,
    `The model \`${model}\` does not exist on this gateway. Known: ${known.join(", ")} (GET /v1/models lists them).`,
    "invalid_request_error",
    "model",
    "model_not_found"
  )

/** A `model` of `bytes` UTF-8 bytes, longer than the `bound` the gateway takes: named by its length, never echoed. */
export const modelTooLong = (bytes: number, bound: number): ErrorAnswer =>
  answer(
    400,
    `The model name is ${bytes} bytes long; this gateway takes model names of at most ${bound} bytes ` +
      "(GET /v1/models lists them).",
    "invalid_request_error",
    "model",
    "model_too_long"
  )

/** Whole seconds, at least one: `Retry-After` takes no fractions, and 0 invites a storm. */
export const seconds = (millis: number): number => Math.max(1, Math.ceil(millis / 1000))

const waitOf = (duration: Duration.Duration | undefined): number | undefined =>
  duration === undefined ? undefined : seconds(Duration.toMillis(duration))

/**
 * Limits shared through a Redis that is away, failing closed: the service, not the caller's rate, is the cause;
 * `logged`, the store's own message (it names the store's address).
 */
export const storeUnavailable = (logged: string): ErrorAnswer => ({
  ...answer(
    503,
    "The shared store that holds this gateway's limits is unreachable, and the gateway fails closed. Retry shortly.",
    "server_error",
    null,
    "store_unavailable",
    1
  ),
  logged
})

// The provider's words, where they are about the client's request.
const providerSaid = (detail: string | undefined): string => {
  const said = detail?.trim() ?? ""
  return said === "" ? "" : `: ${said}`
}

const timedOut = (error: Extract<LlmError, { readonly _tag: "TimeoutError" }>): string => {
  const after = error.timeout === undefined ? "" : ` within ${formatDuration(error.timeout)}`
  switch (error.phase) {
    case "headers":
      return `The provider sent no answer${after}. Retry, or use another model.`
    case "firstToken":
      return `The provider sent no first token${after}. Retry, or use another model.`
    case "idle":
      return "The provider's stream stalled. Retry, or use another model."
    case "deadline":
      return `No provider answered${after}, retries included. Retry, or use another model.`
    default:
      return `The provider did not answer${after}. Retry, or use another model.`
  }
}

/** What a client is told of an engine failure other than the engine's own check of the request. */
const told = (error: LlmError): string => {
  switch (error._tag) {
    case "RateLimitError":
      return `The provider rate-limited the call. Retry${formatWait(error.retryAfter)}, or use another model.`
    case "NoCapacityError":
      return "No key of the provider can take the call now. Retry after the time in the Retry-After header."
    case "BudgetExceededError":
      return "The call would pass a spend limit of this gateway. Retry when its period renews, or use another model."
    case "AuthError":
      return error.reason === "credential_unavailable"
        ? `The gateway has no working credential for the deployment ${error.provider}/${error.model}: its cloud ` +
          "credential gave no token (a fault of the gateway's configuration or environment, not of your request or " +
          "key). Retry later, or use another model."
        : "The provider refused this gateway's own key for the model (not the key you sent): the gateway's " +
          "configuration needs a working key."
    case "ModelNotFoundError":
      return "The provider does not know the model this name is served by: the gateway's configuration needs fixing."
    case "ContextLengthError":
      return `The provider rejected the prompt as too long for the model's context window${
        providerSaid(error.detail)
      }. Shorten the messages or max_tokens, or use a model with a larger context.`
    case "ContentFilterError":
      return `The provider's safety system refused the content${
        providerSaid(error.detail)
      }. Rephrase, or use another model.`
    case "InvalidRequestError":
      return `The provider rejected the request${error.param === undefined ? "" : ` (field ${error.param})`}${
        providerSaid(error.detail)
      }. Fix the request; retrying it unchanged will fail again.`
    case "ProviderUnavailableError":
      return `The provider is unavailable or failed. Retry${formatWait(error.retryAfter)}, or use another model.`
    case "TimeoutError":
      return timedOut(error)
    case "TransportError":
      return error.responseStarted === true
        ? "The connection to the provider broke while its reply was coming; the partial reply is not reliable. Retry."
        : "The provider could not be reached. Retry, or use another model."
    case "StreamTruncatedError":
      return "The provider's stream ended before the reply was complete. Retry."
    case "OutputDecodeError":
      return "The provider sent a reply that could not be decoded. Retry, or use another model."
  }
}

const rendered = (error: LlmError, now: number, path: (engine: string) => string): ErrorAnswer => {
  const message = told(error)
  switch (error._tag) {
    case "RateLimitError":
      return answer(429, message, "rate_limit_error", null, "rate_limit_exceeded", waitOf(error.retryAfter) ?? 1)
    case "NoCapacityError":
      if (error.storeUnavailable === true) return storeUnavailable(error.message)
      return answer(
        429,
        message,
        "rate_limit_error",
        null,
        "rate_limit_exceeded",
        error.availableAt === undefined ? 1 : seconds(error.availableAt - now)
      )
    case "BudgetExceededError":
      return answer(
        429,
        message,
        "insufficient_quota",
        null,
        "insufficient_quota",
        error.periodEnd === undefined ? undefined : seconds(error.periodEnd - now)
      )
    case "AuthError":
      // No token from the gateway's own cloud credential: the server's fault (503), not the caller's key (401).
      return error.reason === "credential_unavailable"
        ? answer(503, message, "server_error", null, "credential_unavailable")
        : answer(401, message, "authentication_error", null, "invalid_api_key")
    case "ModelNotFoundError":
      return answer(404, message, "invalid_request_error", "model", "model_not_found")
    case "ContextLengthError":
      return answer(400, message, "invalid_request_error", "messages", "context_length_exceeded")
    case "ContentFilterError":
      return answer(400, message, "invalid_request_error", null, "content_filter")
    case "InvalidRequestError":
      // No status: the engine's own check of the request (`ChatRequest`), whose paths are the engine's names.
      return error.status === undefined
        ? answer(
          400,
          path(error.detail ?? error.message).replace(/ \(nothing was sent\)$/, ""),
          "invalid_request_error",
          error.param === undefined ? null : path(error.param),
          null
        )
        : answer(400, message, "invalid_request_error", error.param ?? null, error.code ?? null)
    case "ProviderUnavailableError":
      return answer(503, message, "server_error", null, null, waitOf(error.retryAfter))
    case "TimeoutError":
      return answer(504, message, "server_error", null, "timeout")
    case "TransportError":
    case "StreamTruncatedError":
    case "OutputDecodeError":
      return answer(502, message, "server_error", null, null)
  }
}

/** The answer to an engine failure; `now` dates a `NoCapacityError`'s `availableAt`, `path` names the body's paths. */
export const fromLlmError = (error: LlmError, now: number, path: (engine: string) => string): ErrorAnswer => ({
  ...rendered(error, now, path),
  logged: error.message
})

/**
 * The gateway's database (keys made at run time, the spend ledger, the batches it keeps) did not answer in time or
 * failed; `logged`, what failed (the store's reason, which the client is not told). `unanswered` names what of the
 * request could not be read or written; without it, the keys and spend: nothing was sent, and no spend is lost.
 */
export const databaseUnavailable = (logged: string, unanswered?: string): ErrorAnswer => ({
  ...answer(
    503,
    unanswered === undefined
      ? "The database that holds this gateway's keys and spend is unreachable; nothing was sent. Retry shortly."
      : `The gateway's database did not answer: ${unanswered}. Retry shortly.`,
    "server_error",
    null,
    "database_unavailable",
    1
  ),
  logged
})

/** What the admin API could not read or write of the gateway's stores; `message` says what, and to retry. */
export const dataUnavailable = (message: string): ErrorAnswer =>
  answer(503, message, "server_error", null, "database_unavailable")

/** How a route answers an engine failure: what it is told (`fromLlmError`, in the route's paths), and in what words. */
export interface Failures {
  readonly answer: (error: LlmError) => ErrorAnswer
  readonly errors: ErrorWriter
}

/** A dialect's failures (`errors`) at the time `now` reads, the engine's request paths named by `path`. */
export function failures(now: () => number, errors: ErrorWriter, path: (engine: string) => string): Failures {
  return { answer: (error) => fromLlmError(error, now(), path), errors }
}

const restartedMessage =
  "The provider's stream broke after part of the answer had been sent, and the rest would have come from " +
  "another deployment as a new answer; the stream ends here instead. Retry the request."

// What a block stopped, by where it ran.
const withheld: Record<GuardrailError["where"], string> = {
  request: "Nothing was sent to the model; change the request.",
  reply: "The reply was withheld from that point on.",
  toolArguments: "Nothing was sent to the MCP server; change the tool's arguments.",
  toolResult: "The tool's result was withheld."
}

/**
 * A guardrail blocked the request (nothing was sent), the reply (a stream ends with this in its error event), or an
 * MCP tool call's arguments or result: the guardrail's name and reason, never the text it found (docs/guardrails.md).
 */
export const guardrailBlocked = (error: GuardrailError): ErrorAnswer => ({
  ...answer(
    400,
    `${error.message} ${withheld[error.where]}`,
    "invalid_request_error",
    null,
    "guardrail_blocked"
  ),
  logged: error.message
})

/** A key or team names a guardrail a reload removed: the call is refused rather than run without it. */
export const guardrailUnavailable = (name: string): ErrorAnswer => ({
  ...answer(
    503,
    "This key's guardrails cannot run: one of them is not in the gateway's configuration. Nothing was sent; an " +
      "administrator needs to fix the key, its team or the configuration.",
    "server_error",
    null,
    "guardrail_unavailable"
  ),
  logged: `the key or its team names the guardrail "${name}", which the configuration does not have`
})

/** A stream whose provider restarted it after part of the answer went out: it ends with this. */
export const restarted = answer(500, restartedMessage, "server_error", null, "stream_restarted")

/** A request that came before the gateway served its first configuration (`starting.ts`). */
export const starting = answer(
  503,
  "The gateway is starting and serves no request yet. Retry shortly.",
  "server_error",
  null,
  "gateway_starting",
  1
)

/** A stream cut at shutdown, once the grace period ended. */
export const shutdown = answer(
  503,
  "The gateway is shutting down and its grace period ended before this stream did; the answer is incomplete. " +
    "Retry the request.",
  "server_error",
  null,
  "server_shutting_down"
)

/** A stream cut because its key was revoked (or replaced by a rotation whose grace period ended). */
export const revoked = answer(
  401,
  "This stream's gateway key was revoked, or replaced by a rotation whose grace period ended, while it was open; " +
    "the answer is incomplete.",
  "invalid_request_error",
  null,
  "key_revoked"
)
