/**
 * The main service: chat with a model through a key pool and a rate limiter, retrying what can succeed, and always
 * reporting usage (estimated locally when the provider sent none) and its cost. `chatStream` retries only until the
 * first chunk has arrived: after that a failure fails the stream; its cost is on the `Finish` chunk. Interrupting a
 * call, or the consumer of a stream, aborts the HTTP request and frees the key and the permit. `embed` sends its inputs
 * in batches of the provider's size, the vectors in input order. Under a tracer the application installed, each call
 * is an OpenTelemetry GenAI span (docs/telemetry.md). See docs/llm.md.
 *
 * @since 0.1.0
 */
import type { EmbeddingModel, LanguageModel } from "effect/ai"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "./Embedding.js"
import type * as EffectAi from "./internal/llm/ai/languageModel.js"
import * as internal from "./internal/llm/service.js"
import * as StructuredOutput from "./internal/llm/structuredOutput.js"
import type * as KeyPool from "./KeyPool.js"
import type { LlmError } from "./LlmError.js"
import type * as Pricing from "./Pricing.js"
import type { ProviderClient } from "./ProviderClient.js"
import type * as RateLimiter from "./RateLimiter.js"
import type * as RetryPolicy from "./RetryPolicy.js"

/**
 * A prompt's token count, without a reply.
 *
 * @since 0.2.0
 * @category Models
 */
export interface TokenCount {
  /** The tokens the request's prompt takes. */
  readonly inputTokens: number
  /** True when the provider has no counting endpoint and the count is a local estimate (docs/llm.md). */
  readonly estimated: boolean
}

/**
 * What an `Llm` offers: a reply whole, a reply streamed, embeddings, and a prompt's token count.
 * `make` builds one over a provider; `Router` and `LlmTest` are others.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly chat: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError>
  readonly chatStream: (request: ChatRequest) => Stream.Stream<ChatChunk.ChatChunk, LlmError>
  /**
   * The vectors of one text or many, in input order. An empty list or an
   * empty text fails with `InvalidRequestError` before any call.
   */
  readonly embed: (request: EmbeddingRequest) => Effect.Effect<EmbeddingResponse, LlmError>
  /** The prompt tokens of a request, as the provider counts them when it can (see `TokenCount`); nothing generated. */
  readonly countTokens: (request: ChatRequest) => Effect.Effect<TokenCount, LlmError>
}

/**
 * The service's tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const summarize = (text: string) =>
 *   Effect.gen(function*() {
 *     const llm = yield* Llm.Llm
 *     const reply = yield* llm.chat({ messages: [Message.system("Summarize in one line."), Message.user(text)] })
 *     return reply.text
 *   })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class Llm extends Context.Service<Llm, Service>()("effect-llm-router/Llm") {}

/**
 * Options of `make`, `layer` and `layerConfig`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** The model of requests that name none. Default: the provider client's default. */
  readonly model?: string
  /**
   * The retry policy. Default: `RetryPolicy.make()` (3 retries with backoff from 500 millis, and 3 moves to another
   * key after a rate-limited or rejected one). A `Router`'s half-open probe makes one attempt whatever it says.
   */
  readonly retry?: RetryPolicy.RetryPolicy
  /**
   * How long a call waits for a rate-limited key: a key whose cooldown ends later than this after the call's first
   * rate limit is not waited for, and the call fails at once with that `RateLimitError` so a `Router` moves on. Keys
   * that other calls left cooling are waited for this long, else `NoCapacityError`. Inside a `Router` with another
   * deployment or a fallback for the call, only a `Retry-After` within this bound is waited out. The pool's
   * `whenExhausted` bounds every wait too (`Fail`: none). Default: 5 seconds.
   */
  readonly maxRateLimitWait?: Duration.Input
  /**
   * One bound on a call with all its retries (for a stream: until its first chunk; for `embed`: each batch); past it
   * the call fails with `TimeoutError`. A `Router`'s deadline, when sooner, bounds it too. Default: 10 minutes.
   */
  readonly deadline?: Duration.Input
  /** How many batches of one `embed` call are in flight at once. Default: 4. */
  readonly embeddingConcurrency?: number
  /**
   * The price of this service's calls, which sets `cost` on every response (on a stream's `Finish` chunk). Default:
   * the built-in price of the model that answered, else of the requested model; when neither is known, no cost.
   */
  readonly price?: Pricing.Price
}

