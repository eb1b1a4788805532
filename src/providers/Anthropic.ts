/**
 * Anthropic's Messages API (`POST {baseUrl}/v1/messages`) as a `ProviderClient`: extended thinking, its signed blocks
 * carried through a tool loop, and prompt caching. Its reference is docs/adapters.md: "Request fields on every wire"
 * for what it sends (cache breakpoints included), and "What each adapter adds" for its thinking budgets, stop reasons,
 * usage and the blocks it keeps.
 *
 * ```ts
 * const Claude = Anthropic.layer({ model: "claude-sonnet-4-5" })
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Adapter from "../internal/providers/adapter.js"
import * as internal from "../internal/wire/anthropic/client.js"
import { apiVersion, defaultMaxTokens, type Options } from "../internal/wire/anthropic/options.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the dialect, whose client table reads them.
export { apiVersion, defaultMaxTokens, type Options }

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Anthropic, Message, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call with one key, under no pool, limiter or retry (what `Llm` adds).
 * const reply = Effect.gen(function*() {
 *   const client = yield* Anthropic.make({ model: "claude-haiku-4-5" })
 *   return yield* client.chat(
 *     { messages: [Message.user("Hi")] },
 *     ProviderClient.credentials(process.env.ANTHROPIC_API_KEY!)
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
 * import { Anthropic, KeyPool, Llm, RateLimiter } from "effect-llm-router"
 *
 * const Claude = Llm.layer({ model: "claude-sonnet-4-5" }).pipe(
 *   Layer.provide(Anthropic.layer({ maxTokens: 8192, timeout: "2 minutes" })),
 *   Layer.provide(KeyPool.layer({ providerId: "anthropic", keys: [process.env.ANTHROPIC_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 50, refillRate: 1 })),
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
 * import { Anthropic } from "effect-llm-router"
 *
 * const Client = Anthropic.layerConfig({
 *   model: Config.String("ANTHROPIC_MODEL"),
 *   maxTokens: Config.Int("ANTHROPIC_MAX_TOKENS").pipe(Config.withDefault(4096))
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
