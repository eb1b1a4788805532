/**
 * The HTTP side every wire adapter shares: sending a JSON POST with the key and
 * extra headers (secret header names redacted from traces), mapping a non-2xx
 * answer through `fromHttpFailure` with its bounded body, transport failures and
 * timeouts, reading a whole JSON reply, and opening a streamed body as a
 * `ChunkSource` read through a per-stream parser (`bodySource`).
 *
 * The adapter template (`providers/adapter`) builds a `ProviderClient` over it
 * from a provider's wire table.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { constTrue } from "effect/Function"
import * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Pull from "effect/Pull"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { ChatResponse } from "../../ChatResponse.js"
import {
  fromHttpFailure,
  InvalidRequestError,
  type LlmError,
  OutputDecodeError,
  TimeoutError,
  TransportError
} from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import { untraced } from "../telemetry.js"
import { isLiveClock, maxTimerMillis, timeoutFail } from "../time/timeout.js"
import { executeWithin, keepsDeadlines } from "../undici/deadline.js"
import { type Deadline, DeadlineExceeded } from "../undici/exchange.js"
import { BodyTooLarge } from "../undici/response.js"
import * as BodySource from "./bodySource.js"
import type { ChunkSource } from "./chunkSource.js"
import * as RetryAfter from "./retryAfter.js"

export type { Call, JsonReply, Options, StreamParser, StreamStart, Transport } from "./types.js"
import type { Call, JsonReply, Options, StreamParser, Transport } from "./types.js"

/** The response with the rate-limit headers of its reply, when it sent any. */
export const withRateLimit = (reply: JsonReply) => (response: ChatResponse): ChatResponse =>
  reply.rateLimit === undefined ? response : { ...response, rateLimit: reply.rateLimit }

const maxErrorBodyBytes = 64 * 1024
const maxRawExcerpt = 500
const defaultTimeout = Duration.minutes(10)
const defaultHeadersTimeout = Duration.seconds(30)
const defaultIdleTimeout = Duration.seconds(30)

/** The default of `HttpOptions.maxResponseBytes`: 64 MiB. */
export const defaultMaxResponseBytes = 64 * 1024 * 1024

/** The detail of an `OutputDecodeError` for `what` past `option`'s `limit`. */
export const overLimit = (what: string, option: string, limit: string): string =>
  `${what} exceeded ${option} (${limit}); raise ${option} if replies this large are expected`

/**
 * The largest stream event (an SSE event, an NDJSON line) a parser buffers, in
 * characters: the parser's own limit (`own`), or `maxResponseBytes` when
 * smaller. A character is at least one byte, so an event is never cut below
 * `maxResponseBytes` bytes.
 */
export const eventLimit = (own: number, maxResponseBytes: number): number => Math.min(own, maxResponseBytes)

/**
 * The `OutputDecodeError` detail of `what` (an event, a line) past its `eventLimit`; `option` names the parser's own.
 */
export const eventTooLarge = (what: string, option: string, own: number, maxResponseBytes: number): string =>
  maxResponseBytes < own
    ? overLimit(what, "maxResponseBytes", `${maxResponseBytes} bytes`)
    : overLimit(what, option, `${own} characters`)

// A phase limit in milliseconds; `undefined` when unset or too long for a timer.
const limitMillis = (
  input: Duration.Input | undefined,
  fallback: Duration.Duration | undefined
): number | undefined => {
  const duration = input === undefined ? fallback : Duration.fromInputUnsafe(input)
  if (duration === undefined) return undefined
  const millis = Duration.toMillis(duration)
  return millis > maxTimerMillis ? undefined : millis
}

// Paths (one per model for Gemini) whose request head is kept per key.
const maxHeads = 64

