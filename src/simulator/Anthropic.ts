/**
 * The simulator's Anthropic Messages wire format (`POST /v1/messages`), per Anthropic's Messages API reference: request
 * decoding, message and stream-event shapes, errors.
 *
 * - Auth: `x-api-key` (an `authorization: Bearer` token is accepted too, as Anthropic does for OAuth). The
 *   `anthropic-version` header is not checked: a wire format sees only the body.
 * - Requests are read with the Anthropic codec's schema and held to the API's rules (docs/simulator.md; among them:
 *   a `system` message only for the models that take one, `claude-opus-4-8…`;
 *   every `tool_use` answered in the next user turn;
 *   a `thinking` block sent back with its `signature` and first in an assistant turn with `tool_use`),
 *   worded as the API words them.
 * - Prompt tokens count the system prompt, the blocks, thinking sent back and the tool definitions (not a deferred
 *   one), plus each image by Anthropic's rule (width times height over 750, at most 1,600; 1,600 by URL) and a PDF 258
 *   a page. `POST /v1/messages/count_tokens` answers them as `{"input_tokens": N}`.
 * - Replies: a `thinking` block (when asked for, with a deterministic signature), a `text` block, or `tool_use` blocks.
 *   `input_tokens` leaves out the cache reads (`cache_read_input_tokens`) and writes (`cache_creation_input_tokens`, by
 *   lifetime in `cache_creation`), which the prompt cache reports at each `cache_control` (`Simulator`'s module doc);
 *   `output_tokens` includes thinking, also given as `output_tokens_details.thinking_tokens`.
 * - Streams: `message_start`, a `ping`, then per block `content_block_start`, its deltas (`thinking_delta` and one
 *   `signature_delta`, `text_delta`, `input_json_delta` starting with an empty `partial_json`), and
 *   `content_block_stop`; then `message_delta` and `message_stop`. Each event is one chunk for the fault grammar; the
 *   last two are the tail.
 * - Headers: the request id is `request-id`; with `requestsPerMinute`, every response carries
 *   `anthropic-ratelimit-requests-{limit,remaining,reset}` (the reset an RFC 3339 timestamp), and a 429 `retry-after`.
 * - Faults: every `stream-error` shape is sent as Anthropic's `error` event (`openai`, the default: `overloaded_error`;
 *   `vllm` and `openrouter`: `api_error`); a non-streamed request gets that error object with status 200. A malformed
 *   event is `event: content_block_delta` with `data: {not json`.
 *
 * The implementation is in `internal/simulator/anthropic/`.
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
