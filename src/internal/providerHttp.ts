/**
 * The HTTP side every wire adapter shares: sending a JSON POST with the key and
 * extra headers (secret header names redacted from traces), mapping a non-2xx
 * answer through `fromHttpFailure` with its bounded body, transport failures and
 * timeouts, reading a whole JSON reply, and feeding a streamed body to a
 * per-stream parser one network chunk at a time.
 *
 * An adapter keeps only its wire format: how a request becomes a body, how a
 * reply body becomes a `ChatResponse`, and a `StreamParser` for its stream.
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../ChatChunk.js"
import type { ChatResponse } from "../ChatResponse.js"
import {
  fromHttpFailure,
  InvalidRequestError,
  type LlmError,
  OutputDecodeError,
  TimeoutError,
  TransportError
} from "../LlmError.js"
import type { Credentials } from "../ProviderClient.js"
import * as RetryAfter from "./retryAfter.js"
import { timeoutFail } from "./timeout.js"

/**
 * One response body's stream state. `push` and `end` append chunks to `out` and
 * return the failure that ends the stream, if any; `done` is true once the
 * terminal event was seen (a transport failure after it loses nothing).
 */
export interface StreamParser {
  readonly done: boolean
  /** The error of a body that failed mid-way; `Transport.transportError` when absent. */
  transportError?(detail: string): TransportError
  push(bytes: Uint8Array, out: Array<ChatChunk>): LlmError | undefined
  end(out: Array<ChatChunk>): LlmError | undefined
}

