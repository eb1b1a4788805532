/**
 * Ollama's native chat API (`POST {baseUrl}/api/chat`, WIRE.md §6) as a
 * `ProviderClient`: NDJSON streams, thinking, whole tool calls, and token
 * counts from `prompt_eval_count` / `eval_count`.
 *
 * Mapping notes:
 * - Sampling goes in `options` (`temperature`, `top_p`, `num_predict` from
 *   `maxTokens`, `stop`, `seed`, and `num_ctx` from the `numCtx` option).
 *   `providerOptions` are merged into the body last; an `options` object in
 *   them is merged into the sampling options (`{ options: { top_k: 20 } }`).
 * - `reasoningEffort` becomes `think`: `none` -> `false`; `minimal`/`low` ->
 *   `"low"`, `medium` -> `"medium"`, `high`/`xhigh` -> `"high"`, `max` ->
 *   `"max"`. Models without levels treat a level as `true`; a model that
 *   cannot think answers 400 (`InvalidRequestError`).
 * - `responseFormat`: `json_object` -> `format: "json"`, `json_schema` -> the
 *   schema object itself.
 * - Tools: Ollama has no tool choice. `toolChoice: "none"` sends no tools;
 *   `required` and a named tool cannot be enforced and are not sent. `user` is
 *   not sent either.
 * - Images must be `data:<type>;base64,…` URLs (sent as bare base64 in
 *   `images`); an `https:` URL fails with `InvalidRequestError`, as do
 *   assistant tool-call arguments that are not a JSON object.
 * - Replies have no id (`id` is `""`); tool calls without an id get
 *   `call_<index>`. `done_reason` `stop` with tool calls becomes `tool_calls`.
 *   Usage: `promptTokens` = `prompt_eval_count` (only the tokens Ollama
 *   evaluated; a prompt served from its cache counts less or 0), and
 *   `completionTokens` = `eval_count` (thinking included); a missing count is 0.
 *
 * Auth: local Ollama takes none, and no `Authorization` header is sent when
 * the key is empty or `"none"`. Any other key is sent as `Authorization:
 * Bearer <key>` (Ollama cloud, `https://ollama.com`, or a proxy in front).
 *
 * ```ts
 * const Local = Ollama.layer({ model: "llama3.2", numCtx: 8192 })
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "effect/http/HttpClient"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import type { ChatResponse } from "../ChatResponse.js"
import type { ChunkSource } from "../internal/chunkSource.js"
import * as Batches from "../internal/embeddingBatches.js"
import * as ProviderHttp from "../internal/providerHttp.js"
import { OllamaStreamParser } from "../internal/ollamaStream.js"
import * as Wire from "../internal/ollamaWire.js"
import { InvalidRequestError, type LlmError } from "../LlmError.js"
import { type Credentials, ProviderClient, type Service, type HttpOptions } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The server's root, without `/api`: `http://localhost:11434`, `https://ollama.com`. Default: `http://localhost:11434`. */
  readonly baseUrl?: string | undefined
  /** The provider's name in responses and errors. Default: `"ollama"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none. Default: none (such a request fails with `InvalidRequestError`). */
  readonly model?: string | undefined
  /**
   * How long Ollama keeps the model loaded after the call (`keep_alive`):
   * zero unloads it at once, an infinite duration keeps it loaded.
   * Default: not sent (the server's default, 5 minutes).
   */
  readonly keepAlive?: Duration.Input | undefined
  /**
   * The context window to run the model with (`options.num_ctx`). Set it when
   * prompts are long: Ollama silently truncates a prompt that does not fit its
   * default window (2k to 256k tokens depending on the server and memory)
   * instead of failing. Default: not sent.
   */
  readonly numCtx?: number | undefined
  /**
   * The longest NDJSON line accepted, in characters; a longer one fails the
   * stream with `OutputDecodeError`. Default: 16 MiB.
   */
  readonly maxLineSize?: number | undefined
}

/** Where a local Ollama listens. */
const defaultBaseUrl = "http://localhost:11434"

const bearer = (key: Redacted.Redacted<string>): readonly [string, string] | undefined => {
  const value = Redacted.value(key)
  return value === "" || value === "none" ? undefined : ["authorization", `Bearer ${value}`]
}

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

