/**
 * The Gemini API (Generative Language, not Vertex: `POST
 * {baseUrl}/v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`) as a `ProviderClient`, per the Gemini API reference.
 *
 * The key is sent as `x-goog-api-key`, a header name redacted from traces.
 *
 * Mapping, and the choices it makes:
 * - System messages go to `systemInstruction`; user and assistant messages to
 *   `contents` with roles `user` and `model`. Image parts with a `data:` URL
 *   become `inlineData`; any other URL becomes `fileData` with the URL as
 *   `fileUri` (what the Files API and the URL-fetching models take) and a MIME
 *   type guessed from the extension, left out when the extension is unknown.
 * - Assistant tool calls become `functionCall` parts with their arguments
 *   parsed to an object, carrying back unchanged the `thoughtSignature` (and
 *   the call id, when Gemini gave one) kept in
 *   `ToolCall.providerMetadata.gemini`; a signature Gemini put on a text part
 *   is kept in the reply's `providerMetadata.gemini` and goes back on the
 *   assistant's text part. Build the history with `Message.fromResponse` so
 *   both travel. Thought summaries (`reasoning`) are not sent back.
 * - Tool results become `functionResponse` parts named by `ToolMessage.name`,
 *   or by the name of the earlier call with the same `toolCallId`; a result
 *   with neither fails with `InvalidRequestError`. A result that is a JSON
 *   object is sent as `response`; anything else as `{result: …}`. Consecutive
 *   results share one user content, as Gemini expects for parallel calls.
 * - Tools become one `functionDeclarations` list. `parameters` takes Gemini's
 *   OpenAPI subset, so schemas are translated: local `$ref`s inlined, `const`
 *   as a one-value `enum`, `oneOf` as `anyOf`, `null` types as `nullable`,
 *   other keywords (`additionalProperties`, `$schema`, `$defs`, `allOf`...)
 *   dropped, and an object schema without properties left out (Gemini rejects
 *   it). A schema that refers to itself (the subset has no `$ref`), or whose
 *   `$ref`s expand past a fixed number of nodes, fails with
 *   `InvalidRequestError` naming its field before anything is sent.
 *   `toolChoice`: `auto`, `none`, `required` are modes `AUTO`, `NONE`, `ANY`;
 *   `{tool}` is `ANY` with `allowedFunctionNames: [tool]`.
 * - `temperature`, `topP`, `maxTokens` (`maxOutputTokens`), `stop`
 *   (`stopSequences`) and `seed` go to `generationConfig`; a JSON response
 *   format sets `responseMimeType: "application/json"` and, for a schema,
 *   `responseSchema` (translated as tool parameters are). `reasoningEffort` becomes
 *   `thinkingConfig`: `none` is `thinkingBudget: 0`, the others a budget
 *   (128, 1024, 8192, 16384, then 24576 for `xhigh`
 *   and `max`) with `includeThoughts: true`, so thought summaries come back as
 *   reasoning. `user` has no Gemini field and is not sent.
 * - `providerOptions` are merged last, objects key by key (so
 *   `{generationConfig: {thinkingConfig: {thinkingLevel: "high", thinkingBudget: null}}}`
 *   switches a Gemini 3 model to a thinking level); a `null` removes a key.
 *
 * Replies: `thought: true` parts are reasoning; function calls get the id
 * Gemini gave or `call_<n>` (their index in the reply, the same whether
 * streamed or not). `STOP` is `tool_calls` when the reply has calls; safety,
 * recitation, blocklist and similar reasons are `content_filter`. Usage counts
 * thoughts in the completion (and as reasoning tokens), and
 * `cachedContentTokenCount` as cached prompt tokens. A prompt Gemini blocks
 * (200, `promptFeedback.blockReason`, no candidates) fails with
 * `ContentFilterError`. Errors, Gemini's invalid key (a 400) included, map
 * through `LlmError.fromHttpFailure`. A stream has no end marker: it is whole
 * when its body ends after an event with a `finishReason`, and fails with
 * `StreamTruncatedError` otherwise.
 *
 * `countTokens` asks `POST {baseUrl}/{apiVersion}/models/{model}:countTokens` with the whole request as its
 * `generateContentRequest` (so its system instruction and tools are counted too), and reads `totalTokens`.
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
