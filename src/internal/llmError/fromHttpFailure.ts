/** `LlmError.fromHttpFailure`: the status code first, refined by the body's error code, type and message. */
import {
  AuthError,
  ContentFilterError,
  ContextLengthError,
  type HttpFailure,
  InvalidRequestError,
  type LlmError,
  ModelNotFoundError,
  ProviderUnavailableError,
  RateLimitError,
  TimeoutError
} from "../../LlmError.js"
import { definedFields, isJsonObject } from "../json.js"
import { errorInfo, excerpt } from "./errorInfo.js"
import { masked } from "./mask.js"
import * as RetryAfter from "./retryAfter.js"

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
  "too many tokens",
  // Bedrock's ValidationException for a prompt past the model's window.
  "input is too long"
]

const isContextOverflow = (signals: string): boolean =>
  contextSignals.some((signal) => signals.includes(signal)) ||
  (signals.includes("input token count") && signals.includes("exceeds the maximum"))

const contentFilterSignals = ["content_filter", "content_policy", "safety system", "moderation", "flagged", "guardrail"]

const rateLimitCodes = [
  "rate_limit_exceeded",
  "rate_limit_error",
  "resource_exhausted",
  "rate_limited",
  // AWS (Amazon Bedrock API reference, "Common Errors"), as a stream's exception names it, with no status.
  "throttlingexception"
]

/**
 * An AWS error's type (`ThrottlingException`): the `x-amzn-errortype` header's name before its `:` (AWS's JSON
 * protocols), or the body's `__type` after its `#`.
 */
const awsErrorType = (value: string | undefined): string | undefined => {
  if (value === undefined || value === "") return undefined
  const name = value.split(":", 1)[0]!
  return name.slice(name.lastIndexOf("#") + 1)
}

const contextWindowOf = (message: string | undefined): number | undefined => {
  const match = message?.match(
    /maximum context length is (\d+)|(\d+) maximum|maximum number of tokens allowed \((\d+)\)/i
  )
  const value = match?.[1] ?? match?.[2] ?? match?.[3]
  return value === undefined ? undefined : Number(value)
}

/**
 * Gemini names a rejected key in an `ErrorInfo` detail (`reason: "API_KEY_INVALID"`) whatever the message says ("API
 * key expired...").
 */
const isInvalidGoogleKey = (details: unknown): boolean =>
  Array.isArray(details) &&
  details.some((detail) => isJsonObject(detail) && detail["reason"] === "API_KEY_INVALID")

const isDailyQuota = (details: unknown): boolean =>
  Array.isArray(details) &&
  details.some((detail) =>
    isJsonObject(detail) && Array.isArray(detail["violations"]) &&
    detail["violations"].some((violation) =>
      isJsonObject(violation) &&
      /perday/i.test(String(violation["quotaId"] ?? "") + String(violation["quotaMetric"] ?? ""))
    )
  )

/** The fields every error of the family carries. */
interface Fields {
  readonly provider: string
  readonly model: string
  readonly status?: number
  readonly requestId?: string
  readonly detail?: string
}

/** The error of a failure, with its `secrets` masked in every field. */
export const fromHttpFailure = (failure: HttpFailure): LlmError => {
  const error = classify(failure)
  return failure.secrets === undefined ? error : masked(error, failure.secrets)
}

const classify = (failure: HttpFailure): LlmError => {
  const info = errorInfo(failure.body)
  const headers = failure.headers ?? {}
  const header = (name: string) => headers[name]
  const status = failure.status ??
    (info.numericCode !== undefined && info.numericCode >= 400 ? info.numericCode : undefined)
  const detailText = info.message ?? (info.text === "" ? undefined : excerpt(info.text))
  const requestId = header("x-request-id") ?? header("request-id") ?? header("x-generation-id") ??
    header("x-amzn-requestid") ?? info.requestId
  const fields: Fields = {
    provider: failure.provider,
    model: failure.model,
    ...definedFields({ status, requestId, detail: detailText && excerpt(detailText) })
  }
  const code = (info.code ?? "").toLowerCase()
  const type = (info.type ?? awsErrorType(header("x-amzn-errortype") ?? info.awsType) ?? "").toLowerCase()
  const signals = `${code} ${type} ${(info.message ?? info.text).toLowerCase()}`
  const retryAfter = () =>
    RetryAfter.fromHeaders(header, failure.nowMillis) ?? RetryAfter.fromGoogleDetails(info.details)

  if (
    code === "insufficient_quota" || type === "insufficient_quota" || (status === 429 && isDailyQuota(info.details))
  ) {
    return new AuthError({ ...fields, reason: "quota_exhausted" })
  }
  if (status === 402) return new AuthError({ ...fields, reason: "payment_required" })
  if (
    status === 401 || code === "invalid_api_key" || type === "authentication_error" ||
    type === "unrecognizedclientexception" ||
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
    return new RateLimitError({ ...fields, ...definedFields({ retryAfter: retryAfter() }) })
  }
  // 413: the body is too large (Anthropic's edge answers before the API, often not in JSON).
  if (status === 413 || isContextOverflow(signals)) {
    return new ContextLengthError({ ...fields, ...definedFields({ contextWindow: contextWindowOf(info.message) }) })
  }
  if (contentFilterSignals.some((signal) => signals.includes(signal))) return new ContentFilterError(fields)
  // Azure OpenAI names a deployment where OpenAI names a model (Azure OpenAI's REST API reference).
  // Bedrock answers an unknown model id with a 404 `ResourceNotFoundException` or a 400 `ValidationException` whose
  // message names the model identifier (Amazon Bedrock API reference, Converse).
  if (
    code === "model_not_found" || code === "deploymentnotfound" || (status === 404 && /model/.test(signals)) ||
    type === "resourcenotfoundexception" || (type === "validationexception" && /model identifier/.test(signals))
  ) {
    return new ModelNotFoundError(fields)
  }
  if (status === 408) return new TimeoutError(fields)
  // An error event inside a 200 stream that names no other cause is the provider failing.
  if (status === undefined || status >= 500 || status === 409 || status === 498) {
    return new ProviderUnavailableError({ ...fields, ...definedFields({ retryAfter: retryAfter() }) })
  }
  return new InvalidRequestError({ ...fields, ...definedFields({ param: info.param, code: info.code }) })
}
