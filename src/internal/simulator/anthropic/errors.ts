/**
 * Anthropic's errors as the simulator answers them (Anthropic's API errors reference): the status and message per
 * failure and per injected status, and a `stream-error` fault's error, whole or as the stream's `error` event, all
 * written by the dialect's one writer (`wire/anthropic/writer.ts`; a stream's 503 is its 529 `overloaded_error`).
 */
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError } from "../../../simulator/WireFormat.js"
import { errorBody, errorEvent, type ErrorOptions, errors } from "../../wire/anthropic/writer.js"
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

// A failure at `status` in Anthropic's words, by the dialect's one writer; `options` its type and code where the
// simulator's rule names them.
function answered(status: number, message: string, options?: ErrorOptions) {
  return { status, body: errorBody({ status, message }, options) }
}

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return answered(error.status ?? 400, error.message, { type: "invalid_request_error" })
    case "InvalidKey":
      return answered(401, "invalid x-api-key")
    case "RateLimited":
      return answered(
        429,
        `This request would exceed the rate limit for your organization of ${error.limit} requests per minute.`
      )
    case "ModelNotFound":
      return answered(404, `model: ${error.model}`)
    case "ContextLength":
      return answered(
        400,
        `prompt is too long: ${error.promptTokens + error.completionTokens} tokens > ${error.limit} maximum`
      )
    case "NotFound":
      return answered(404, `Not found: ${error.method} ${error.path}`)
    case "Injected": {
      const { fault } = error
      const message = faultMessages[fault.status] ??
        `Simulated ${fault.status >= 500 ? "server" : "client"} error (HTTP ${fault.status}).`
      // The status asked for, 503 included (the gateway's 503 is Anthropic's 529; a fault's is what it says).
      return answered(fault.status, fault.message ?? message, { type: fault.type, code: fault.code })
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
