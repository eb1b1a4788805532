/**
 * What a wire format of the simulator implements: pure functions that decode a request into a `Reply.Prompt` and render
 * a `Reply.Reply`, a stream of it or an error as that format's bytes, and the shapes they share. Each format's module
 * implements it; `Simulator` serves them all on one port.
 *
 * @since 0.2.0
 */
import type * as Result from "effect/Result"
import type * as Http from "node:http"
import type * as Reply from "./Reply.js"
import type { Fault, RateLimitState, StreamErrorShape } from "./Simulator.js"

/**
 * A failure the simulator answers with, before any wire format renders it.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export type ApiError =
  | {
    readonly _tag: "InvalidRequest"
    /** Default 400; 404 for something the request names that does not exist (a previous response). */
    readonly status?: number | undefined
    readonly message: string
    readonly param?: string | undefined
    readonly code?: string | undefined
  }
  | { readonly _tag: "InvalidKey"; readonly maskedKey: string | undefined }
  | { readonly _tag: "RateLimited"; readonly limit: number; readonly retryAfterMs: number }
  | { readonly _tag: "ModelNotFound"; readonly model: string }
  | {
    readonly _tag: "ContextLength"
    readonly limit: number
    readonly promptTokens: number
    readonly completionTokens: number
  }
  | { readonly _tag: "NotFound"; readonly method: string; readonly path: string }
  | { readonly _tag: "Injected"; readonly fault: Extract<Fault, { readonly _tag: "Status" }> }

/**
 * What a wire format decoded from a generation request.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface Decoded<Extra> {
  readonly prompt: Reply.Prompt
  readonly stream: boolean
  /** Prompt tokens plus the completion tokens asked for, checked against the context window. */
  readonly requestedTokens: number
  /** Whatever else the format needs to render (e.g. `include_usage`). */
  readonly extra: Extra
  /**
   * The id of a reply the request continues (Responses' `previous_response_id`): the simulator answers as if that
   * reply's prompt and text came first, or 404 when it does not keep it. Default: none.
   */
  readonly continues?: string | undefined
  /** Whether the simulator keeps the reply for a later request to continue (Responses' `store`). Default false. */
  readonly keeps?: boolean | undefined
  /**
   * The most tokens the API takes for this request whatever the model's context window: 200,000 for Claude Sonnet 4 and
   * 4.5 without the 1M-token beta (Anthropic's context windows guide). Default: the model's window.
   *
   * @since 0.3.0
   */
  readonly window?: number | undefined
}

/**
 * A prefix of a request's prompt that the provider's prompt cache may hold: `id` is the same for the same prefix of the
 * same model (and cache key), `tokens` its size as the format counts the prompt, `ttl` how long it is held once
 * written; a prefix without one is only read, when an earlier request wrote it (Anthropic looks back from a breakpoint
 * to earlier blocks).
 *
 * @since 0.2.0
 * @category Wire Formats
 */
export interface CachePrefix {
  readonly id: string
  readonly tokens: number
  readonly ttl?: "5m" | "1h" | undefined
}

/**
 * Identity of one response, shared by its body and every chunk.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface ReplyMeta {
  readonly id: string
  /** Unix seconds, from `Clock`. */
  readonly created: number
  readonly model: string
  /**
   * `none`: the reply reports no usage (the `usage=none` fault), where its wire lets a reply leave it out. Default:
   * reported.
   *
   * @since 0.3.0
   */
  readonly usage?: "none" | undefined
  /**
   * `none`: the reply calls none of the request's hosted tools (a scenario's turn, which scripts every call the model
   * makes), where its wire calls them (the Responses API's `web_search`...). Default: called.
   *
   * @since 0.3.0
   */
  readonly hostedTools?: "none" | undefined
}

/**
 * A stream rendered as events: `events[i]` is the `i`-th chunk (one SSE event), `tail` the terminal events written
 * after the last chunk.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface RenderedStream {
  readonly events: ReadonlyArray<string>
  readonly tail: string
  /**
   * The content type, where the request chose the stream's framing (Gemini's JSON array without `?alt=sse`). Default:
   * the format's `streamContentType`.
   *
   * @since 0.3.0
   */
  readonly contentType?: string | undefined
  /**
   * The `stream-error` fault's end after `written` events, where its framing follows what went before (the JSON array's
   * separator). Default: the format's `renderStreamError`.
   *
   * @since 0.3.0
   */
  readonly streamError?: ((written: number) => string) | undefined
  /**
   * The `malformed` fault's event after `written` events, where its framing follows what went before (an element of
   * Gemini's JSON array). Default: the format's `malformedEvent`.
   *
   * @since 0.3.0
   */
  readonly malformedEvent?: ((written: number) => string) | undefined
}

