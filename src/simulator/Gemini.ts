/**
 * The simulator's Gemini API wire format (`:generateContent`, `:streamGenerateContent`, `:countTokens` and the
 * embeddings), per the Gemini API reference. What it holds of the API (keys, errors, quotas, a blocked prompt, with
 * {@link blockedPromptMarker}, thought signatures, implicit caching, the stream's framing) is in docs/simulator.md,
 * its opening section and "Each wire's own rules". Replies and streams are written with the Gemini dialect's codec and
 * one writer (`internal/wire/gemini/`), the gateway's too; request checks, errors and embeddings are in
 * `internal/simulator/gemini/`.
 *
 * @since 0.1.0
 */
import type * as Result from "effect/Result"
import { responseOf, wholeCallBatches, writeChunks } from "../internal/simulator/chunks.js"
import { embeddingFormatOf } from "../internal/simulator/embeddingFormat.js"
import { cachePrefixes } from "../internal/simulator/gemini/cachePrefixes.js"
import { decodeEmbedding, renderEmbedding } from "../internal/simulator/gemini/embedding.js"
import { renderError, streamErrorJson } from "../internal/simulator/gemini/errors.js"
import { blockedPromptMarker as marker, decode } from "../internal/simulator/gemini/request.js"
import { signatureOf as callSignature } from "../internal/simulator/gemini/signature.js"
import { FramedEvents, FramedText } from "../internal/wire/eventSink.js"
import * as Codec from "../internal/wire/gemini/codec.js"
import * as Writer from "../internal/wire/gemini/writer.js"
import type { ProviderMetadata } from "../Message.js"
import type * as Reply from "./Reply.js"
import type { ApiError, Decoded, EmbeddingFormat, RenderedStream, ReplyMeta, WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** The prompt was blocked: the response has `promptFeedback` and no candidates. */
  readonly blocked: boolean
  /**
   * How a stream is framed: `sse` (`?alt=sse`), or, without it, one JSON array streamed. Default: `sse`.
   *
   * @since 0.3.0
   */
  readonly framing?: Writer.Framing | undefined
}

/**
 * The text that, in the last user message, makes the simulator block the prompt.
 *
 * @since 0.1.0
 * @category Models
 */
export const blockedPromptMarker: "[simulator:block]" = marker

/**
 * What a route took from a Gemini URL: the model and method from the path segment
 * (`gemini-2.5-flash:streamGenerateContent`), `alt` from the query, and the headers with a `?key=` moved into
 * `x-goog-api-key` when that header is absent. Undefined for a method the simulator does not serve.
 *
 * @since 0.1.0
 * @category Routes
 */
export const target = <H extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>>(
  segment: string,
  url: string,
  headers: H
): { readonly params: Readonly<Record<string, string | undefined>>; readonly headers: H } | undefined => {
  const colon = segment.lastIndexOf(":")
  const method = colon < 0 ? "" : segment.slice(colon + 1)
  if (!methods.has(method)) return undefined
  const q = url.indexOf("?")
  const query = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1))
  const key = query?.get("key")
  return {
    params: { model: segment.slice(0, colon), method, alt: query?.get("alt") ?? undefined },
    headers: key === null || key === undefined || headers["x-goog-api-key"] !== undefined
      ? headers
      : { ...headers, "x-goog-api-key": key }
  }
}

const embeddingMethods = new Set(["batchEmbedContents", "embedContent"])
const methods = new Set(["generateContent", "streamGenerateContent", "countTokens", ...embeddingMethods])

/**
 * A `:countTokens` body, decoded as the generation body it counts: its `generateContentRequest`, or the body itself
 * (its `contents`).
 *
 * @since 0.2.0
 * @category Routes
 */
export const decodeCount = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Result.Result<Decoded<Extra>, ApiError> => {
  const inner = typeof body === "object" && body !== null
    ? (body as Record<string, unknown>)["generateContentRequest"]
    : undefined
  return decode(typeof inner === "object" && inner !== null ? inner : body, params)
}

/**
 * A `:countTokens` reply.
 *
 * @since 0.2.0
 * @category Routes
 */
export const countReply: (tokens: number) => string = Codec.countReply

/**
 * Whether a route's target (from {@link target}) is an embedding method.
 *
 * @since 0.1.0
 * @category Routes
 */
export const isEmbedding = (params: Readonly<Record<string, string | undefined>>): boolean =>
  embeddingMethods.has(params.method ?? "")

// As Gemini 3 writes them: no id, the reply's thought signature on its first call only (a made-up one: opaque base64,
// as Gemini's are, made from the call it signs).
function callMetadata(call: Reply.ToolCall, index: number): ProviderMetadata | undefined {
  return index === 0
    ? { gemini: { thoughtSignature: callSignature(call.name, JSON.parse(call.arguments)) } }
    : undefined
}

// Why the simulator blocks a prompt, as `promptFeedback` says it.
const blocked: Codec.PromptFeedback = {
  blockReason: "SAFETY",
  safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH", blocked: true }]
}

function renderReply(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string {
  if (extra.blocked) return Codec.blockedResponse(blocked, reply.usage.promptTokens, meta.id, meta.model)
  // Its calls as Gemini writes them: no id, the first signed.
  const toolCalls = reply.toolCalls.map((call, index) => {
    const metadata = callMetadata(call, index)
    const written = { name: call.name, arguments: call.arguments }
    return metadata === undefined ? written : { ...written, providerMetadata: metadata }
  })
  return Codec.response({ ...responseOf(reply, meta), toolCalls }, meta.id, meta.model)
}

// The stream through the dialect's one writer, as Gemini's servers send it: one event a token with the running usage,
// the calls whole two to an event, then the finish and the final usage. A blocked prompt's reply is its one event.
function renderStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream {
  const framing = extra.framing ?? "sse"
  const contentType = framing === "sse" ? "text/event-stream" : "application/json"
  if (extra.blocked) return { events: [], tail: Writer.single(renderReply(reply, meta, extra), framing), contentType }
  const out = new FramedEvents(Writer.textFraming(framing))
  const writer = Writer.streamWriter(meta.id, meta.model, out, { wholeCalls: true, runningUsage: true })
  const written = writeChunks(writer, out, wholeCallBatches(reply, meta, { callsPerEvent: 2, callMetadata }))
  // The error event after `count` events, framed as it would follow them (the array's separator).
  function streamError(count: number): string {
    const after = new FramedText(Writer.textFraming(framing, count))
    Writer.streamWriter(meta.id, meta.model, after).error(streamErrorJson)
    return after.string()
  }
  return {
    ...written,
    contentType,
    ...(framing === "array" ? { streamError, malformedEvent: (count: number) => Writer.malformed(framing, count) } : {})
  }
}

/**
 * The Gemini API wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: (headers) => {
    const value = headers["x-goog-api-key"]
    return typeof value === "string" ? value.trim() : undefined
  },
  decode,
  cachePrefixes,
  renderError,
  renderReply,
  renderStream,
  renderStreamError: () => Writer.event(streamErrorJson),
  renderBodyError: () => streamErrorJson,
  malformedEvent: Writer.malformed("sse", 0),
  streamContentType: "text/event-stream",
  idPrefix: "gemini-"
}

/**
 * Gemini's embedding methods, with the errors and key handling of its wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = embeddingFormatOf(format, decodeEmbedding, renderEmbedding)
