/**
 * One HTTP exchange over an undici `Dispatcher`, driven by a dispatch handler of undici's own (`onRequestStart`...
 * `onResponseError`, the API undici's core runs), and the client that makes the exchanges (`client`, behind
 * `UndiciHttpClient.fromDispatcher`).
 *
 * Why not `dispatcher.request`: it puts every body behind a Node `Readable` (push, buffer, `read`, events) and needs an
 * `AbortSignal` to be cancelled. Here the chunks go straight into an array that the response's `stream` pulls as one
 * array per pull, `text` joins them once, and the controller undici hands to `onRequestStart` cancels the request, with
 * no `AbortController`, listener or registry per request.
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Arr from "effect/Array"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Cookies from "effect/http/Cookies"
import * as Headers from "effect/http/Headers"
import type * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Url from "effect/http/Url"
import * as Option from "effect/Option"
import type * as Pull from "effect/Pull"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Readable } from "node:stream"
import type { Dispatcher } from "undici"
import { concat } from "../transport/bytes.js"
import { BodyResponse } from "../transport/clientResponse.js"

/**
 * Bytes buffered ahead of a `stream` consumer before undici stops reading; a body read whole must be held whole anyway.
 */
const highWaterMark = 64 * 1024

// A resolved promise's `then` queues the same microtask as `queueMicrotask`, without the AsyncResource Node makes for
// each `queueMicrotask` (docs/performance.md).
const resolved = Promise.resolve()

/** Why a cancelled request failed inside undici; never seen by callers, whose fiber was interrupted. */
class ExchangeAborted extends Error {
  constructor() {
    super("the request was interrupted")
    this.name = "AbortError"
  }
}

/** The response headers undici hands `onResponseStart`, names in lower case. */
export type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2]

type Start = (effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>) => void

/** A transport failure of `request`, as the platform's clients report one. */
export function transportError(request: HttpClientRequest.HttpClientRequest, cause: unknown) {
  return new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })
}

export class Exchange implements Dispatcher.DispatchHandler {
  private start: Start | undefined
  private controller: Dispatcher.DispatchController | undefined = undefined
  private aborted = false
  // Body state, read by `UndiciResponse`.
  chunks: Array<Uint8Array> = []
  buffered = 0
  ended = false
  failure: Error | undefined = undefined
  paused = false
  unbounded = false
  waiter: (() => void) | undefined = undefined
  /** The chunks of a socket read are coming in; a microtask ends it (`readStarted`). */
  private reading = false

  constructor(readonly request: HttpClientRequest.HttpClientRequest, readonly url: string, start: Start) {
    this.start = start
  }

  /** Cancels the request at whatever stage it is; a finished exchange is left alone. */
  abort(): void {
    if (this.aborted || this.ended || this.failure !== undefined) return
    this.aborted = true
    this.start = undefined
    this.controller?.abort(new ExchangeAborted())
    // A read waiting for the body (the body cancelled from another fiber: a phase limit passed) ends with the cancel.
    if (this.waiter === undefined) return
    this.failure = new ExchangeAborted()
    this.wake()
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.aborted) controller.abort(new ExchangeAborted())
    else if (this.failure !== undefined) controller.abort(this.failure)
    else this.controller = controller
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: ResponseHeaders,
    statusText?: string
  ): void {
    // 1xx informational answers come before the real one.
    if (statusCode < 200) return
    this.controller = controller
    const start = this.start
    this.start = undefined
    if (start !== undefined) {
      start(Effect.succeed(new UndiciResponse(this.request, this.url, this, statusCode, headers, statusText ?? "")))
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (!this.reading) this.readStarted()
    if (this.unbounded || this.buffered < highWaterMark) return
    this.paused = true
    controller.pause()
  }

  onResponseEnd(): void {
    this.ended = true
    this.wake()
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.fail(error)
  }

  private fail(error: Error): void {
    // Aborted by us, or already failed (then undici's own report of the cancel).
    if (this.aborted || this.failure !== undefined) return
    this.failure = error
    const start = this.start
    this.start = undefined
    if (start !== undefined) start(Effect.fail(transportError(this.request, error)))
    else this.wake()
  }

  /**
   * undici hands over every HTTP chunk of one socket read in one synchronous run, so a microtask wakes the reader after
   * the last one to take them in one read (woken at each, the reader passed each event alone through every stream above
   * it).
   */
  private readStarted(): void {
    this.reading = true
    void resolved.then(this.readEnded)
  }

  private readonly readEnded = (): void => {
    this.reading = false
    this.wake()
  }

  private wake(): void {
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter()
    }
  }

  /** Hands the buffered chunks to the consumer and lets undici read on. */
  take(): Array<Uint8Array> {
    const chunks = this.chunks
    this.chunks = []
    this.buffered = 0
    if (this.paused) {
      this.paused = false
      this.controller?.resume()
    }
    return chunks
  }
}

