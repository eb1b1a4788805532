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
import * as Effect from "effect/Effect"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type { Dispatcher } from "undici"
import { UndiciResponse } from "./response.js"

/**
 * Bytes buffered ahead of a `stream` consumer before undici stops reading the
 * socket; `text`/`json`/`arrayBuffer` read without a limit, as a body read
 * whole must be held whole anyway.
 */
const highWaterMark = 64 * 1024

// A resolved promise's `then` queues the same microtask as `queueMicrotask`, without the
// AsyncResource Node makes for each `queueMicrotask` (one wake a read; its cost in docs/performance.md).
const resolved = Promise.resolve()

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
export type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler["onResponseStart"]>>[2]

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
  /** The chunks of a socket read are coming in; a microtask ends it (`readStarted`). */
  private reading = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private timedThroughBody = false
  // The phase limits' one timer (headers, then first token, then idle) and
  // the time of the last body bytes: a socket read (its first chunk) only
  // stamps the time, and the idle timer, when it fires early, re-arms for what is left.
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
    if (!this.reading) this.readStarted()
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

  /**
   * The first chunk of a socket read. undici hands over every HTTP chunk of
   * one read in one synchronous run, so the time of the body's last bytes is
   * read once a read, not once a chunk (a provider flushing every token sends
   * dozens of chunks a read), and a microtask wakes the reader after the last
   * chunk, so it takes them in one read (woken at each, the reader passed
   * each event alone through every stream above it).
   */
  private readStarted(): void {
    this.reading = true
    if (this.watching === watchIdle) this.lastData = Date.now()
    else if (this.watching === watchFirstToken) {
      this.unwatch()
      this.watchIdle()
    }
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

  bodyError(cause: unknown): HttpClientError.HttpClientError {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: this.request, response: this.response!, cause })
    })
  }
}

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
