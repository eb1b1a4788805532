/**
 * OpenAI Chat Completions (`POST {baseUrl}/chat/completions`) as a
 * `ProviderClient`: OpenAI itself and every compatible server (DeepSeek,
 * OpenRouter, Groq, vLLM, Ollama `/v1`, LM Studio...), with their quirks handled.
 *
 * The layer needs an `HttpClient.HttpClient`; applications provide
 * `UndiciHttpClient.layer()` or `NodeHttpClient.layerUndici`.
 *
 * ```ts
 * const OpenAi = OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini" })
 * ```
 *
 * Behaviour worth knowing:
 * - A stream ends with a `Finish` chunk, after a `Usage` chunk when the server
 *   reported usage; it ends at `data: [DONE]`, or at the end of the body when a
 *   finish reason was seen. A body that ends with neither fails with
 *   `StreamTruncatedError`; an error event inside the stream fails it with the
 *   error `LlmError.fromHttpFailure` maps. A stream request answered with one
 *   JSON body (a server that ignores `stream`) is replayed as chunks.
 * - Tool-call fragments are assembled as OpenAI's Chat Completions API
 *   reference, streaming, describes, and as compatible servers send them
 *   (missing or sparse indexes, repeated indexes, arguments before the name);
 *   `ToolCallDelta.index` counts calls from 0 in the order they opened.
 * - The platform `HttpClient`'s span per request (and its trace headers) is
 *   made only when the application installed a tracer: under Effect's built-in
 *   tracer nobody sees it, and it costs a large share of a call's client CPU.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Adapter from "../internal/providers/adapter.js"
import { definition } from "../internal/wire/openAiChat/client.js"
import type * as Wire from "../internal/wire/openAiChat/codec.js"
import type { OptionsError } from "../OptionsError.js"
import type { HttpOptions, ProviderClient, Service } from "../ProviderClient.js"

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
   * How `embed` asks for vectors (`POST {baseUrl}/embeddings`): `"base64"`
   * (little-endian float32 bytes, far smaller than JSON numbers; what the
   * official SDK asks for) or `"float"` (JSON numbers, for servers that do not
   * take `encoding_format: "base64"`). A reply in either form is read.
   * Default: `"base64"`.
   */
  readonly embeddingEncoding?: "float" | "base64" | undefined
  /**
   * The field `maxTokens` is sent in: `max_completion_tokens` (OpenAI's current
   * name) or `max_tokens` (older compatible servers). Default: `"max_completion_tokens"`.
   */
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
  /**
   * The headers a key becomes on one request, for servers that do not take
   * the key itself as a bearer token (Zhipu's signed JWT: `Presets`).
   * Called once per request with the key and the clock's time in
   * milliseconds; header names are lower case. Traces redact `authorization`,
   * so a secret belongs there. Default: `{authorization: "Bearer <key>"}`.
   */
  readonly auth?: ((key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>>) | undefined
  /** Ask for usage at the end of streams (`stream_options.include_usage`). Default: `true`. */
  readonly includeUsage?: boolean | undefined
  /**
   * Send a request's `promptCacheKey` as `prompt_cache_key`, as OpenAI's API
   * takes it. Default: `true`; every `Presets` server is sent none (they cache
   * by prefix alone, and a server may refuse a field it does not know).
   */
  readonly sendPromptCacheKey?: boolean | undefined
  /**
   * Send a request's `serviceTier` as `service_tier`, as OpenAI's API takes it. Default: `true`; every `Presets`
   * server and Azure OpenAI are sent none (a server may refuse a field, or a tier, it does not know).
   * @since 0.3.0
   */
  readonly sendServiceTier?: boolean | undefined
  /**
   * The largest SSE event accepted, in characters (a positive number); a
   * larger one fails the stream with `OutputDecodeError`. Default: 16 MiB
   * (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
  /**
   * Whether the server goes on from a last assistant message (an assistant prefill), and how it is asked to
   * (`ProviderClient.prefill`, which a `Router` continuing a broken stream reads): `true`, the message alone (servers
   * that continue it as it is); `"continue_final_message"`, with `continue_final_message: true` and
   * `add_generation_prompt: false` in the body (vLLM's OpenAI-compatible server); `"prefix"`, with `prefix: true` on
   * the message (DeepSeek's Chat Prefix Completion, at its beta base URL `https://api.deepseek.com/beta`). The flags
   * are sent on any request that ends with an assistant message. Default: `false` (OpenAI's API answers such a
   * request with a new message).
   */
  readonly prefill?: Prefill | undefined
  /**
   * Whether the server has OpenAI's Batch API (`/files` and `/batches` under `baseUrl`), which `Batch` submits a list
   * of requests to at its batch price (`ProviderClient.batch`); without it `Batch` runs them as calls. Default: true
   * for the provider `openai`, false for any other (an OpenAI-compatible server, a preset; Azure OpenAI has its own
   * `AzureOpenAi.Options.batches`).
   *
   * @since 0.3.0
   */
  readonly batches?: boolean | undefined
}

/**
 * How a server is asked to go on from a last assistant message (`Options.prefill`).
 *
 * @since 0.1.0
 * @category Models
 */
export type Prefill = Wire.Prefill

/**
 * Builds the client over the `HttpClient` in the context. It holds no
 * resources: every call is one request.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, OpenAiChat, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call with one key, under no pool, limiter or retry (what `Llm` adds).
 * const reply = Effect.gen(function*() {
 *   const client = yield* OpenAiChat.make({ baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini" })
 *   return yield* client.chat(
 *     { messages: [Message.user("Hi")] },
 *     ProviderClient.credentials(process.env.OPENAI_API_KEY!)
 *   )
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Adapter.make(definition, options)

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, OpenAiChat, RateLimiter, UndiciHttpClient } from "effect-llm-router"
 *
 * // LM Studio's OpenAI-compatible server, which takes `max_tokens`.
 * const LmStudio = Llm.layer().pipe(
 *   Layer.provide(
 *     OpenAiChat.layer({
 *       baseUrl: "http://localhost:1234/v1",
 *       model: "qwen2.5-7b-instruct",
 *       maxTokensField: "max_tokens"
 *     })
 *   ),
 *   Layer.provide(KeyPool.layer({ providerId: "lmstudio", keys: ["none"] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide([RateLimiter.unlimited, UndiciHttpClient.layer()])
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = Adapter.layer(make)

/**
 * The client as a layer, its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { OpenAiChat } from "effect-llm-router"
 *
 * const Client = OpenAiChat.layerConfig({
 *   baseUrl: Config.String("OPENAI_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
 *   model: Config.String("OPENAI_MODEL"),
 *   headers: { "cf-aig-authorization": Config.Redacted("GATEWAY_TOKEN") }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
