/**
 * The one adapter template. A provider is a `Definition`: its HTTP options (base URL, headers, how the key is sent) and
 * its wire table (paths, body builder, reply decoder, stream parser, embeddings); `make` turns it into a
 * `ProviderClient`.
 *
 * The template owns what every adapter does the same way: the model check, a body the codec cannot write
 * (`InvalidRequestError`), an error payload in a 2xx body, a reply of the wrong shape (`OutputDecodeError`), a stream
 * request answered with one JSON body (replayed as chunks) or with an HTML page (a proxy's login page), and the
 * embedding call. Every failure of a sent call leaves the transport with the credentials its request carried masked.
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { type ChatResponse, emptyUsage, type FinishReason, type Usage } from "../../ChatResponse.js"
import type { Input as EmbeddingRequest } from "../../Embedding.js"
import { AuthError, InvalidRequestError, type LlmError, OutputDecodeError } from "../../LlmError.js"
import type { ProviderMetadata, ToolCall } from "../../Message.js"
import type { OptionsError } from "../../OptionsError.js"
import { type Credentials, type HttpOptions, ProviderClient, type Service } from "../../ProviderClient.js"
import { RequestError, ShapeError } from "../codecError.js"
import { definedFields, type JsonObject } from "../json.js"
import * as Invalid from "../optionsError.js"
import { latencyOf } from "../sse/streamParser.js"
import { type ChunkSource, streamFromSource } from "../transport/chunkSource.js"
import * as ProviderHttp from "../transport/providerHttp.js"
import * as BatchApi from "./batch.js"
import * as Batches from "./embeddingBatches.js"
import { withoutToolSearch } from "./toolSearch.js"

/** A whole reply as a codec reads it; the template adds provider, latency and key. */
export interface Reply {
  readonly id: string
  /** The model the server names; the requested one when undefined. */
  readonly model: string | undefined
  readonly text: string
  readonly reasoning?: string | undefined
  readonly refusal?: string | undefined
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: FinishReason
  /** Undefined: the server reported none. */
  readonly usage: Usage | undefined
  readonly providerMetadata?: ProviderMetadata | undefined
}

/** What a reply decoder may need besides the body. */
export interface ReplyContext {
  readonly provider: string
  readonly model: string
  readonly request: ChatRequest
  /** An `OutputDecodeError` for this reply, with its raw body. */
  readonly decodeError: (detail: string) => LlmError
}

/** What a stream parser is built from, once the response headers are in. */
export interface StreamContext {
  readonly provider: string
  /** The model requested. */
  readonly model: string
  readonly keyId: string
  readonly secret: Redacted.Redacted<string>
  readonly request: ChatRequest
  readonly startMillis: number
  /** `Clock` time, read synchronously. */
  readonly now: () => number
  /** Read only when an error is built: response headers are copied on every access. */
  readonly requestId: () => string | undefined
  /** The typed error of an error event's payload (`fromHttpFailure`, with the key scrubbed). */
  readonly errorOf: (body: unknown) => LlmError
  /** An `OutputDecodeError` for an event that does not decode. */
  readonly decodeError: (detail: string, raw: string) => LlmError
  /** `HttpOptions.maxResponseBytes`: no single event may grow past it. */
  readonly maxResponseBytes: number
}

/**
 * A stream's last chunks pushed onto `out`: its `Usage`, when it has one, then its `Finish` as `end` says, for the call
 * `context` names.
 */
export function finishInto(
  out: Array<ChatChunk.ChatChunk>,
  context: StreamContext,
  usage: Usage | undefined,
  end: Pick<Reply, "finishReason" | "refusal" | "providerMetadata"> & { readonly id: string; readonly model: string }
): void {
  if (usage !== undefined) out.push({ _tag: "Usage", usage })
  out.push({
    _tag: "Finish",
    finishReason: end.finishReason,
    id: end.id,
    model: end.model,
    provider: context.provider,
    latency: latencyOf(context),
    ...(end.refusal !== undefined ? { refusal: end.refusal } : {}),
    keyId: context.keyId,
    ...(end.providerMetadata !== undefined ? { providerMetadata: end.providerMetadata } : {})
  })
}