/** Sends `request` to `url` through `dispatcher`; interruption before the headers cancels it. */
export function send(
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  url: string,
  options: Dispatcher.DispatchOptions
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> {
  return Effect.callback<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
    const exchange = new Exchange(request, url, resume)
    dispatcher.dispatch(options, exchange)
    return Effect.sync(() => exchange.abort())
  })
}

/** The body read once, in the chunks it arrives in: a stream's pull, failing with `Cause.Done` once it has ended. */
interface BodyReader {
  readonly read: Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, HttpClientError.HttpClientError>
  readonly cancel: Effect.Effect<void>
}

/** The prototype of every `Headers` value (`Headers.fromRecordUnsafe` gives a record this one). */
const headersPrototype: object = Object.getPrototypeOf(Headers.empty)

/** A read of a body that has ended. */
const ended = Cause.done()

export class UndiciResponse extends BodyResponse {
  private cachedHeaders: Headers.Headers | undefined = undefined
  private cachedBody: Uint8Array | undefined = undefined
  private consumed = false

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly url: string,
    private readonly exchange: Exchange,
    readonly status: number,
    private readonly rawHeaders: ResponseHeaders,
    readonly statusText: string
  ) {
    super()
  }

  get headers(): Headers.Headers {
    if (this.cachedHeaders !== undefined) return this.cachedHeaders
    // undici names headers in lower case; repeated ones join as `Headers.fromInput` joins arrays. Built on the
    // prototype `Headers.fromRecordUnsafe` would set, as setting a prototype afterwards costs more than the copy.
    const record: Record<string, string> = Object.create(headersPrototype)
    const raw = this.rawHeaders
    for (const name in raw) {
      const value = raw[name]
      if (value === undefined) continue
      record[name] = typeof value === "string" ? value : value.join(", ")
    }
    return this.cachedHeaders = record as Headers.Headers
  }

  get cookies(): Cookies.Cookies {
    const setCookie = this.rawHeaders["set-cookie"]
    return setCookie === undefined ? Cookies.empty : Cookies.fromSetCookie(setCookie)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /**
   * The whole body, read once and kept, so `text` after `json` (or twice) answers the same bytes; interruption while it
   * arrives cancels the request.
   */
  get bytes(): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
    return Effect.suspend(() => {
      const exchange = this.exchange
      if (this.cachedBody !== undefined) return Effect.succeed(this.cachedBody)
      if (this.consumed) {
        return Effect.fail(this.decodeError("the body was already read as a stream, or by an interrupted read"))
      }
      this.consumed = true
      exchange.unbounded = true
      const parts: Array<Uint8Array> = []
      function gather() {
        for (const chunk of exchange.take()) parts.push(chunk)
      }
      const finish = (): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> => {
        gather()
        if (exchange.failure !== undefined) return Effect.fail(this.decodeError(exchange.failure))
        return Effect.succeed(this.cachedBody = concat(parts))
      }
      if (exchange.ended || exchange.failure !== undefined) return finish()
      return Effect.callback<Uint8Array, HttpClientError.HttpClientError>((resume) => {
        function wait() {
          // What arrived is taken first: taking resumes a body paused at its high-water mark, and undici may then
          // deliver the rest and its end at once, with nobody waiting to hear it.
          gather()
          if (exchange.ended || exchange.failure !== undefined) resume(finish())
          else exchange.waiter = wait
        }
        wait()
        return Effect.sync(() => exchange.abort())
      })
    })
  }

  decodeError(cause: unknown): HttpClientError.HttpClientError {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: this.request, response: this, cause })
    })
  }

  /** Upgrades (WebSockets) are not this client's: it sends no `upgrade` request. */
  get upgrade(): Effect.Effect<Socket.Socket, HttpClientError.HttpClientError> {
    return Effect.fail(
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.StatusCodeError({
          request: this.request,
          response: this,
          description: "UndiciHttpClient does not upgrade connections; use NodeHttpClient.layerUndici"
        })
      })
    )
  }

  /**
   * Every chunk buffered since the last pull, in one array. Ending early (interruption, a `take`, a failure downstream)
   * cancels the request, so the server sees the socket close.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.HttpClientError> {
    // The cancel is a finalizer of the channel's own scope: `Stream.ensuring` adds a scope of its own to every body.
    return Stream.fromChannel(Channel.fromTransform((_, scope) => {
      const reader = this.reader()
      return Effect.as(Scope.addFinalizer(scope, reader.cancel), reader.read)
    }))
  }

  /** The body read once, in the chunks it arrives in. */
  private reader(): BodyReader {
    const exchange = this.exchange
    const decodeError = (cause: unknown) => this.decodeError(cause)
    const cached = this.cachedBody
    if (cached !== undefined) {
      let given = false
      return {
        read: Effect.suspend(() => {
          if (given) return ended
          given = true
          return Effect.succeed(Arr.of(cached))
        }),
        cancel: Effect.void
      }
    }
    if (this.consumed) {
      return {
        read: Effect.fail(this.decodeError("the body was already read")),
        cancel: Effect.void
      }
    }
    this.consumed = true
    type Read = Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, HttpClientError.HttpClientError>
    // What the body has for a read now: the chunks that arrived, its failure or its end; undefined while nothing came.
    function ready(): Read | undefined {
      if (exchange.chunks.length > 0) {
        const chunks = exchange.take()
        if (Arr.isArrayNonEmpty(chunks)) return Effect.succeed(chunks)
      }
      if (exchange.failure !== undefined) return Effect.fail(decodeError(exchange.failure))
      if (exchange.ended) return ended
      return undefined
    }
    // Built once, not per read: a provider that flushes every token makes one read per event.
    const forget = Effect.sync(() => {
      exchange.waiter = undefined
    })
    // What the body has now, or a wait that resumes with what it brings, in one step (not a look, a wait, then a read).
    const read: Read = Effect.callback((resume) => {
      const now = ready()
      if (now !== undefined) return resume(now)
      exchange.waiter = () => resume(ready() ?? read)
      return forget
    })
    return { read, cancel: Effect.sync(() => exchange.abort()) }
  }
}

