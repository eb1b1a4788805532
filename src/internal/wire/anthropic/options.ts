/**
 * The Anthropic adapter's settings, which its client table reads and the public `Anthropic` module gives users.
 */
import type { HttpOptions } from "../../../ProviderClient.js"

/**
 * The API version this adapter speaks (sent as `anthropic-version`).
 *
 * @example
 * ```ts
 * import { Anthropic } from "effect-llm-router"
 *
 * // Pinning the version this library was written against, with a beta feature on.
 * const Claude = Anthropic.layer({ version: Anthropic.apiVersion, beta: ["context-1m-2025-08-07"] })
 * ```
 *
 * @since 0.1.0
 * @category Constants
 */
export const apiVersion = "2023-06-01"

/**
 * `max_tokens` for requests that set no `maxTokens`.
 *
 * @example
 * ```ts
 * import { Anthropic } from "effect-llm-router"
 *
 * // Longer replies for requests that set no `maxTokens`.
 * const Claude = Anthropic.layer({ model: "claude-sonnet-4-5", maxTokens: 4 * Anthropic.defaultMaxTokens })
 * ```
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultMaxTokens = 4096

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /**
   * The host root; the adapter adds `/v1/messages` (a root with `/v1`, as Chat Completions roots are written, is
   * accepted too). Default: `https://api.anthropic.com`.
   */
  readonly baseUrl?: string | undefined
  /** The provider's name in responses and errors. Default: `"anthropic"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none. Default: none (such a request fails with `InvalidRequestError`). */
  readonly model?: string | undefined
  /** Sent as `anthropic-version`. Default: `"2023-06-01"`, the version this adapter's mapping follows. */
  readonly version?: string | undefined
  /** `max_tokens` for requests without `maxTokens` (the API requires the field). Default: 4096. */
  readonly maxTokens?: number | undefined
  /**
   * Whether a later system message is sent in its place, as a `role: "system"` message (Anthropic's mid-conversation
   * system messages), where the API's placement rules allow it; elsewhere, and when off, it joins the top-level
   * `system`. Default: on for the models that take one (`claude-opus-4-8…`), off for the others, which refuse it.
   */
  readonly midConversationSystem?: boolean | undefined
  /**
   * Whether every conversation is cached, as a client of an API that caches long prompts on its own (Gemini's,
   * OpenAI's) expects: a request with no breakpoint gets one on its last message's last block, where Anthropic's
   * automatic caching places it. A cache write costs more than a prompt token, so a one-turn conversation costs more
   * with it. A request with a `promptCacheKey` is cached so either way. Default: off.
   *
   * @since 0.3.0
   */
  readonly cacheConversations?: boolean | undefined
  /** Beta feature ids, sent comma-separated as `anthropic-beta`. Default: none. */
  readonly beta?: ReadonlyArray<string> | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the stream with `OutputDecodeError`. Default: 16
   * MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}