/**
 * One wire format: pure functions from request bodies to response bytes.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface WireFormat<Extra> {
  /** The API key a request carries. */
  readonly apiKey: (headers: Http.IncomingHttpHeaders) => string | undefined
  /**
   * `params` are what the route took from the URL, for formats that put request fields there (Gemini's model and
   * method); absent for the others. `headers` are the request's, for the formats whose rules read some (Anthropic's
   * `anthropic-beta`, since 0.3.0).
   */
  readonly decode: (
    body: unknown,
    params?: Readonly<Record<string, string | undefined>>,
    headers?: Http.IncomingHttpHeaders
  ) => Result.Result<Decoded<Extra>, ApiError>
  /** An error's status and body, and the headers its wire names it by (Bedrock's `x-amzn-errortype`), if any. */
  readonly renderError: (error: ApiError) => {
    readonly status: number
    readonly body: string
    readonly headers?: Readonly<Record<string, string>>
  }
  /**
   * The prefixes of a decoded request's prompt the provider would cache, shortest first (Anthropic's up to each
   * `cache_control`, OpenAI's at each message boundary past 1024 tokens or of a request with a `prompt_cache_key`,
   * Gemini's implicit ones), `params` as for `decode`.
   *
   * The simulator reports reading the longest one it holds and writing the rest. Default: none, no cache.
   */
  readonly cachePrefixes?: (
    body: unknown,
    params?: Readonly<Record<string, string | undefined>>
  ) => ReadonlyArray<CachePrefix>
  readonly renderReply: (reply: Reply.Reply, meta: ReplyMeta, extra: Extra) => string
  readonly renderStream: (reply: Reply.Reply, meta: ReplyMeta, extra: Extra) => RenderedStream
  /** An error event inside a 200 stream, in the given shape. */
  readonly renderStreamError: (shape: StreamErrorShape, meta: ReplyMeta) => string
  /** The same error as a whole (non-streamed) body. */
  readonly renderBodyError: (shape: StreamErrorShape, meta: ReplyMeta) => string
  /** An event that does not decode. */
  readonly malformedEvent: string
  readonly streamContentType: string
  /**
   * Whether the stream's events are binary frames (Bedrock's event stream), each string's characters its bytes
   * (`latin1`). Default: false, UTF-8 text.
   */
  readonly binaryStream?: boolean | undefined
  /** The prefix of response ids (`chatcmpl-`). */
  readonly idPrefix: string
  /** The header that carries the request id (Anthropic's `request-id`). Default `x-request-id`. */
  readonly requestIdHeader?: string
  /**
   * Writes the rate-limit headers of a simulator with `requestsPerMinute`, from the key's bucket (`resetMs`: until it
   * is full again). Default: OpenAI's `x-ratelimit-{limit,remaining,reset}-requests`.
   */
  readonly rateLimitHeaders?: (headers: Record<string, string>, state: RateLimitState) => void
}

/**
 * An embedding request, as a wire format decoded it.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface EmbeddingRequest {
  readonly model: string
  /** Texts, or token ids (OpenAI's embeddings take them): a tokenized input counts its ids. */
  readonly inputs: ReadonlyArray<string | ReadonlyArray<number>>
  /** Vector length asked for; `Reply.defaultEmbeddingDimensions` when undefined. */
  readonly dimensions: number | undefined
  /** OpenAI's `encoding_format: "base64"`. */
  readonly base64: boolean
  /** Gemini's `embedContent`: one request, answered with one `embedding`. */
  readonly single: boolean
}

/**
 * One embeddings wire format: its request decoding and reply rendering, plus the key, error and header handling of the
 * API it belongs to.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface EmbeddingFormat
  extends Pick<WireFormat<never>, "apiKey" | "renderError" | "renderBodyError" | "requestIdHeader" | "rateLimitHeaders">
{
  readonly decode: (
    body: unknown,
    params?: Readonly<Record<string, string | undefined>>
  ) => Result.Result<EmbeddingRequest, ApiError>
  /** The reply: one vector per input, in order; `promptTokens` counted over every input. */
  readonly render: (
    vectors: ReadonlyArray<ReadonlyArray<number>>,
    request: EmbeddingRequest,
    promptTokens: number
  ) => string
}
