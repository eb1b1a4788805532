/**
 * One HTTP exchange over an undici `Dispatcher`, driven by a legacy dispatch
 * handler (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`), the path
 * undici's core runs natively (a handler with the newer `onRequestStart` API
 * is wrapped back into this one).
 *
 * Why not `dispatcher.request`: it puts every body behind a Node `Readable`
 * (push, buffer, `read`, events) and needs an `AbortSignal` to be cancelled.
 * Here the chunks go straight into an array that the response's `stream` pulls
 * as one `Chunk` per pull, `text` joins them once, and the `abort` undici hands
 * to `onConnect` cancels the request, with no controller, listener or
 * registry per request.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Headers from "@effect/platform/Headers"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as IncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Dispatcher } from "undici"

/**
 * Bytes buffered ahead of a `stream` consumer before undici stops reading the
 * socket; `text`/`json`/`arrayBuffer` read without a limit, as a body read
 * whole must be held whole anyway.
 */
const highWaterMark = 64 * 1024

const utf8 = new TextDecoder()

/** Why a cancelled request failed inside undici; never seen by callers, whose fiber was interrupted. */
/**
 * A timer on the exchange itself bounds it, with no fiber racing it: until the
 * response headers, or until the whole body has arrived.
 */
export interface Deadline {
  readonly millis: number
  readonly through: "headers" | "body"
}

/** The cause of the failure of an exchange whose `Deadline` passed. */
export class DeadlineExceeded extends Error {
  constructor(readonly millis: number) {
    super(`no answer within ${millis} ms`)
    this.name = "TimeoutError"
  }
}

class ExchangeAborted extends Error {
  constructor() {
    super("the request was interrupted")
    this.name = "AbortError"
  }
}

type Start = (effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>) => void

export class Exchange implements Dispatcher.DispatchHandler {
  private start: Start | undefined
  private abortFn: ((reason: Error) => void) | undefined = undefined
  private aborted = false
  private response: UndiciResponse | undefined = undefined
  // Body state, read by `UndiciResponse`.
  chunks: Array<Uint8Array> = []
  buffered = 0
  ended = false
  failure: Error | undefined = undefined
  resumeFn: (() => void) | undefined = undefined
  paused = false
  unbounded = false
  waiter: (() => void) | undefined = undefined
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timedThroughBody = false

  constructor(readonly request: HttpClientRequest.HttpClientRequest, start: Start) {
    this.start = start
  }

  arm(deadline: Deadline): void {
    this.timedThroughBody = deadline.through === "body"
    this.timer = setTimeout(() => this.expire(deadline.millis), deadline.millis)
  }

  disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  // Fails the exchange as a transport failure would, then cancels the request.
  private expire(millis: number): void {
    this.timer = undefined
    if (this.aborted || this.ended || this.failure !== undefined) return
    const error = new DeadlineExceeded(millis)
    this.onError(error)
    this.abortFn?.(error)
  }

  /** Cancels the request at whatever stage it is; a finished exchange is left alone. */
  abort(): void {
    this.disarm()
    if (this.aborted || this.ended || this.failure !== undefined) return
    this.aborted = true
    this.start = undefined
    this.waiter = undefined
    const abort = this.abortFn
    if (abort !== undefined) abort(new ExchangeAborted())
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.aborted) abort(new ExchangeAborted())
    else if (this.failure !== undefined) abort(this.failure)
    else this.abortFn = abort
  }

  onHeaders(statusCode: number, rawHeaders: Array<Buffer>, resume: () => void, statusText: string): boolean {
    // 1xx informational answers come before the real one.
    if (statusCode < 200) return true
    if (!this.timedThroughBody) this.disarm()
    this.resumeFn = resume
    const start = this.start
    this.start = undefined
    if (start !== undefined) {
      const response = new UndiciResponse(this.request, this, statusCode, rawHeaders, statusText)
      this.response = response
      start(Effect.succeed(response))
    }
    return true
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    this.wake()
    if (this.unbounded || this.buffered < highWaterMark) return true
    this.paused = true
    return false
  }

  onComplete(): void {
    this.disarm()
    this.ended = true
    this.wake()
  }

  onError(error: Error): void {
    this.disarm()
    // Aborted by us, or already failed (a deadline, then undici's own report of the cancel).
    if (this.aborted || this.failure !== undefined) return
    this.failure = error
    const start = this.start
    this.start = undefined
    if (start !== undefined) {
      start(Effect.fail(new HttpClientError.RequestError({ request: this.request, reason: "Transport", cause: error })))
    } else {
      this.wake()
    }
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
      this.resumeFn?.()
    }
    return chunks
  }

  bodyError(cause: unknown): HttpClientError.ResponseError {
    return new HttpClientError.ResponseError({
      request: this.request,
      response: this.response!,
      reason: "Decode",
      cause
    })
  }
}

/** Sends `request` through `dispatcher`; interruption before the headers cancels it. */
/**
 * A response body read without a `Stream`: `read` waits for the next chunks
 * and gives every chunk that arrived, or `undefined` once the body has ended;
 * `cancel` aborts the request if it still runs.
 */
export interface BodyReader {
  readonly read: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, HttpClientError.ResponseError>
  readonly cancel: Effect.Effect<void>
  /** Ends the request's `Deadline` early: what the body has yet to bring may take its time. */
  readonly endDeadline: () => void
}