/** A provider's embeddings wire: `embeddingBatches`' options less the provider and model. */
export type Embeddings = Batches.WireBody & Omit<Batches.WireCommon, "provider" | "model">

/** A provider's endpoint that counts a prompt's tokens (Anthropic's `count_tokens`, Gemini's `countTokens`). */
export interface TokenCounting {
  /** The endpoint's path for `model` (Gemini's names the model, Anthropic's does not). */
  readonly path: (model: string) => string
  /** The JSON body; throws `RequestError` for a request the format cannot express, as `Definition.body` does. */
  readonly body: (request: ChatRequest, model: string) => unknown
  /** The count a reply holds; throws `ShapeError` when the body is not one. */
  readonly count: (body: JsonObject) => number
}

/** A provider: its HTTP options and its wire table. */
export interface Definition extends ProviderHttp.Options {
  /** The model of requests that name none; such a request fails with `InvalidRequestError` without one. */
  readonly model: string | undefined
  /** The path of a call of `request` (the Responses API compacts at a path of its own). */
  readonly path: (model: string, stream: boolean, request: ChatRequest) => string
  /**
   * The JSON body, for a call made with the masked key `keyId` (a reply the provider keeps is continued by its id with
   * the key that made it, `ChatRequest.previousResponse`); throws `RequestError` for a request the format cannot
   * express.
   */
  readonly body: (request: ChatRequest, model: string, stream: boolean, keyId: string) => unknown
  /** The error payload a 2xx body carries, if it is one. */
  readonly failureOf: (body: JsonObject) => unknown
  /** The headers the error of such a body reads (`retry-after`...): the response's, or only its request id. */
  readonly failureHeaders?: "response" | "requestId" | undefined
  /** A whole reply, or its error (a blocked prompt's); throws `ShapeError` when the body is not one. */
  readonly reply: (body: JsonObject, context: ReplyContext) => Result.Result<Reply, LlmError>
  readonly stream: (context: StreamContext) => ProviderHttp.StreamParser
  /** The embeddings wire, or, without one, the detail of the `InvalidRequestError` every `embed` fails with. */
  readonly embeddings: Embeddings | string
  /** The provider's token counting endpoint; without one, `ProviderClient.countTokens` is absent. */
  readonly countTokens?: TokenCounting | undefined
  /** The cloud credential the client signs in with (Bedrock's AWS credentials). Default: `token`, when there is one. */
  readonly credential?: Effect.Effect<unknown, string> | undefined
  /** `ProviderClient.prefill`. Default false. */
  readonly prefill?: boolean | undefined
  /**
   * Whether the API loads deferred tools itself (Anthropic's tool search: `defer_loading`, `tool_reference`); else
   * every call, count and batch line is written as it reads without tool search (`toolSearch.ts`). Default false.
   */
  readonly toolSearch?: boolean | undefined
  /** Headers of one call beside the definition's own (Anthropic's `anthropic-beta` values its body needs). */
  readonly requestHeaders?:
    | ((request: ChatRequest, model: string) => Readonly<Record<string, string>> | undefined)
    | undefined
  /** The dialect's batch API; without one, `ProviderClient.batch` is absent. */
  readonly batch?: BatchApi.BatchWire | undefined
}

/** The client of a definition over the `HttpClient` in the context. */
export function make<O>(
  define: (options: O) => Result.Result<Definition, OptionsError>,
  options: O
): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> {
  return Effect.suspend(() => Effect.fromResult(define(options))).pipe(
    Effect.flatMap((definition) => Effect.map(HttpClient.HttpClient, (client) => serviceOf(client, definition)))
  )
}

/** The layer of a client's `make`. */
export function layer<Args extends ReadonlyArray<unknown>>(
  make: (...args: Args) => Effect.Effect<Service, OptionsError, HttpClient.HttpClient>
) {
  return (...args: Args): Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> =>
    Layer.effect(ProviderClient, make(...args))
}

/** The layer of a client's `make`, its options read from `Config`. */
export function layerConfig<O>(make: (options: O) => Effect.Effect<Service, OptionsError, HttpClient.HttpClient>) {
  return (
    options: Config.Wrap<O>
  ): Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> =>
    Layer.effect(ProviderClient, Effect.flatMap(Config.unwrap<O>(options), make))
}

