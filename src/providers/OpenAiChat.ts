/**
 * OpenAI Chat Completions (`POST {baseUrl}/chat/completions`) as a `ProviderClient`: OpenAI itself and every
 * compatible server (DeepSeek, OpenRouter, Groq, vLLM, Ollama `/v1`, LM Studio...), with their quirks handled. Its
 * reference is docs/adapters.md: "Request fields on every wire" for what it sends, "What each adapter adds" for how it
 * reads a stream, and "The HTTP client" for the `HttpClient` its layer needs.
 *
 * ```ts
 * const OpenAi = OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini" })
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Adapter from "../internal/providers/adapter.js"
import { definition } from "../internal/wire/openAiChat/client.js"
import type * as Wire from "../internal/wire/openAiChat/codec.js"
import type { Options } from "../internal/wire/openAiChat/options.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the dialect, whose client table reads it.
export type { Options }

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
