/**
 * A lean `HttpClient.HttpClient` over undici, a drop-in for `NodeHttpClient.layerUndici`:
 * `Layer.provide(UndiciHttpClient.layer())`.
 *
 * Why it exists: the platform's undici client spends most of a call's client CPU around the request rather than in
 * it (an `AbortController`, a `FinalizationRegistry` entry, a response wrapper and a Node `Readable` per request). This
 * one dispatches with its own undici handler. Every `HttpClient` combinator works; a traced request goes through
 * `HttpClient.make`, so its span and propagation headers are the platform's own; errors are the platform's
 * `HttpClientError`s (non-2xx answers are responses); interrupting a request or ending its `stream` early cancels it.
 * Where it differs from the platform's client is in docs/adapters.md ("The HTTP client"): the platform aborts an unread
 * body when garbage collected, and keeps `withScope`'s abort signal private.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Agent, type Dispatcher } from "undici"
import * as Invalid from "./internal/optionsError.js"
import { client } from "./internal/undici/exchange.js"
import type { OptionsError } from "./OptionsError.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /**
   * Send through this dispatcher (an `Agent`, `Pool`, `ProxyAgent`, `MockAgent`...) instead of an `Agent` of the
   * client's own. The caller owns it: the client never closes it, and `connections`, `pipelining` and
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
   * The longest wait for a response's headers: a non-streamed reply from a reasoning model can think for minutes
   * before them. Default: 10 minutes. Use the providers' `timeout` for shorter per-call limits.
   */
  readonly headersTimeout?: Duration.Input | undefined
  /**
   * The longest silence between two chunks of a body: a stream can pause while a model thinks or calls a tool.
   * Default: 5 minutes; `0` for none.
   */
  readonly bodyTimeout?: Duration.Input | undefined
}

const defaultHeadersTimeout = Duration.minutes(10)
const defaultBodyTimeout = Duration.minutes(5)

/**
 * A client over `dispatcher`, which the caller keeps open while the client is in use and closes after.
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
): HttpClient.HttpClient =>
  client(dispatcher, {
    headersTimeout: Duration.toMillis(options?.headersTimeout ?? defaultHeadersTimeout),
    bodyTimeout: Duration.toMillis(options?.bodyTimeout ?? defaultBodyTimeout)
  })

const validate = (options: Options): OptionsError | undefined =>
  Invalid.positive("UndiciHttpClient", "connections", options.connections, { integer: true, optional: true }) ??
    (options.pipelining === undefined || (Number.isInteger(options.pipelining) && options.pipelining >= 0)
      ? undefined
      : Invalid.make("UndiciHttpClient", "pipelining", options.pipelining, "a whole number, 0 or more")) ??
    Invalid.duration("UndiciHttpClient", "keepAliveTimeout", options.keepAliveTimeout, true) ??
    Invalid.duration("UndiciHttpClient", "headersTimeout", options.headersTimeout) ??
    Invalid.duration("UndiciHttpClient", "bodyTimeout", options.bodyTimeout)

/**
 * A client with an undici `Agent` of its own (kept-alive sockets per origin), closed with the scope; or over
 * `options.dispatcher`, which stays the caller's. An option out of range fails with `OptionsError`.

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
