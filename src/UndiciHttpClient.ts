/**
 * A lean `HttpClient.HttpClient` over undici, a drop-in for
 * `NodeHttpClient.layerUndici`: `Layer.provide(UndiciHttpClient.layer())`.
 *
 * Why it exists: the platform's undici client spends most of a call's client
 * CPU around the request rather than in it (an `AbortController`, a
 * `FinalizationRegistry` entry and a response wrapper per request, an
 * `Effect.cached` per body read, a Node `Readable` behind every body and an
 * `abort()` after every stream). This one dispatches with its own undici
 * handler: the body's chunks go into an array that `stream` pulls whole, and
 * cancelling is the controller undici hands the handler.
 *
 * What stays as the platform does it:
 * - Every `HttpClient` combinator works (`mapRequest`, `filterStatusOk`,
 *   `retry`, `transform`...): the client is an ordinary platform client.
 * - Tracing: when the fiber's tracer is enabled and neither
 *   `Tracer.DisablePropagation` nor `HttpClient.TracerDisabledWhen` excludes
 *   the request, the request goes through `HttpClient.make`, so its span, its
 *   attributes (headers as `HttpClient.TracerHeaderFilter` picks them, with
 *   `Headers.CurrentRedactedNames` redacted) and trace propagation headers are
 *   the platform's own. Only untraced requests take the short path.
 * - Errors: a request that gets no response (refused, reset, DNS, a timeout of
 *   undici's) fails with an `HttpClientError` whose reason is a
 *   `TransportError`; a URL that does not parse, an `InvalidUrlError`; a body
 *   that fails mid-way or does not decode as JSON, a `DecodeError`. Non-2xx
 *   answers are responses, not failures.
 * - Interruption: interrupting the fiber while it waits for the headers, or
 *   while it reads the body (`text`, `json`, `stream`), cancels the request and
 *   closes its connection; a `stream` that ends early (a `take`, a failure
 *   downstream) does the same.
 *
 * Differences: a body is read once (`text` after `json` answers the same
 * text, but `text` after `stream` fails with a `DecodeError`); a response
 * whose body is never read keeps its connection until the body timeout (the
 * platform aborts it when the response is garbage collected), so read or
 * stream every body, as the providers do; closing the scope of
 * `HttpClient.withScope` does not cancel a request already sent (interrupt its
 * fiber instead), as that abort signal is private to the platform.
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Url from "effect/http/Url"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { Readable } from "node:stream"
import { Agent, type Dispatcher } from "undici"
import * as Invalid from "./internal/optionsError.js"
import { send, transportError } from "./internal/undici/exchange.js"
import type { OptionsError } from "./OptionsError.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /**
   * Send through this dispatcher (an `Agent`, `Pool`, `ProxyAgent`,
   * `MockAgent`...) instead of an `Agent` of the client's own. The caller owns
   * it: the client never closes it, and `connections`, `pipelining` and
   * `keepAliveTimeout` do not apply to it.
   */
  readonly dispatcher?: Dispatcher | undefined
  /** Sockets per origin. Default: unbounded, as undici's `Agent`. */
  readonly connections?: number | undefined
  /** Requests in flight per socket (HTTP/1.1 pipelining). Default: 1, none. */
  readonly pipelining?: number | undefined
  /** How long an idle kept-alive socket stays open. Default: undici's 4 seconds (less when the server says so). */
  readonly keepAliveTimeout?: Duration.Input | undefined
  /**
   * The longest wait for a response's headers. A non-streamed reply from a
   * reasoning model can think for minutes before its headers. Default:
   * 10 minutes. Use `Effect.timeout` (the providers' `timeout`) for shorter
   * per-call limits.
   */
  readonly headersTimeout?: Duration.Input | undefined
  /**
   * The longest silence between two chunks of a body. A stream can pause
   * while a model thinks or calls a tool. Default: 5 minutes; `0` for none.
   */
  readonly bodyTimeout?: Duration.Input | undefined
}

