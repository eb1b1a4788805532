/**
 * The answers every route writes: JSON, a refusal in the words of its path's dialect (`dialects.ts`), a body the wire
 * refuses, one larger than the gateway takes; and a path's part decoded.
 */
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import type { Problem } from "../../schemaCheck.js"
import type { ErrorWriter } from "../../wire/dialect.js"
import * as Dialects from "../dialects.js"
import * as Errors from "../errorAnswer.js"
import type * as Request from "../request/context.js"
import * as Outcome from "../request/outcome.js"

export function json(status: number, body: string) {
  return HttpServerResponse.text(body, { status, contentType: "application/json" })
}

/** An error answer in the words of `errors` (by default the gateway's own), with its `retry-after` when it has one. */
export function errorResponse(error: Errors.ErrorAnswer, errors: ErrorWriter = Dialects.own) {
  return HttpServerResponse.text(errors.body(error), {
    status: errors.status(error),
    contentType: "application/json",
    ...(error.retryAfter !== undefined ? { headers: { "retry-after": String(error.retryAfter) } } : {})
  })
}

/**
 * A refusal of the request of `context` noted in its outcome by its code, in the words of `errors` (by default its
 * path's dialect, as `refusal`).
 */
export function notedFailure(
  context: Pick<Request.Service, "method" | "path" | "outcome">,
  answer: Errors.ErrorAnswer,
  errors = Dialects.errorsOf(context.method, context.path)
) {
  Outcome.failed(context.outcome, answer.code ?? undefined, answer)
  return errorResponse(answer, errors)
}

/** A body the wire refuses: 400 naming its field, in the words of `errors` (by default the gateway's own). */
export function problemResponse(problem: Problem, errors: ErrorWriter = Dialects.own) {
  return errorResponse(Errors.invalidRequest(problem.message, problem.param), errors)
}

/** `answer` of a decoded body's value, or its problem as `problemResponse` words it in `errors`. */
export function problemOr<A, E, R>(
  decoded: Result.Result<A, Problem>,
  answer: (value: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  errors?: ErrorWriter
) {
  return Result.isFailure(decoded) ? Effect.succeed(problemResponse(decoded.failure, errors)) : answer(decoded.success)
}

/** The answer to a body (or a WebSocket's frame) past the gateway's limit (`limit` bytes): 413, naming the setting. */
export function tooLarge(limit: number) {
  return Errors.answer(
    413,
    `The request body is larger than this gateway takes (${limit} bytes: serve's --max-body-bytes, ` +
      "Gateway.Options.maxBodyBytes).",
    "invalid_request_error",
    null,
    "request_too_large"
  )
}

/** A refusal of the request of `context`, in the words of its path's dialect (`Dialects.errorsOf`). */
export function refusal(context: Pick<Request.Service, "method" | "path">, answer: Errors.ErrorAnswer) {
  return errorResponse(answer, Dialects.errorsOf(context.method, context.path))
}

/** A path decoded; left as sent when its escapes are malformed. */
export function decodePath(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
