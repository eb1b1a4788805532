/**
 * effect-llm-router: one typed, composable, Effect-native way to call LLM APIs.
 *
 * The testing helpers (`LlmTest`, `Simulator`) are in `effect-llm-router/testing`.
 *
 * @since 0.1.0
 */

// First: on a Node too old, importing the package fails here, in words, before anything loads undici.
import "./internal/nodeVersion.js"

/** @since 0.1.0 */
export * as Anthropic from "./providers/Anthropic.js"

/** @since 0.3.0 */
export * as AzureOpenAi from "./providers/AzureOpenAi.js"

/** @since 0.3.0 */
export * as Bedrock from "./providers/Bedrock.js"

/** @since 0.3.0 */
export * as Batch from "./Batch.js"

/** @since 0.1.0 */
export * as Budget from "./Budget.js"

/** @since 0.1.0 */
export * as CacheStore from "./CacheStore.js"

/** @since 0.1.0 */
export * as ChatChunk from "./ChatChunk.js"

/** @since 0.1.0 */
export * as ChatRequest from "./ChatRequest.js"

/** @since 0.1.0 */
export * as ChatResponse from "./ChatResponse.js"

/** @since 0.1.0 */
export * as Embedding from "./Embedding.js"

/** @since 0.1.0 */
export * as Gateway from "./Gateway.js"
export * as Gemini from "./providers/Gemini.js"

/** @since 0.3.0 */
export * as Guardrail from "./Guardrail.js"

/** @since 0.1.0 */
export * as KeyPool from "./KeyPool.js"

/** @since 0.1.0 */
export * as Llm from "./Llm.js"

/** @since 0.1.0 */
export * as LlmError from "./LlmError.js"

/** @since 0.1.0 */
export * as Message from "./Message.js"

/** @since 0.1.0 */
export * as Ollama from "./providers/Ollama.js"

/** @since 0.1.0 */
export * as OpenAiChat from "./providers/OpenAiChat.js"

/** @since 0.1.0 */
export * as OpenAiResponses from "./providers/OpenAiResponses.js"

/** @since 0.2.0 */
export * as OptionsError from "./OptionsError.js"

/** @since 0.1.0 */
export * as Presets from "./providers/Presets.js"

/** @since 0.1.0 */
export * as Pricing from "./Pricing.js"

/** @since 0.1.0 */
export * as ProviderClient from "./ProviderClient.js"

/** @since 0.1.0 */
export * as ProviderConfig from "./ProviderConfig.js"

/** @since 0.1.0 */
export * as RateLimiter from "./RateLimiter.js"

/** @since 0.1.0 */
export * as ResponseCache from "./ResponseCache.js"

/** @since 0.1.0 */
export * as RetryPolicy from "./RetryPolicy.js"

/** @since 0.1.0 */
export * as Router from "./Router.js"

/** @since 0.1.0 */
export * as Sse from "./Sse.js"

/** @since 0.3.0 */
export * as Store from "./Store.js"

/** @since 0.1.0 */
export * as UndiciHttpClient from "./UndiciHttpClient.js"

/** @since 0.1.0 */
export * as UsageLedger from "./UsageLedger.js"

/** @since 0.3.0 */
export * as Vertex from "./providers/Vertex.js"