/**
 * Builds the service from a `ProviderClient`, a `KeyPool` and a `RateLimiter`. A request that is not a `ChatRequest`
 * (or `EmbeddingRequest`) fails with `InvalidRequestError` naming the bad paths, and nothing is sent.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const llm = yield* Llm.make({ model: "gpt-4o-mini", deadline: "30 seconds" })
 *   return yield* llm.chat({ messages: [Message.user("Hello")] })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Service, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> = internal.make

/**
 * `make` as a layer.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { KeyPool, Llm, OpenAiChat, RateLimiter } from "effect-llm-router"
 *
 * const OpenAi = Llm.layer({ model: "gpt-4o-mini" }).pipe(
 *   Layer.provide(OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" })),
 *   Layer.provide(KeyPool.layer({ providerId: "openai", keys: [process.env.OPENAI_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3 })),
 *   Layer.provide(RateLimiter.layerStoreMemory),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Llm, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Layer.effect(Llm, make(options))

/**
 * `layer` with its options read from `Config`, each option a `Config` of its own or all of them one.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { Llm } from "effect-llm-router"
 *
 * const layer = Llm.layerConfig({
 *   model: Config.String("LLM_MODEL"),
 *   deadline: Config.Duration("LLM_DEADLINE")
 * })
 * ```
 *
 * @since 0.2.0
 * @category Layers
 */
export const layerConfig = (
  options: Config.Wrap<Options>
): Layer.Layer<Llm, Config.ConfigError, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Layer.effect(Llm, Effect.flatMap(Config.unwrap(options), make))

/**
 * Asks the `Llm` in context for a reply, whole.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const program = Llm.chat({ messages: [Message.system("Be terse."), Message.user("What is Effect?")] }).pipe(
 *   Effect.tap((reply) => Effect.log(reply.text, reply.usage)),
 *   Effect.catchTag("ContextLengthError", () => Effect.log("too long for this model"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const chat = (request: ChatRequest): Effect.Effect<ChatResponse, LlmError, Llm> =>
  Effect.flatMap(Llm, (llm) => llm.chat(request))

/**
 * Asks the `Llm` in context for a reply, streamed: `TextDelta`,
 * `ReasoningDelta`, `ToolCallDelta`, `Usage` chunks, then `Finish`.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const program = Llm.chatStream({ messages: [Message.user("Tell me a story")] }).pipe(
 *   Stream.runForEach((chunk) => chunk._tag === "TextDelta" ? Effect.log(chunk.text) : Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const chatStream = (request: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError, Llm> =>
  Stream.unwrap(Effect.map(Llm, (llm) => llm.chatStream(request)))

/**
 * The vectors of one text or many from the `Llm` in context, in input order, with the usage.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const { embeddings, usage } = yield* Llm.embed({
 *     input: ["first text", "second text"],
 *     model: "text-embedding-3-small"
 *   })
 *   return embeddings.length
 * })
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const embed = (request: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError, Llm> =>
  Effect.flatMap(Llm, (llm) => llm.embed(request))

/**
 * The prompt tokens of a request to the `Llm` in context: the provider's count where it has an endpoint for it
 * (Anthropic, Gemini, Bedrock, Responses), else a local estimate (`TokenCount.estimated`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * // Compact a conversation before it outgrows the model's window.
 * const tooLong = (history: ReadonlyArray<Message.Message>) =>
 *   Effect.map(Llm.countTokens({ messages: history }), (count) => count.inputTokens > 150_000)
 * ```
 *
 * @since 0.2.0
 * @category Accessors
 */
export const countTokens = (request: ChatRequest): Effect.Effect<TokenCount, LlmError, Llm> =>
  Effect.flatMap(Llm, (llm) => llm.countTokens(request))

/**
 * A structured output: the value decoded from the reply, and the reply itself (usage, cost, model, latency).
 *
 * @since 0.1.0
 * @category Models
 */
export interface GeneratedObject<A> {
  readonly value: A
  readonly response: ChatResponse
}

/**
 * Options of `generateObject`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface GenerateObjectOptions {
  /**
   * The schema's name as sent (OpenAI `json_schema.name`, Anthropic's tool name; characters other than letters,
   * digits, `_` and `-` become `_`). Default: the schema's identifier or title annotation, else `"output"`.
   */
  readonly name?: string | undefined
  /** What the output is, for the model. Default: the schema's description annotation, if any. */
  readonly description?: string | undefined
  /** Ask the provider to enforce the schema exactly (OpenAI `strict`). Default: on. */
  readonly strict?: boolean | undefined
}

