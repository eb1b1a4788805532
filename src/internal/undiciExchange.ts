/**
 * One HTTP exchange over an undici `Dispatcher`, driven by a dispatch handler
 * of undici's own (`onRequestStart`/`onResponseStart`/`onResponseData`/
 * `onResponseEnd`/`onResponseError`, the API undici's core runs).
 *
 * Why not `dispatcher.request`: it puts every body behind a Node `Readable`
 * (push, buffer, `read`, events) and needs an `AbortSignal` to be cancelled.
 * Here the chunks go straight into an array that the response's `stream` pulls
 * as one array per pull, `text` joins them once, and the controller undici
 * hands to `onRequestStart` cancels the request, with no `AbortController`,
 * listener or registry per request.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Cookies from "effect/http/Cookies"
import * as Headers from "effect/http/Headers"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as IncomingMessage from "effect/http/HttpIncomingMessage"
import * as UrlParams from "effect/http/UrlParams"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import type { Dispatcher } from "undici"

/**
 * Bytes buffered ahead of a `stream` consumer before undici stops reading the
 * socket; `text`/`json`/`arrayBuffer` read without a limit, as a body read
 * whole must be held whole anyway.
 */
const highWaterMark = 64 * 1024

const utf8 = new TextDecoder()

/**
 * A timer on the exchange itself bounds it, with no fiber racing it: until the
 * response headers, or until the whole body has arrived.
 */
export interface Deadline {
  readonly millis: number
  readonly through: "headers" | "body"
  /** No response headers within this (ms, when sooner than `millis`) fails the exchange: phase `headers`. */
  readonly headers?: number | undefined
  /** No body byte within this (ms) of the headers fails it: phase `firstToken`. */
  readonly firstToken?: number | undefined
  /** No body byte for this long (ms) once the body has begun fails it: phase `idle`. */
  readonly idle?: number | undefined
}

/** Which limit of a `Deadline` passed: `request` is its `millis`. */
export type DeadlinePhase = "request" | "headers" | "firstToken" | "idle"

/** The cause of the failure of an exchange whose `Deadline` passed. */
export class DeadlineExceeded extends Error {
  constructor(readonly millis: number, readonly phase: DeadlinePhase = "request") {
    super(`no answer within ${millis} ms (${phase})`)
    this.name = "TimeoutError"
  }
}

const watchNone = 0
const watchHeaders = 1
const watchFirstToken = 2
const watchIdle = 3

/** Why a cancelled request failed inside undici; never seen by callers, whose fiber was interrupted. */
class ExchangeAborted extends Error {
  constructor() {
    super("the request was interrupted")
    this.name = "AbortError"
  }
}

/** The response headers undici hands `onResponseStart`, names in lower case. */
type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2]

type Start = (effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>) => void

/** A transport failure of `request`, as the platform's clients report one. */
export const transportError = (request: HttpClientRequest.HttpClientRequest, cause: unknown) =>
  new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })

export class Exchange implements Dispatcher.DispatchHandler {
  private start: Start | undefined
  private controller: Dispatcher.DispatchController | undefined = undefined
  private aborted = false
  private response: UndiciResponse | undefined = undefined
  // Body state, read by `UndiciResponse`.
  chunks: Array<Uint8Array> = []
  buffered = 0
  ended = false
  failure: Error | undefined = undefined
  paused = false
  unbounded = false
  waiter: (() => void) | undefined = undefined
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timedThroughBody = false
  // The phase limits' one timer (headers, then first token, then idle) and
  // the time of the last body bytes: a chunk only stamps the time, and the
  // idle timer, when it fires early, re-arms for what is left.
  private watch: ReturnType<typeof setTimeout> | undefined = undefined
  private watching = watchNone
  private phases: Deadline | undefined = undefined
  private lastData = 0

  constructor(readonly request: HttpClientRequest.HttpClientRequest, readonly url: string, start: Start) {
    this.start = start
  }

  arm(deadline: Deadline): void {
    this.timedThroughBody = deadline.through === "body"
    this.timer = setTimeout(() => this.expire(deadline.millis, "request"), deadline.millis)
    if (deadline.headers !== undefined || deadline.firstToken !== undefined || deadline.idle !== undefined) {
      this.phases = deadline
      if (deadline.headers !== undefined && deadline.headers < deadline.millis) {
        this.watchFor(watchHeaders, deadline.headers)
      }
    }
  }

  private watchFor(phase: number, millis: number): void {
    this.watching = phase
    this.watch = setTimeout(() => this.watchFired(), millis)
  }

