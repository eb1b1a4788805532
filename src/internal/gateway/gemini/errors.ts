/**
 * Failures as Google's APIs answer them (the Gemini API's troubleshooting reference):
 * `{"error": {"code": <HTTP status>, "message", "status": <its gRPC code name>}}`, which `@google/genai` raises as an
 * `ApiError` with that status. Which status and message a failure gets is decided once, by the gateway's core
 * (`errorAnswer.ts`); this module words that decision in Google's shape.
 */
import { errorJson, geminiPath } from "../../codec/gemini.js"
import type { Problem } from "../../schemaCheck.js"
import type { ErrorWriter } from "../../wire/dialect.js"
import * as Errors from "../errorAnswer.js"

/**
 * Whether a request is one of Google's, answered in Google's shapes: under `/v1beta`, or a POST under `/v1/models/`
 * (`@google/genai`'s default version; OpenAI's `/v1/models` takes GET only).
 */
export const isGeminiRequest = (method: string, path: string): boolean =>
  path === "/v1beta" || path.startsWith("/v1beta/") || (method === "POST" && path.startsWith("/v1/models/"))

/** Google's error body, at the answer's own status. */
export const errors: ErrorWriter = {
  status: (answer) => answer.status,
  body: (answer) => errorJson(answer.status, answer.message)
}

/** An answer with `message` at `status` of Google's own (a method it does not have). */
export const answer = (status: number, message: string): Errors.ErrorAnswer =>
  Errors.answer(status, message, status >= 500 ? "server_error" : "invalid_request_error", null, null)

/** A body refused before anything is sent. */
export const problem = (refused: Problem): Errors.ErrorAnswer => Errors.invalidRequest(refused.message, undefined)

/** Google's failures at the time `now` reads, the engine's request paths named as the Gemini body names them. */
export function failures(now: () => number): Errors.Failures {
  return Errors.failures(now, errors, geminiPath)
}
