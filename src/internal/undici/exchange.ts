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
   * The first chunk of a socket read. undici hands over every HTTP chunk of
   * one read in one synchronous run, so a microtask wakes the reader after the
   * last chunk, and it takes them in one read (woken at each, the reader
   * passed each event alone through every stream above it).
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
  options: Dispatcher.DispatchOptions
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
  Effect.callback<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>((resume) => {
    const exchange = new Exchange(request, url, resume)
    dispatcher.dispatch(options, exchange)
    return Effect.sync(() => exchange.abort())
  })
