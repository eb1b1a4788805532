/**
 * The simulator's OpenAI Chat Completions wire format (`POST /v1/chat/completions`), per OpenAI's Chat Completions API
 * reference: request decoding, response and chunk shapes, errors; and OpenAI embeddings (`POST /v1/embeddings`) with
 * the same errors. Requests are read with the codec the gateway reads this wire with (`internal/wire/openAiChat/`),
 * what it refuses worded as OpenAI words it; replies are written by the dialect's one writer, the gateway's. What it
 * holds of the API, and how it counts a prompt, are in docs/simulator.md. The implementation is in
 * `internal/simulator/openAiChat/`.
 *
 * @since 0.1.0
 */
import type * as Result from "effect/Result"
import { embeddingFormatOf } from "../internal/simulator/embeddingFormat.js"
import { chatCachePrefixes } from "../internal/simulator/openAiCachePrefixes.js"
import * as internalEmbedding from "../internal/simulator/openAiChat/embedding.js"
import { renderError, streamErrorJson } from "../internal/simulator/openAiChat/errors.js"
import { renderReply, renderStream } from "../internal/simulator/openAiChat/render.js"
import { decode } from "../internal/simulator/openAiChat/request.js"
import { bearerKey } from "../internal/simulator/requestChecks.js"
import { event, malformed } from "../internal/wire/openAiChat/writer.js"
import type { ApiError, EmbeddingFormat, EmbeddingRequest, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** `stream_options.include_usage`: a final `choices: []` chunk with usage, and `"usage": null` on the others. */
  readonly includeUsage: boolean
}

/**
 * The Chat Completions wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: bearerKey,
  decode,
  cachePrefixes: chatCachePrefixes,
  renderError,
  renderReply: (reply, meta) => renderReply(reply, meta),
  renderStream: (reply, meta, extra) => renderStream(reply, meta, extra),
  renderStreamError: (shape, meta) => event(streamErrorJson(shape, meta)),
  renderBodyError: streamErrorJson,
  malformedEvent: malformed,
  streamContentType: "text/event-stream",
  idPrefix: "chatcmpl-"
}

// ---------------------------------------------------------------------------
// Embeddings (`POST /v1/embeddings`, OpenAI's Embeddings API reference)

/**
 * Reads `input` (a string, an array of strings, token ids or arrays of them), `model`, `dimensions` and
 * `encoding_format`, with OpenAI's messages for what is wrong.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const decodeEmbedding: (body: unknown) => Result.Result<EmbeddingRequest, ApiError> =
  internalEmbedding.decodeEmbedding

/**
 * The OpenAI embeddings wire format, with the errors and headers of Chat Completions.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = embeddingFormatOf(
  format,
  internalEmbedding.decodeEmbedding,
  internalEmbedding.renderEmbedding
)
