/**
 * Failures as Google's APIs answer them (the Gemini API's troubleshooting reference):
 * `{"error": {"code": <HTTP status>, "message", "status": <its gRPC code name>}}`, which `@google/genai` raises as an
 * `ApiError` with that status. Which status and message a failure gets is decided once, by the OpenAI route's
 * `openai/errors.ts`; this module renders that decision in Google's shape.
 */
import type { LlmError } from "../../../LlmError.js"
import { errorJson, geminiPath } from "../../codec/gemini.js"
import { errorOf } from "../../codec/openAiChat.js"
import type { Problem } from "../../schemaCheck.js"
import type { ErrorAnswer } from "../openai/errors.js"
import { fromLlmError as openAiAnswer } from "../openai/errors.js"

/**
 * Whether a request is one of Google's, answered in Google's shapes: under `/v1beta`, or a POST under `/v1/models/`
 * (`@google/genai`'s default version; OpenAI's `/v1/models` takes GET only).
 */
export const isGeminiRequest = (method: string, path: string): boolean =>
  path === "/v1beta" || path.startsWith("/v1beta/") || (method === "POST" && path.startsWith("/v1/models/"))

/** An answer with `message` at `status`, in Google's shape; `code`, the OpenAI route's, for the request log. */
export const answer = (
  status: number,
  message: string,
  retryAfter?: number,
  code: string | null = null
): ErrorAnswer => ({ status, body: errorJson(status, message), retryAfter, code })

/** A body refused before anything is sent. */
export const problem = (refused: Problem): ErrorAnswer => answer(400, refused.message)

/**
 * An answer of the OpenAI route (its body OpenAI's error JSON) in Google's shape: the same status, message and
 * wait.
 */
export const fromAnswer = (openAi: ErrorAnswer): ErrorAnswer => {
  const message = errorOf(openAi.body)?.message ?? openAi.body
  return { ...answer(openAi.status, message, openAi.retryAfter, openAi.code), logged: openAi.logged }
}

/** The answer to an engine failure, the engine's request paths named as the Gemini body names them. */
export const fromLlmError = (error: LlmError, now: number): ErrorAnswer =>
  fromAnswer(openAiAnswer(error, now, geminiPath))