/** The reader of a response from `send`; `undefined` for a response of any other client. */
export const bodyReader = (response: HttpClientResponse.HttpClientResponse): BodyReader | undefined =>
  response instanceof UndiciResponse ? response.reader() : undefined

export const send = (
  dispatcher: Dispatcher,
  request: HttpClientRequest.HttpClientRequest,
  options: Dispatcher.DispatchOptions,
  deadline?: Deadline
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError> =>
  Effect.async<HttpClientResponse.HttpClientResponse, HttpClientError.RequestError>((resume) => {
    const exchange = new Exchange(request, resume)
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
  readonly [IncomingMessage.TypeId]: IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private cachedHeaders: Headers.Headers | undefined = undefined
  private cachedBody: Uint8Array | undefined = undefined
  private consumed = false

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    private readonly exchange: Exchange,
    readonly status: number,
    private readonly rawHeaders: Array<Buffer>,
    readonly statusText: string
  ) {
    super()
  }

  get headers(): Headers.Headers {
    if (this.cachedHeaders !== undefined) return this.cachedHeaders
    const record: Record<string, string> = {}
    const raw = this.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString("latin1").toLowerCase()
      const value = raw[i + 1]!.toString("latin1")
      // Repeated headers join as the platform's `Headers.fromInput` joins arrays.
      record[name] = name in record ? `${record[name]}, ${value}` : value
    }
    return this.cachedHeaders = Headers.unsafeFromRecord(record)
  }

  get cookies(): Cookies.Cookies {
    const setCookie: Array<string> = []
    const raw = this.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.toString("latin1").toLowerCase() === "set-cookie") setCookie.push(raw[i + 1]!.toString("latin1"))
    }
    return setCookie.length === 0 ? Cookies.empty : Cookies.fromSetCookie(setCookie)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /**
   * The whole body. Read once and kept, so `text` after `json` (or twice)
   * answers the same bytes; interruption while it arrives cancels the request.
   */
  get arrayBufferBytes(): Effect.Effect<Uint8Array, HttpClientError.ResponseError> {
    return Effect.suspend(() => {
      if (this.cachedBody !== undefined) return Effect.succeed(this.cachedBody)
      const exchange = this.exchange
      if (this.consumed) return Effect.fail(exchange.bodyError("the body was already read as a stream, or by an interrupted read"))
      this.consumed = true
      exchange.unbounded = true
      const parts: Array<Uint8Array> = []
      const finish = (): Effect.Effect<Uint8Array, HttpClientError.ResponseError> => {
        for (const chunk of exchange.take()) parts.push(chunk)
        if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
        return Effect.succeed(this.cachedBody = concat(parts))
      }
      if (exchange.ended || exchange.failure !== undefined) return finish()
      return Effect.async<Uint8Array, HttpClientError.ResponseError>((resume) => {
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

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.ResponseError> {
    return Effect.map(this.arrayBufferBytes, (bytes) =>
      bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0
        ? bytes.buffer as ArrayBuffer
        : bytes.slice().buffer as ArrayBuffer)
  }

  get text(): Effect.Effect<string, HttpClientError.ResponseError> {
    return Effect.map(this.arrayBufferBytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<unknown, HttpClientError.ResponseError> {
    return Effect.flatMap(this.text, (text) => {
      try {
        return Effect.succeed(text === "" ? null : JSON.parse(text) as unknown)
      } catch (cause) {
        return Effect.fail(this.exchange.bodyError(cause))
      }
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.ResponseError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.ResponseError> {
    return Effect.flatMap(this.arrayBufferBytes, (bytes) =>
      Effect.tryPromise({
        try: () => new Response(bytes, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.exchange.bodyError(cause)
      }))
  }

  /**
   * The body's chunks as undici delivers them, every chunk buffered since the
   * last pull in one `Chunk`. Ending early (interruption, a `take`, a failure
   * downstream) cancels the request, so the server sees the socket close.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.ResponseError> {
    return Stream.suspend(() => {
      const reader = this.reader()
      return Stream.ensuring(
        Stream.repeatEffectChunkOption(
          Effect.flatMap(
            Effect.mapError(reader.read, Option.some),
            (parts) => parts === undefined ? Effect.fail(Option.none()) : Effect.succeed(Chunk.unsafeFromArray(parts))
          )
        ),
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
          return [cached]
        }),
        cancel: Effect.void,
        endDeadline: noop
      }
    }
    if (this.consumed) {
      return { read: Effect.fail(exchange.bodyError("the body was already read")), cancel: Effect.void, endDeadline: noop }
    }
    this.consumed = true
    const wait = Effect.async<void>((resume) => {
      exchange.waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        exchange.waiter = undefined
      })
    })
    const read: Effect.Effect<ReadonlyArray<Uint8Array> | undefined, HttpClientError.ResponseError> = Effect.suspend(() => {
      if (exchange.chunks.length > 0) return Effect.succeed(exchange.take())
      if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
      if (exchange.ended) return Effect.succeed(undefined)
      return Effect.zipRight(wait, read)
    })
    return { read, cancel: Effect.sync(() => exchange.abort()), endDeadline: () => exchange.disarm() }
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "@effect/platform/HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }
}
