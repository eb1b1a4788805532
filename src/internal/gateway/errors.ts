/**
 * Failures as OpenAI answers them: `{"error": {"message", "type", "param",
 * "code"}}` with the status the official clients turn into their own error
 * classes (429 `RateLimitError`, 401 `AuthenticationError`, 404
 * `NotFoundError`, 400 `BadRequestError`, 5xx `InternalServerError`), and a
 * `Retry-After` in whole seconds where a wait is known. The messages are the
 * library's, which mask keys.
 */
import * as Duration from "effect/Duration"
import type { LlmError } from "../../LlmError.js"
import { openAiErrorJson } from "../openAiErrorJson.js"
import { wirePath } from "./wire.js"

/** An error answer: its status, its JSON body and the seconds of its `Retry-After`, if any. */
export interface ErrorAnswer {
  readonly status: number
  readonly body: string
  readonly retryAfter: number | undefined
  /** The body's `code`, for the request log. */
  readonly code: string | null
}

export const answer = (
  status: number,
  message: string,
  type: string,
  param: string | null,
  code: string | null,
  retryAfter?: number
): ErrorAnswer => ({ status, body: openAiErrorJson(message, type, param, code), retryAfter, code })

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

/** Whole seconds, at least one: `Retry-After` takes no fractions, and 0 invites a storm. */
export const seconds = (millis: number): number => Math.max(1, Math.ceil(millis / 1000))

const waitOf = (duration: Duration.Duration | undefined): number | undefined =>
  duration === undefined ? undefined : seconds(Duration.toMillis(duration))

/** Limits shared through a Redis that is away, failing closed: the service, not the caller's rate, is the cause. */
export const storeUnavailable = (message: string): ErrorAnswer =>
  answer(503, message, "server_error", null, "store_unavailable", 1)

/**
 * The answer to an engine failure; `now` (Clock millis) dates a `NoCapacityError`'s `availableAt`, `path` names the
 * engine's request paths as the body did (`wirePath`).
 */
export const fromLlmError = (
  error: LlmError,
  now: number,
  path: (engine: string) => string = wirePath
): ErrorAnswer => {
  const message = error.message
  switch (error._tag) {
    case "RateLimitError":
      return answer(429, message, "rate_limit_error", null, "rate_limit_exceeded", waitOf(error.retryAfter) ?? 1)
    case "NoCapacityError":
      if (error.storeUnavailable === true) return storeUnavailable(message)
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
      // The provider refused the gateway's own key for the deployment.
      return answer(401, message, "authentication_error", null, "invalid_api_key")
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
          path(error.detail ?? message).replace(/ \(nothing was sent\)$/, ""),
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
