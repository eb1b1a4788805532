/**
 * The service every wire adapter implements (`OpenAiChat`, `OpenAiResponses`, `Anthropic`, `Gemini`, `Ollama`): one
 * call of one model with one key. Retries, key choice, rate limits and embedding batches live above it, in `Llm`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type { ChatChunk } from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "./Embedding.js"
import { type AuthError, type LlmError, maskKey } from "./LlmError.js"

/**
 * The key a call is made with. `key` stays `Redacted` until the header is set;
 * `keyId` is its masked form, safe to log and to return.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Credentials {
  readonly key: Redacted.Redacted<string>
  readonly keyId: string
}

/**
 * Credentials for a key, with its masked id.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Message, ProviderClient } from "effect-llm-router"
 *
 * // One call with one key, below Llm's retries, key pool and rate limiter.
 * const once = (key: Redacted.Redacted<string>) =>
 *   Effect.gen(function*() {
 *     const client = yield* ProviderClient.ProviderClient
 *     const credentials = ProviderClient.credentials(key)
 *     yield* Effect.log(`calling ${client.provider} with ${credentials.keyId}`) // "sk-…f3a9#0d64", never the key
 *     return yield* client.chat({ model: "gpt-4o-mini", messages: [Message.user("Hi")] }, credentials)
 *   })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const credentials = (key: Redacted.Redacted<string> | string): Credentials => {
  const redacted = typeof key === "string" ? Redacted.make(key) : key
  return { key: redacted, keyId: maskKey(Redacted.value(redacted)) }
}

/**
 * The options every HTTP adapter shares; each adapter's `Options` extends them.
 *
 * @since 0.1.0
 * @category Models
 */
export interface HttpOptions {
  /**
   * Extra headers on every request (a proxy's or gateway's). `Redacted` values are sent as they are, and their header
   * names are redacted from traces. Default: none.
   */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /**
   * How long a call may take; a request's own `timeout` overrides it. For `chat`, the whole reply; for `chatStream`,
   * the wait for its first chunk (for a local server, loading the model included); the rest of a stream may take its
   * time. Exceeding it fails with `TimeoutError`. Default: 10 minutes.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long to wait for the response headers (a provider that accepts the request and never answers). Exceeding it
   * fails with `TimeoutError` of phase `"headers"`, which a `Router` does not retry on the same deployment. Default:
   * 30 seconds.
   */
  readonly headersTimeout?: Duration.Input | undefined
  /**
   * How long a stream may wait, once its headers are in, for its first body bytes. Exceeding it fails with
   * `TimeoutError` of phase `"firstToken"`. Default: 2 minutes, room for a reasoning model's thinking; a `Router`
   * brings it down to a deployment's own first-token times once it has learned them (`Router.Options.learnedLimits`).
   */
  readonly firstTokenTimeout?: Duration.Input | undefined
  /**
   * How long a stream may send nothing once its body has begun (a stall). Exceeding it fails with `TimeoutError` of
   * phase `"idle"`. Default: 30 seconds. Every limit is kept over the `Clock` (a `TestClock` moves them).
   */
  readonly idleTimeout?: Duration.Input | undefined
  /**
   * The largest reply read, in bytes: a whole body of more fails with `OutputDecodeError` naming this limit, and the
   * request is cancelled. A stream as a whole is not bounded, but one SSE event or NDJSON line past this many
   * characters fails the same way. Default: 64 MiB, room for the largest embeddings batch OpenAI answers in base64.
   */
  readonly maxResponseBytes?: number | undefined
}

/**
 * Where a provider batch is: `running` (validating, in progress, finalizing or being cancelled), or ended as
 * `completed`, `expired` (its window passed with lines not run), `cancelled`, or `refused` (the provider would not
 * run it: a file or request that does not validate).
 *
 * @since 0.3.0
 * @category Models
 */
export type BatchState = "running" | "completed" | "expired" | "cancelled" | "refused"

/**
 * A provider batch as its API reports it: its id (the provider's, which `retrieve`, `cancel` and `results` take),
 * its state and its counts of lines.
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchStatus {
  readonly id: string
  readonly state: BatchState
  /** The lines the batch holds. */
  readonly total: number
  /** The lines answered so far. */
  readonly succeeded: number
  /** The lines that failed so far (an error, expired, or cancelled). */
  readonly failed: number
  /** Why a `refused` batch was refused, in the provider's words. */
  readonly detail?: string | undefined
}

