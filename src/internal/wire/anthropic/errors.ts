import { isJsonObject, type JsonObject } from "../json.js"
/**
 * Anthropic's error body (its API errors reference): `{"type": "error", "error": {"type", "message"}}`, the same
 * object a stream's `error` event carries, with the `error.type` each HTTP status has. The client recognises one
 * (`isErrorPayload`); the gateway and the simulator write one (`errorJson`, `errorType`).
 */

/** The JSON text of Anthropic's error body; `code` only where a fault injects one. */
export function errorJson(type: string, message: string, code?: string | undefined): string {
  return JSON.stringify({ type: "error", error: code === undefined ? { type, message } : { type, message, code } })
}

/** `error.type` per HTTP status; a status the reference does not list is `api_error` from 500, else a bad request. */
export function errorType(status: number): string {
  switch (status) {
    case 401:
      return "authentication_error"
    case 402:
      return "billing_error"
    case 403:
      return "permission_error"
    case 404:
      return "not_found_error"
    case 408:
    case 504:
      return "timeout_error"
    case 409:
      return "api_error"
    case 413:
      return "request_too_large"
    case 429:
      return "rate_limit_error"
    case 529:
      return "overloaded_error"
    default:
      return status >= 500 ? "api_error" : "invalid_request_error"
  }
}

/** Whether a parsed body is Anthropic's error object. */
export function isErrorPayload(value: JsonObject): boolean {
  return value["type"] === "error" || isJsonObject(value["error"])
}