/** The key as `Authorization: Bearer <key>`, the usual `auth`. */
export function bearer(key: Redacted.Redacted<string>) {
  return ["authorization", `Bearer ${Redacted.value(key)}`] as const
}

/** The `HttpOptions` limits a definition passes on as its user set them: the timeouts and `maxResponseBytes`. */
export function limitsOf(options: HttpOptions): Pick<Definition, Limit> {
  return {
    timeout: options.timeout,
    headersTimeout: options.headersTimeout,
    firstTokenTimeout: options.firstTokenTimeout,
    idleTimeout: options.idleTimeout,
    maxResponseBytes: options.maxResponseBytes
  }
}

type Limit = "timeout" | "headersTimeout" | "firstTokenTimeout" | "idleTimeout" | "maxResponseBytes"

/** The `OptionsError` of an optional option not a positive integer (`integer`) or number (`Infinity` allowed). */
export function checkPositive(adapter: string, option: string, value: number | undefined, integer = false) {
  return Invalid.positive(adapter, option, value, { optional: true, integer, unbounded: !integer })
}

function noModel(provider: string) {
  return new InvalidRequestError({
    provider,
    model: "",
    param: "model",
    detail: "the request names no model and the client has no default `model`"
  })
}

function idHeaders(requestId: string | undefined) {
  return requestId === undefined ? undefined : { "x-request-id": requestId }
}

// The headers the error of an error payload in a 2xx body reads (`Definition.failureHeaders`).
function failureHeadersOf(definition: Definition, response: HttpClientResponse.HttpClientResponse) {
  return definition.failureHeaders === "response" ? response.headers : idHeaders(definition.requestId?.(response))
}

// The body `encode` writes for `model`, or the refusal it throws (`RequestError`) as an `InvalidRequestError`.
function encoded(provider: string, model: string, encode: () => unknown): Result.Result<unknown, LlmError> {
  try {
    return Result.succeed(encode())
  } catch (error) {
    if (!(error instanceof RequestError)) throw error
    return Result.fail(
      new InvalidRequestError({
        provider,
        model,
        detail: error.detail,
        ...(error.param !== undefined ? { param: error.param } : {})
      })
    )
  }
}

// The request as the API reads it: without tool search where it has none.
function sent(definition: Definition, request: ChatRequest): ChatRequest {
  return definition.toolSearch === true ? request : withoutToolSearch(request)
}

// How a request becomes a call of the transport: the model check, the headers and the body as written.
function makePrepare(definition: Definition, transport: ProviderHttp.Transport) {
  const provider = transport.provider
  // The call of `request` to `path` with `bodyOf`'s body of the request as sent, or why it cannot be made.
  function prepareWith(
    request: ChatRequest,
    credentials: Credentials,
    path: (model: string) => string,
    bodyOf: (model: string, sent: ChatRequest) => unknown
  ): Result.Result<ProviderHttp.Call, LlmError> {
    const model = request.model ?? definition.model
    if (model === undefined || model === "") return Result.fail(noModel(provider))
    const written = sent(definition, request)
    const body = encoded(provider, model, () => bodyOf(model, written))
    if (Result.isFailure(body)) return Result.fail(body.failure)
    const headers = definition.requestHeaders?.(written, model)
    return transport.prepare({
      path: path(model),
      body: body.success,
      model,
      credentials,
      timeout: request.timeout,
      ...(headers === undefined ? {} : { headers })
    })
  }

  function prepare(
    request: ChatRequest,
    credentials: Credentials,
    stream: boolean
  ): Result.Result<ProviderHttp.Call, LlmError> {
    return prepareWith(
      request,
      credentials,
      (model) => definition.path(model, stream, request),
      (model, written) => definition.body(written, model, stream, credentials.keyId)
    )
  }
  return { prepareWith, prepare }
}

// A whole reply as `Definition.reply` reads it, a body of the wrong shape (`ShapeError`) as `decodeError`'s error.
function readReply(definition: Definition, body: JsonObject, context: ReplyContext): Result.Result<Reply, LlmError> {
  try {
    return definition.reply(body, context)
  } catch (error) {
    if (!(error instanceof ShapeError)) throw error
    return Result.fail(context.decodeError(`the response has the wrong shape: ${error.reason}`))
  }
}

