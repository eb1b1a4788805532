/**
 * Google's Gemini API (`POST /v1beta/models/{model}:{method}`, and `/v1/models/...`), the same engine, admission and
 * streams as OpenAI's chat route, in Gemini's wire (`codec/gemini.ts`, the stream's encoder in `gemini/render.ts`);
 * every failure in Google's error shape (`gemini/errors.ts`). `{model}` names the gateway's model or router as a chat
 * completion's `model` does (`models/` before it, as Google's clients write it, is not part of it). The methods:
 * `generateContent`, `streamGenerateContent` (`?alt=sse`, the SSE stream every Google client asks for), `countTokens`
 * (`Llm.countTokens`: the count of the deployment's provider where it has an endpoint for it, as Gemini and Anthropic
 * do, else a local estimate; a count that cannot be made is its error, never a made-up number), `embedContent` and
 * `batchEmbedContents`. Any other method is a 404. A reply's id is a random UUID of the gateway's (never the client's
 * `x-request-id`).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import * as Codec from "../../codec/gemini.js"
import { decodeBody, Problem } from "../../schemaCheck.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as EmbeddingAnswer from "../embeddingAnswer.js"
import { decodePath, errorResponse, json, refusal, type Serving, type WithBody } from "../serving.js"
import * as GeminiErrors from "./errors.js"
import * as GeminiRender from "./render.js"

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

/** The query of a request's URL. */
export const queryOf = (url: string): URLSearchParams => {
  const start = url.indexOf("?")
  return new URLSearchParams(start < 0 ? "" : url.slice(start + 1))
}

/** A `generateContent` body (its text) as the engine's request, or what is wrong with it. */
export function generate(text: string): ChatRequest | Problem {
  const body = decodeBody(text, Codec.checkGenerateContent)
  return body instanceof Problem ? body : Codec.toRequest(body)
}

/** A `countTokens` body (its text) as the request whose prompt is counted, or what is wrong with it. */
export function count(text: string): ChatRequest | Problem {
  const body = decodeBody(text, Codec.checkCountTokens)
  return body instanceof Problem ? body : Codec.countRequest(body)
}

/** An embedding body (its text; `batch` for `:batchEmbedContents`) as the engine's request, or what is wrong. */
export function embedding(text: string, batch: boolean): EmbeddingInput | Problem {
  if (!batch) {
    const one = decodeBody(text, Codec.checkEmbedContent)
    return one instanceof Problem ? one : Codec.toEmbeddingRequest([one])
  }
  const body = decodeBody(text, Codec.checkBatchEmbedContents)
  return body instanceof Problem ? body : Codec.toEmbeddingRequest(body.requests)
}

/** The Gemini route over `serving`: one handler for `POST /v1beta/models/*` (and `/v1/...`), by the method. */
export const route = (serving: Serving) => {
  const failures = GeminiErrors.failures(serving.now)
  const problem = (refused: Problem) =>
    Effect.succeed(errorResponse(GeminiErrors.problem(refused), GeminiErrors.errors))

  // A `generateContent` or `streamGenerateContent` body's answer: refused, or streamed or whole once admitted.
  function generated(model: string, stream: boolean, body: WithBody) {
    const request = generate(body.text)
    if (request instanceof Problem) return problem(request)
    const id = randomUUID()
    return ChatAnswer.answered(serving, body, {
      model,
      request,
      stream,
      failures,
      newEncoder: () => GeminiRender.streamEncoder(id, model),
      render: (response) => Codec.response(response, id, model)
    })
  }

  // A `countTokens` body's answer: refused, or the count once its model is admitted (a count takes a request of the
  // key's rate limit, and nothing of its budget): the provider's where it has an endpoint for it, else the estimate.
  function counted(model: string, { entry, tally, text }: WithBody) {
    const decoded = count(text)
    if (decoded instanceof Problem) return problem(decoded)
    return serving.admitted({
      model,
      request: undefined,
      entry,
      handle: (target) => {
        tally.model(model)
        const request = target.address === undefined ? decoded : { ...decoded, model: target.address }
        return Effect.matchEffect(target.llm.countTokens(request), {
          onFailure: (error) => {
            tally.failed(error)
            return Effect.succeed(serving.failed(entry, failures, error))
          },
          onSuccess: (count) => Effect.succeed(json(200, Codec.countReply(count.inputTokens)))
        })
      }
    })
  }

  // An `embedContent` or `batchEmbedContents` body's answer, over the embeddings path.
  function embedded(model: string, batch: boolean, body: WithBody) {
    const request = embedding(body.text, batch)
    if (request instanceof Problem) return problem(request)
    return EmbeddingAnswer.answered(serving, body, {
      model,
      request,
      failures,
      render: (response) => Codec.embeddingReply(response.embeddings, !batch)
    })
  }

  const withBody = <R>(
    method: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) => serving.withBody(`/v1beta/models/{model}:${method}`, handle)

  const unknownMethod = serving.served(({ entry }) =>
    Effect.succeed(refusal(entry, GeminiErrors.answer(404, `Method not found: POST ${entry.path}`)))
  )

  const notSse = serving.served(({ entry }) =>
    Effect.succeed(refusal(
      entry,
      GeminiErrors.answer(
        400,
        "streamGenerateContent is served as server-sent events only: add `?alt=sse` to the URL, as Google's " +
          "clients do."
      )
    ))
  )

  return Effect.flatMap(
    Effect.all([HttpRouter.params, HttpServerRequest.HttpServerRequest]),
    ([params, request]) => {
      const { method, model } = target(decodePath(params["*"] ?? ""))
      switch (method) {
        case "generateContent":
          return withBody(method, (body) => generated(model, false, body))
        case "streamGenerateContent":
          return queryOf(request.url).get("alt") === "sse"
            ? withBody(method, (body) => generated(model, true, body))
            : notSse
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
}