/**
 * One line of a batch's results as the provider gave it: named by the custom id it was submitted with (absent where
 * the API names none, as Gemini's inlined responses may not), at its `position` among the results, and its outcome:
 * the reply or the typed error of that request, or `"expired"` / `"cancelled"` for a line the batch never ran.
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchLine {
  readonly customId: string | undefined
  readonly position: number
  readonly outcome: Result.Result<ChatResponse, LlmError> | "expired" | "cancelled"
}

/**
 * One request of a batch with the custom id its line carries (letters, digits, `_` and `-`, at most 64: the ids every
 * batch API takes).
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchRequest {
  readonly customId: string
  readonly request: ChatRequest
}

/**
 * A provider's batch API (OpenAI's files and batches, Anthropic's Message Batches, Gemini's batch mode, Bedrock's batch
 * inference, Vertex AI's batch prediction), each step one or a few HTTP exchanges with one key, as `chat` is. Every
 * request of one batch names the same model (`model`: the client's default when they name none). `Batch` polls it;
 * the gateway passes batches through it.
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchApi {
  /** Submits the requests as one batch (OpenAI's: its JSONL file uploaded first). */
  readonly submit: (
    requests: ReadonlyArray<BatchRequest>,
    model: string,
    credentials: Credentials
  ) => Effect.Effect<BatchStatus, LlmError>
  /** The batch's status now. */
  readonly retrieve: (id: string, model: string, credentials: Credentials) => Effect.Effect<BatchStatus, LlmError>
  /** Asks the provider to cancel the batch; the lines it ran stay in its results. */
  readonly cancel: (id: string, model: string, credentials: Credentials) => Effect.Effect<BatchStatus, LlmError>
  /**
   * An ended batch's lines, as its result files (or inlined responses) hold them, in their order: with nothing
   * dropped, repeated or filled in (`Batch` reconciles them with what was submitted).
   */
  readonly results: (
    status: BatchStatus,
    model: string,
    credentials: Credentials
  ) => Effect.Effect<ReadonlyArray<BatchLine>, LlmError>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** The provider's name as it appears in responses and errors (`openai`, `deepseek`...). */
  readonly provider: string
  /**
   * The root its requests go to (the adapter's `baseUrl`, its default applied): where the keys it is given are sent,
   * by which `ProviderConfig` names each entry's key pool (`KeyPool.Options.endpoint`). Absent when a client does not
   * say.
   *
   * @since 0.3.0
   */
  readonly baseUrl?: string | undefined
  /**
   * How long a call that sets no `timeout` of its own may take (see `HttpOptions.timeout`). `Llm` cuts it to what is
   * left of its deadline; for a client without it, `Llm` bounds each call with a timer of its own.
   */
  readonly timeout?: Duration.Duration | undefined
  /** One call; the reply whole. */
  readonly chat: (request: ChatRequest, credentials: Credentials) => Effect.Effect<ChatResponse, LlmError>
  /**
   * One call, streamed. The stream ends with a `Finish` chunk or fails; it never ends cleanly without one.
   * Interrupting the consumer aborts the HTTP request.
   */
  readonly chatStream: (request: ChatRequest, credentials: Credentials) => Stream.Stream<ChatChunk, LlmError>
  /**
   * One embedding request of at most `maxEmbeddingInputs` inputs, the vectors in input order. Usage the provider does
   * not report is zero (`Llm.embed` estimates it). A provider with no embeddings API (Anthropic) fails with
   * `InvalidRequestError`, without any HTTP.
   */
  readonly embed: (request: EmbeddingRequest, credentials: Credentials) => Effect.Effect<EmbeddingResponse, LlmError>
  /** The most inputs one `embed` request takes; `Llm.embed` splits longer lists into batches of this size. */
  readonly maxEmbeddingInputs: number
  /**
   * What `embed` takes: `"tokens"`, texts or token ids (as OpenAI's API does); `"text"`, texts only (token ids fail
   * with `InvalidRequestError`); `"none"`, nothing (no embeddings API). A `Router` whose deployment layer provides
   * its client sends embeddings only to the deployments that take them. Default: `"text"`.
   */
  readonly embeddingInput?: "none" | "text" | "tokens" | undefined
  /**
   * Whether the API takes a last assistant message as the start of the reply and goes on from it (an assistant
   * prefill, as Anthropic's Messages API does). A `Router` with `midStream: "continue"` continues a broken stream on
   * such a deployment by prefill, elsewhere by a continuation turn (`Router.Deployment.prefill` overrides it).
   * Default: false.
   */
  readonly prefill?: boolean | undefined
  /**
   * The prompt tokens of `request` as the provider counts them, without generating anything (Anthropic's
   * `count_tokens`, Gemini's `:countTokens`, Bedrock's `CountTokens`, the Responses API's `input_tokens`). Absent for a
   * provider with no counting endpoint: `Llm.countTokens` then counts locally.
   */
  readonly countTokens?:
    | ((request: ChatRequest, credentials: Credentials) => Effect.Effect<number, LlmError>)
    | undefined
  /**
   * For a client that signs in with a cloud's credential rather than the key it is given (Vertex AI, Azure OpenAI
   * with Microsoft Entra ID, Bedrock with SigV4): asks it for a token as a call would, failing with `AuthError` of
   * reason `credential_unavailable`. Absent for a client that sends its key. `Router.Service.unavailableCredentials`
   * reads it.

   *
   * @since 0.3.0
   */
  readonly credential?: Effect.Effect<void, AuthError> | undefined
  /**
   * The provider's batch API, at its batch price; absent where the API has none (an OpenAI-compatible server,
   * Ollama, a Bedrock or Vertex client whose options name no bucket prefixes for its batch jobs): `Batch` then runs
   * the requests as calls.
   *
   * @since 0.3.0
   */
  readonly batch?: BatchApi | undefined
}

/**
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { ProviderClient } from "effect-llm-router"
 *
 * // Logs which key served each call (its masked id), for any provider below it.
 * const logged = Layer.effect(
 *   ProviderClient.ProviderClient,
 *   Effect.map(ProviderClient.ProviderClient, (client): ProviderClient.Service => ({
 *     ...client,
 *     chat: (request, credentials) =>
 *       Effect.tap(client.chat(request, credentials), () => Effect.log(`${client.provider}: ${credentials.keyId}`))
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class ProviderClient extends Context.Service<ProviderClient, Service>()("effect-llm-router/ProviderClient") {}
