/**
 * The Gemini API as a server answers in it (`Dialect`): `generateContent`, `streamGenerateContent`, `countTokens`,
 * `embedContent` and `batchEmbedContents` bodies decoded into the engine's requests, and which requests are Google's,
 * answered in Google's words. The model and the method are the URL's, not the body's. A reply's id is a random UUID,
 * never the client's `x-request-id`, which it may choose.
 */
import * as Result from "effect/Result"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import { decodeBody, type Problem } from "../../schemaCheck.js"
import type { Decoded, Dialect, Origin } from "../dialect.js"
import * as Codec from "./codec.js"
import * as Embeddings from "./embeddings.js"
import { errors, type Framing, streamEncoder } from "./writer.js"

/**
 * Whether a request is one of Google's, answered in Google's shapes: under `/v1beta`, or a POST under `/v1/models/`
 * (`@google/genai`'s default version; OpenAI's `/v1/models` takes GET only).
 */
export function isGeminiRequest(method: string, path: string): boolean {
  return path === "/v1beta" || path.startsWith("/v1beta/") || (method === "POST" && path.startsWith("/v1/models/"))
}

/**
 * A `generateContent` body (its text) as the engine's request, or what is wrong with it; `origins` gets where each of
 * its messages came from (`Codec.toRequest`).
 */
export function generate(text: string, origins?: Array<Origin>): Result.Result<ChatRequest, Problem> {
  return Result.flatMap(decodeBody(text, Codec.checkGenerateContent), (body) => Codec.toRequest(body, origins))
}

/** A `countTokens` body (its text) as the request whose prompt is counted, or what is wrong with it. */
export function count(text: string): Result.Result<ChatRequest, Problem> {
  return Result.flatMap(decodeBody(text, Codec.checkCountTokens), Codec.countRequest)
}

/** An embedding body (its text; `batch` for `:batchEmbedContents`) as the engine's request, or what is wrong. */
export function embedding(text: string, batch: boolean): Result.Result<EmbeddingInput, Problem> {
  return batch
    ? Result.flatMap(
      decodeBody(text, Embeddings.checkBatchEmbedContents),
      (body) => Embeddings.toEmbeddingRequest(body.requests)
    )
    : Result.flatMap(decodeBody(text, Embeddings.checkEmbedContent), (one) => Embeddings.toEmbeddingRequest([one]))
}

/**
 * The Gemini API as the gateway answers a generation request of `model` (the URL's), streamed when `stream` (the URL's
 * method) in `framing` (SSE with `?alt=sse`, else a JSON array).
 */
export function dialectFor(model: string, stream: boolean, framing: Framing = "sse"): Dialect {
  function decode(text: string): Result.Result<Decoded, Problem> {
    const origins: Array<Origin> = []
    return Result.map(generate(text, origins), (request) => {
      const id = randomUUID()
      return {
        model,
        request,
        stream,
        newEncoder: () => streamEncoder(id, model, framing),
        render: (response) => Codec.response(response, id, model),
        path: (path) => Codec.geminiPath(path, origins)
      }
    })
  }
  return { decode, errors }
}
