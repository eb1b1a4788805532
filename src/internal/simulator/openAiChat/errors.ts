/**
 * OpenAI's errors as the simulator answers them: the answer (status, message, type, param, code) per failure and per
 * injected status, worded by the dialect's one writer (`wire/openAiChat/writer.ts`, the gateway's), and the error event
 * of a 200 stream in each of its shapes (OpenAI's by the writer; vLLM's and OpenRouter's bodies by the codec). The
 * Responses API answers with the same.
 */
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, ReplyMeta } from "../../../simulator/WireFormat.js"
import type { ErrorAnswer } from "../../wire/dialect.js"
import { openRouterErrorChunk, vllmErrorJson } from "../../wire/openAiChat/codec.js"
import { errors } from "../../wire/openAiChat/writer.js"

const injected: Readonly<Record<number, readonly [type: string, code: string | null, message: string]>> = {
  400: ["invalid_request_error", null, "The simulator rejected this request (injected fault)."],
  401: ["invalid_request_error", "invalid_api_key", "Incorrect API key provided."],
  402: ["invalid_request_error", "insufficient_balance", "Insufficient balance. Add credits to continue."],
  403: ["invalid_request_error", "request_forbidden", "You are not allowed to sample from this model."],
  404: ["invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."],
  408: ["server_error", null, "Request timed out."],
  409: ["server_error", null, "The request conflicted with another one; retry it."],
  413: ["invalid_request_error", "request_too_large", "The request is too large."],
  422: ["invalid_request_error", null, "The request could not be processed."],
  429: ["requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 1s."],
  500: ["server_error", null, "The server had an error while processing your request. Sorry about that!"],
  502: ["server_error", null, "Bad gateway."],
  503: ["server_error", null, "The engine is currently overloaded, please try again later."],
  504: ["server_error", null, "Gateway timeout."],
  529: ["overloaded_error", null, "Overloaded"]
}

// A failure as the simulator answers it: its status and OpenAI's words for it (by default an invalid request's, with
// no param).
function answer(
  status: number,
  message: string,
  code: string | null,
  type = "invalid_request_error",
  param: string | null = null
): ErrorAnswer {
  return { status, message, type, param, code, retryAfter: undefined }
}

/** The answer to `error`, as OpenAI words each failure and injected status. */
function answerOf(error: ApiError): ErrorAnswer {
  switch (error._tag) {
    case "InvalidRequest":
      return answer(error.status ?? 400, error.message, error.code ?? null, undefined, error.param ?? null)
    case "InvalidKey":
      return answer(
        401,
        error.maskedKey === undefined
          ? "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
            "Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
          : `Incorrect API key provided: ${error.maskedKey}. You can find your API key at ` +
            `https://platform.openai.com/account/api-keys.`,
        "invalid_api_key"
      )
    case "RateLimited":
      return answer(
        429,
        `Rate limit reached for requests on this key: Limit ${error.limit} / min. Please try again in ${
          Math.ceil(error.retryAfterMs)
        }ms.`,
        "rate_limit_exceeded",
        "requests"
      )
    case "ModelNotFound":
      return answer(
        404,
        `The model \`${error.model}\` does not exist or you do not have access to it.`,
        "model_not_found"
      )
    case "ContextLength": {
      const total = error.promptTokens + error.completionTokens
      return answer(
        400,
        `This model's maximum context length is ${error.limit} tokens. However, you requested ${total} tokens ` +
          `(${error.promptTokens} in the messages, ${error.completionTokens} in the completion). ` +
          "Please reduce the length of the messages or completion.",
        "context_length_exceeded",
        undefined,
        "messages"
      )
    }
    case "NotFound":
      return answer(404, `Invalid URL (${error.method} ${error.path})`, null)
    case "Injected": {
      const { fault } = error
      const quota = fault.code === "insufficient_quota"
      const [type, code, message] = injected[fault.status] ??
        (fault.status >= 500
          ? ["server_error", null, `Simulated server error (HTTP ${fault.status}).`]
          : ["invalid_request_error", null, `Simulated client error (HTTP ${fault.status}).`])
      return answer(
        fault.status,
        fault.message ??
          (quota ? "You exceeded your current quota, please check your plan and billing details." : message),
        fault.code ?? code,
        fault.type ?? (quota ? "insufficient_quota" : type)
      )
    }
  }
}

/** `answer` as the dialect's one writer words it: its status and OpenAI's error body. */
export function written(answer: ErrorAnswer): { readonly status: number; readonly body: string } {
  return { status: errors.status(answer), body: errors.body(answer) }
}

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } =>
  written(answerOf(error))

export const streamErrorJson = (shape: StreamErrorShape, meta: ReplyMeta): string => {
  switch (shape) {
    case "openai":
      return errors.body(answer(500, injected[500]![2], null, "server_error"))
    case "vllm":
      return vllmErrorJson("The engine failed while generating (simulated).", "InternalServerError", 500)
    case "openrouter":
      return openRouterErrorChunk(meta, { provider: "simulator", code: 502, message: "Provider returned error" })
  }
}