const utf8 = new TextDecoder()

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
  const timeout = options.timeout === undefined ? defaultTimeout : Duration.fromInputUnsafe(options.timeout)
  const baseUrl = options.baseUrl.replace(/\/+$/, "")
  const timedAuth = options.timedAuth
  const requestIdOf = options.requestId
  const rawMax = options.maxRawExcerpt ?? maxRawExcerpt
  const headersMillis = limitMillis(options.headersTimeout, defaultHeadersTimeout)
  const firstTokenMillis = limitMillis(options.firstTokenTimeout, undefined)
  const idleMillis = limitMillis(options.idleTimeout, defaultIdleTimeout)
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes

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
      : Effect.updateService(effect, Headers.CurrentRedactedNames, (names) => [...names, ...secretHeaderNames])

  // The platform's per-request span costs a large share of a short call's CPU;
  // it is kept only when the application installed a tracer of its own.
  // With a deadline (see `bounded`), the client bounds the request itself.
  const execute = (
    request: HttpClientRequest.HttpClientRequest,
    deadline: Deadline | undefined
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
    deadline !== undefined
      ? executeWithin(client, request, deadline)!
      : Effect.withFiber((fiber) =>
        withSecretHeaders(
          untraced(fiber)
            ? Effect.provideService(client.execute(request), HttpClient.TracerDisabledWhen, constTrue)
            : client.execute(request)
        )
      )

  const deadlines = keepsDeadlines(client)

  // Runs `work` (given the fiber's clock) within the call's timeout, `through`
  // the headers or the whole body. This library's undici client, untraced and
  // on the live clock, keeps the deadline itself with a timer on the exchange;
  // a fiber racing the work would cost a short call a large share of its CPU.
  // Otherwise (another client, a tracer, `TestClock`) it is `timeoutFail`.
  // A stream (`phases`) is watched for its first token and for stalls too;
  // those limits are kept by this library's undici client only.
  const bounded = <A>(
    call: Call,
    through: Deadline["through"],
    phases: boolean,
    work: (deadline: Deadline | undefined, clock: Clock.Clock) => Effect.Effect<A, LlmError>
  ): Effect.Effect<A, LlmError> =>
    Effect.withFiber((fiber) => {
      const clock = fiber.getRef(Clock.Clock)
      const millis = Duration.toMillis(call.timeout)
      return deadlines && untraced(fiber) && isLiveClock(clock) &&
          millis <= maxTimerMillis
        ? work(
          phases
            ? { millis, through, headers: headersMillis, firstToken: firstTokenMillis, idle: idleMillis }
            : { millis, through, headers: headersMillis },
          clock
        )
        : timeoutFail(work(undefined, clock), call.timeout, timeoutError(call))
    })

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
    return {
      model: args.model,
      credentials: args.credentials,
      timeout: args.timeout ?? timeout,
      request: HttpClientRequest.bodyText(headOf(args.path, args.credentials), body, "application/json")
    }
  }

  // The URL and headers of a request to `path` with `credentials`, built once
  // (up to `maxHeads` paths per key): a call adds only its body, so less is
  // built, and kept alive through the network wait, per call.
  const heads = new WeakMap<Credentials, Map<string, HttpClientRequest.HttpClientRequest>>()
  const headOf = (path: string, credentials: Credentials): HttpClientRequest.HttpClientRequest => {
    let byPath = heads.get(credentials)
    if (byPath === undefined) heads.set(credentials, byPath = new Map())
    const known = byPath.get(path)
    if (known !== undefined) return known
    let head = HttpClientRequest.post(`${baseUrl}${path}`, { headers: staticHeaders })
    const auth = options.auth(credentials.key)
    if (auth !== undefined) head = HttpClientRequest.setHeader(head, auth[0], auth[1])
    if (byPath.size < maxHeads) byPath.set(path, head)
    return head
  }

  // `responseStarted`: a body that failed mid-way; the provider was reached, its response had begun.
  const transportFailure = (call: Call, detail: string, responseStarted: boolean) =>
    new TransportError({
      provider,
      model: call.model,
      detail: scrub(detail, call.credentials),
      ...(responseStarted ? { responseStarted } : {})
    })

  const transportError = (call: Call, cause: unknown) => transportFailure(call, causeText(cause), true)

  /** The error of a request that failed (`responseStarted`: while its body was read). */
  const httpTransportError =
    (call: Call, responseStarted: boolean) => (error: HttpClientError.HttpClientError): LlmError =>
      error.cause instanceof DeadlineExceeded
        ? exceeded(call, error.cause)
        : transportFailure(call, `${error.reason._tag}: ${causeText(error.cause ?? error)}`, responseStarted)

  const timeoutError = (call: Call) => () =>
    new TimeoutError({ provider, model: call.model, timeout: call.timeout, phase: "request" })

  const phaseError = (call: Call, millis: number, phase: "headers" | "firstToken" | "idle") => () =>
    new TimeoutError({ provider, model: call.model, timeout: Duration.millis(millis), phase })

  // The error of a passed `Deadline`, by its phase.
  const exceeded = (call: Call, cause: DeadlineExceeded): TimeoutError =>
    cause.phase === "request"
      ? timeoutError(call)()
      : new TimeoutError({ provider, model: call.model, timeout: Duration.millis(cause.millis), phase: cause.phase })

  const readBounded = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> =>
    Effect.suspend(() => {
      const parts: Array<Uint8Array> = []
      let size = 0
      return Stream.runForEachWhile(response.stream, (bytes) =>
        Effect.sync(() => {
          parts.push(bytes)
          size += bytes.length
          return size < maxErrorBodyBytes
        })).pipe(
          Effect.map(() => {
            const decoder = new TextDecoder()
            let text = ""
            for (const part of parts) text += decoder.decode(part, { stream: true })
            return (text + decoder.decode()).slice(0, maxErrorBodyBytes)
          }),
          // An unreadable error body still maps by its status.
          Effect.orElseSucceed(() => "")
        )
    })

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

  // Without a `Deadline` (another client, a tracer, `TestClock`), the headers
  // limit is a timer of its own, when sooner than the request's timeout.
  const withHeadersLimit = <A>(
    call: Call,
    deadline: Deadline | undefined,
    effect: Effect.Effect<A, LlmError>
  ): Effect.Effect<A, LlmError> =>
    deadline !== undefined || headersMillis === undefined || headersMillis >= Duration.toMillis(call.timeout)
      ? effect
      : timeoutFail(effect, Duration.millis(headersMillis), phaseError(call, headersMillis, "headers"))

  // Sends the call and goes on with `answered` on a 2xx response (given as a
  // continuation, not a response to flatMap on: two fewer steps a call).
  const send = <A>(
    call: Call,
    nowMillis: number,
    deadline: Deadline | undefined,
    answered: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, LlmError>
  ): Effect.Effect<A, LlmError> =>
    Effect.flatMap(
      withHeadersLimit(
        call,
        deadline,
        Effect.mapError(
          execute(
            timedAuth === undefined
              ? call.request
              : HttpClientRequest.setHeaders(call.request, timedAuth(call.credentials.key, nowMillis)),
            deadline
          ),
          httpTransportError(call, false)
        )
      ),
      (response) =>
        isOk(response.status)
          ? answered(response)
          : Effect.flatMap(readBounded(response), (body) =>
            Effect.clockWith((clock) =>
              Effect.fail(errorAt(call, body, response.headers, clock.currentTimeMillisUnsafe(), response.status))
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

  // A body past `maxResponseBytes`: the read stopped, the request was cancelled.
  const bodyReadError =
    (call: Call, response: HttpClientResponse.HttpClientResponse) =>
    (error: HttpClientError.HttpClientError): LlmError =>
      error.cause instanceof BodyTooLarge
        ? decodeError(
          call,
          overLimit("the response body", "maxResponseBytes", `${maxResponseBytes} bytes`),
          "",
          requestIdOf?.(response)
        )
        : httpTransportError(call, true)(error)

  const readJson: Transport["readJson"] = (call, { clock, response, startMillis }) =>
    Effect.flatMap(
      Effect.mapError(BodySource.readWhole(response, maxResponseBytes), bodyReadError(call, response)),
      (bytes) => {
        const text = utf8.decode(bytes)
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
        const now = clock.currentTimeMillisUnsafe()
        return Effect.succeed({
          body,
          text,
          response,
          latency: Duration.millis(Math.max(0, now - startMillis)),
          rateLimit: RetryAfter.snapshot((name) => response.headers[name], now)
        })
      }
    )

  const json = (call: Call): Effect.Effect<JsonReply, LlmError> =>
    bounded(call, "body", false, (deadline, clock) => {
      const startMillis = clock.currentTimeMillisUnsafe()
      return send(call, startMillis, deadline, (response) => readJson(call, { response, startMillis, clock }))
    })

  // A body that failed mid-way: a timeout, or a transport failure with the key scrubbed.
  const bodyError = (call: Call, parser: StreamParser) => (error: HttpClientError.HttpClientError): LlmError => {
    if (error.cause instanceof DeadlineExceeded) return exceeded(call, error.cause)
    const detail = causeText(error.cause ?? error)
    return parser.transportError === undefined
      ? transportError(call, detail)
      : parser.transportError(scrub(detail, call.credentials))
  }

  // The first batch is read within the call's timeout too, so a stream's
  // timeout bounds the wait for its first chunk; the rest may take its time.
  const source: Transport["source"] = (call, open) =>
    bounded(call, "body", true, (deadline, clock) => {
      const startMillis = clock.currentTimeMillisUnsafe()
      return send(call, startMillis, deadline, (response) => {
        const opened = open({ response, startMillis, clock })
        if (Effect.isEffect(opened)) return Effect.map(opened, BodySource.replay)
        return BodySource.withReader(response, (reader) => {
          const rateLimit = RetryAfter.snapshot((name) => response.headers[name], clock.currentTimeMillisUnsafe())
          // Without a `Deadline`, the exchange does not watch the first token and stalls: these do.
          const rest = BodySource.bodySource(
            opened,
            reader,
            rateLimit,
            bodyError(call, opened),
            deadline === undefined && idleMillis !== undefined
              ? { millis: idleMillis, error: phaseError(call, idleMillis, "idle") }
              : undefined
          )
          // The first batch, read ahead: the source's first pull gives it.
          const first = deadline === undefined && firstTokenMillis !== undefined
            ? timeoutFail(
              rest.peek,
              Duration.millis(firstTokenMillis),
              phaseError(call, firstTokenMillis, "firstToken")
            )
            : rest.peek
          const source: ChunkSource = { pull: rest.pull, close: rest.close }
          // Closed here unless handed on: on a failure, a timeout or an interruption.
          return Effect.uninterruptibleMask((restore) =>
            Pull.matchEffect(restore(first), {
              onFailure: (cause) => Effect.andThen(rest.close, Effect.failCause(cause)),
              // An empty body: the source's pull ends at once.
              onDone: () => Effect.succeed(source),
              onSuccess: () => {
                reader.endDeadline()
                return Effect.succeed(source)
              }
            })
          )
        })
      })
    })

  const errorOf: Transport["errorOf"] = (call, body, nowMillis, headers) => errorAt(call, body, headers, nowMillis)

  return {
    provider,
    timeout,
    maxResponseBytes,
    prepare,
    json,
    readJson,
    boundedText: readBounded,
    source,
    errorOf,
    decodeError,
    transportError
  }
}
