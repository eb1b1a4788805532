/**
 * Anthropic's Messages API (`POST {baseUrl}/v1/messages`, API version
 * `2023-06-01`) as a `ProviderClient`.
 *
 * - The key goes in `x-api-key`, whose name is redacted from traces.
 * - System messages become the top-level `system` in their order, but a later one that a model taking
 *   mid-conversation system messages can have in its place (`Options.midConversationSystem`); tool calls become
 *   `tool_use` blocks and tool results `tool_result` blocks of one user turn.
 * - `max_tokens` is required by the API: a request without `maxTokens` sends
 *   the client's `maxTokens` (default 4096).
 * - `reasoningEffort` turns on extended thinking with a token budget
 *   (`minimal` 1024, `low` 2048, `medium` 8192, `high` 16384, `xhigh` 32768,
 *   `max` 63999; `none` sends no `thinking`). Without `maxTokens`, `max_tokens`
 *   is the budget plus the default; with it, the budget is lowered below it.
 * - Thinking text is the response's `reasoning`. The signed blocks (`thinking`
 *   with its `signature`, `redacted_thinking`) are kept in
 *   `providerMetadata.anthropic.thinking` (on the `Finish` chunk of a stream),
 *   and sent back first in the assistant turn built with
 *   `Message.fromResponse`, as the API requires in a tool loop with thinking.
 * - Stop reasons: `end_turn` and `stop_sequence` are `stop`, `max_tokens` and
 *   `model_context_window_exceeded` are `length` (the reply is valid up to the
 *   limit), `tool_use` is `tool_calls`, `refusal` is `content_filter`, others
 *   `other`.
 * - A `cache` breakpoint (`Message.CacheBreakpoint`) on a system message, part, tool result, tool definition or
 *   assistant message is sent as that block's `cache_control`, with its `ttl` (an hour's after a shorter one:
 *   none, as the API refuses it).
 * - Usage: the prompt is `input_tokens` plus both cache counts (the API leaves
 *   cached tokens out of `input_tokens`); `cachedPromptTokens` are the cache reads, `cacheWriteTokens` the writes,
 *   and `cacheWrite1hTokens` the writes for an hour (`cache_creation.ephemeral_1h_input_tokens`).
 * - `countTokens` asks `POST {baseUrl}/v1/messages/count_tokens` with the request's prompt (its messages, system,
 *   tools, tool choice and thinking).
 * - Errors (`{type: "error", error: {type, message}}`, `529 overloaded_error`,
 *   and the `error` event inside a stream) map through `fromHttpFailure`; a
 *   stream that ends without `message_stop` fails with `StreamTruncatedError`.
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
