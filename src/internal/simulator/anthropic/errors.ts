/**
 * Anthropic's errors as the simulator answers them (Anthropic's API errors reference): the error object per failure
 * and per injected status, and a `stream-error` fault's error, whole or as the stream's `error` event, written by the
 * dialect's one writer (`wire/anthropic/writer.ts`: a 503 is its 529 `overloaded_error`).
 */
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError } from "../../../simulator/WireFormat.js"
import { errorJson, errorType } from "../../wire/anthropic/errors.js"
import { errorEvent, errors } from "../../wire/anthropic/writer.js"
import type { ErrorAnswer } from "../../wire/dialect.js"

/** The message of an injected fault's error object per HTTP status, as Anthropic words them. */
const faultMessages: Readonly<Record<number, string>> = {
  400: "The simulator rejected this request (injected fault).",
  401: "invalid x-api-key",
  402: "Your credit balance is too low to access the Anthropic API.",
  403: "Your API key does not have permission to use the specified resource.",
  404: "The requested resource could not be found.",
  408: "Request timed out.",
  409: "The request conflicted with another one; retry it.",
  413: "Request exceeds the maximum allowed number of bytes.",
  429: "Number of requests has exceeded your per-minute rate limit.",
  500: "Internal server error",
  504: "Gateway timeout.",
  529: "Overloaded"
}

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: error.status ?? 400, body: errorJson("invalid_request_error", error.message) }
    case "InvalidKey":
      return { status: 401, body: errorJson("authentication_error", "invalid x-api-key") }
    case "RateLimited":
      return {
        status: 429,
        body: errorJson(
          "rate_limit_error",
          `This request would exceed the rate limit for your organization of ${error.limit} requests per minute.`
        )
      }
    case "ModelNotFound":
      return { status: 404, body: errorJson("not_found_error", `model: ${error.model}`) }
    case "ContextLength":
      return {
        status: 400,
        body: errorJson(
          "invalid_request_error",
          `prompt is too long: ${error.promptTokens + error.completionTokens} tokens > ${error.limit} maximum`
        )
      }
    case "NotFound":
      return { status: 404, body: errorJson("not_found_error", `Not found: ${error.method} ${error.path}`) }
    case "Injected": {
      const { fault } = error
      const message = faultMessages[fault.status] ??
        `Simulated ${fault.status >= 500 ? "server" : "client"} error (HTTP ${fault.status}).`
      return {
        status: fault.status,
        body: errorJson(fault.type ?? errorType(fault.status), fault.message ?? message, fault.code)
      }
    }
  }
}

// A `stream-error` fault's failure: an overloaded provider (`openai`, the default), else an internal error.
function streamFailure(shape: StreamErrorShape): ErrorAnswer {
  const overloaded = shape === "openai"
  return {
    status: overloaded ? 503 : 500,
    message: overloaded ? "Overloaded" : "Internal server error",
    type: "server_error",
    param: null,
    code: null,
    retryAfter: undefined
  }
}

/** A `stream-error` fault's error object, the body of a whole reply. */
export const streamErrorJson = (shape: StreamErrorShape): string => errors.body(streamFailure(shape))

/** A `stream-error` fault's `error` event, which ends a stream. */
export const streamErrorEvent = (shape: StreamErrorShape): string => errorEvent(streamFailure(shape))
