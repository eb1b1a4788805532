/**
 * How each wire answers the engine's failures (`SseAnswer.Failures`): OpenAI's error JSON, the engine's request
 * paths named as the body named them, and Anthropic's; with each, the error event of a stream whose provider
 * restarted it after part of the answer went out, of a stream cut at shutdown and of one whose key was revoked; and
 * Google's, for the Gemini
 * routes.
 */
import { errorJson as anthropicErrorJson } from "../codec/anthropic/errors.js"
import * as AnthropicWire from "../codec/anthropic/request.js"
import { errorJson } from "../codec/gemini.js"
import { openAiErrorJson } from "../codec/openAiChat.js"
import * as ResponsesWire from "../codec/openAiResponses.js"
import * as AnthropicErrors from "./anthropic/errors.js"
import * as GeminiErrors from "./gemini/errors.js"
import * as Errors from "./openai/errors.js"
import * as Wire from "./openai/wire.js"
import type * as SseAnswer from "./sseAnswer.js"

const restartedMessage =
  "The provider's stream broke after part of the answer had been sent, and the rest would have come from " +
  "another deployment as a new answer; the stream ends here instead. Retry the request."

const restartedBody = openAiErrorJson(restartedMessage, "server_error", null, "stream_restarted")

const anthropicRestarted = anthropicErrorJson("api_error", restartedMessage)

const shutdownAnswer = Errors.answer(
  503,
  "The gateway is shutting down and its grace period ended before this stream did; the answer is incomplete. " +
    "Retry the request.",
  "server_error",
  null,
  "server_shutting_down"
)

// In Anthropic's shape, as any of the gateway's 503s: its 529 `overloaded_error`.
const anthropicShutdown = AnthropicErrors.fromAnswer(shutdownAnswer).body

const revokedAnswer = Errors.answer(
  401,
  "This stream's gateway key was revoked while it was open; the answer is incomplete.",
  "invalid_request_error",
  null,
  "key_revoked"
)

/** OpenAI's failures at the time `now` reads, the reply's limit named by `maxTokens`. */
export const openAi = (now: () => number, maxTokens: Wire.MaxTokensField): SseAnswer.Failures => ({
  answer: (error) => Errors.fromLlmError(error, now(), (path) => Wire.wirePath(path, maxTokens)),
  restarted: restartedBody,
  shutdown: shutdownAnswer.body,
  revoked: revokedAnswer.body
})

/** Anthropic's failures at the time `now` reads, the engine's paths placed back in `body`. */
export const anthropic = (now: () => number, body: AnthropicWire.Count["body"]): SseAnswer.Failures => ({
  answer: (error) => AnthropicErrors.fromLlmError(error, now(), (path) => AnthropicWire.anthropicPath(path, body)),
  restarted: anthropicRestarted,
  shutdown: anthropicShutdown,
  revoked: AnthropicErrors.fromAnswer(revokedAnswer).body
})

/** OpenAI's failures for the name of the reply's limit a body gave, made once for each name. */
export const openAiByField = (now: () => number): (maxTokens: Wire.MaxTokensField) => SseAnswer.Failures => {
  const maxTokens = openAi(now, "max_tokens")
  const maxCompletionTokens = openAi(now, "max_completion_tokens")
  return (field) => field === "max_tokens" ? maxTokens : maxCompletionTokens
}

/** The Responses route's failures (OpenAI's shape) at the time `now` reads, the engine's paths named as its body's. */
export const responses = (now: () => number): SseAnswer.Failures => ({
  answer: (error) => Errors.fromLlmError(error, now(), ResponsesWire.responsesPath),
  restarted: restartedBody,
  shutdown: shutdownAnswer.body,
  revoked: revokedAnswer.body
})

/** Google's failures at the time `now` reads. */
export const gemini = (now: () => number): SseAnswer.Failures => ({
  answer: (error) => GeminiErrors.fromLlmError(error, now()),
  restarted: errorJson(500, restartedMessage),
  shutdown: GeminiErrors.fromAnswer(shutdownAnswer).body,
  revoked: GeminiErrors.fromAnswer(revokedAnswer).body
})