/** Where a request goes, as undici's dispatch options name it. */
interface Target {
  readonly origin: string
  /** Path and query. */
  readonly path: string
  /** The URL without its hash, for the response. */
  readonly href: string
}

function targetOf(url: URL): Target {
  return {
    origin: url.origin,
    path: url.pathname + url.search,
    href: url.hash === "" ? url.href : url.href.slice(0, url.href.length - url.hash.length)
  }
}

/** URLs whose target a client keeps. */
const maxTargets = 64

type DispatchBody = Exclude<Dispatcher.DispatchOptions["body"], undefined>

interface Converted {
  readonly body: DispatchBody
  /** The multipart content type, boundary included, of a `FormData` body. */
  readonly contentType?: string | undefined
}

function convertBody(body: HttpBody.HttpBody): Converted | Effect.Effect<Converted> {
  switch (body._tag) {
    case "Empty":
      return { body: null }
    case "Uint8Array":
      return { body: body.body }
    case "Raw":
      return { body: body.body as DispatchBody }
    case "FormData": {
      // Rare for LLM APIs: the web encoder writes the multipart body (one `Response`, so the header's boundary is the
      // body's).
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
 * The client over `dispatcher`: traced requests through `HttpClient.make`, for the platform's span, redaction and
 * propagation; untraced ones straight to `send`.
 */
export function client(
  dispatcher: Dispatcher,
  { bodyTimeout, headersTimeout }: { readonly headersTimeout: number; readonly bodyTimeout: number }
): HttpClient.HttpClient {
  function dispatch(
    request: HttpClientRequest.HttpClientRequest,
    target: Target
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> {
    const href = target.href
    function options({ body, contentType }: Converted): Dispatcher.DispatchOptions {
      return {
        origin: target.origin,
        path: target.path,
        method: request.method,
        headers: contentType === undefined ? request.headers : { ...request.headers, "content-type": contentType },
        body,
        headersTimeout,
        bodyTimeout
      }
    }
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

  // The targets of URLs without `urlParams` or a hash, parsed once each: a client sends to a few endpoints, and parsing
  // a URL and reading its origin costs about as much as the rest of a short dispatch.
  const targets = new Map<string, Target>()

  function untraced(request: HttpClientRequest.HttpClientRequest) {
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
    function postprocess(effect) {
      return Effect.flatMap(
        effect,
        (request) =>
          Effect.withFiber<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>(
            function sendOne(fiber) {
              return fiber.getRef(References.TracerEnabled) && !fiber.getRef(Tracer.DisablePropagation) &&
                  !fiber.getRef(HttpClient.TracerDisabledWhen)(request)
                ? traced.execute(request)
                : untraced(request)
            }
          )
      )
    },
    Effect.succeed
  )
}
