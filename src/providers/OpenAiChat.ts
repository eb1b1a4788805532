/**
 * OpenAI Chat Completions (`POST {baseUrl}/chat/completions`) as a
 * `ProviderClient`: OpenAI itself and every compatible server (DeepSeek,
 * OpenRouter, Groq, vLLM, Ollama `/v1`, LM Studio...), with the quirks of
 * WIRE.md §1.8 handled.
 *
 * The layer needs an `HttpClient.HttpClient`; applications provide
 * `NodeHttpClient.layerUndici`.
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
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { type ChatResponse, emptyUsage } from "../ChatResponse.js"
import { ChatStreamParser } from "../internal/openAiChatStream.js"
import { timeoutFail } from "../internal/timeout.js"
import * as Wire from "../internal/openAiChatWire.js"
import {
  fromHttpFailure,
  InvalidRequestError,
  type LlmError,
  OutputDecodeError,
  TimeoutError,
  TransportError
} from "../LlmError.js"
import { type Credentials, ProviderClient, type Service } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
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
   * Extra headers on every request (a proxy's or gateway's). `Redacted` values
   * are sent as they are, and their header names are redacted from traces.
   * Default: none.
   */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /**
   * How long a call may take; a request's own `timeout` overrides it. For
   * `chat`, the whole reply; for `chatStream`, the wait for the response
   * headers. Exceeding it fails with `TimeoutError`. Default: 10 minutes.
   */
  readonly timeout?: Duration.DurationInput | undefined
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

/** Error bodies are read only this far: enough for any JSON error, bounded against a runaway HTML page. */
const maxErrorBodyBytes = 64 * 1024

const defaultTimeout = Duration.minutes(10)

/**
 * Spans made under Effect's built-in tracer go nowhere, so the platform
 * client's span per request is only worth its cost (about a third of a call's
 * client CPU) when an application installed a tracer (OpenTelemetry, DevTools).
 */
const defaultTracer = Effect.runSync(Effect.tracer)

const isOk = (status: number) => status >= 200 && status < 300

const bearer = (key: Redacted.Redacted<string>): Readonly<Record<string, string>> => ({
  authorization: `Bearer ${Redacted.value(key)}`
})

