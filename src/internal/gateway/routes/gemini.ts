/**
 * Google's Gemini API (`POST /v1beta/models/{model}:{method}`, and `/v1/models/...`), over the same engine, admission
 * and streams as OpenAI's chat route, failures in Google's error shape. `{model}` names the gateway's model or router
 * (a `models/` before it, as Google's clients write it, is not part of it). The methods: `generateContent`,
 * `streamGenerateContent` (`?alt=sse`, else a JSON array streamed), `countTokens` (the provider's count where it has an
 * endpoint for it, as Gemini and Anthropic do, else a local estimate; a count that cannot be made is an error, never a
 * made-up number), `embedContent` and `batchEmbedContents`; any other is a 404.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import type { Problem } from "../../schemaCheck.js"
import { countReply, geminiPath } from "../../wire/gemini/codec.js"
import * as Gemini from "../../wire/gemini/dialect.js"
import { embeddingReply } from "../../wire/gemini/embeddings.js"
import { errors, type Framing } from "../../wire/gemini/writer.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as EmbeddingAnswer from "../embeddingAnswer.js"
import * as Errors from "../errorAnswer.js"
import { RequestContext } from "../request/context.js"
import { decodePath, errorResponse, refusal } from "../serving/answers.js"
import { Requests, type WithBody } from "../serving/requests.js"

/**
 * The paths every Gemini method is served under: `v1beta`, as Gemini CLI asks, and `v1`, the default of
 * `@google/genai` (POST only: `GET /v1/models/{id}` is OpenAI's).
 */
export const paths = ["/v1beta/models/*", "/v1/models/*"] as const

/** A model named in a path after `/v1beta/models/`, without the `models/` a client may repeat. */
export const modelOf = (name: string): string => name.startsWith("models/") ? name.slice(7) : name

// `{model}:{method}` of a path's segment after `/v1beta/models/`.
const target = (segment: string): { readonly model: string; readonly method: string } => {
  const colon = segment.lastIndexOf(":")
  return {
    model: modelOf(colon < 0 ? segment : segment.slice(0, colon)),
    method: colon < 0 ? "" : segment.slice(colon + 1)
  }
}

export const queryOf = (url: string): URLSearchParams => {
  const start = url.indexOf("?")
  return new URLSearchParams(start < 0 ? "" : url.slice(start + 1))
}

// A stream's framing: server-sent events with `?alt=sse`, as every Google client asks; else Gemini's JSON array.
const framingOf = (url: string): Framing => queryOf(url).get("alt") === "sse" ? "sse" : "array"

// An answer with `message` at `status` of Google's own (a method it does not have).
function ownAnswer(status: number, message: string): Errors.ErrorAnswer {
  return Errors.answer(status, message, status >= 500 ? "server_error" : "invalid_request_error", null, null)
}

/** The Gemini route over the configuration served: one handler for `POST /v1beta/models/*` (and `/v1/...`). */
export const route = Effect.gen(function*() {
  const serving = yield* ChatAnswer.answering
  const requests = yield* Requests
  // Google's failures of a count or an embedding, request paths named as Gemini names them (a message's as `contents`).
  const failures = Errors.failures(serving.now, errors, (path) => geminiPath(path))
  // A body refused before anything is sent.
  const problem = (refused: Problem) =>
    Effect.succeed(errorResponse(Errors.invalidRequest(refused.message, undefined), errors))

  // A `generateContent` or `streamGenerateContent` body's answer: refused, or streamed or whole once admitted.
  function generated(model: string, stream: boolean, body: WithBody, framing?: Framing) {
    const result = Gemini.dialectFor(model, stream, framing).decode(body.text, serving.now)
    if (Result.isFailure(result)) return problem(result.failure)
    const decoded = result.success
    // The body's own failures: a message's path placed where in the body it came from.
    return ChatAnswer.answered(serving, body, {
      ...decoded,
      failures: Errors.failures(serving.now, errors, decoded.path)
    })
  }

  // A `countTokens` body's answer: refused, or the count once its model is admitted (`ChatAnswer.counted`).
  function counted(model: string, { tally, text }: WithBody) {
    const result = Gemini.count(text)
    if (Result.isFailure(result)) return problem(result.failure)
    return ChatAnswer.counted(serving, tally, model, result.success, failures, countReply)
  }

  // An `embedContent` or `batchEmbedContents` body's answer, over the embeddings path.
  function embedded(model: string, batch: boolean, body: WithBody) {
    const result = Gemini.embedding(body.text, batch)
    if (Result.isFailure(result)) return problem(result.failure)
    return EmbeddingAnswer.answered(serving, body, {
      model,
      request: result.success,
      failures,
      render: (response) => embeddingReply(response.embeddings, !batch)
    })
  }

  const withBody = <R>(
    method: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) => requests.withBody(`/v1beta/models/{model}:${method}`, handle)

  const unknownMethod = requests.served(() =>
    RequestContext.use((context) =>
      Effect.succeed(refusal(context, ownAnswer(404, `Method not found: POST ${context.path}`)))
    )
  )

  return Effect.flatMap(
    Effect.all([HttpRouter.params, HttpServerRequest.HttpServerRequest]),
    ([params, request]) => {
      const { method, model } = target(decodePath(params["*"] ?? ""))
      switch (method) {
        case "generateContent":
          return withBody(method, (body) => generated(model, false, body))
        case "streamGenerateContent":
          return withBody(method, (body) => generated(model, true, body, framingOf(request.url)))
        case "countTokens":
          return withBody(method, (body) => counted(model, body))
        case "embedContent":
        case "batchEmbedContents":
          return withBody(method, (body) => embedded(model, method === "batchEmbedContents", body))
        default:
          return unknownMethod
      }
    }
  )
})
