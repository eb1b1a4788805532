/**
 * The OpenAI Responses API (`POST {baseUrl}/responses`) as a
 * `ProviderClient`.
 *
 * How a `ChatRequest` is sent:
 * - system messages become `instructions` (joined with blank lines); the other
 *   messages become input items: user messages with `input_text` and
 *   `input_image` parts, assistant replies as `output_text` message items and
 *   `function_call` items, tool results as `function_call_output` items
 *   (matched by `call_id`, the `ToolCall.id`);
 * - tools are flat function tools, with `strict: false` unless a tool asks
 *   for it (the API's own default is `true`); `responseFormat` becomes
 *   `text.format`; `maxTokens` becomes `max_output_tokens`; `stop` and `seed`
 *   have no Responses counterpart and are not sent;
 * - `reasoningEffort` becomes `reasoning: {effort, summary: "auto"}`: the
 *   summary is the only reasoning text OpenAI returns, so it is always asked
 *   for, and arrives as `ChatResponse.reasoning` (`ReasoningDelta`s in a stream).
 *
 * `countTokens` asks `POST {baseUrl}/responses/input_tokens` with the whole conversation, its instructions, tools,
 * tool choice, text format and reasoning.
 *
 * No server-side state by default: `store` defaults to `false` and every call
 * sends the whole history, as the rest of this library does. With `store`, a
 * request that continues a reply this API keeps (`ChatRequest.previousResponse`,
 * made by this provider with the call's key) is sent as its
 * `previous_response_id` with only the messages after it; should the API no
 * longer know that id (404), the call is made again at once, with the whole
 * history. Without `store`, reasoning models need
 * their reasoning items back in the next turn of a tool loop (OpenAI's
 * reasoning guide, encrypted reasoning items): when reasoning is on, the
 * adapter asks for `include: ["reasoning.encrypted_content"]`, returns the
 * encrypted reasoning items in
 * `providerMetadata.openaiResponses.reasoningItems`, and sends them back,
 * before the rest of the reply, for an assistant message built with
 * `Message.fromResponse` (without their `rs_…` ids, which point at nothing
 * stored; with `store: true`, by id). Set `reasoningEffort` when using a
 * reasoning model in a tool loop, so those items are returned. Output items
 * of other types (the calls of tools the API runs itself, `web_search_call`,
 * `mcp_call`..., asked for through `providerOptions.tools`) are kept as they
 * came in `providerMetadata.openaiResponses.outputItems` and go back the same
 * way, after the reasoning items and before the text.
 *
 * Encrypted content (a reasoning item's, a compaction item's) is valid only at the organisation that made it; OpenAI
 * refuses it anywhere else (400 `invalid_encrypted_content`). The client marks each reply's with where it was made (a
 * digest of the provider, the base URL and the call's key), gives a later call made there the content as it came, and
 * leaves out what was made elsewhere (another deployment, or another key); content with no mark goes as it is, and
 * should the API refuse it, the call is made again at once without any encrypted content. A conversation that moves to
 * another deployment goes on without the reasoning those items held, instead of failing.
 *
 * A request whose `providerOptions` has `responses_compact: true` compacts the conversation instead of answering it
 * (OpenAI's "Compact a response", `POST {baseUrl}/responses/compact`, never streamed): the body has the fields that
 * endpoint takes (the input, instructions, tools, reasoning, `prompt_cache_key`...; not `store`, `stream` or the
 * sampling settings, and not the option itself), and the reply has no text, the call's usage, and the compacted
 * output items (the conversation's user messages and its `compaction` item) as they came in
 * `providerMetadata.openaiResponses.compacted`, to send back as the next turn's input. The gateway's
 * `/v1/responses/compact` passes a call to a Responses deployment this way.
 *
 * The finish reason, which the API does not send, is derived: `incomplete` for
 * `max_output_tokens` is `length`, for `content_filter` is `content_filter`;
 * any function call is `tool_calls`; anything else is `stop`. A `failed`
 * response, a `response.failed` event or an `error` event fails with the typed
 * error `fromHttpFailure` gives it.
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