const causeText = (cause: unknown): string =>
  cause instanceof Error
    ? (cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message)
    : String(cause)

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
  const timeout = options.timeout === undefined ? defaultTimeout : Duration.decode(options.timeout)
  const maxTokensField = options.maxTokensField ?? "max_completion_tokens"
  const includeUsage = options.includeUsage ?? true
  const auth = options.auth ?? bearer
  const maxEventSize = options.maxEventSize
  if (maxEventSize !== undefined && !(maxEventSize > 0)) {
    throw new RangeError(`OpenAiChat: maxEventSize must be a positive number, got ${maxEventSize}`)
  }

  const staticHeaders: Record<string, string> = { "content-type": "application/json" }
  if (options.organization !== undefined) staticHeaders["openai-organization"] = options.organization
  if (options.project !== undefined) staticHeaders["openai-project"] = options.project
  const secretHeaderNames: Array<string> = []
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (Redacted.isRedacted(value)) {
      staticHeaders[name.toLowerCase()] = Redacted.value(value)
      secretHeaderNames.push(name.toLowerCase())
    } else {
      staticHeaders[name.toLowerCase()] = value
    }
  }
  // Built once: every call only adds its key and body.
  const baseRequest = HttpClientRequest.post(`${options.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
    headers: staticHeaders
  })
  const withSecretHeaders = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    secretHeaderNames.length === 0
      ? effect
      : Effect.locallyWith(effect, Headers.currentRedactedNames, (names) => [...names, ...secretHeaderNames])
  const execute = (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
    Effect.tracerWith((tracer) =>
      withSecretHeaders(
        tracer === defaultTracer ? Effect.withTracerEnabled(client.execute(request), false) : client.execute(request)
      )
    )

  interface Call {
    readonly model: string
    readonly request: HttpClientRequest.HttpClientRequest
    readonly timeout: Duration.Duration
  }

  const prepare = (request: ChatRequest, credentials: Credentials, stream: boolean, nowMillis: number): Call | LlmError => {
    const model = request.model ?? options.model
    if (model === undefined || model === "") {
      return new InvalidRequestError({
        provider,
        model: "",
        param: "model",
        detail: "the request names no model and the client has no default `model`"
      })
    }
    let body: string
    try {
      body = JSON.stringify(Wire.requestBody(request, { model, stream, includeUsage, maxTokensField }))
    } catch (error) {
      return new InvalidRequestError({
        provider,
        model,
        detail: `the request body cannot be written as JSON (${causeText(error)}); check providerOptions`
      })
    }
    return {
      model,
      request: baseRequest.pipe(
        HttpClientRequest.setHeaders(auth(credentials.key, nowMillis)),
        HttpClientRequest.bodyText(body, "application/json")
      ),
      timeout: request.timeout ?? timeout
    }
  }

  const scrub = (text: string, credentials: Credentials): string => {
    const key = Redacted.value(credentials.key)
    return key.length >= 4 ? text.split(key).join(credentials.keyId) : text
  }

  const transportError = (model: string, credentials: Credentials) => (error: HttpClientError.HttpClientError) =>
    new TransportError({
      provider,
      model,
      detail: scrub(`${error.reason}: ${causeText(error.cause ?? error)}`, credentials)
    })

  const timeoutError = (model: string, duration: Duration.Duration) => () =>
    new TimeoutError({ provider, model, timeout: duration })

  const readBounded = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
    response.stream.pipe(
      Stream.runFoldWhile(
        { parts: [] as Array<Uint8Array>, size: 0 },
        (acc) => acc.size < maxErrorBodyBytes,
        (acc, bytes) => {
          acc.parts.push(bytes)
          acc.size += bytes.length
          return acc
        }
      ),
      Effect.map(({ parts }) => {
        const decoder = new TextDecoder()
        let text = ""
        for (const part of parts) text += decoder.decode(part, { stream: true })
        return (text + decoder.decode()).slice(0, maxErrorBodyBytes)
      }),
      // An unreadable error body still maps by its status.
      Effect.orElseSucceed(() => "")
    )

  const httpFailure = (
    call: Call,
    credentials: Credentials,
    response: HttpClientResponse.HttpClientResponse
  ): Effect.Effect<never, LlmError> =>
    Effect.flatMap(readBounded(response), (body) =>
      Effect.clockWith((clock) =>
        Effect.fail(fromHttpFailure({
          provider,
          model: call.model,
          status: response.status,
          headers: response.headers,
          body,
          nowMillis: clock.unsafeCurrentTimeMillis(),
          secrets: [credentials.key]
        }))
      ))

  const send = (call: Call, credentials: Credentials): Effect.Effect<HttpClientResponse.HttpClientResponse, LlmError> =>
    Effect.flatMap(
      Effect.mapError(execute(call.request), transportError(call.model, credentials)),
      (response) => isOk(response.status) ? Effect.succeed(response) : httpFailure(call, credentials, response)
    )

  const decodeReply = (
    call: Call,
    credentials: Credentials,
    response: HttpClientResponse.HttpClientResponse,
    text: string,
    clock: Clock.Clock,
    startMillis: number
  ): Effect.Effect<ChatResponse, LlmError> => {
    const decodeError = (detail: string) => {
      const requestId = response.headers["x-request-id"]
      return Effect.fail(
        new OutputDecodeError({
          provider,
          model: call.model,
          ...(requestId !== undefined ? { requestId } : {}),
          detail,
          raw: Wire.excerpt(text)
        })
      )
    }
    let body: unknown
    try {
      // JSON.parse skips the blank lines DeepSeek sends while a request waits.
      body = JSON.parse(text)
    } catch {
      return decodeError("the response body is not JSON")
    }
    if (!Wire.isRecord(body)) return decodeError("the response body is not a JSON object")
    if (Wire.isErrorPayload(body)) {
      return Effect.fail(fromHttpFailure({
        provider,
        model: call.model,
        headers: response.headers,
        body,
        nowMillis: clock.unsafeCurrentTimeMillis(),
        secrets: [credentials.key]
      }))
    }
    let reply: Wire.Reply
    try {
      reply = Wire.reply(body)
    } catch (error) {
      if (error instanceof Wire.ShapeError) return decodeError(`the response has the wrong shape: ${error.reason}`)
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
      latency: Duration.millis(Math.max(0, clock.unsafeCurrentTimeMillis() - startMillis)),
      keyId: credentials.keyId
    })
  }

  const readReply = (
    call: Call,
    credentials: Credentials,
    response: HttpClientResponse.HttpClientResponse,
    clock: Clock.Clock,
    startMillis: number
  ): Effect.Effect<ChatResponse, LlmError> =>
    Effect.flatMap(
      Effect.mapError(response.text, transportError(call.model, credentials)),
      (text) => decodeReply(call, credentials, response, text, clock, startMillis)
    )

  const chat = (request: ChatRequest, credentials: Credentials): Effect.Effect<ChatResponse, LlmError> =>
    Effect.clockWith((clock) => {
      const startMillis = clock.unsafeCurrentTimeMillis()
      const call = prepare(request, credentials, false, startMillis)
      if (!("request" in call)) return Effect.fail(call)
      return timeoutFail(
        Effect.flatMap(send(call, credentials), (response) => readReply(call, credentials, response, clock, startMillis)),
        call.timeout,
        timeoutError(call.model, call.timeout)
      )
    })

  const parse = (
    parser: ChatStreamParser,
    credentials: Credentials
  ): Channel.Channel<
    Chunk.Chunk<ChatChunk.ChatChunk>,
    Chunk.Chunk<Uint8Array>,
    LlmError,
    HttpClientError.ResponseError,
    unknown,
    unknown
  > => {
    const emit = <A>(
      out: Array<ChatChunk.ChatChunk>,
      failure: LlmError | undefined,
      then: Channel.Channel<Chunk.Chunk<ChatChunk.ChatChunk>, A, LlmError, HttpClientError.ResponseError, unknown, unknown>
    ): Channel.Channel<Chunk.Chunk<ChatChunk.ChatChunk>, A, LlmError, HttpClientError.ResponseError, unknown, unknown> => {
      const next = failure === undefined ? then : Channel.fail(failure)
      return out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
    }
    const loop: Channel.Channel<
      Chunk.Chunk<ChatChunk.ChatChunk>,
      Chunk.Chunk<Uint8Array>,
      LlmError,
      HttpClientError.ResponseError,
      unknown,
      unknown
    > = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        const out: Array<ChatChunk.ChatChunk> = []
        let failure: LlmError | undefined
        for (const bytes of input) {
          failure = parser.push(bytes, out)
          if (failure !== undefined) break
        }
        return emit(out, failure, loop)
      },
      onFailure: (cause) =>
        // The body failing after [DONE] (a reset instead of a clean close) loses nothing.
        parser.done && Option.isSome(Cause.failureOption(cause))
          ? Channel.void
          : Channel.failCause(
            Cause.map(cause, (error) => parser.transportError(scrub(causeText(error.cause ?? error), credentials)))
          ),
      onDone: () => {
        const out: Array<ChatChunk.ChatChunk> = []
        return emit(out, parser.end(out), Channel.void)
      }
    })
    return loop
  }

  const chatStream = (request: ChatRequest, credentials: Credentials): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
    // Channel.unwrap rather than Stream.unwrap: the latter flattens a stream of
    // streams, which costs about a third of a short stream's client CPU.
    Stream.fromChannel(Channel.unwrap(Effect.clockWith((clock) => {
      const startMillis = clock.unsafeCurrentTimeMillis()
      const call = prepare(request, credentials, true, startMillis)
      if (!("request" in call)) return Effect.fail(call)
      return Effect.map(
        timeoutFail(send(call, credentials), call.timeout, timeoutError(call.model, call.timeout)),
        (response) => {
          const contentType = response.headers["content-type"]
          // A server that ignores `stream` (or reports an error as plain JSON) answers with one JSON body.
          if (contentType?.startsWith("application/json")) {
            return Channel.flatMap(
              Channel.fromEffect(readReply(call, credentials, response, clock, startMillis)),
              (reply) => Channel.write(Chunk.fromIterable(ChatChunk.fromResponse(reply)))
            )
          }
          // A proxy's login or error page with status 200 would otherwise read as an empty, truncated stream.
          if (contentType?.startsWith("text/html")) {
            return Channel.fromEffect(Effect.flatMap(readBounded(response), (page) =>
              Effect.fail(
                new OutputDecodeError({
                  provider,
                  model: call.model,
                  detail: "a stream request was answered with an HTML page",
                  raw: Wire.excerpt(page)
                })
              )))
          }
          const parser = new ChatStreamParser({
            provider,
            model: call.model,
            keyId: credentials.keyId,
            secret: credentials.key,
            requestId: () => response.headers["x-request-id"],
            startMillis,
            now: () => clock.unsafeCurrentTimeMillis(),
            maxEventSize
          })
          return Channel.pipeTo(Stream.toChannel(response.stream), parse(parser, credentials))
        }
      )
    })))

  return ProviderClient.of({ provider, chat, chatStream })
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
  options: Config.Config.Wrap<Options>
): Layer.Layer<ProviderClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(ProviderClient, Effect.flatMap(Config.unwrap(options), make))
