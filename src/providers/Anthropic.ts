/**
 * Anthropic's Messages API (`POST {baseUrl}/v1/messages`, API version
 * `2023-06-01`) as a `ProviderClient`.
 *
 * - The key goes in `x-api-key`, whose name is redacted from traces.
 * - System messages become the top-level `system`; tool calls become
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
 * - Usage: the prompt is `input_tokens` plus both cache counts (the API leaves
 *   cached tokens out of `input_tokens`); `cachedPromptTokens` are the cache reads.
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
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import type { Input as EmbeddingRequest } from "../Embedding.js"
import type { ChatResponse } from "../ChatResponse.js"
import type { ChunkSource } from "../internal/chunkSource.js"
import { AnthropicStreamParser } from "../internal/anthropicStream.js"
import * as Wire from "../internal/anthropicWire.js"
import * as ProviderHttp from "../internal/providerHttp.js"
import { InvalidRequestError, type LlmError } from "../LlmError.js"
import { type Credentials, ProviderClient, type Service, type HttpOptions } from "../ProviderClient.js"

/**
 * The API version this adapter speaks (sent as `anthropic-version`).
 *
 * @since 0.1.0
 * @category Constants
 */
export const apiVersion = "2023-06-01"

/**
 * `max_tokens` for requests that set no `maxTokens`.
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
   * The host root; the adapter adds `/v1/messages` (a root given with `/v1`,
   * as Chat Completions roots are written, is accepted too). Default:
   * `https://api.anthropic.com`.
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
  /** Beta feature ids, sent comma-separated as `anthropic-beta`. Default: none. */
  readonly beta?: ReadonlyArray<string> | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the
   * stream with `OutputDecodeError`. Default: 16 MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}

const path = "/v1/messages"

