/**
 * The Gemini API (Generative Language, not Vertex: `POST
 * {baseUrl}/v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`) as a `ProviderClient`, per WIRE.md §5.
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
 *   it). `toolChoice`: `auto`, `none`, `required` are modes `AUTO`, `NONE`,
 *   `ANY`; `{tool}` is `ANY` with `allowedFunctionNames: [tool]`.
 * - `temperature`, `topP`, `maxTokens` (`maxOutputTokens`), `stop`
 *   (`stopSequences`) and `seed` go to `generationConfig`; a JSON response
 *   format sets `responseMimeType: "application/json"` and, for a schema,
 *   `responseJsonSchema` (JSON Schema as it is). `reasoningEffort` becomes
 *   `thinkingConfig`: `none` is `thinkingBudget: 0`, the others a budget
 *   (`Wire.thinkingBudgets`: 128, 1024, 8192, 16384, then 24576 for `xhigh`
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
 * ```ts
 * const GeminiLive = Gemini.layer({ model: "gemini-2.5-flash" })
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
import { type ChatResponse, emptyUsage } from "../ChatResponse.js"
import type { ChunkSource } from "../internal/chunkSource.js"
import { GeminiStreamParser } from "../internal/geminiStream.js"
import * as Wire from "../internal/geminiWire.js"
import * as Batches from "../internal/embeddingBatches.js"
import * as ProviderHttp from "../internal/providerHttp.js"
import { ContentFilterError, InvalidRequestError, type LlmError } from "../LlmError.js"
import { type Credentials, ProviderClient, type Service, type HttpOptions } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The host root; the adapter adds `/{apiVersion}/models/{model}:…`. Default: `https://generativelanguage.googleapis.com`. */
  readonly baseUrl?: string | undefined
  /** The API version in the path. Default: `"v1beta"` (function call ids and thinking need it). */
  readonly apiVersion?: string | undefined
  /** The provider's name in responses and errors. Default: `"gemini"`. */
  readonly provider?: string | undefined
  /**
   * The model for requests that name none: a bare id (`gemini-2.5-flash`), or
   * a resource name (`models/…`, `tunedModels/…`). Default: none (such a
   * request fails with `InvalidRequestError`).
   */
  readonly model?: string | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the
   * stream with `OutputDecodeError`. Default: 16 MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}

const apiKey = (key: Redacted.Redacted<string>) => ["x-goog-api-key", Redacted.value(key)] as const

/** `models/{id}` for a bare id; a resource name (`tunedModels/x`) as it is. */
const resourceOf = (model: string): string => (model.includes("/") ? model : `models/${model}`)

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: Options): Service => {
  const provider = options.provider ?? "gemini"
  const version = (options.apiVersion ?? "v1beta").replace(/^\/+|\/+$/g, "")
  const maxEventSize = options.maxEventSize
  if (maxEventSize !== undefined && !(maxEventSize > 0)) {
    throw new RangeError(`Gemini: maxEventSize must be a positive number, got ${maxEventSize}`)
  }
  const transport = ProviderHttp.make(client, {
    provider,
    baseUrl: options.baseUrl ?? "https://generativelanguage.googleapis.com",
    headers: options.headers,
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
      body = Wire.requestBody(request)
    } catch (error) {
      if (!(error instanceof Wire.RequestError)) throw error
      return new InvalidRequestError({
        provider,
        model,
        detail: error.reason,
        ...(error.param !== undefined ? { param: error.param } : {})
      })
    }
    const path = `/${version}/${resourceOf(model)}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`
    return transport.prepare({ path, body, model, credentials, timeout: request.timeout })
  }

  const toResponse = (
    call: ProviderHttp.Call,
    body: Readonly<Record<string, unknown>>,
    latency: Duration.Duration,
    nowMillis: number,
    raw: () => string
  ): Effect.Effect<ChatResponse, LlmError> => {
    if (Wire.isErrorPayload(body)) return Effect.fail(transport.errorOf(call, body, nowMillis))
    let reply: Wire.Reply
    try {
      const candidate = Wire.candidateOf(body)
      if (candidate === undefined) {
        const blocked = Wire.blockedDetail(body)
        return Effect.fail(
          blocked === undefined
            ? transport.decodeError(call, "the response has no candidates", raw())
            : new ContentFilterError({ provider, model: call.model, detail: blocked })
        )
      }
      reply = Wire.reply(body, candidate)
    } catch (error) {
      if (!(error instanceof Wire.ShapeError)) throw error
      return Effect.fail(transport.decodeError(call, `the response has the wrong shape: ${error.reason}`, raw()))
    }
    return Effect.succeed({
      id: reply.id,
      model: reply.model ?? call.model,
      provider,
      text: reply.text,
      ...(reply.reasoning !== undefined ? { reasoning: reply.reasoning } : {}),
      toolCalls: reply.toolCalls,
      finishReason: reply.finishReason,
      usage: reply.usage ?? emptyUsage,
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
            toResponse(call, reply.body, reply.latency, clock.currentTimeMillisUnsafe(), () => JSON.stringify(reply.body)),
            ProviderHttp.withRateLimit(reply)
          )
        ))
    })

  /** A server (or proxy) that answered the stream request with one JSON body. */
  const wholeBody = (
    call: ProviderHttp.Call,
    response: HttpClientResponse.HttpClientResponse,
    startMillis: number,
    nowMillis: () => number
  ): Effect.Effect<ReadonlyArray<ChatChunk.ChatChunk>, LlmError> =>
    Effect.flatMap(
      Effect.mapError(response.text, (error) => transport.transportError(call, error)),
      (text) => {
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          return Effect.fail(transport.decodeError(call, "the response body is not JSON", text))
        }
        if (!Wire.isRecord(body)) {
          return Effect.fail(transport.decodeError(call, "the response body is not a JSON object", text))
        }
        const now = nowMillis()
        return Effect.map(
          toResponse(call, body, Duration.millis(Math.max(0, now - startMillis)), now, () => text),
          ChatChunk.fromResponse
        )
      }
    )

  const openSource = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> => {
    const call = prepare(request, credentials, true)
    // A request that cannot be written fails the stream before any HTTP.
    if (!("request" in call)) return Effect.fail(call)
    return transport.source(call, ({ clock, response, startMillis }) => {
      const now = () => clock.currentTimeMillisUnsafe()
      if (response.headers["content-type"]?.startsWith("application/json")) {
        return wholeBody(call, response, startMillis, now)
      }
      return new GeminiStreamParser({
        provider,
        model: call.model,
        keyId: credentials.keyId,
        secret: credentials.key,
        startMillis,
        now,
        maxEventSize
      })
    })
  }

  const embed = Batches.embedWith(transport, {
    provider,
    model: options.model,
    maxInputs: Wire.maxEmbeddingInputs,
    path: (model) => `/${version}/${resourceOf(model)}:batchEmbedContents`,
    body: (model, inputs, request) => Wire.embeddingBody(resourceOf(model), inputs, request.dimensions),
    read: Wire.readEmbeddings,
    isError: Wire.isErrorPayload
  })

  return ProviderHttp.serviceOf(transport, { chat, openSource, embed, maxEmbeddingInputs: Wire.maxEmbeddingInputs })
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
 * Gemini.layerConfig({
 *   model: Config.string("GEMINI_MODEL").pipe(Config.withDefault("gemini-2.5-flash"))
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
