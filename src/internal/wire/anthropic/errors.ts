import { isJsonObject, type JsonObject } from "../../json.js"
import { ownValue } from "../../ownValue.js"
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
  return errorTypes[status] ?? (status >= 500 ? "api_error" : "invalid_request_error")
}

const errorTypes: Readonly<Record<number, string>> = {
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  408: "timeout_error",
  409: "api_error",
  413: "request_too_large",
  429: "rate_limit_error",
  504: "timeout_error",
  529: "overloaded_error"
}

/**
 * The HTTP status Anthropic answers an error body with, by its `error.type` (its API errors reference): where no status
 * comes with the body (a batch's `errored` result), so it is read as a call's answer would be. `undefined` for a type
 * the reference does not list.
 */
export function statusOfError(body: unknown): number | undefined {
  const type = isJsonObject(body) && isJsonObject(body["error"]) ? body["error"]["type"] : undefined
  return typeof type === "string" ? ownValue(statuses, type) : undefined
}

const statuses: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529
}

/** Whether a parsed body is Anthropic's error object. */
export function isErrorPayload(value: JsonObject): boolean {
  return value["type"] === "error" || isJsonObject(value["error"])
}