const makeWith = (client: HttpClient.HttpClient, options: Options): Service => {
  const provider = options.provider ?? "ollama"
  const numCtx = options.numCtx
  if (numCtx !== undefined && !(Number.isInteger(numCtx) && numCtx > 0)) {
    throw new RangeError(`Ollama: numCtx must be a positive integer, got ${numCtx}`)
  }
  const maxLineSize = options.maxLineSize
  if (maxLineSize !== undefined && !(maxLineSize > 0)) {
    throw new RangeError(`Ollama: maxLineSize must be a positive number, got ${maxLineSize}`)
  }
  const keepAlive = options.keepAlive === undefined
    ? undefined
    : Wire.keepAliveOf(Duration.toMillis(options.keepAlive))
  const transport = ProviderHttp.make(client, {
    provider,
    baseUrl: options.baseUrl ?? defaultBaseUrl,
    headers: options.headers,
    auth: bearer,
    timeout: options.timeout
  })

  const prepare = (
    request: ChatRequest,
    credentials: Credentials,
    stream: boolean
  ): ProviderHttp.Call | InvalidRequestError => {
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
      body = Wire.requestBody(request, { model, stream, keepAlive, numCtx })
    } catch (error) {
      if (!(error instanceof Wire.RequestError)) throw error
      return new InvalidRequestError({ provider, model, param: error.param, detail: error.detail })
    }
    return transport.prepare({ path: "/api/chat", body, model, credentials, timeout: request.timeout })
  }

  const decodeReply = (
    call: ProviderHttp.Call,
    body: Readonly<Record<string, unknown>>,
    latency: Duration.Duration,
    nowMillis: number
  ): Effect.Effect<ChatResponse, LlmError> => {
    if (Wire.isErrorPayload(body)) return Effect.fail(transport.errorOf(call, body, nowMillis))
    let reply: Wire.Reply
    try {
      reply = Wire.reply(body)
    } catch (error) {
      if (!(error instanceof Wire.ShapeError)) throw error
      return Effect.fail(
        transport.decodeError(call, `the response has the wrong shape: ${error.reason}`, JSON.stringify(body))
      )
    }
    return Effect.succeed({
      id: "",
      model: reply.model ?? call.model,
      provider,
      text: reply.text,
      ...(reply.reasoning !== "" ? { reasoning: reply.reasoning } : {}),
      toolCalls: reply.toolCalls,
      finishReason: reply.finishReason,
      usage: reply.usage,
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
          Effect.map(decodeReply(call, reply.body, reply.latency, clock.currentTimeMillisUnsafe()), ProviderHttp.withRateLimit(reply))
        ))
    })

  const openSource = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> => {
    const call = prepare(request, credentials, true)
    if (!("request" in call)) return Effect.fail(call)
    return transport.source(
      call,
      ({ clock, response, startMillis }) => {
        const contentType = response.headers["content-type"]
        // A proxy's login or error page with status 200 is named as such, not as a bad line.
        if (contentType?.startsWith("text/html")) {
          return Effect.flatMap(
            Effect.orElseSucceed(response.text, () => ""),
            (page) => Effect.fail(transport.decodeError(call, "a stream request was answered with an HTML page", page))
          )
        }
        // A server that ignores `stream` (providerOptions can turn it off) answers with one JSON body.
        if (contentType?.startsWith("application/json")) {
          return Effect.flatMap(
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
              const now = clock.currentTimeMillisUnsafe()
              return Effect.map(
                decodeReply(call, body, Duration.millis(Math.max(0, now - startMillis)), now),
                ChatChunk.fromResponse
              )
            }
          )
        }
        return new OllamaStreamParser({
          provider,
          model: call.model,
          keyId: credentials.keyId,
          startMillis,
          now: () => clock.currentTimeMillisUnsafe(),
          errorOf: (body) => transport.errorOf(call, body, clock.currentTimeMillisUnsafe()),
          decodeError: (detail, raw) => transport.decodeError(call, detail, raw),
          maxLineSize
        })
      }
    )
  }

  const embed = Batches.embedWith(transport, {
    provider,
    model: options.model,
    maxInputs: Wire.maxEmbeddingInputs,
    path: () => "/api/embed",
    body: (model, inputs, request) => Wire.embeddingBody(model, inputs, request.dimensions, keepAlive),
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
 * Ollama.layerConfig({
 *   baseUrl: Config.String("OLLAMA_HOST").pipe(Config.withDefault("http://localhost:11434")),
 *   model: Config.String("OLLAMA_MODEL")
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
