/**
 * A model's whole reply and its token usage.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { ProviderMetadata, ToolCall } from "./Message.js"

/**
 * Why the model stopped: `stop` (natural end or a stop sequence), `length` (the token limit), `tool_calls` (it wants
 * tools run), `content_filter` (a safety system cut it), `other` (anything else the provider reports).
 *
 * @since 0.1.0
 * @category Models
 */
export const FinishReason = Schema.Literals(["stop", "length", "tool_calls", "content_filter", "other"])

/**
 * @since 0.1.0
 * @category Models
 */
export type FinishReason = typeof FinishReason.Type

const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * Token counts of one call. `cachedPromptTokens` (cache reads) is part of `promptTokens` and `reasoningTokens` part
 * of `completionTokens`, as OpenAI counts them. `cacheWriteTokens` (Anthropic's `cache_creation_input_tokens`) is part
 * of `promptTokens` too, and `cacheWrite1hTokens` the part of them written for an hour; both set only when the provider
 * reports them. `estimated` is true when the provider reported no usage and the numbers were counted locally.
 *
 * @since 0.1.0
 * @category Models
 */
export class Usage extends Schema.Opaque<Usage>()(Schema.Struct({
  promptTokens: Count,
  completionTokens: Count,
  totalTokens: Count,
  cachedPromptTokens: Count,
  cacheWriteTokens: Schema.optional(Count),
  cacheWrite1hTokens: Schema.optional(Count),
  reasoningTokens: Count,
  estimated: Schema.Boolean,
  /**
   * Of `promptTokens`, the tokens of audio (OpenAI's `prompt_tokens_details.audio_tokens`, Gemini's `AUDIO` entry of
   * `promptTokensDetails`), priced at `Price.audioInput`; set only when the provider reports it.
   *
   * @since 0.3.0
   */
  audioPromptTokens: Schema.optional(Count),
  /**
   * Of `completionTokens`, the tokens of audio (OpenAI's `completion_tokens_details.audio_tokens`, Gemini's `AUDIO`
   * entry of `candidatesTokensDetails`), priced at `Price.audioOutput`; set only when the provider reports it.
   *
   * @since 0.3.0
   */
  audioCompletionTokens: Schema.optional(Count),
  /**
   * The service tier the provider says it served the call at (OpenAI's `service_tier`: `default`, `flex`,
   * `priority`...; Anthropic's `usage.service_tier`: `standard`, `priority`, `batch`), which `Pricing.cost` prices at
   * `Price.serviceTiers`; set only when the provider reports it.
   *
   * @since 0.3.0
   */
  serviceTier: Schema.optional(Schema.String),
  /**
   * The calls of each tool the provider ran itself and bills per call, by the tool's type (`web_search: 3`), as a
   * Responses reply's tool-call items count them; priced by `Pricing.cost` at `Price.hostedToolCalls`. Default: none.
   *
   * @since 0.3.0
   */
  hostedToolCalls: Schema.optional(Schema.Record(Schema.String, Count))
})) {}

/**
 * Usage with every count at zero.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { ChatResponse } from "effect-llm-router"
 *
 * // A canned reply that used no tokens.
 * const canned: ChatResponse.ChatResponse = {
 *   id: "canned",
 *   model: "none",
 *   provider: "local",
 *   text: "We are closed today.",
 *   toolCalls: [],
 *   finishReason: "stop",
 *   usage: ChatResponse.emptyUsage,
 *   latency: Duration.zero
 * }
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const emptyUsage: Usage = {
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  cachedPromptTokens: 0,
  reasoningTokens: 0,
  estimated: false
}

/**
 * What a provider's rate-limit headers said on a successful reply (`x-ratelimit-remaining-requests`,
 * `anthropic-ratelimit-requests-remaining`...); for tokens, the tightest of the limits sent (total, input, output).
 * `Router` stops picking a deployment whose remaining count is 0: for requests, until one request has refilled
 * (`resetRequests / limitRequests`, as providers refill continuously); for tokens, until `resetTokens`.
 *
 * @since 0.1.0
 * @category Models
 */
export const RateLimitSnapshot = Schema.Struct({
  /** Requests allowed per window (`x-ratelimit-limit-requests`). */
  limitRequests: Schema.optional(Schema.Number),
  remainingRequests: Schema.optional(Schema.Number),
  /** Time until the request limit is whole again. */
  resetRequests: Schema.optional(Schema.Duration),
  remainingTokens: Schema.optional(Schema.Number),
  /** Time until the token limit is whole again. */
  resetTokens: Schema.optional(Schema.Duration)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type RateLimitSnapshot = typeof RateLimitSnapshot.Type

/**
 * How many malformed events (data that is not JSON) a streamed reply skipped: a single bad event inside an otherwise
 * healthy stream is skipped, logged and counted rather than failing the reply.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ChatChunk, Llm, Message } from "effect-llm-router"
 *
 * // Warn when a provider's stream needed repairs.
 * const reply = ChatChunk.collect(Llm.chatStream({ messages: [Message.user("Hi")] })).pipe(
 *   Effect.tap((response) =>
 *     (response.skippedEvents ?? 0) > 0 ? Effect.logWarning("the stream skipped events") : Effect.void
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export const SkippedEvents = Count

/**
 * The reply of one chat call: a plain object, which this schema describes.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { ChatResponse, Llm, Message } from "effect-llm-router"
 *
 * // Keep a reply as JSON, and read it back.
 * const AsJson = Schema.fromJsonString(Schema.toCodecJson(ChatResponse.ChatResponse))
 * const saved = Llm.chat({ messages: [Message.user("Hi")] }).pipe(Effect.flatMap(Schema.encodeEffect(AsJson)))
 * const restored = Effect.flatMap(saved, Schema.decodeEffect(AsJson))
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export class ChatResponse extends Schema.Opaque<ChatResponse>()(Schema.Struct({
  /** The provider's id of the reply (empty when it sent none). */
  id: Schema.String,
  /** The model that answered, as the provider names it. */
  model: Schema.String,
  /** The provider the reply came from (`openai`, `anthropic`, a preset name...). */
  provider: Schema.String,
  text: Schema.String,
  /** Reasoning text, when the provider returns it (DeepSeek, OpenRouter, vLLM, Anthropic thinking...). */
  reasoning: Schema.optional(Schema.String),
  /** A refusal the model gave instead of an answer (OpenAI structured outputs). */
  refusal: Schema.optional(Schema.String),
  toolCalls: Schema.Array(ToolCall),
  finishReason: FinishReason,
  usage: Usage,
  /** The cost in US dollars, when prices are known for the model. */
  cost: Schema.optional(Schema.Number),
  /**
   * What the provider's prompt cache saved the call, in US dollars, when prices are known (`Pricing.cacheSavings`;
   * negative when writes at a premium cost more than reads saved). Absent when the call read and wrote nothing cached.

   *
   * @since 0.3.0
   */
  cacheSavings: Schema.optional(Schema.Number),
  /** Time from sending the request to the end of the reply. */
  latency: Schema.Duration,
  /** The masked id of the key that served the call (`sk-…f3a9#0d64`); never the key. */
  keyId: Schema.optional(Schema.String),
  /** What the provider needs back with this reply in the next turn (see `Message.fromResponse`). */
  providerMetadata: Schema.optional(ProviderMetadata),
  /** The provider's rate-limit headers on this reply, when it sent any (non-streamed calls). */
  rateLimit: Schema.optional(RateLimitSnapshot),
  /** Malformed stream events skipped in a streamed reply (`SkippedEvents`); absent when none were. */
  skippedEvents: Schema.optional(SkippedEvents)
})) {}