const defaultHeadersTimeout = Duration.minutes(10)
const defaultBodyTimeout = Duration.minutes(5)

/** Where a request goes, as undici's dispatch options name it. */
interface Target {
  readonly origin: string
  /** Path and query. */
  readonly path: string
  /** The URL without its hash, for the response. */
  readonly href: string
}

const targetOf = (url: URL): Target => ({
  origin: url.origin,
  path: url.pathname + url.search,
  href: url.hash === "" ? url.href : url.href.slice(0, url.href.length - url.hash.length)
})

/** URLs whose target a client keeps. */
const maxTargets = 64

type DispatchBody = Exclude<Dispatcher.DispatchOptions["body"], undefined>

interface Converted {
  readonly body: DispatchBody
  /** The multipart content type, boundary included, of a `FormData` body. */
  readonly contentType?: string | undefined
}

const convertBody = (body: HttpBody.HttpBody): Converted | Effect.Effect<Converted> => {
  switch (body._tag) {
    case "Empty":
      return { body: null }
    case "Uint8Array":
      return { body: body.body }
    case "Raw":
      return { body: body.body as DispatchBody }
    case "FormData": {
      // Rare for LLM APIs: let the web encoder write the multipart body (one
      // `Response`, so the boundary in the header is the body's).
      const encoded = new Response(body.formData)
      return {
        body: Readable.fromWeb(encoded.body! as Parameters<typeof Readable.fromWeb>[0]),
        contentType: encoded.headers.get("content-type") ?? undefined
      }
    }
    case "Stream":
      return Effect.map(NodeStream.toReadable(body.stream), (readable): Converted => ({ body: readable }))
  }
}

