/**
 * The Gemini API (Generative Language, not Vertex: `:generateContent` and `:streamGenerateContent?alt=sse`, per the
 * Gemini API reference) as a `ProviderClient`, its key in `x-goog-api-key`. Its reference is docs/adapters.md: "Request
 * fields on every wire" for what it sends, and "What each adapter adds" for its media, tool results, schemas, thinking
 * budgets, `providerOptions`, finish reasons and the thought signatures it keeps.
 *
 * ```ts
 * const GeminiLive = Gemini.layer({ model: "gemini-2.5-flash" })
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Adapter from "../internal/providers/adapter.js"
import * as internal from "../internal/wire/gemini/client.js"
import type { Options } from "../internal/wire/gemini/options.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the dialect, whose client table reads it.
export type { Options }

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gemini, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One embedding request with one key, under no pool, limiter or retry (what `Llm` adds).
 * const vectors = Effect.gen(function*() {
 *   const client = yield* Gemini.make({ model: "gemini-embedding-001" })
 *   return yield* client.embed(
 *     { input: ["first text", "second text"] },
 *     ProviderClient.credentials(process.env.GEMINI_API_KEY!)
 *   )
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Adapter.make((given: Options) => internal.definition(given), options)

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Gemini, KeyPool, Llm, RateLimiter } from "effect-llm-router"
 *
 * const Flash = Llm.layer({ model: "gemini-2.5-flash" }).pipe(
 *   Layer.provide(Gemini.layer()),
 *   Layer.provide(KeyPool.layer({ providerId: "gemini", keys: [process.env.GEMINI_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 10, refillRate: 0.25 })),
 *   Layer.provide(RateLimiter.layerStoreMemory)
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
 * import { Gemini } from "effect-llm-router"
 *
 * const Client = Gemini.layerConfig({
 *   model: Config.String("GEMINI_MODEL").pipe(Config.withDefault("gemini-2.5-flash"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
