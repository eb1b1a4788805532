/**
 * Google's errors as the simulator answers them: the status, message and `details` per failure and per injected status
 * (the invalid-key `ErrorInfo`, the `QuotaFailure` and `RetryInfo` of a rate limit), and the one error event of a
 * stream, written by the dialect's one writer (`wire/gemini/writer.ts`, the gateway's).
 */
import type { ApiError } from "../../../simulator/WireFormat.js"
import { errorBody } from "../../wire/gemini/writer.js"

const errorInfo = (reason: string) => ({
  "@type": "type.googleapis.com/google.rpc.ErrorInfo",
  reason,
  domain: "googleapis.com",
  metadata: { service: "generativelanguage.googleapis.com" }
})

const invalidKeyBody = errorBody({ status: 400, message: "API key not valid. Please pass a valid API key." }, [
  errorInfo("API_KEY_INVALID"),
  {
    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
    locale: "en-US",
    message: "API key not valid. Please pass a valid API key."
  }
])

const quotaDetails = (quotaId: string, retrySeconds: number | undefined): ReadonlyArray<unknown> => [
  {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    violations: [{
      quotaMetric: "generativelanguage.googleapis.com/generate_content_requests",
      quotaId,
      quotaDimensions: { location: "global", model: "simulator" },
      quotaValue: "1"
    }]
  },
  {
    "@type": "type.googleapis.com/google.rpc.Help",
    links: [{
      description: "Learn more about Gemini API quotas",
      url: "https://ai.google.dev/gemini-api/docs/rate-limits"
    }]
  },
  ...(retrySeconds === undefined
    ? []
    : [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${retrySeconds}s` }])
]

const injected: Readonly<Record<number, string>> = {
  400: "Request contains an invalid argument. (injected fault)",
  401: "Request had invalid authentication credentials.",
  403: "Permission denied: Consumer does not have access to this model.",
  404: "Requested entity was not found.",
  429: "Resource has been exhausted (e.g. check quota).",
  500: "An internal error has occurred. Please retry or report in " +
    "https://developers.generativeai.google/guide/troubleshooting",
  503: "The model is overloaded. Please try again later.",
  504: "Deadline expired before operation could complete."
}

// A failure at `status` in Google's words, by the dialect's one writer, with the `details` the simulator's rule adds.
function answered(status: number, message: string, details?: ReadonlyArray<unknown>) {
  return { status, body: errorBody({ status, message }, details) }
}

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return answered(
        error.status ?? 400,
        error.message,
        error.code === undefined ? undefined : [errorInfo(error.code)]
      )
    case "InvalidKey":
      return error.maskedKey === undefined
        ? answered(
          403,
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or " +
            "other form of API consumer identity to call this API."
        )
        : { status: 400, body: invalidKeyBody }
    case "RateLimited": {
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1000))
      return answered(
        429,
        `You exceeded your current quota, please check your plan and billing details. Quota exceeded for metric: ` +
          `generativelanguage.googleapis.com/generate_content_requests, limit: ${error.limit}. Please retry in ` +
          `${seconds}s.`,
        quotaDetails("GenerateRequestsPerMinutePerProjectPerModel", seconds)
      )
    }
    case "ModelNotFound":
      return answered(
        404,
        `models/${error.model} is not found for API version v1beta, or is not supported for generateContent. ` +
          "Call ListModels to see the list of available models and their supported methods."
      )
    case "ContextLength":
      return answered(
        400,
        `The input token count (${
          error.promptTokens + error.completionTokens
        }) exceeds the maximum number of tokens allowed (${error.limit}).`
      )
    case "NotFound":
      return answered(404, `The requested URL ${error.method} ${error.path} was not found on this server.`)
    case "Injected": {
      const { fault } = error
      const code = fault.code ?? ""
      if (fault.status === 400 && code === "API_KEY_INVALID") return { status: 400, body: invalidKeyBody }
      const message = fault.message ?? injected[fault.status] ?? `Simulated error (HTTP ${fault.status}).`
      if (fault.status === 429) {
        const daily = code === "insufficient_quota" || /perday/i.test(code)
        return answered(
          429,
          message,
          daily
            ? quotaDetails("GenerateRequestsPerDayPerProjectPerModel-FreeTier", undefined)
            : quotaDetails(
              "GenerateRequestsPerMinutePerProjectPerModel",
              fault.retryAfter === "none" ? undefined : fault.retryAfter ?? 1
            )
        )
      }
      return answered(fault.status, message, code === "" ? undefined : [errorInfo(code)])
    }
  }
}

export const streamErrorJson = errorBody({ status: 500, message: injected[500]! })
