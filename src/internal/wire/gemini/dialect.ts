/**
 * The Gemini API as a server answers in it (`Dialect`): a `generateContent` or `streamGenerateContent` body decoded
 * into the engine's request and written back with this folder's writer; a `countTokens` body decoded into the request
 * whose prompt is counted, and an `embedContent` or `batchEmbedContents` body into the engine's embedding request;
 * and which requests are Google's, answered in Google's words.
 *
 * The bodies' text is parsed as JSON and checked against the codec's Effect Schemas of the wire (camelCase, unknown
 * fields ignored), then mapped to the library's requests; the engine's request paths are named as the Gemini body
 * names them (`geminiPath`: a message's and a part's by where in the body it came from). The model and the method
 * are the URL's, not the body's. A reply's id is a random UUID (never the client's `x-request-id`, which it may
 * choose).
 */
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingInput } from "../../../Embedding.js"
import { decodeBody, Problem } from "../../schemaCheck.js"
import type { Decoded, Dialect } from "../dialect.js"
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
export function generate(text: string, origins?: Array<Codec.Origin>): ChatRequest | Problem {
  const body = decodeBody(text, Codec.checkGenerateContent)
  return body instanceof Problem ? body : Codec.toRequest(body, origins)
}

/** A `countTokens` body (its text) as the request whose prompt is counted, or what is wrong with it. */
export function count(text: string): ChatRequest | Problem {
  const body = decodeBody(text, Codec.checkCountTokens)
  return body instanceof Problem ? body : Codec.countRequest(body)
}

/** An embedding body (its text; `batch` for `:batchEmbedContents`) as the engine's request, or what is wrong. */
export function embedding(text: string, batch: boolean): EmbeddingInput | Problem {
  if (!batch) {
    const one = decodeBody(text, Embeddings.checkEmbedContent)
    return one instanceof Problem ? one : Embeddings.toEmbeddingRequest([one])
  }
  const body = decodeBody(text, Embeddings.checkBatchEmbedContents)
  return body instanceof Problem ? body : Embeddings.toEmbeddingRequest(body.requests)
}

/**
 * The Gemini API as the gateway answers a generation request of `model` (the URL's), streamed when `stream` (the URL's
 * method) in `framing` (SSE with `?alt=sse`, else a JSON array): its body decoded and answered with this folder's
 * writer, its failures in Google's words.
 */
export function dialectFor(model: string, stream: boolean, framing: Framing = "sse"): Dialect {
  function decode(text: string): Decoded | Problem {
    const origins: Array<Codec.Origin> = []
    const request = generate(text, origins)
    if (request instanceof Problem) return request
    const id = randomUUID()
    return {
      model,
      request,
      stream,
      newEncoder: () => streamEncoder(id, model, framing),
      render: (response) => Codec.response(response, id, model),
      path: (path) => Codec.geminiPath(path, origins)
    }
  }
  return { decode, errors }
}
