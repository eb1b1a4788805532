/**
 * Failures as Anthropic answers them (its API errors reference):
 * `{"type": "error", "error": {"type", "message"}}` with the statuses
 * `@anthropic-ai/sdk` turns into its own error classes: 400
 * `invalid_request_error`, 401 `authentication_error`, 403 `permission_error`,
 * 404 `not_found_error`, 413 `request_too_large`, 429 `rate_limit_error` (with
 * `Retry-After`), 529 `overloaded_error` for a provider that is unavailable,
 * 504 `timeout_error`, other 5xx `api_error`.
 *
 * Which status and message a failure gets is decided once, by the gateway's core (`errorAnswer.ts`); this module
 * words that decision in Anthropic's shape (`codec/anthropic/errors.ts`), the engine's own check of a request with its
 * paths renamed to the Messages body's (`anthropicPath`).
 */
import { errorJson, errorType } from "../../codec/anthropic/errors.js"
import type { AnyBody } from "../../codec/anthropic/request.js"
import { anthropicPath } from "../../codec/anthropic/request.js"
import type { Problem } from "../../schemaCheck.js"
import type { ErrorWriter } from "../../wire/dialect.js"
import * as Errors from "../errorAnswer.js"

/**
 * Anthropic's status for an answer: a provider that is unavailable (503) is its 529 `overloaded_error`, a deployment
 * without a credential stays 503 (nothing is overloaded).
 */
function status(answer: Errors.ErrorAnswer): number {
  return answer.status === 503 && answer.code !== "credential_unavailable" ? 529 : answer.status
}

/** Anthropic's error body, its `type` that of its status. */
export const errors: ErrorWriter = {
  status,
  body: (answer) => errorJson(errorType(status(answer)), answer.message)
}

/** A body refused before anything is sent. */
export const problem = (refused: Problem): Errors.ErrorAnswer => Errors.invalidRequest(refused.message, undefined)

/**
 * The engine's paths within a check's message (`path: what is wrong`, one or more joined by `; `) placed back in
 * `body`.
 */
function placed(body: AnyBody): (text: string) => string {
  return (text) =>
    text.replace(
      /(^|; )([A-Za-z][\w.[\]]*): /g,
      (_, before: string, at: string) => `${before}${anthropicPath(at, body)}: `
    )
}

/** Anthropic's failures at the time `now` reads, the engine's paths placed back in `body`. */
export function failures(now: () => number, body: AnyBody): Errors.Failures {
  return Errors.failures(now, errors, placed(body))
}
