/**
 * Failures as Anthropic answers them (its API errors reference):
 * `{"type": "error", "error": {"type", "message"}}` with the statuses
 * `@anthropic-ai/sdk` turns into its own error classes: 400
 * `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`,
 * 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error` (with
 * `Retry-After`), 529 `overloaded_error` for a provider that is unavailable,
 * 504 `timeout_error`, other 5xx `api_error`.
 *
 * Which status and message a failure gets is decided once, by the OpenAI
 * route's `openai/errors.ts`; this module renders that decision in Anthropic's shape (`codec/anthropic/errors.ts`),
 * except for the engine's own check of a request, whose paths are renamed to
 * the Messages body's (`anthropicPath`).
 */
import type { LlmError } from "../../../LlmError.js"
import { errorJson, errorType } from "../../codec/anthropic/errors.js"
import { errorOf } from "../../codec/openAiChat.js"
import type { Problem } from "../../schemaCheck.js"
import type { ErrorAnswer } from "../openai/errors.js"
import { fromLlmError as openAiAnswer } from "../openai/errors.js"

/** An answer with `message` at `status`, in Anthropic's shape; `code`, the OpenAI route's, for the request log. */
export const answer = (
  status: number,
  message: string,
  retryAfter?: number,
  code: string | null = null
): ErrorAnswer => ({
  status,
  body: errorJson(errorType(status), message),
  retryAfter,
  code
})

/** A body refused before anything is sent. */
export const problem = (refused: Problem): ErrorAnswer => answer(400, refused.message)

/**
 * An answer of the OpenAI route (its body OpenAI's error JSON) in Anthropic's
 * shape: the same message and wait; a provider that is unavailable (503) is
 * Anthropic's 529 `overloaded_error`, a deployment without a credential stays 503 (nothing is overloaded).
 */
export const fromAnswer = (openAi: ErrorAnswer): ErrorAnswer => {
  const message = errorOf(openAi.body)?.message ?? openAi.body
  const status = openAi.status === 503 && openAi.code !== "credential_unavailable" ? 529 : openAi.status
  return { ...answer(status, message, openAi.retryAfter, openAi.code), logged: openAi.logged }
}

/**
 * The answer to an engine failure; `now` (Clock millis) dates the waits,
 * `path` renames the engine's request paths to the body's.
 */
export const fromLlmError = (error: LlmError, now: number, path: (engine: string) => string): ErrorAnswer => {
  if (error._tag === "InvalidRequestError" && error.status === undefined) {
    // The engine's own check of the request: `path: what is wrong`, one or more joined by `; `.
    const detail = (error.detail ?? error.message).replace(/ \(nothing was sent\)$/, "")
    return answer(
      400,
      detail.replace(/(^|; )([A-Za-z][\w.[\]]*): /g, (_, before: string, at: string) => `${before}${path(at)}: `)
    )
  }
  return fromAnswer(openAiAnswer(error, now))
}