/**
 * Asks for a reply that follows `schema` (sent as the request's `responseFormat`) and decodes it. Text that is not
 * JSON, or JSON that fails the schema, fails with `OutputDecodeError`, whose `raw` is the whole text and `detail` the
 * reason; a refusal or a safety cut fails with `ContentFilterError`. Built on `chat`, so it works over any `Llm` (a
 * test one, a router). See docs/structured-output.md.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 *
 * const Recipe = Schema.Struct({ title: Schema.String, servings: Schema.Number })
 *
 * const program = Effect.gen(function*() {
 *   const { value, response } = yield* Llm.generateObject({ messages: [Message.user("A pancake recipe")] }, Recipe)
 *   return `${value.title} for ${value.servings}, $${response.cost ?? 0}`
 * })
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const generateObject = <A, I>(
  request: ChatRequest,
  schema: Schema.Codec<A, I>,
  options?: GenerateObjectOptions
): Effect.Effect<GeneratedObject<A>, LlmError, Llm> =>
  Effect.flatMap(
    chat(StructuredOutput.requestFor(request, schema, options)),
    (response) => Effect.map(StructuredOutput.decode(response, schema), (value) => ({ value, response }))
  )

// The effect/ai bridge is loaded when its layer is built: a program that never uses effect/ai does not load effect/ai.
const effectAi = Effect.promise(() => import("./internal/llm/ai/languageModel.js"))

/**
 * Options of `languageModel`: the request fields every call carries (the model, the temperature, the token limit,
 * ...). The prompt, the tools, the tool choice and the response format come from each `effect/ai` call.
 *
 * @since 0.2.0
 * @category Models
 */
export type LanguageModelOptions = EffectAi.Options

/**
 * The `Llm` in context (a `Router` too) as `effect/ai`'s `LanguageModel`, so code written against `effect/ai`
 * (`generateText`, `streamText`, `generateObject`, `Chat`, a `Toolkit`) gets this library's keys, limits, retries and
 * routing. Each call is one `chat` (or `chatStream`); cost, provider and masked key id are in the finish part's
 * metadata under `"effect-llm-router"`. Failures are `AiError`s whose reason matches our error (`RateLimitError` with
 * its `retryAfter`, ...), so `Effect.catchReason` works on them. See docs/effect-ai.md.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 * import { Llm } from "effect-llm-router"
 *
 * declare const llm: Layer.Layer<Llm.Llm>
 *
 * const Model = Llm.languageModel({ model: "gpt-4o-mini" }).pipe(Layer.provide(llm))
 *
 * const program = LanguageModel.generateText({ prompt: "What is Effect?" }).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.catchReason(
 *     "AiError",
 *     "RateLimitError",
 *     (reason) => Effect.succeed(`busy, retry after ${reason.retryAfter}`)
 *   ),
 *   Effect.provide(Model)
 * )
 * ```
 *
 * @since 0.2.0
 * @category Layers
 */
export const languageModel = (
  options: LanguageModelOptions = {}
): Layer.Layer<LanguageModel.LanguageModel, never, Llm> =>
  Layer.unwrap(Effect.map(effectAi, (ai) => ai.languageModel(options)))

/**
 * Options of `embeddingModel`: the request fields every call carries.
 *
 * @since 0.2.0
 * @category Models
 */
export type EmbeddingModelOptions = EffectAi.EmbeddingOptions

/**
 * The `Llm` in context as `effect/ai`'s `EmbeddingModel`: `embed` and `embedMany` go through `Llm.embed`, the vectors
 * in input order, failures as `AiError`s as in `languageModel`.

 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { EmbeddingModel } from "effect/ai"
 * import { Llm } from "effect-llm-router"
 *
 * declare const llm: Layer.Layer<Llm.Llm>
 *
 * const program = Effect.gen(function*() {
 *   const model = yield* EmbeddingModel.EmbeddingModel
 *   const { embeddings } = yield* model.embedMany(["first text", "second text"])
 *   return embeddings.map((embedding) => embedding.vector.length)
 * }).pipe(Effect.provide(Llm.embeddingModel({ model: "text-embedding-3-small" }).pipe(Layer.provide(llm))))
 * ```
 *
 * @since 0.2.0
 * @category Layers
 */
export const embeddingModel = (
  options: EmbeddingModelOptions = {}
): Layer.Layer<EmbeddingModel.EmbeddingModel, never, Llm> =>
  Layer.unwrap(Effect.map(effectAi, (ai) => ai.embeddingModel(options)))
