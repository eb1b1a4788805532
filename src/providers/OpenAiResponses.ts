/**
 * The OpenAI Responses API (`POST {baseUrl}/responses`) as a `ProviderClient`: stateless by default, or continuing a
 * reply the API keeps (`store`), and compacting a conversation when asked. Its reference is docs/adapters.md: "Request
 * fields on every wire" for what it sends, and "What each adapter adds" for its reasoning items, hosted tools' calls,
 * finish reasons, `store`, encrypted content and compaction.
 *
 * ```ts
 * const OpenAi = OpenAiResponses.layer({ baseUrl: "https://api.openai.com/v1", model: "gpt-5-mini" })
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Adapter from "../internal/providers/adapter.js"
import { definition, wholeWhenForgotten } from "../internal/wire/openAiResponses/client.js"
import type { Options } from "../internal/wire/openAiResponses/options.js"
import { boundToOrigin } from "../internal/wire/openAiResponses/origin.js"
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
 * import { Message, OpenAiResponses, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call with one key, under no pool, limiter or retry (what `Llm` adds).
 * const reply = Effect.gen(function*() {
 *   const client = yield* OpenAiResponses.make({ baseUrl: "https://api.openai.com/v1", model: "o4-mini" })
 *   const request = {
 *     messages: [Message.user("Prove that there are infinitely many primes")],
 *     reasoningEffort: "low"
 *   } as const
 *   return yield* client.chat(request, ProviderClient.credentials(process.env.OPENAI_API_KEY!))
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Effect.map(Adapter.make(definition, options), (client) => boundToOrigin(wholeWhenForgotten(client, options), options))

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, OpenAiResponses, RateLimiter } from "effect-llm-router"
 *
 * const Reasoner = Llm.layer({ model: "o4-mini" }).pipe(
 *   Layer.provide(OpenAiResponses.layer({ baseUrl: "https://api.openai.com/v1" })),
 *   Layer.provide(KeyPool.layer({ providerId: "openai", keys: [process.env.OPENAI_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 10, refillRate: 1 })),
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
 * import { OpenAiResponses } from "effect-llm-router"
 *
 * const Client = OpenAiResponses.layerConfig({
 *   baseUrl: Config.String("OPENAI_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
 *   model: Config.String("OPENAI_MODEL")
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