  private unwatch(): void {
    if (this.watch !== undefined) {
      clearTimeout(this.watch)
      this.watch = undefined
    }
    this.watching = watchNone
  }

  private watchFired(): void {
    this.watch = undefined
    const phases = this.phases!
    if (this.watching === watchHeaders) return this.expire(phases.headers!, "headers")
    if (this.watching === watchFirstToken) return this.expire(phases.firstToken!, "firstToken")
    // A paused body waits for its reader, not for the provider.
    const now = Date.now()
    if (this.paused) this.lastData = now
    const left = phases.idle! - (now - this.lastData)
    if (left > 0) this.watchFor(watchIdle, left)
    else this.expire(phases.idle!, "idle")
  }

  // Once the headers are in: the first-token limit, or the idle one.
  private watchBody(): void {
    const phases = this.phases
    if (phases === undefined) return
    this.unwatch()
    if (phases.firstToken !== undefined) this.watchFor(watchFirstToken, phases.firstToken)
    else this.watchIdle()
  }

  private watchIdle(): void {
    const idle = this.phases!.idle
    if (idle === undefined) return
    this.lastData = Date.now()
    this.watchFor(watchIdle, idle)
  }

  disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  // Fails the exchange as a transport failure would, then cancels the request.
  private expire(millis: number, phase: DeadlinePhase): void {
    if (phase === "request") this.timer = undefined
    if (this.aborted || this.ended || this.failure !== undefined) return
    const error = new DeadlineExceeded(millis, phase)
    this.fail(error)
    this.controller?.abort(error)
  }

  /** Cancels the request at whatever stage it is; a finished exchange is left alone. */
  abort(): void {
    this.disarm()
    this.unwatch()
    if (this.aborted || this.ended || this.failure !== undefined) return
    this.aborted = true
    this.start = undefined
    this.waiter = undefined
    this.controller?.abort(new ExchangeAborted())
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
    if (!this.timedThroughBody) this.disarm()
    this.watchBody()
    this.controller = controller
    const start = this.start
    this.start = undefined
    if (start !== undefined) {
      const response = new UndiciResponse(this.request, this.url, this, statusCode, headers, statusText ?? "")
      this.response = response
      start(Effect.succeed(response))
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    if (this.watching === watchIdle) this.lastData = Date.now()
    else if (this.watching === watchFirstToken) {
      this.unwatch()
      this.watchIdle()
    }
    this.wake()
    if (this.unbounded || this.buffered < highWaterMark) return
    this.paused = true
    controller.pause()
  }

  onResponseEnd(): void {
    this.disarm()
    this.unwatch()
    this.ended = true
    this.wake()
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.fail(error)
  }

  private fail(error: Error): void {
    this.disarm()
    this.unwatch()
    // Aborted by us, or already failed (a deadline, then undici's own report of the cancel).
    if (this.aborted || this.failure !== undefined) return
    this.failure = error
    const start = this.start
    this.start = undefined
    if (start !== undefined) start(Effect.fail(transportError(this.request, error)))
    else this.wake()
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

  bodyError(cause: unknown): HttpClientError.HttpClientError {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: this.request, response: this.response!, cause })
    })
  }
}

/**
 * A response body read without a `Stream`: `read` waits for the next chunks
 * and gives every chunk that arrived, or `undefined` once the body has ended;
 * `cancel` aborts the request if it still runs.
 */
export interface BodyReader {
  readonly read: Effect.Effect<NonEmptyReadonlyArray<Uint8Array> | undefined, HttpClientError.HttpClientError>
  readonly cancel: Effect.Effect<void>
  /** Ends the request's `Deadline` early: what the body has yet to bring may take its time. */
  readonly endDeadline: () => void
}

/** The reader of a response from `send`; `undefined` for a response of any other client. */
export const bodyReader = (response: HttpClientResponse.HttpClientResponse): BodyReader | undefined =>
  response instanceof UndiciResponse ? response.reader() : undefined

/** Sends `request` to `url` through `dispatcher`; interruption before the headers cancels it. */
export const send = (
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  url: string,
  options: Dispatcher.DispatchOptions,
  deadline?: Deadline
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
  Effect.callback<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
    const exchange = new Exchange(request, url, resume)
    if (deadline !== undefined) exchange.arm(deadline)
    dispatcher.dispatch(options, exchange)
    return Effect.sync(() => exchange.abort())
  })

const emptyBody = new Uint8Array(0)

const noop = () => {}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 0) return emptyBody
  if (chunks.length === 1) return chunks[0]!
  return Buffer.concat(chunks)
}

class UndiciResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: typeof IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId = HttpClientResponse.TypeId
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
    // undici names headers in lower case; repeated ones join as `Headers.fromInput` joins arrays.
    const record: Record<string, string> = {}
    const raw = this.rawHeaders
    for (const name in raw) {
      const value = raw[name]
      if (value === undefined) continue
      record[name] = typeof value === "string" ? value : value.join(", ")
    }
    return this.cachedHeaders = Headers.fromRecordUnsafe(record)
  }

  get cookies(): Cookies.Cookies {
    const setCookie = this.rawHeaders["set-cookie"]
    return setCookie === undefined ? Cookies.empty : Cookies.fromSetCookie(setCookie)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /**
   * The whole body. Read once and kept, so `text` after `json` (or twice)
   * answers the same bytes; interruption while it arrives cancels the request.
   */
  get arrayBufferBytes(): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
    return Effect.suspend(() => {
      if (this.cachedBody !== undefined) return Effect.succeed(this.cachedBody)
      const exchange = this.exchange
      if (this.consumed) return Effect.fail(exchange.bodyError("the body was already read as a stream, or by an interrupted read"))
      this.consumed = true
      exchange.unbounded = true
      const parts: Array<Uint8Array> = []
      const finish = (): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> => {
        for (const chunk of exchange.take()) parts.push(chunk)
        if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
        return Effect.succeed(this.cachedBody = concat(parts))
      }
      if (exchange.ended || exchange.failure !== undefined) return finish()
      return Effect.callback<Uint8Array, HttpClientError.HttpClientError>((resume) => {
        const wait = () => {
          if (exchange.ended || exchange.failure !== undefined) resume(finish())
          else {
            for (const chunk of exchange.take()) parts.push(chunk)
            exchange.waiter = wait
          }
        }
        wait()
        return Effect.sync(() => exchange.abort())
      })
    })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(this.arrayBufferBytes, (bytes) =>
      bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0
        ? bytes.buffer as ArrayBuffer
        : bytes.slice().buffer as ArrayBuffer)
  }

  get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.arrayBufferBytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<Schema.Json, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.text, (text) => {
      try {
        return Effect.succeed(text === "" ? null : JSON.parse(text) as Schema.Json)
      } catch (cause) {
        return Effect.fail(this.exchange.bodyError(cause))
      }
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.HttpClientError> {
    // A leading "?" is form data; URLSearchParams would drop it as a query prefix.
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text.replace(/^\?/, "%3F"))))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.arrayBufferBytes, (bytes) =>
      Effect.tryPromise({
        try: () => new Response(bytes, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.exchange.bodyError(cause)
      }))
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
   * The body's chunks as undici delivers them, every chunk buffered since the
   * last pull in one array. Ending early (interruption, a `take`, a failure
   * downstream) cancels the request, so the server sees the socket close.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.HttpClientError> {
    return Stream.suspend(() => {
      const reader = this.reader()
      return Stream.ensuring(
        Stream.fromPull(Effect.succeed(
          Effect.flatMap(reader.read, (parts) => parts === undefined ? Cause.done() : Effect.succeed(parts))
        )),
        reader.cancel
      )
    })
  }

  /** The body read once, in the chunks it arrives in. */
  reader(): BodyReader {
    const exchange = this.exchange
    const cached = this.cachedBody
    if (cached !== undefined) {
      let given = false
      return {
        read: Effect.sync(() => {
          if (given) return undefined
          given = true
          return Arr.of(cached)
        }),
        cancel: Effect.void,
        endDeadline: noop
      }
    }
    if (this.consumed) {
      return { read: Effect.fail(exchange.bodyError("the body was already read")), cancel: Effect.void, endDeadline: noop }
    }
    this.consumed = true
    const wait = Effect.callback<void>((resume) => {
      exchange.waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        exchange.waiter = undefined
      })
    })
    const read: Effect.Effect<NonEmptyReadonlyArray<Uint8Array> | undefined, HttpClientError.HttpClientError> = Effect
      .suspend(() => {
        if (exchange.chunks.length > 0) {
          const chunks = exchange.take()
          if (Arr.isArrayNonEmpty(chunks)) return Effect.succeed(chunks)
        }
        if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
        if (exchange.ended) return Effect.succeed(undefined)
        return Effect.andThen(wait, read)
      })
    return { read, cancel: Effect.sync(() => exchange.abort()), endDeadline: () => exchange.disarm() }
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }

  declare readonly pipe: Pipeable.Pipeable["pipe"]
}

Object.assign(UndiciResponse.prototype, { pipe: Pipeable.Prototype.pipe })
