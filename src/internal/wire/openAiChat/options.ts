/**
 * The Chat Completions adapter's settings, which its client table reads and the public `OpenAiChat` module gives users.
 */
import type * as Redacted from "effect/Redacted"
import type { HttpOptions } from "../../../ProviderClient.js"
import type { Prefill } from "./codec.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The API root, `/v1` included: `https://api.openai.com/v1`, `http://localhost:11434/v1`. */
  readonly baseUrl: string
  /** The provider's name in responses and errors. Default: `"openai"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none. Default: none (such a request fails with `InvalidRequestError`). */
  readonly model?: string | undefined
  /** Sent as `OpenAI-Organization`. Default: not sent. */
  readonly organization?: string | undefined
  /** Sent as `OpenAI-Project`. Default: not sent. */
  readonly project?: string | undefined
  /**
   * How `embed` asks for vectors: `"base64"` (little-endian float32 bytes, far smaller than JSON numbers; what the
   * official SDK asks for) or `"float"`, for servers that do not take `encoding_format: "base64"`. A reply in either
   * form is read. Default: `"base64"`.
   */
  readonly embeddingEncoding?: "float" | "base64" | undefined
  /**
   * The field `maxTokens` is sent in: `max_completion_tokens` (OpenAI's current name) or `max_tokens` (older compatible
   * servers). Default: `"max_completion_tokens"`.
   */
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
  /**
   * The headers a key becomes on one request, for servers that do not take the key as a bearer token (Zhipu's signed
   * JWT: `Presets`); header names are lower case. Traces redact `authorization`, so a secret belongs there. Default:
   * `{authorization: "Bearer <key>"}`.
   */
  readonly auth?: ((key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>>) | undefined
  /** Ask for usage at the end of streams (`stream_options.include_usage`). Default: `true`. */
  readonly includeUsage?: boolean | undefined
  /**
   * Send a request's `promptCacheKey` as `prompt_cache_key`, as OpenAI's API takes it. Default: `true`; every `Presets`
   * server is sent none (they cache by prefix alone, and a server may refuse a field it does not know).
   */
  readonly sendPromptCacheKey?: boolean | undefined
  /**
   * Send a request's `serviceTier` as `service_tier`, as OpenAI's API takes it. Default: `true`; every `Presets`
   * server and Azure OpenAI are sent none (a server may refuse a field, or a tier, it does not know).
   * @since 0.3.0
   */
  readonly sendServiceTier?: boolean | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the stream with `OutputDecodeError`. Default: 16
   * MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
  /**
   * Whether the server goes on from a last assistant message (an assistant prefill), and how it is asked to
   * (`ProviderClient.prefill`, which a `Router` continuing a broken stream reads): `true`, the message alone;
   * `"continue_final_message"`, vLLM's flags in the body; `"prefix"`, `prefix: true` on the message (DeepSeek's Chat
   * Prefix Completion, at `https://api.deepseek.com/beta`). Default: `false`, as OpenAI's API answers such a request
   * with a new message.
   */
  readonly prefill?: Prefill | undefined
  /**
   * Whether the server has OpenAI's Batch API (`/files` and `/batches` under `baseUrl`), which `Batch` submits requests
   * to at its batch price; without it `Batch` runs them as calls. Default: true for the provider `openai` only (Azure
   * OpenAI has its own `AzureOpenAi.Options.batches`).
   *
   * @since 0.3.0
   */
  readonly batches?: boolean | undefined
}
