/**
 * Our errors as `effect/ai`'s: each `LlmError` becomes the `AiError` reason a user of `effect/ai` catches, its text our
 * message (keys already masked), and what the reason has no field for (our tag, the provider, the model, the status,
 * the request id) in its metadata under `"effect-llm-router"`.
 */
import { AiError } from "effect/ai"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LlmError } from "../../../LlmError.js"
import { definedFields } from "../../json.js"

/** The key of this library's entry in the metadata of parts and error reasons. */
export const metadataKey = "effect-llm-router"

/** The `Llm` method a failure came from, which the `AiError` names. */
export type Method = "chat" | "chatStream" | "embed"

type JsonRecord = { [key: string]: string | number | boolean }

/** What the reason has no field for, as JSON. */
const metadataOf = (error: LlmError): AiError.ProviderMetadata => {
  const fields: JsonRecord = { error: error._tag, provider: error.provider, model: error.model }
  if (error.status !== undefined) fields.status = error.status
  if (error.requestId !== undefined) fields.requestId = error.requestId
  if (error._tag === "AuthError") fields.reason = error.reason
  if (error._tag === "TimeoutError" && error.phase !== undefined) fields.phase = error.phase
  if (error._tag === "ContextLengthError" && error.contextWindow !== undefined) {
    fields.contextWindow = error.contextWindow
  }
  if (error._tag === "InvalidRequestError" && error.code !== undefined) fields.code = error.code
  return { [metadataKey]: fields }
}

/** The reason an `effect/ai` user catches for `error`; `nowMillis` turns a time a key frees into a wait. */
export const reasonOf = (error: LlmError, nowMillis: number): AiError.AiErrorReason => {
  const metadata = metadataOf(error)
  const description = error.message
  switch (error._tag) {
    case "RateLimitError":
      return new AiError.RateLimitError({ metadata, ...definedFields({ retryAfter: error.retryAfter }) })
    case "NoCapacityError":
      // Every key cooling down or busy: a rate limit of this deployment, over when the first key frees.
      return new AiError.RateLimitError({
        metadata,
        ...(error.availableAt !== undefined
          ? { retryAfter: Duration.millis(Math.max(0, error.availableAt - nowMillis)) }
          : {})
      })
    case "AuthError":
      return error.reason === "quota_exhausted" || error.reason === "payment_required"
        ? new AiError.QuotaExhaustedError({ metadata })
        : new AiError.AuthenticationError({
          kind: error.reason === "invalid_key"
            ? "InvalidKey"
            : error.reason === "credential_unavailable"
            ? "MissingKey"
            : "InsufficientPermissions",
          description,
          metadata
        })
    case "BudgetExceededError":
      return new AiError.QuotaExhaustedError({
        metadata,
        ...(error.periodEnd !== undefined ? { resetAt: DateTime.makeUnsafe(error.periodEnd) } : {})
      })
    case "ModelNotFoundError":
      return new AiError.InvalidRequestError({ parameter: "model", description, metadata })
    case "ContextLengthError":
      return new AiError.InvalidRequestError({
        parameter: "prompt",
        constraint: "must fit the model's context window",
        description,
        metadata
      })
    case "InvalidRequestError":
      return new AiError.InvalidRequestError({ ...definedFields({ parameter: error.param }), description, metadata })
    case "ContentFilterError":
      return new AiError.ContentPolicyError({ description, metadata })
    case "ProviderUnavailableError":
    case "TimeoutError":
      return new AiError.InternalProviderError({ description, metadata })
    case "TransportError":
      // The request's URL is the adapter's: the reason names the provider in its place.
      return new AiError.NetworkError({ reason: "TransportError", method: "POST", url: error.provider, description })
    case "StreamTruncatedError":
    case "OutputDecodeError":
      return new AiError.InvalidResponseError({ description, metadata })
  }
}

/** `error` as an `AiError` of `Llm.<method>`. */
export const toAiError = (error: LlmError, method: Method, nowMillis: number): AiError.AiError =>
  AiError.make({ module: "Llm", method, reason: reasonOf(error, nowMillis) })

/** Fails with the `AiError` of `error`, read against the `Clock`. */
export const failWith = (method: Method) => (error: LlmError): Effect.Effect<never, AiError.AiError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(toAiError(error, method, now)))