function responseOf(
  provider: string,
  reply: Reply,
  model: string,
  keyId: string,
  latency: Duration.Duration
): ChatResponse {
  return {
    id: reply.id,
    model: reply.model ?? model,
    provider,
    text: reply.text,
    ...definedFields({ reasoning: reply.reasoning, refusal: reply.refusal }),
    toolCalls: reply.toolCalls,
    finishReason: reply.finishReason,
    usage: reply.usage ?? emptyUsage,
    latency,
    keyId,
    ...(reply.providerMetadata !== undefined ? { providerMetadata: reply.providerMetadata } : {})
  }
}

// The response of a call's JSON reply, or the error its body holds or its shape is.
function makeToResponse(definition: Definition, transport: ProviderHttp.Transport) {
  const provider = transport.provider
  return function toResponse(
    call: ProviderHttp.Call,
    request: ChatRequest,
    { body, latency, response, text }: ProviderHttp.JsonReply,
    nowMillis: number
  ): Effect.Effect<ChatResponse, LlmError> {
    const failure = definition.failureOf(body)
    if (failure !== undefined) {
      return Effect.fail(transport.errorOf(call, failure, nowMillis, failureHeadersOf(definition, response)))
    }
    function decodeError(detail: string) {
      return transport.decodeError(call, detail, text, definition.requestId?.(response))
    }
    const read = readReply(definition, body, { provider, model: call.model, request, decodeError })
    if (Result.isFailure(read)) return Effect.fail(read.failure)
    return Effect.succeed(responseOf(provider, read.success, call.model, call.credentials.keyId, latency))
  }
}

// The token count of a request at the definition's counting endpoint.
function makeCountTokens(
  definition: Definition,
  transport: ProviderHttp.Transport,
  prepareWith: ReturnType<typeof makePrepare>["prepareWith"],
  counting: TokenCounting
) {
  return (request: ChatRequest, credentials: Credentials) =>
    Effect.suspend((): Effect.Effect<number, LlmError> => {
      const prepared = prepareWith(
        request,
        credentials,
        counting.path,
        (model, written) => counting.body(written, model)
      )
      if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
      const call = prepared.success
      return transport.json(call, ({ body, response, text }) => {
        const failure = definition.failureOf(body)
        if (failure !== undefined) {
          return Effect.clockWith((clock) =>
            Effect.fail(
              transport.errorOf(call, failure, clock.currentTimeMillisUnsafe(), failureHeadersOf(definition, response))
            )
          )
        }
        try {
          return Effect.succeed(counting.count(body))
        } catch (error) {
          if (!(error instanceof ShapeError)) throw error
          const detail = `the response has the wrong shape: ${error.reason}`
          return Effect.fail(transport.decodeError(call, detail, text, definition.requestId?.(response)))
        }
      })
    })
}

// The embedding call, or, for a provider without an embeddings API, its refusal before any HTTP.
function embedOf(definition: Definition, transport: ProviderHttp.Transport): Service["embed"] {
  const embeddings = definition.embeddings
  const provider = transport.provider
  return typeof embeddings === "string"
    ? (request: EmbeddingRequest) =>
      Effect.fail(
        new InvalidRequestError({
          provider,
          model: request.model ?? definition.model ?? "",
          param: "input",
          detail: embeddings
        })
      )
    : Batches.embedWith(transport, { ...embeddings, provider, model: definition.model })
}

// The dialect's batch API over the definition's calls: each line written and read as a call's.
function makeBatch(
  client: HttpClient.HttpClient,
  definition: Definition,
  transport: ProviderHttp.Transport,
  wire: BatchApi.BatchWire
) {
  const provider = transport.provider
  // A batch line's reply, read as a call's (a batch has no latency of its own to report per line).
  function batchReply(
    body: JsonObject,
    request: ChatRequest,
    model: string,
    keyId: string
  ): Result.Result<ChatResponse, LlmError> {
    function decodeError(detail: string) {
      return new OutputDecodeError({ provider, model, detail, raw: ProviderHttp.excerpt(JSON.stringify(body)) })
    }
    const read = readReply(definition, body, { provider, model, request, decodeError })
    return Result.map(read, (reply) => responseOf(provider, reply, model, keyId, Duration.zero))
  }

  // A batch line's body, or why the request cannot be one.
  function batchBody(request: ChatRequest, model: string, keyId: string): Result.Result<unknown, LlmError> {
    return encoded(provider, model, () => definition.body(sent(definition, request), model, false, keyId))
  }

  return BatchApi.apiOf({
    provider,
    transport,
    transportAt: (endpoint) =>
      ProviderHttp.make(client, {
        ...definition,
        baseUrl: endpoint.baseUrl,
        sign: endpoint.sign ?? definition.sign
      }),
    wire,
    reply: batchReply,
    prepared: batchBody
  })
}