const apiKey = (key: Redacted.Redacted<string>) => ["x-api-key", Redacted.value(key)] as const

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: Options): Service => {
  const provider = options.provider ?? "anthropic"
  const maxTokens = options.maxTokens ?? defaultMaxTokens
  if (!(Number.isInteger(maxTokens) && maxTokens > 0)) {
    throw new RangeError(`Anthropic: maxTokens must be a positive integer, got ${maxTokens}`)
  }
  const maxEventSize = options.maxEventSize
  if (maxEventSize !== undefined && !(maxEventSize > 0)) {
    throw new RangeError(`Anthropic: maxEventSize must be a positive number, got ${maxEventSize}`)
  }
  const headers: Record<string, string | Redacted.Redacted<string>> = {
    "anthropic-version": options.version ?? apiVersion
  }
  if (options.beta !== undefined && options.beta.length > 0) headers["anthropic-beta"] = options.beta.join(",")
  Object.assign(headers, options.headers)
  const transport = ProviderHttp.make(client, {
    provider,
    baseUrl: (options.baseUrl ?? "https://api.anthropic.com").replace(/\/+$/, "").replace(/\/v1$/, ""),
    headers,
    auth: apiKey,
    timeout: options.timeout
  })

  const prepare = (request: ChatRequest, credentials: Credentials, stream: boolean): ProviderHttp.Call | LlmError => {
    const model = request.model ?? options.model
    if (model === undefined || model === "") {
      return new InvalidRequestError({
        provider,
        model: "",
        param: "model",
        detail: "the request names no model and the client has no default `model`"
      })
    }
    let body: Wire.JsonRecord
    try {
      body = Wire.requestBody(request, { model, stream, maxTokens })
    } catch (error) {
      if (!(error instanceof Wire.RequestError)) throw error
      return new InvalidRequestError({
        provider,
        model,
        detail: error.detail,
        ...(error.param !== undefined ? { param: error.param } : {})
      })
    }
    return transport.prepare({ path, body, model, credentials, timeout: request.timeout })
  }

  const requestIdOf = (response: HttpClientResponse.HttpClientResponse) =>
    response.headers["request-id"] ?? response.headers["x-request-id"]

  const toResponse = (
    outputTool: string | undefined,
    call: ProviderHttp.Call,
    body: Readonly<Record<string, unknown>>,
    response: HttpClientResponse.HttpClientResponse,
    latency: Duration.Duration,
    nowMillis: number,
    raw: () => string
  ): Effect.Effect<ChatResponse, LlmError> => {
    if (Wire.isErrorPayload(body)) {
      const requestId = requestIdOf(response)
      return Effect.fail(
        transport.errorOf(call, body, nowMillis, requestId === undefined ? undefined : { "request-id": requestId })
      )
    }
    let reply: Wire.Reply
    try {
      reply = Wire.reply(body, outputTool)
    } catch (error) {
      if (!(error instanceof Wire.ShapeError)) throw error
      return Effect.fail(
        transport.decodeError(call, `the response has the wrong shape: ${error.reason}`, raw(), requestIdOf(response))
      )
    }
    return Effect.succeed({
      id: reply.id,
      model: reply.model ?? call.model,
      provider,
      text: reply.text,
      ...(reply.reasoning !== undefined ? { reasoning: reply.reasoning } : {}),
      toolCalls: reply.toolCalls,
      finishReason: reply.finishReason,
      usage: reply.usage,
      latency,
      keyId: call.credentials.keyId,
      ...(reply.providerMetadata !== undefined ? { providerMetadata: reply.providerMetadata } : {})
    })
  }

  const chat = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChatResponse, LlmError> =>
    Effect.suspend(() => {
      const call = prepare(request, credentials, false)
      if (!("request" in call)) return Effect.fail(call)
      return Effect.flatMap(transport.json(call), (reply) =>
        Effect.clockWith((clock) =>
          Effect.map(
            toResponse(Wire.outputTool(request), call, reply.body, reply.response, reply.latency, clock.currentTimeMillisUnsafe(), () =>
              JSON.stringify(reply.body)),
            ProviderHttp.withRateLimit(reply)
          )
        ))
    })

  const openSource = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> => {
    const call = prepare(request, credentials, true)
    // A request that cannot be written fails the stream before any HTTP.
    if (!("request" in call)) return Effect.fail(call)
    const outputTool = Wire.outputTool(request)
    return transport.source(call, ({ clock, response, startMillis }) => {
      const requestId = () => requestIdOf(response)
      if (response.headers["content-type"]?.startsWith("application/json")) {
        // A server (or proxy) that answered the stream request with one JSON body.
        return Effect.flatMap(
          Effect.mapError(response.text, (error) => transport.transportError(call, error)),
          (text): Effect.Effect<ReadonlyArray<ChatChunk.ChatChunk>, LlmError> => {
            let body: unknown
            try {
              body = JSON.parse(text)
            } catch {
              return Effect.fail(transport.decodeError(call, "the response body is not JSON", text, requestId()))
            }
            if (!Wire.isRecord(body)) {
              return Effect.fail(transport.decodeError(call, "the response body is not a JSON object", text, requestId()))
            }
            const now = clock.currentTimeMillisUnsafe()
            return Effect.map(
              toResponse(outputTool, call, body, response, Duration.millis(Math.max(0, now - startMillis)), now, () => text),
              ChatChunk.fromResponse
            )
          }
        )
      }
      return new AnthropicStreamParser({
        provider,
        model: call.model,
        keyId: credentials.keyId,
        outputTool,
        requestId,
        startMillis,
        now: () => clock.currentTimeMillisUnsafe(),
        maxEventSize,
        errorOf: (body) => {
          const id = requestId()
          return transport.errorOf(call, body, clock.currentTimeMillisUnsafe(), id === undefined ? undefined : { "request-id": id })
        },
        decodeError: (detail, raw) => transport.decodeError(call, detail, raw, requestId())
      })
    })
  }

  // Anthropic has no embeddings API (it points to Voyage AI): refused before any HTTP.
  const embed = (request: EmbeddingRequest): Effect.Effect<never, LlmError> =>
    Effect.fail(
      new InvalidRequestError({
        provider,
        model: request.model ?? options.model ?? "",
        param: "input",
        detail: "Anthropic has no embeddings API; embed with an OpenAI-compatible, Gemini or Ollama client"
      })
    )

  return ProviderHttp.serviceOf(transport, { chat, openSource, embed, maxEmbeddingInputs: Number.MAX_SAFE_INTEGER })
}

/**
 * The client as a layer.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<ProviderClient, never, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, make(options))

/**
 * The client as a layer, its options read from `Config`:
 *
 * ```ts
 * Anthropic.layerConfig({
 *   model: Config.string("ANTHROPIC_MODEL"),
 *   maxTokens: Config.integer("ANTHROPIC_MAX_TOKENS").pipe(Config.withDefault(4096))
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Config.Wrap<Options>
): Layer.Layer<ProviderClient, Config.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, Effect.flatMap(Config.unwrap(options), make))