/**
 * A client over `dispatcher`, which the caller keeps open while the client is
 * in use and closes after.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import * as HttpClient from "effect/http/HttpClient"
 * import { UndiciHttpClient } from "effect-llm-router"
 * import { ProxyAgent } from "undici"
 *
 * // Through a proxy; the application closes the agent when it is done.
 * const proxy = new ProxyAgent("http://proxy.internal:3128")
 * const Http = Layer.succeed(
 *   HttpClient.HttpClient,
 *   UndiciHttpClient.fromDispatcher(proxy, { headersTimeout: "2 minutes" })
 * )
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromDispatcher = (
  dispatcher: Dispatcher,
  options?: Pick<Options, "headersTimeout" | "bodyTimeout">
): HttpClient.HttpClient => {
  const headersTimeout = Duration.toMillis(options?.headersTimeout ?? defaultHeadersTimeout)
  const bodyTimeout = Duration.toMillis(options?.bodyTimeout ?? defaultBodyTimeout)

  const dispatch = (
    request: HttpClientRequest.HttpClientRequest,
    target: Target
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> => {
    const href = target.href
    const options = ({ body, contentType }: Converted): Dispatcher.DispatchOptions => ({
      origin: target.origin,
      path: target.path,
      method: request.method,
      headers: contentType === undefined ? request.headers : { ...request.headers, "content-type": contentType },
      body,
      headersTimeout,
      bodyTimeout
    })
    const converted = convertBody(request.body)
    return Effect.isEffect(converted)
      ? Effect.flatMap(converted, (converted) => send(dispatcher, request, href, options(converted)))
      : send(dispatcher, request, href, options(converted))
  }

  // The platform's span, redaction and propagation, for traced requests.
  const traced = HttpClient.make((request, url, signal) =>
    Effect.suspend(() => {
      // A request whose `HttpClient.withScope` scope already closed is not sent.
      if (signal.aborted) {
        return Effect.fail(transportError(request, signal.reason))
      }
      return dispatch(request, targetOf(url))
    })
  )

  // The targets of the URLs requests went to without `urlParams` or a hash,
  // parsed once each: a client sends to a few endpoints, and parsing a URL and
  // reading its origin costs about as much as the rest of a short dispatch.
  const targets = new Map<string, Target>()

  const untraced = (request: HttpClientRequest.HttpClientRequest) => {
    const plain = request.urlParams.params.length === 0 && Option.isNone(request.hash)
    const known = plain ? targets.get(request.url) : undefined
    if (known !== undefined) return dispatch(request, known)
    const url = Url.make(request.url, request.urlParams, Option.getOrUndefined(request.hash))
    if (Result.isFailure(url)) {
      return Effect.fail(
        new HttpClientError.HttpClientError({
          reason: new HttpClientError.InvalidUrlError({ request, cause: url.failure })
        })
      )
    }
    const target = targetOf(url.success)
    if (plain && targets.size < maxTargets) targets.set(request.url, target)
    return dispatch(request, target)
  }

  return HttpClient.makeWith<never, never, HttpClientError.HttpClientError, never>(
    (effect) =>
      Effect.flatMap(
        effect,
        (request) =>
          Effect.withFiber<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((fiber) =>
            fiber.getRef(References.TracerEnabled) && !fiber.getRef(Tracer.DisablePropagation) &&
              !fiber.getRef(HttpClient.TracerDisabledWhen)(request)
              ? traced.execute(request)
              : untraced(request)
          )
      ),
    Effect.succeed
  )
}

const validate = (options: Options): OptionsError | undefined =>
  Invalid.positive("UndiciHttpClient", "connections", options.connections, { integer: true, optional: true }) ??
    (options.pipelining === undefined || (Number.isInteger(options.pipelining) && options.pipelining >= 0)
      ? undefined
      : Invalid.make("UndiciHttpClient", "pipelining", options.pipelining, "a whole number, 0 or more")) ??
    Invalid.duration("UndiciHttpClient", "keepAliveTimeout", options.keepAliveTimeout, true) ??
    Invalid.duration("UndiciHttpClient", "headersTimeout", options.headersTimeout) ??
    Invalid.duration("UndiciHttpClient", "bodyTimeout", options.bodyTimeout)

/**
 * A client with an undici `Agent` of its own (kept-alive sockets per origin),
 * closed with the scope; or over `options.dispatcher`, which stays the
 * caller's. An option out of range fails with `OptionsError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { UndiciHttpClient } from "effect-llm-router"
 *
 * const status = Effect.scoped(Effect.gen(function*() {
 *   const client = yield* UndiciHttpClient.make({ connections: 16, keepAliveTimeout: "30 seconds" })
 *   const response = yield* client.get("http://localhost:11434/api/tags")
 *   return response.status
 * }))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options?: Options): Effect.Effect<HttpClient.HttpClient, OptionsError, Scope.Scope> => {
  const invalid = options === undefined ? undefined : validate(options)
  if (invalid !== undefined) return Effect.fail(invalid)
  const timeouts = {
    headersTimeout: options?.headersTimeout,
    bodyTimeout: options?.bodyTimeout
  }
  if (options?.dispatcher !== undefined) return Effect.succeed(fromDispatcher(options.dispatcher, timeouts))
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        new Agent({
          ...(options?.connections !== undefined ? { connections: options.connections } : {}),
          ...(options?.pipelining !== undefined ? { pipelining: options.pipelining } : {}),
          ...(options?.keepAliveTimeout !== undefined
            ? { keepAliveTimeout: Duration.toMillis(options.keepAliveTimeout) }
            : {})
        })
      ),
      // `destroy`, not `close`: a scope that closes interrupts what still runs.
      (agent) => Effect.promise(() => agent.destroy())
    ),
    (agent) => fromDispatcher(agent, timeouts)
  )
}

/**
 * `HttpClient.HttpClient` from `make(options)`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { OpenAiChat, UndiciHttpClient } from "effect-llm-router"
 *
 * const OpenAi = OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" }).pipe(
 *   Layer.provide(UndiciHttpClient.layer({ bodyTimeout: "2 minutes" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options?: Options): Layer.Layer<HttpClient.HttpClient, OptionsError> =>
  Layer.effect(HttpClient.HttpClient, make(options))