function serviceOf(client: HttpClient.HttpClient, definition: Definition): Service {
  const transport = ProviderHttp.make(client, definition)
  const provider = transport.provider
  const { prepare, prepareWith } = makePrepare(definition, transport)
  const toResponse = makeToResponse(definition, transport)

  function chat(request: ChatRequest, credentials: Credentials): Effect.Effect<ChatResponse, LlmError> {
    return Effect.suspend(() => {
      const prepared = prepare(request, credentials, false)
      if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
      const call = prepared.success
      return transport.json(
        call,
        (reply) =>
          Effect.clockWith((clock) =>
            Effect.map(
              toResponse(call, request, reply, clock.currentTimeMillisUnsafe()),
              ProviderHttp.withRateLimit(reply)
            )
          )
      )
    })
  }

  function openSource(request: ChatRequest, credentials: Credentials): Effect.Effect<ChunkSource, LlmError> {
    const prepared = prepare(request, credentials, true)
    // A request that cannot be written fails the stream before any HTTP.
    if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
    const call = prepared.success
    return transport.source(call, (start) => {
      const { clock, response, startMillis } = start
      const contentType = response.headers["content-type"]
      // A server that ignores `stream` (or reports an error as plain JSON) answers with one JSON body.
      if (contentType?.startsWith("application/json")) {
        return Effect.flatMap(
          transport.readJson(call, start),
          (reply) =>
            Effect.map(toResponse(call, request, reply, clock.currentTimeMillisUnsafe()), ChatChunk.fromResponse)
        )
      }
      // A proxy's login or error page with status 200 would otherwise read as an empty, truncated stream.
      if (contentType?.startsWith("text/html")) {
        return Effect.flatMap(
          transport.boundedText(response),
          (page) => Effect.fail(transport.decodeError(call, "a stream request was answered with an HTML page", page))
        )
      }
      function requestId() {
        return definition.requestId?.(response)
      }
      function now() {
        return clock.currentTimeMillisUnsafe()
      }
      return definition.stream({
        provider,
        model: call.model,
        keyId: credentials.keyId,
        secret: credentials.key,
        request,
        startMillis,
        now,
        requestId,
        errorOf: (body) => transport.errorOf(call, body, now(), idHeaders(requestId())),
        decodeError: (detail, raw) => transport.decodeError(call, detail, raw, requestId()),
        maxResponseBytes: transport.maxResponseBytes
      })
    })
  }

  const counting = definition.countTokens
  const embeddings = definition.embeddings
  const credential = definition.credential ?? definition.token
  function noCredential(detail: string) {
    return new AuthError({ provider, model: definition.model ?? "", reason: "credential_unavailable", detail })
  }

  return ProviderClient.of({
    provider,
    baseUrl: definition.baseUrl,
    timeout: transport.timeout,
    ...(credential === undefined ? {} : { credential: Effect.mapError(Effect.asVoid(credential), noCredential) }),
    // Every failure of a sent call leaves the transport with its credentials masked (`transport/providerHttp.ts`).
    chat,
    chatStream: (request, credentials) => streamFromSource(openSource(request, credentials)),
    embed: embedOf(definition, transport),
    maxEmbeddingInputs: typeof embeddings === "string" ? Number.MAX_SAFE_INTEGER : embeddings.maxInputs,
    embeddingInput: typeof embeddings === "string" ? "none" : embeddings.tokens ? "tokens" : "text",
    prefill: definition.prefill === true,
    ...(counting === undefined ? {} : { countTokens: makeCountTokens(definition, transport, prepareWith, counting) }),
    ...(definition.batch === undefined ? {} : { batch: makeBatch(client, definition, transport, definition.batch) })
  })
}
