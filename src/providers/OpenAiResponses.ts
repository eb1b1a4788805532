/**
 * The OpenAI Responses API (`POST {baseUrl}/responses`, WIRE.md §2) as a
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
 * No server-side state: `store` defaults to `false` and every call sends the
 * whole history, as the rest of this library does. Reasoning models then need
 * their reasoning items back in the next turn of a tool loop (WIRE.md §2.5,
 * §2.7): when reasoning is on, the adapter asks for
 * `include: ["reasoning.encrypted_content"]`, returns the encrypted reasoning
 * items in `providerMetadata.openaiResponses.reasoningItems`, and sends them
 * back, before the rest of the reply, for an assistant message built with
 * `Message.fromResponse` (without their `rs_…` ids, which point at nothing
 * stored; with `store: true`, by id). Set `reasoningEffort` when using a reasoning model in
 * a tool loop, so those items are returned.
 *
 * The finish reason is derived as WIRE.md §2.3 says: `incomplete` for
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
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { type ChatResponse, emptyUsage } from "../ChatResponse.js"
import type { ChunkSource } from "../internal/chunkSource.js"
import { ResponsesStreamParser } from "../internal/openAiResponsesStream.js"
import * as Wire from "../internal/openAiResponsesWire.js"
import * as OpenAiEmbeddings from "../internal/openAiEmbeddings.js"
import * as ProviderHttp from "../internal/providerHttp.js"
import { InvalidRequestError, type LlmError } from "../LlmError.js"
import { type Credentials, ProviderClient, type Service, type HttpOptions } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The API root, `/v1` included: `https://api.openai.com/v1`. The adapter adds `/responses`. */
  readonly baseUrl: string
  /** The provider's name in responses and errors. Default: `"openai"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none. Default: none (such a request fails with `InvalidRequestError`). */
  readonly model?: string | undefined
  /** Sent as `OpenAI-Organization`. Default: not sent. */
  readonly organization?: string | undefined
  /** Sent as `OpenAI-Project`. Default: not sent. */
  readonly project?: string | undefined
  /**
   * How `embed` asks for vectors (`POST {baseUrl}/embeddings`): `"base64"`
   * (little-endian float32 bytes, about a quarter of the size; what the
   * official SDK asks for) or `"float"` (JSON numbers, for servers that do not
   * take `encoding_format: "base64"`). A reply in either form is read.
   * Default: `"base64"`.
   */
  readonly embeddingEncoding?: "float" | "base64" | undefined
  /**
   * Whether OpenAI keeps the response (`store`). This library sends the whole
   * history on every call and never uses `previous_response_id`, so there is
   * nothing to gain from storing; with `false`, reasoning travels encrypted in
   * `providerMetadata` instead. `providerOptions` can still set
   * `previous_response_id` for a caller that manages state. Default: `false`.
   */
  readonly store?: boolean | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the
   * stream with `OutputDecodeError`. Default: 16 MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: Options): Service => {
  const provider = options.provider ?? "openai"
  const store = options.store ?? false
  const maxEventSize = options.maxEventSize
  if (maxEventSize !== undefined && !(maxEventSize > 0)) {
    throw new RangeError(`OpenAiResponses: maxEventSize must be a positive number, got ${maxEventSize}`)
  }
  const headers: Record<string, string | Redacted.Redacted<string>> = {}
  if (options.organization !== undefined) headers["openai-organization"] = options.organization
  if (options.project !== undefined) headers["openai-project"] = options.project
  Object.assign(headers, options.headers)
  const transport = ProviderHttp.make(client, {
    provider,
    baseUrl: options.baseUrl,
    headers,
    auth: (key) => ["authorization", `Bearer ${Redacted.value(key)}`],
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
    return transport.prepare({
      path: "/responses",
      body: Wire.requestBody(request, { model, stream, store }),
      model,
      credentials,
      timeout: request.timeout
    })
  }

  const requestIdOf = (response: HttpClientResponse.HttpClientResponse): string | undefined =>
    response.headers["x-request-id"]

  /** A whole response object to a `ChatResponse`, or the error it reports. */
  const toResponse = (
    call: ProviderHttp.Call,
    body: Readonly<Record<string, unknown>>,
    response: HttpClientResponse.HttpClientResponse,
    latency: Duration.Duration,
    nowMillis: number
  ): Effect.Effect<ChatResponse, LlmError> => {
    const failure = Wire.failureOf(body)
    if (failure !== undefined) return Effect.fail(transport.errorOf(call, failure, nowMillis, response.headers))
    let reply: Wire.Reply
    try {
      reply = Wire.reply(body, store)
    } catch (error) {
      if (error instanceof Wire.ShapeError) {
        return Effect.fail(transport.decodeError(
          call,
          `the response has the wrong shape: ${error.reason}`,
          JSON.stringify(body),
          requestIdOf(response)
        ))
      }
      throw error
    }
    return Effect.succeed({
      id: reply.id,
      model: reply.model ?? call.model,
      provider,
      text: reply.text,
      ...(reply.reasoning !== undefined ? { reasoning: reply.reasoning } : {}),
      ...(reply.refusal !== undefined ? { refusal: reply.refusal } : {}),
      toolCalls: reply.toolCalls,
      finishReason: reply.finishReason,
      usage: reply.usage ?? emptyUsage,
      latency,
      keyId: call.credentials.keyId,
      ...(reply.providerMetadata !== undefined ? { providerMetadata: reply.providerMetadata } : {})
    })
  }

  const chat = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChatResponse, LlmError> => {
    const call = prepare(request, credentials, false)
    if (!("request" in call)) return Effect.fail(call)
    return Effect.flatMap(transport.json(call), (reply) =>
      Effect.clockWith((clock) =>
        Effect.map(
          toResponse(call, reply.body, reply.response, reply.latency, clock.currentTimeMillisUnsafe()),
          ProviderHttp.withRateLimit(reply)
        )
      ))
  }

  /** A server that answered a stream request with one JSON body (an error, or `stream` ignored). */
  const wholeBody = (
    call: ProviderHttp.Call,
    start: ProviderHttp.StreamStart
  ): Effect.Effect<ReadonlyArray<ChatChunk.ChatChunk>, LlmError> =>
    Effect.flatMap(
      Effect.mapError(start.response.text, (error) => transport.transportError(call, error)),
      (text) => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return Effect.fail(
            transport.decodeError(call, "the response body is not JSON", text, requestIdOf(start.response))
          )
        }
        if (!Wire.isRecord(body)) {
          return Effect.fail(
            transport.decodeError(call, "the response body is not a JSON object", text, requestIdOf(start.response))
          )
        }
        const now = start.clock.currentTimeMillisUnsafe()
        return Effect.map(
          toResponse(call, body, start.response, latencySince(start.startMillis, now), now),
          ChatChunk.fromResponse
        )
      }
    )

  const openSource = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> => {
    const call = prepare(request, credentials, true)
    if (!("request" in call)) return Effect.fail(call)
    return transport.source(call, (start) => {
      if (start.response.headers["content-type"]?.startsWith("application/json")) return wholeBody(call, start)
      const clock = start.clock
      return new ResponsesStreamParser({
        provider,
        model: call.model,
        keyId: credentials.keyId,
        store,
        startMillis: start.startMillis,
        now: () => clock.currentTimeMillisUnsafe(),
        maxEventSize,
        requestId: () => requestIdOf(start.response),
        providerError: (body) =>
          transport.errorOf(call, body, clock.currentTimeMillisUnsafe(), { "x-request-id": requestIdOf(start.response) }),
        decodeError: (detail, raw) => transport.decodeError(call, detail, raw, requestIdOf(start.response))
      })
    })
  }

  const embed = OpenAiEmbeddings.embed(transport, {
    model: options.model,
    encoding: options.embeddingEncoding ?? "base64"
  })

  return ProviderHttp.serviceOf(transport, { chat, openSource, embed, maxEmbeddingInputs: OpenAiEmbeddings.maxInputs })
}

const latencySince = (startMillis: number, nowMillis: number): Duration.Duration =>
  Duration.millis(Math.max(0, nowMillis - startMillis))

/**
 * The client as a layer.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<ProviderClient, never, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, make(options))

/**
 * The client as a layer, its options read from `Config`:
 *
 * ```ts
 * OpenAiResponses.layerConfig({
 *   baseUrl: Config.String("OPENAI_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
 *   model: Config.String("OPENAI_MODEL")
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Config.Wrap<Options>
): Layer.Layer<ProviderClient, Config.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, Effect.flatMap(Config.unwrap<Options>(options), make))