export interface Options {
  readonly provider: string
  /** Joined with each call's path; a trailing `/` is dropped. */
  readonly baseUrl: string
  /**
   * Headers on every request. `Redacted` values are sent as they are, and their
   * names are redacted from traces.
   */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /** The header that carries the key (`authorization` with `Bearer `, `x-api-key`...); none when undefined. */
  readonly auth: (key: Redacted.Redacted<string>) => readonly [name: string, value: string] | undefined
  /**
   * Headers that depend on the time of the request (a signed token), added
   * once per request with the key and the `Clock`'s time. Of their names,
   * traces redact only `authorization`. Default: none.
   */
  readonly timedAuth?: ((key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>>) | undefined
  /** The request id of a response, for the errors `json` builds. Default: none. */
  readonly requestId?: ((response: HttpClientResponse.HttpClientResponse) => string | undefined) | undefined
  /** How many characters of a raw body an `OutputDecodeError` keeps. Default: 500. */
  readonly maxRawExcerpt?: number | undefined
  /** The default request timeout. Default: 10 minutes. */
  readonly timeout?: Duration.DurationInput | undefined
}

/** A request ready to send, with what its errors need. */
export interface Call {
  readonly model: string
  readonly credentials: Credentials
  readonly timeout: Duration.Duration
  readonly request: HttpClientRequest.HttpClientRequest
}

/** A whole reply: its parsed JSON body, the response, and the call's latency. */
export interface JsonReply {
  readonly body: Readonly<Record<string, unknown>>
  /** The body as it came. */
  readonly text: string
  readonly response: HttpClientResponse.HttpClientResponse
  readonly latency: Duration.Duration
  /** The response's rate-limit headers, when it sent any. */
  readonly rateLimit: RetryAfter.Snapshot | undefined
}

/** The response with the rate-limit headers of its reply, when it sent any. */
export const withRateLimit = (reply: JsonReply) => (response: ChatResponse): ChatResponse =>
  reply.rateLimit === undefined ? response : { ...response, rateLimit: reply.rateLimit }

/** What a stream's parser is built from, once the response headers are in. */
export interface StreamStart {
  readonly response: HttpClientResponse.HttpClientResponse
  readonly startMillis: number
  readonly clock: Clock.Clock
}

export interface Transport {
  readonly provider: string
  /** A POST of `body` as JSON to `path`, or the `InvalidRequestError` of a body that cannot be written. */
  readonly prepare: (args: {
    readonly path: string
    readonly body: unknown
    readonly model: string
    readonly credentials: Credentials
    /** The request's own timeout, overriding the default. */
    readonly timeout?: Duration.Duration | undefined
  }) => Call | InvalidRequestError
  /** Sends the call and reads its whole reply as a JSON object, all within the timeout. */
  readonly json: (call: Call) => Effect.Effect<JsonReply, LlmError>
  /** Reads a 2xx response's whole body as a JSON object (a stream request answered with one JSON body). */
  readonly readJson: (call: Call, start: StreamStart) => Effect.Effect<JsonReply, LlmError>
  /** The start of a body, bounded (an error or HTML page); empty when it cannot be read. */
  readonly boundedText: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<string>
  /**
   * Sends the call and streams its body through the parser `open` builds; the
   * timeout bounds the wait for the response headers. When `open` returns an
   * Effect instead (a server that answered a stream request with one JSON
   * body), its chunks are the stream.
   */
  readonly stream: (
    call: Call,
    open: (start: StreamStart) => StreamParser | Effect.Effect<ReadonlyArray<ChatChunk>, LlmError>
  ) => Stream.Stream<ChatChunk, LlmError>
  /**
   * The error of a 2xx body that carries an error payload, or of an error event
   * inside a stream. `nowMillis` comes from the `Clock` (`StreamStart.clock`).
   */
  readonly errorOf: (
    call: Call,
    body: unknown,
    nowMillis: number,
    headers?: Readonly<Record<string, string | undefined>>
  ) => LlmError
  /** An `OutputDecodeError` with the raw text shortened. */
  readonly decodeError: (call: Call, detail: string, raw: string, requestId?: string | undefined) => OutputDecodeError
  /** A `TransportError` for a body that failed mid-way, with the key scrubbed from the detail. */
  readonly transportError: (call: Call, cause: unknown) => TransportError
}

const maxErrorBodyBytes = 64 * 1024
const maxRawExcerpt = 500
const defaultTimeout = Duration.minutes(10)
const defaultTracer = Effect.runSync(Effect.tracer)

const isOk = (status: number) => status >= 200 && status < 300

/** The text of an unknown failure, with its cause when it has one. */
export const causeText = (cause: unknown): string =>
  cause instanceof Error
    ? (cause.cause instanceof Error ? `${cause.message}: ${cause.cause.message}` : cause.message)
    : String(cause)

/** A short excerpt of a raw body for an error. */
export const excerpt = (text: string, max: number = maxRawExcerpt): string =>
  text.length > max ? `${text.slice(0, max)}…` : text

const scrub = (text: string, credentials: Credentials): string => {
  const key = Redacted.value(credentials.key)
  return key.length >= 4 ? text.split(key).join(credentials.keyId) : text
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const make = (client: HttpClient.HttpClient, options: Options): Transport => {
  const provider = options.provider
  const timeout = options.timeout === undefined ? defaultTimeout : Duration.decode(options.timeout)
  const baseUrl = options.baseUrl.replace(/\/+$/, "")
  const timedAuth = options.timedAuth
  const requestIdOf = options.requestId
  const rawMax = options.maxRawExcerpt ?? maxRawExcerpt

  const staticHeaders: Record<string, string> = { "content-type": "application/json" }
  const secretHeaderNames: Array<string> = []
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (Redacted.isRedacted(value)) {
      staticHeaders[name.toLowerCase()] = Redacted.value(value)
      secretHeaderNames.push(name.toLowerCase())
    } else {
      staticHeaders[name.toLowerCase()] = value
    }
  }
  const probe = options.auth(Redacted.make(""))
  // `authorization` is redacted by the platform already; other key headers are not.
  if (probe !== undefined && probe[0].toLowerCase() !== "authorization") secretHeaderNames.push(probe[0].toLowerCase())

  const withSecretHeaders = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    secretHeaderNames.length === 0
      ? effect
      : Effect.locallyWith(effect, Headers.currentRedactedNames, (names) => [...names, ...secretHeaderNames])

  // The platform's per-request span costs a large share of a short call's CPU;
  // it is kept only when the application installed a tracer of its own.
  const execute = (
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
    Effect.tracerWith((tracer) =>
      withSecretHeaders(
        tracer === defaultTracer ? Effect.withTracerEnabled(client.execute(request), false) : client.execute(request)
      )
    )

  const prepare: Transport["prepare"] = (args) => {
    let body: string
    try {
      body = JSON.stringify(args.body)
    } catch (error) {
      return new InvalidRequestError({
        provider,
        model: args.model,
        detail: `the request body cannot be written as JSON (${causeText(error)}); check providerOptions`
      })
    }
    let request = HttpClientRequest.post(`${baseUrl}${args.path}`, { headers: staticHeaders })
    const auth = options.auth(args.credentials.key)
    if (auth !== undefined) request = HttpClientRequest.setHeader(request, auth[0], auth[1])
    return {
      model: args.model,
      credentials: args.credentials,
      timeout: args.timeout ?? timeout,
      request: HttpClientRequest.bodyText(request, body, "application/json")
    }
  }

  const transportError = (call: Call, cause: unknown) =>
    new TransportError({ provider, model: call.model, detail: scrub(causeText(cause), call.credentials) })

  const requestTransportError = (call: Call) => (error: HttpClientError.HttpClientError) =>
    transportError(call, `${error.reason}: ${causeText(error.cause ?? error)}`)

  const timeoutError = (call: Call) => () => new TimeoutError({ provider, model: call.model, timeout: call.timeout })

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

  const errorAt = (
    call: Call,
    body: unknown,
    headers: Readonly<Record<string, string | undefined>> | undefined,
    nowMillis: number,
    status?: number
  ) =>
    fromHttpFailure({
      provider,
      model: call.model,
      status,
      headers,
      body,
      nowMillis,
      secrets: [call.credentials.key]
    })

  const send = (call: Call, nowMillis: number): Effect.Effect<HttpClientResponse.HttpClientResponse, LlmError> =>
    Effect.flatMap(
      Effect.mapError(
        execute(
          timedAuth === undefined
            ? call.request
            : HttpClientRequest.setHeaders(call.request, timedAuth(call.credentials.key, nowMillis))
        ),
        requestTransportError(call)
      ),
      (response) =>
        isOk(response.status)
          ? Effect.succeed(response)
          : Effect.flatMap(readBounded(response), (body) =>
            Effect.clockWith((clock) =>
              Effect.fail(errorAt(call, body, response.headers, clock.unsafeCurrentTimeMillis(), response.status))
            ))
    )

  const decodeError: Transport["decodeError"] = (call, detail, raw, requestId) =>
    new OutputDecodeError({
      provider,
      model: call.model,
      ...(requestId !== undefined ? { requestId } : {}),
      detail,
      raw: excerpt(raw, rawMax)
    })

  const readJson: Transport["readJson"] = (call, { clock, response, startMillis }) =>
    Effect.flatMap(Effect.mapError(response.text, requestTransportError(call)), (text) => {
      let body: unknown
      try {
        // JSON.parse skips the blank lines some servers send while a request waits.
        body = JSON.parse(text)
      } catch {
        return Effect.fail(decodeError(call, "the response body is not JSON", text, requestIdOf?.(response)))
      }
      if (!isRecord(body)) {
        return Effect.fail(decodeError(call, "the response body is not a JSON object", text, requestIdOf?.(response)))
      }
      const now = clock.unsafeCurrentTimeMillis()
      return Effect.succeed({
        body,
        text,
        response,
        latency: Duration.millis(Math.max(0, now - startMillis)),
        rateLimit: RetryAfter.snapshot((name) => response.headers[name], now)
      })
    })

  const json = (call: Call): Effect.Effect<JsonReply, LlmError> =>
    Effect.clockWith((clock) => {
      const startMillis = clock.unsafeCurrentTimeMillis()
      return timeoutFail(
        Effect.flatMap(send(call, startMillis), (response) => readJson(call, { response, startMillis, clock })),
        call.timeout,
        timeoutError(call)
      )
    })

  // Feeds whole network chunks to the parser: one Chunk of ChatChunks out per
  // chunk in, never an Effect per event.
  const parse = (
    call: Call,
    parser: StreamParser
  ): Channel.Channel<
    Chunk.Chunk<ChatChunk>,
    Chunk.Chunk<Uint8Array>,
    LlmError,
    HttpClientError.ResponseError,
    unknown,
    unknown
  > => {
    type Out = Channel.Channel<Chunk.Chunk<ChatChunk>, Chunk.Chunk<Uint8Array>, LlmError, HttpClientError.ResponseError, unknown, unknown>
    const emit = (out: Array<ChatChunk>, failure: LlmError | undefined, then: Out): Out => {
      const next: Out = failure === undefined ? then : Channel.fail(failure)
      return out.length === 0 ? next : Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), next)
    }
    const loop: Out = Channel.readWithCause({
      onInput: (input: Chunk.Chunk<Uint8Array>) => {
        const out: Array<ChatChunk> = []
        let failure: LlmError | undefined
        for (const bytes of input) {
          failure = parser.push(bytes, out)
          if (failure !== undefined) break
        }
        return emit(out, failure, loop)
      },
      onFailure: (cause) =>
        // The body failing after the terminal event (a reset instead of a clean close) loses nothing.
        parser.done && Option.isSome(Cause.failureOption(cause))
          ? Channel.void
          : Channel.failCause(Cause.map(cause, (error) =>
            parser.transportError === undefined
              ? transportError(call, error.cause ?? error)
              : parser.transportError(scrub(causeText(error.cause ?? error), call.credentials)))),
      onDone: () => {
        const out: Array<ChatChunk> = []
        return emit(out, parser.end(out), Channel.void)
      }
    })
    return loop
  }

  const stream: Transport["stream"] = (call, open) =>
    // Channel.unwrap rather than Stream.unwrap: the latter flattens a stream of
    // streams, which costs about a third of a short stream's client CPU.
    Stream.fromChannel(Channel.unwrap(Effect.clockWith((clock) => {
      const startMillis = clock.unsafeCurrentTimeMillis()
      return Effect.map(
        timeoutFail(send(call, startMillis), call.timeout, timeoutError(call)),
        (response) => {
          const opened = open({ response, startMillis, clock })
          return Effect.isEffect(opened)
            ? Channel.flatMap(Channel.fromEffect(opened), (chunks) => Channel.write(Chunk.fromIterable(chunks)))
            : Channel.pipeTo(Stream.toChannel(response.stream), parse(call, opened))
        }
      )
    })))

  const errorOf: Transport["errorOf"] = (call, body, nowMillis, headers) => errorAt(call, body, headers, nowMillis)

  return { provider, prepare, json, readJson, boundedText: readBounded, stream, errorOf, decodeError, transportError }
}
