/**
 * OpenAI Chat Completions (`POST {baseUrl}/chat/completions`) as a
 * `ProviderClient`: OpenAI itself and every compatible server (DeepSeek,
 * OpenRouter, Groq, vLLM, Ollama `/v1`, LM Studio...), with the quirks of
 * WIRE.md §1.8 handled.
 *
 * The layer needs an `HttpClient.HttpClient`; applications provide
 * `UndiciHttpClient.layer()` or `NodeHttpClient.layerUndici`.
 *
 * ```ts
 * const OpenAi = OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1", model: "gpt-4o-mini" })
 * ```
 *
 * Behaviour worth knowing:
 * - A stream ends with a `Finish` chunk, after a `Usage` chunk when the server
 *   reported usage; it ends at `data: [DONE]`, or at the end of the body when a
 *   finish reason was seen. A body that ends with neither fails with
 *   `StreamTruncatedError`; an error event inside the stream fails it with the
 *   error `LlmError.fromHttpFailure` maps. A stream request answered with one
 *   JSON body (a server that ignores `stream`) is replayed as chunks.
 * - Tool-call fragments are assembled as WIRE.md §1.4 and §1.8 describe
 *   (missing or sparse indexes, repeated indexes, arguments before the name);
 *   `ToolCallDelta.index` counts calls from 0 in the order they opened.
 * - The platform `HttpClient`'s span per request (and its trace headers) is
 *   made only when the application installed a tracer: under Effect's built-in
 *   tracer nobody sees it, and it costs about a third of a call's client CPU.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { type ChatResponse, emptyUsage } from "../ChatResponse.js"
import type { ChunkSource } from "../internal/chunkSource.js"
import { ChatStreamParser } from "../internal/openAiChatStream.js"
import * as Wire from "../internal/openAiChatWire.js"
import * as OpenAiEmbeddings from "../internal/openAiEmbeddings.js"
import * as ProviderHttp from "../internal/providerHttp.js"
import { InvalidRequestError, type LlmError } from "../LlmError.js"
import { type Credentials, ProviderClient, type Service, type HttpOptions } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The API root, `/v1` included: `https://api.openai.com/v1`, `http://localhost:11434/v1`. */
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
   * The field `maxTokens` is sent in: `max_completion_tokens` (OpenAI's current
   * name) or `max_tokens` (older compatible servers). Default: `"max_completion_tokens"`.
   */
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
  /**
   * The headers a key becomes on one request, for servers that do not take
   * the key itself as a bearer token (Zhipu's signed JWT: `Presets`).
   * Called once per request with the key and the clock's time in
   * milliseconds; header names are lower case. Traces redact `authorization`,
   * so a secret belongs there. Default: `{authorization: "Bearer <key>"}`.
   */
  readonly auth?: ((key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>>) | undefined
  /** Ask for usage at the end of streams (`stream_options.include_usage`). Default: `true`. */
  readonly includeUsage?: boolean | undefined
  /**
   * The largest SSE event accepted, in characters (a positive number); a
   * larger one fails the stream with `OutputDecodeError`. Default: 16 MiB
   * (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}

const path = "/chat/completions"

const bearer = (key: Redacted.Redacted<string>) => ["authorization", `Bearer ${Redacted.value(key)}`] as const

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) => response.headers["x-request-id"]

/**
 * Builds the client over the `HttpClient` in the context. It holds no
 * resources: every call is one request.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: Options): Service => {
  const provider = options.provider ?? "openai"
  const maxTokensField = options.maxTokensField ?? "max_completion_tokens"
  const includeUsage = options.includeUsage ?? true
  const maxEventSize = options.maxEventSize
  if (maxEventSize !== undefined && !(maxEventSize > 0)) {
    throw new RangeError(`OpenAiChat: maxEventSize must be a positive number, got ${maxEventSize}`)
  }
  const headers: Record<string, string | Redacted.Redacted<string>> = {}
  if (options.organization !== undefined) headers["openai-organization"] = options.organization
  if (options.project !== undefined) headers["openai-project"] = options.project
  Object.assign(headers, options.headers)
  const transport = ProviderHttp.make(client, {
    provider,
    baseUrl: options.baseUrl,
    headers,
    // A custom `auth` takes the time the request is sent (Zhipu signs a JWT with it).
    auth: options.auth === undefined ? bearer : () => undefined,
    timedAuth: options.auth,
    requestId: requestIdOf,
    maxRawExcerpt: Wire.maxRaw,
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
    let body: unknown
    try {
      body = Wire.requestBody(request, { model, stream, includeUsage, maxTokensField })
    } catch (error) {
      return new InvalidRequestError({
        provider,
        model,
        detail: `the request body cannot be written as JSON (${ProviderHttp.causeText(error)}); check providerOptions`
      })
    }
    return transport.prepare({ path, body, model, credentials, timeout: request.timeout })
  }

  const toResponse = (
    call: ProviderHttp.Call,
    { body, latency, response, text }: ProviderHttp.JsonReply,
    nowMillis: number
  ): Effect.Effect<ChatResponse, LlmError> => {
    if (Wire.isErrorPayload(body)) return Effect.fail(transport.errorOf(call, body, nowMillis, response.headers))
    let reply: Wire.Reply
    try {
      reply = Wire.reply(body)
    } catch (error) {
      if (!(error instanceof Wire.ShapeError)) throw error
      return Effect.fail(
        transport.decodeError(
          call,
          `the response has the wrong shape: ${error.reason}`,
          text,
          requestIdOf(response)
        )
      )
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
      keyId: call.credentials.keyId
    })
  }

  const chat = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChatResponse, LlmError> =>
    Effect.suspend(() => {
      const call = prepare(request, credentials, false)
      if (!("request" in call)) return Effect.fail(call)
      return Effect.flatMap(transport.json(call), (reply) =>
        Effect.clockWith((clock) =>
          Effect.map(toResponse(call, reply, clock.currentTimeMillisUnsafe()), ProviderHttp.withRateLimit(reply))
        ))
    })

  const openSource = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> => {
    const call = prepare(request, credentials, true)
    // A request that cannot be written fails the stream before any HTTP.
    if (!("request" in call)) return Effect.fail(call)
    return transport.source(call, (start) => {
      const { clock, response, startMillis } = start
      const contentType = response.headers["content-type"]
      // A server that ignores `stream` (or reports an error as plain JSON) answers with one JSON body.
      if (contentType?.startsWith("application/json")) {
        return Effect.flatMap(
          transport.readJson(call, start),
          (reply) => Effect.map(toResponse(call, reply, clock.currentTimeMillisUnsafe()), ChatChunk.fromResponse)
        )
      }
      // A proxy's login or error page with status 200 would otherwise read as an empty, truncated stream.
      if (contentType?.startsWith("text/html")) {
        return Effect.flatMap(
          transport.boundedText(response),
          (page) => Effect.fail(transport.decodeError(call, "a stream request was answered with an HTML page", page))
        )
      }
      return new ChatStreamParser({
        provider,
        model: call.model,
        keyId: credentials.keyId,
        secret: credentials.key,
        requestId: () => requestIdOf(response),
        startMillis,
        now: () => clock.currentTimeMillisUnsafe(),
        maxEventSize
      })
    })
  }

  const embed = OpenAiEmbeddings.embed(transport, {
    model: options.model,
    encoding: options.embeddingEncoding ?? "base64"
  })

  return ProviderHttp.serviceOf(transport, { chat, openSource, embed, maxEmbeddingInputs: OpenAiEmbeddings.maxInputs })
}

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
 * OpenAiChat.layerConfig({
 *   baseUrl: Config.string("OPENAI_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
 *   model: Config.string("OPENAI_MODEL"),
 *   headers: { "cf-aig-authorization": Config.redacted("GATEWAY_TOKEN") }
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
