/**
 * The simulator's Anthropic Messages wire format (`POST /v1/messages` and `/count_tokens`), per Anthropic's Messages
 * API reference: request decoding, message and stream-event shapes, errors. The API's rules it holds, its usage, stream
 * events, headers and faults' form are in docs/simulator.md, its opening section and "Each wire's own rules". The
 * implementation is in `internal/simulator/anthropic/`.
 *
 * @since 0.1.0
 */
import { cachePrefixes } from "../internal/simulator/anthropic/cachePrefixes.js"
import { renderError, streamErrorEvent, streamErrorJson } from "../internal/simulator/anthropic/errors.js"
import { renderReply, renderStream } from "../internal/simulator/anthropic/render.js"
import { decode } from "../internal/simulator/anthropic/request.js"
import { bearerKey } from "../internal/simulator/requestChecks.js"
import { malformed } from "../internal/wire/anthropic/writer.js"
import type { WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply: for a model that binds its thinking to the conversation's prefix (Claude 5.1
 * and later), the digest of the prompt its reply's thinking is signed after (since 0.3.0); else nothing.
 *
 * @since 0.1.0
 * @category Models
 */
export type Extra = { readonly binding: string } | undefined

/**
 * The Anthropic Messages wire format.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = {
  apiKey: (headers) => {
    const key = headers["x-api-key"]
    if (typeof key === "string") return key.trim()
    return bearerKey(headers)
  },
  decode,
  cachePrefixes,
  renderError,
  renderReply,
  renderStream: (reply, meta, extra) => renderStream(reply, meta, extra),
  renderStreamError: streamErrorEvent,
  renderBodyError: streamErrorJson,
  malformedEvent: malformed,
  streamContentType: "text/event-stream; charset=utf-8",
  idPrefix: "msg_",
  requestIdHeader: "request-id",
  rateLimitHeaders: (headers, { limit, now, remaining, resetMs }) => {
    headers["anthropic-ratelimit-requests-limit"] = String(limit)
    headers["anthropic-ratelimit-requests-remaining"] = String(remaining)
    // RFC 3339, whole seconds, as the API sends it.
    headers["anthropic-ratelimit-requests-reset"] = new Date(Math.ceil((now + resetMs) / 1000) * 1000).toISOString()
      .replace(/\.\d{3}Z$/, "Z")
  }
}
