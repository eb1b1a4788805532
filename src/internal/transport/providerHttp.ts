/**
 * One provider call over HTTP, as every wire adapter makes it, over any `HttpClient`: a JSON POST with its secrets
 * masked in traces and errors, a non-2xx answer mapped through `fromHttpFailure`, a JSON reply read whole, or a
 * streamed body opened as a `ChunkSource` read through a per-stream parser.
 *
 * The phase limits (`headers`, `firstToken`, `idle`, and the call's own `request` timeout until its reply or a stream's
 * first batch) are kept by the `Clock`'s one watchdog (`time/watchdog`), which looks at the stamps on the call's
 * `Watch` when its soonest limit is due: no timer per read.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { constTrue } from "effect/Function"
import * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { ChatResponse } from "../../ChatResponse.js"
import {
  AuthError,
  fromHttpFailure,
  InvalidRequestError,
  type LlmError,
  OutputDecodeError,
  TimeoutError,
  TransportError
} from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import { messageOf } from "../errorText.js"
import { masked } from "../llmError/mask.js"
import * as RetryAfter from "../llmError/retryAfter.js"
import { RouterCall } from "../routerCall.js"
import { untraced } from "../telemetry.js"
import { type Bound, bounded, type Watchdog, watchdogOf } from "../time/watchdog.js"
import { BodyTooLarge, concat } from "./bytes.js"
import type { Batch, ChunkSource } from "./chunkSource.js"

export type { Call, JsonReply, Options, StreamParser, StreamStart, Transport } from "./types.js"
import { isJsonObject, parseJson } from "../json.js"
import type { Call, JsonReply, Options, StreamParser, Transport } from "./types.js"

/** A sent call's failure with every secret its request carried masked. */
type Mask = (error: LlmError) => LlmError

/**
 * A response body read without a second `Stream`: `read` gives every chunk pulled at once, failing with `Cause.Done` at
 * the end; `cancel` closes the body's stream, which cancels the request and ends a read in progress.
 */
interface BodyReader {
  readonly read: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, HttpClientError.HttpClientError>
  readonly cancel: Effect.Effect<void>
}

/** `response.stream` read through its channel's own pull: `Stream.toPull` would add a semaphore per pull. */
function reader(response: HttpClientResponse.HttpClientResponse): Effect.Effect<BodyReader> {
  return Effect.flatMap(
    Scope.make(),
    (scope) =>
      Effect.map(Channel.toPullScoped(Stream.toChannel(response.stream), scope), (pull): BodyReader => ({
        read: pull,
        cancel: Scope.close(scope, Exit.void)
      }))
  )
}

/** The whole body; past `maxBytes` the request is cancelled and the read fails with `BodyTooLarge`. */
export function readWhole(
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
  // A length the response declares bounds its body (HTTP frames the body by it): within the limit, the body is read
  // whole as the client reads one (a stream of it costs more than the rest of a short call).
  return Number(response.headers["content-length"]) <= maxBytes
    ? Effect.map(response.arrayBuffer, (buffer) => new Uint8Array(buffer))
    : readCounted(response, maxBytes)
}

function readCounted(
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
  return Effect.flatMap(reader(response), (body) => {
    const parts: Array<Uint8Array> = []
    let size = 0
    const read = Pull.catchDone(body.read, () => Effect.succeed(undefined))
    const next: Effect.Effect<Uint8Array, HttpClientError.HttpClientError> = Effect.flatMap(read, (batch) => {
      if (batch === undefined) return Effect.succeed(concat(parts))
      for (const bytes of batch) {
        parts.push(bytes)
        size += bytes.length
      }
      return size <= maxBytes ? next : Effect.fail(
        new HttpClientError.HttpClientError({
          reason: new HttpClientError.DecodeError({
            request: response.request,
            response,
            cause: new BodyTooLarge(maxBytes)
          })
        })
      )
    })
    return Effect.ensuring(next, body.cancel)
  })
}

/** What `bodySource` reads and reports to. */
interface Body {
  readonly parser: StreamParser
  readonly reader: BodyReader
  readonly rateLimit: RetryAfter.Snapshot | undefined
  /** The error of a body that failed before the parser's terminal event. */
  readonly failed: (error: HttpClientError.HttpClientError) => LlmError
  /** Masks every secret the request carried in a failure of a read (made where the failure is, not a step a read). */
  readonly mask: Mask
  /** The call's watch: each read is stamped on it; a read it ended fails with `timedOut` of its phase. */
  readonly watch: Watch
  readonly timedOut: (phase: Phase) => LlmError
}

/** A body's source, and `stop`, which ends the read in progress and every read after it (a phase limit passed). */
interface BodySource extends ChunkSource {
  readonly stop: Effect.Effect<void>
}

/**
 * The body as a `ChunkSource`, read by a fiber of its own, one read a pull and none ahead, so that `stop` (a phase
 * limit passed) ends a read in progress whatever the client's stream does when cancelled: undici's and fetch's end a
 * waiting read, `NodeHttpClient`'s waits forever. A race per read would cost two fibers a read (docs/performance.md).
 *
 * A read's chunks all go through the parser at once: a pull gets one array of ChatChunks, never an Effect per event.
 * The first batch out ends the call's own timeout (`Watch.release`): the caller's pull waits for it within its
 * deadline. A read the watchdog ended fails with that limit's error, unless the parser saw the terminal event (a body
 * held open after the reply loses nothing).
 */
function bodySource(body: Body): Effect.Effect<BodySource> {
  return Effect.suspend(() => {
    const { parser, rateLimit, watch } = body
    // A failure found with chunks before it: those go out first, it on the next pull.
    let pending: LlmError | undefined
    let ended = false
    // Rate-limit headers and the skipped-event count go out on the Finish chunk; a stream with neither copies nothing.
    function batch(out: Arr.NonEmptyArray<ChatChunk>) {
      watch.release()
      const skippedEvents = parser.skipped?.count
      if (rateLimit !== undefined || skippedEvents !== undefined) {
        for (let i = 0; i < out.length; i++) {
          const item = out[i]!
          if (item._tag !== "Finish") continue
          out[i] = skippedEvents === undefined
            ? { ...item, rateLimit: rateLimit! }
            : rateLimit === undefined
            ? { ...item, skippedEvents }
            : { ...item, rateLimit, skippedEvents }
        }
      }
      return Effect.succeed(out)
    }
    // Events the parser skipped (not JSON) and reported so far: checked once per read, not per event.
    let skipped = 0
    function settle(out: Array<ChatChunk>, failure: LlmError | undefined) {
      if (failure !== undefined) pending = body.mask(failure)
      // Nothing whole in this read: the pull reads again.
      const next = Arr.isArrayNonEmpty(out) ? batch(out) : pull
      const counter = parser.skipped
      if (counter === undefined || counter.count === skipped) return next
      skipped = counter.count
      return Effect.andThen(counter.report, next)
    }
    // The body ended by the watchdog: after the terminal event (an upstream that holds its body open) nothing is lost.
    function timedOut(phase: Phase): Pull.Pull<never, LlmError> {
      ended = true
      return parser.done ? Cause.done() : Effect.fail(body.mask(body.timedOut(phase)))
    }
    // The body's end: the parser's last events, or its failure for a stream cut short.
    function end(): Pull.Pull<Arr.NonEmptyReadonlyArray<ChatChunk>, LlmError> {
      ended = true
      const out: Array<ChatChunk> = []
      return settle(out, parser.end(out))
    }
    // A read's outcome fed to the parser (`undefined`: the read was stopped): what the pull gives.
    function fed(parts: Arr.NonEmptyReadonlyArray<Uint8Array> | undefined): Pull.Pull<Batch, LlmError> {
      watch.read(parts !== undefined)
      if (watch.passed !== undefined) return timedOut(watch.passed)
      if (parts === undefined) return end()
      const out: Array<ChatChunk> = []
      // The events of the chunks before one that fails (an oversized event) still go out first.
      return settle(out, parser.push(parts, out))
    }
    function failedRead(error: HttpClientError.HttpClientError | Cause.Done): Pull.Pull<Batch, LlmError> {
      watch.read(false)
      if (watch.passed !== undefined) return timedOut(watch.passed)
      if (Cause.isDone(error)) return end()
      ended = true
      // The body failing after the terminal event (a reset instead of a clean close) loses nothing.
      return parser.done ? Cause.done() : Effect.fail(body.mask(body.failed(error)))
    }
    // The pull waiting for the fiber's read; the fiber waiting to be asked, or a request made before it waited.
    let waiting: ((result: Pull.Pull<Batch, LlmError>) => void) | undefined
    let idle: (() => void) | undefined
    let asked = false
    let stopped = false
    function hand(result: Pull.Pull<Batch, LlmError>) {
      const caller = waiting
      waiting = undefined
      caller?.(result)
    }
    // A read, fed and handed to the pull, and the wait for the next request: the fiber's whole turn.
    const handed = {
      onFailure: (cause: Cause.Cause<HttpClientError.HttpClientError | Cause.Done>): Effect.Effect<never> => {
        const failure = Cause.findError(cause)
        // No failure of the read's own: the fiber died or was interrupted, which the pull is told as it is.
        hand(Result.isSuccess(failure) ? failedRead(failure.success) : Effect.failCause(cause as Cause.Cause<never>))
        return loop
      },
      onSuccess: (parts: Arr.NonEmptyReadonlyArray<Uint8Array> | undefined): Effect.Effect<never> => {
        hand(fed(parts))
        return loop
      }
    }
    const step: Effect.Effect<never> = Effect.matchCauseEffect(body.reader.read, handed)
    // Resumed with the read itself, not with a signal to go on to it.
    const loop: Effect.Effect<never> = Effect.callback<never>((resume) => {
      if (!asked) {
        idle = () => resume(step)
        return
      }
      asked = false
      resume(step)
    })
    const pull: Pull.Pull<Batch, LlmError> = Effect.callback((resume) => {
      if (pending !== undefined) {
        const failure = pending
        pending = undefined
        ended = true
        return resume(Effect.fail(failure))
      }
      if (ended) return resume(Cause.done())
      if (stopped) return resume(fed(undefined))
      watch.reading()
      waiting = resume
      const wake = idle
      if (wake === undefined) asked = true
      else {
        idle = undefined
        wake()
      }
      // A pull interrupted while the fiber reads: what it reads is dropped (the stream is being closed).
      return Effect.sync(() => {
        if (waiting === resume) waiting = undefined
      })
    })
    // Forked as a task of the scheduler, not at once: started in the caller's turn, it made an `Llm` stream's reads
    // dearer (docs/performance.md).
    return Effect.map(Effect.forkDetach(loop), (fiber): BodySource => {
      const stop = Effect.suspend(() => {
        stopped = true
        if (waiting !== undefined) hand(fed(undefined))
        return Fiber.interrupt(fiber)
      })
      return { pull, stop, close: Effect.andThen(stop, body.reader.cancel) }
    })
  })
}

/** A source whose one batch is `chunks` (a stream request answered with one JSON body). */
function replay(chunks: ReadonlyArray<ChatChunk>): ChunkSource {
  let given = false
  return {
    pull: Effect.suspend(() => {
      if (given || !Arr.isReadonlyArrayNonEmpty(chunks)) return Cause.done()
      given = true
      return Effect.succeed(chunks)
    }),
    close: Effect.void
  }
}

/** The response with the rate-limit headers of its reply, when it sent any. */
export function withRateLimit(reply: JsonReply) {
  return (response: ChatResponse): ChatResponse =>
    reply.rateLimit === undefined ? response : { ...response, rateLimit: reply.rateLimit }
}

const maxErrorBodyBytes = 64 * 1024
const maxRawExcerpt = 500
const defaultTimeout = Duration.minutes(10)
const defaultHeadersTimeout = Duration.seconds(30)
const defaultIdleTimeout = Duration.seconds(30)
const defaultFirstTokenTimeout = Duration.minutes(2)

// The sooner of two limits in milliseconds, either of them none.
function sooner(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b)
}

/** The default of `HttpOptions.maxResponseBytes`: 64 MiB. */
export const defaultMaxResponseBytes = 64 * 1024 * 1024

/** The detail of an `OutputDecodeError` for `what` past `option`'s `limit`. */
export function overLimit(what: string, option: string, limit: string): string {
  return `${what} exceeded ${option} (${limit}); raise ${option} if replies this large are expected`
}

/**
 * The largest stream event a parser buffers, in characters: its own limit, or `maxResponseBytes` when smaller. A
 * character is at least one byte, so an event is never cut below `maxResponseBytes` bytes.
 */
export function eventLimit(own: number, maxResponseBytes: number): number {
  return Math.min(own, maxResponseBytes)
}

/** The `OutputDecodeError` detail of `what` past its `eventLimit`; `option` names the parser's own limit. */
export function eventTooLarge(what: string, option: string, own: number, maxResponseBytes: number): string {
  return maxResponseBytes < own
    ? overLimit(what, "maxResponseBytes", `${maxResponseBytes} bytes`)
    : overLimit(what, option, `${own} characters`)
}

// Paths (one per model for Gemini) whose request head is kept per key.
const maxHeads = 64

const utf8 = new TextDecoder()

function isOk(status: number) {
  return status >= 200 && status < 300
}

/** The text of an unknown failure, with its cause when it has one. */
export function causeText(cause: unknown): string {
  return cause instanceof Error && cause.cause instanceof Error
    ? `${cause.message}: ${cause.cause.message}`
    : messageOf(cause)
}

/** A short excerpt of a raw body for an error. */
export function excerpt(text: string, max: number = maxRawExcerpt): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

function scrub(text: string, credentials: Credentials): string {
  const key = Redacted.value(credentials.key)
  return key.length >= 4 ? text.split(key).join(credentials.keyId) : text
}

/**
 * The secrets the credential headers `names` of a request carry, as an upstream may echo them: each header's whole
 * value, its credential after a scheme (`Bearer <token>`), and a SigV4 authorization's signature.
 */
export function sentSecrets(
  headers: Readonly<Record<string, string | undefined>>,
  names: ReadonlyArray<string>
): Array<Redacted.Redacted<string>> {
  const secrets: Array<Redacted.Redacted<string>> = []
  for (const name of names) {
    const value = headers[name]
    if (value === undefined || value === "") continue
    secrets.push(Redacted.make(value))
    const credential = /^[A-Za-z0-9-]+ (\S+)$/.exec(value)?.[1]
    if (credential !== undefined) secrets.push(Redacted.make(credential))
    const signature = /Signature=([0-9a-f]+)/.exec(value)?.[1]
    if (signature !== undefined) secrets.push(Redacted.make(signature))
  }
  return secrets
}

/** The headers every request of a transport carries, and the names of those that carry a secret. */
function headersOf(options: Options) {
  const staticHeaders: Record<string, string> = { "content-type": "application/json" }
  const secretHeaderNames: Array<string> = []
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    staticHeaders[name.toLowerCase()] = Redacted.isRedacted(value) ? Redacted.value(value) : value
    if (Redacted.isRedacted(value)) secretHeaderNames.push(name.toLowerCase())
  }
  const probe = options.auth(Redacted.make(""))
  // `authorization` is redacted by the platform already; other key headers are not.
  if (probe !== undefined && probe[0].toLowerCase() !== "authorization") secretHeaderNames.push(probe[0].toLowerCase())
  for (const name of options.secretHeaders ?? []) secretHeaderNames.push(name.toLowerCase())
  return { staticHeaders, secretHeaderNames }
}

/** A transport's `prepare`: a call's body as JSON on the request head of its path and key. */
function makePrepare(
  options: Options,
  timeout: Duration.Duration,
  staticHeaders: Readonly<Record<string, string>>
): Transport["prepare"] {
  const provider = options.provider
  const baseUrl = options.baseUrl.replace(/\/+$/, "")
  // A request head per path and key, built once (up to `maxHeads` paths a key): a call adds only its body, so less is
  // built, and held through the network wait, per call.
  const heads = new WeakMap<Credentials, Map<string, HttpClientRequest.HttpClientRequest>>()
  function headOf(path: string, credentials: Credentials): HttpClientRequest.HttpClientRequest {
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

  const prepare: Transport["prepare"] = (args) => {
    let body: string
    try {
      body = JSON.stringify(args.body)
    } catch (error) {
      return Result.fail(
        new InvalidRequestError({
          provider,
          model: args.model,
          detail: `the request body cannot be written as JSON (${causeText(error)}); check providerOptions`
        })
      )
    }
    return Result.succeed({
      model: args.model,
      credentials: args.credentials,
      timeout: args.timeout ?? timeout,
      request: HttpClientRequest.bodyText(
        args.headers === undefined
          ? headOf(args.path, args.credentials)
          : HttpClientRequest.setHeaders(headOf(args.path, args.credentials), args.headers),
        body,
        "application/json"
      )
    })
  }
  return prepare
}

/**
 * A transport's `watched`: `work` raced by the call's one watchdog within its phase limits (`streamed`: first token and
 * stalls too); a limit that passes interrupts the work, cancelling its request. With no limit, no watchdog.
 */
function makeWatched(options: Options) {
  const headersMillis = Duration.toMillis(options.headersTimeout ?? defaultHeadersTimeout)
  const firstTokenMillis = Duration.toMillis(options.firstTokenTimeout ?? defaultFirstTokenTimeout)
  const idleMillis = Duration.toMillis(options.idleTimeout ?? defaultIdleTimeout)
  return function watched<A>(
    call: Call,
    streamed: boolean,
    work: (watch: Watch) => Effect.Effect<A, LlmError>
  ): Effect.Effect<A, LlmError> {
    return Effect.withFiber((fiber) => {
      const request = Duration.toMillis(call.timeout)
      const learned = streamed ? fiber.getRef(RouterCall).limits : undefined
      const limits: Limits = !streamed
        ? { request, headers: headersMillis }
        : learned === undefined
        ? { request, headers: headersMillis, firstToken: firstTokenMillis, idle: idleMillis }
        : {
          request,
          headers: sooner(headersMillis, learned.headers),
          firstToken: sooner(firstTokenMillis, learned.firstToken),
          idle: sooner(idleMillis, learned.idle)
        }
      const watch = new Watch(watchdogOf(fiber), limits)
      return watch.check(watch.clock.currentTimeMillisUnsafe()) === Infinity
        ? work(watch)
        : raced(work(watch), watch, (phase) => timeoutError(options.provider, call, watch, phase))
    })
  }
}

/** What a sent call goes on with on a 2xx response: its `mask` is handed on for the failures of a stream's reads. */
type Answered<A> = (
  response: HttpClientResponse.HttpClientResponse,
  startMillis: number,
  mask: Mask
) => Effect.Effect<A, LlmError>

/**
 * A transport's `send`: the call sent with its credentials, its failures masked with every secret the request carried;
 * `answered` is a continuation rather than a response to flatMap on, which saves steps per call.
 */
function makeSend(client: HttpClient.HttpClient, options: Options, secretHeaderNames: ReadonlyArray<string>) {
  const { provider, sign, timedAuth, token } = options
  // The headers whose values a failure's text may not hold: the key's, a cloud token's or signature's, the extra
  // secret ones. The key itself is masked only where it is sent: a cloud credential's stand-in key is not a secret.
  const credentialHeaders = ["authorization", ...secretHeaderNames]
  const sendsKey = token === undefined && sign === undefined

  // Every secret `outgoing` carries (`sentSecrets`), and the key where it is sent.
  function secretsOf(call: Call, outgoing: HttpClientRequest.HttpClientRequest) {
    const secrets = sentSecrets(outgoing.headers, credentialHeaders)
    if (sendsKey) secrets.push(call.credentials.key)
    return secrets
  }

  function withSecretHeaders<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return secretHeaderNames.length === 0
      ? effect
      : Effect.updateService(effect, Headers.CurrentRedactedNames, (names) => [...names, ...secretHeaderNames])
  }

  // The platform's per-request span costs a large share of a short call's CPU;
  // it is kept only when the application installed a tracer of its own.
  function execute(
    request: HttpClientRequest.HttpClientRequest
  ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> {
    return Effect.withFiber((fiber) =>
      withSecretHeaders(
        untraced(fiber)
          ? Effect.provideService(client.execute(request), HttpClient.TracerDisabledWhen, constTrue)
          : client.execute(request)
      )
    )
  }

  return function send<A>(call: Call, watch: Watch, answered: Answered<A>): Effect.Effect<A, LlmError> {
    const startMillis = watch.clock.currentTimeMillisUnsafe()
    const request = timedAuth === undefined
      ? call.request
      : HttpClientRequest.setHeaders(call.request, timedAuth(call.credentials.key, startMillis))
    function sent(outgoing: HttpClientRequest.HttpClientRequest) {
      const secrets = secretsOf(call, outgoing)
      return Effect.flatMap(
        Effect.mapError(execute(outgoing), httpTransportError(provider, call, false)),
        (response) => {
          watch.headersIn()
          // The one mask of a call's failures for every adapter (none masks its own), whatever built them: every
          // secret the request carried, masked in every field.
          const mask: Mask = (error) => masked(error, secrets)
          return Effect.mapError(
            isOk(response.status)
              ? answered(response, startMillis, mask)
              : Effect.flatMap(
                readBounded(response),
                (body) =>
                  Effect.fail(fromHttpFailure({
                    provider,
                    model: call.model,
                    status: response.status,
                    headers: response.headers,
                    body,
                    nowMillis: watch.clock.currentTimeMillisUnsafe()
                  }))
              ),
            mask
          )
        }
      )
    }
    function unavailable(detail: string) {
      return new AuthError({ provider, model: call.model, reason: "credential_unavailable", detail })
    }
    return sign !== undefined
      ? Effect.flatMap(Effect.mapError(sign(request, startMillis), unavailable), sent)
      : token === undefined
      ? sent(request)
      : Effect.flatMap(
        Effect.mapError(token, unavailable),
        (bearer) => sent(HttpClientRequest.setHeader(request, "authorization", `Bearer ${Redacted.value(bearer)}`))
      )
  }
}

// `responseStarted`: a body that failed mid-way; the provider was reached, its response had begun.
function transportFailure(provider: string, call: Call, detail: string, responseStarted: boolean) {
  return new TransportError({
    provider,
    model: call.model,
    detail: scrub(detail, call.credentials),
    ...(responseStarted ? { responseStarted } : {})
  })
}

/** The error of a request that failed (`responseStarted`: while its body was read). */
function httpTransportError(provider: string, call: Call, responseStarted: boolean) {
  return (error: HttpClientError.HttpClientError): LlmError =>
    transportFailure(provider, call, `${error.reason._tag}: ${causeText(error.cause ?? error)}`, responseStarted)
}

// A body that failed mid-way: a transport failure with the key scrubbed.
function bodyError(provider: string, call: Call, parser: StreamParser) {
  return (error: HttpClientError.HttpClientError): LlmError => {
    const detail = causeText(error.cause ?? error)
    return parser.transportError === undefined
      ? transportFailure(provider, call, causeText(detail), true)
      : parser.transportError(scrub(detail, call.credentials))
  }
}

// The error of a phase limit of `watch` that passed.
function timeoutError(provider: string, call: Call, watch: Watch, phase: Phase): TimeoutError {
  return new TimeoutError({
    provider,
    model: call.model,
    timeout: phase === "request" ? call.timeout : Duration.millis(watch.limits[phase] ?? 0),
    phase
  })
}

function readBounded(response: HttpClientResponse.HttpClientResponse): Effect.Effect<string> {
  return Effect.suspend(() => {
    const parts: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEachWhile(response.stream, (bytes) =>
      Effect.sync(() => {
        parts.push(bytes)
        size += bytes.length
        return size < maxErrorBodyBytes
      })).pipe(
        Effect.map(() => utf8.decode(concat(parts)).slice(0, maxErrorBodyBytes)),
        // An unreadable error body still maps by its status.
        Effect.orElseSucceed(() => "")
      )
  })
}

// A 2xx stream's source, opened at its headers: past the call's timeout (first batch) or idle limit (each later read),
// the watchdog stops the body's reads, which ends the read in progress.
function opened(
  response: HttpClientResponse.HttpClientResponse,
  body: Omit<Body, "reader" | "rateLimit">
): Effect.Effect<ChunkSource> {
  const watch = body.watch
  // Uninterruptible from opening the body until its `close` is handed on.
  return Effect.uninterruptible(Effect.flatMap(reader(response), (reader) => {
    const rateLimit = RetryAfter.snapshot((name) => response.headers[name], watch.clock.currentTimeMillisUnsafe())
    return Effect.map(bodySource({ ...body, reader, rateLimit }), (source): ChunkSource => {
      const unwatch = watch.watchRest(source.stop)
      return { pull: source.pull, close: Effect.andThen(Effect.sync(unwatch), source.close) }
    })
  }))
}

export function make(client: HttpClient.HttpClient, options: Options): Transport {
  const provider = options.provider
  const timeout = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
  const requestIdOf = options.requestId
  const rawMax = options.maxRawExcerpt ?? maxRawExcerpt
  const maxResponseBytes = options.maxResponseBytes ?? defaultMaxResponseBytes
  const { secretHeaderNames, staticHeaders } = headersOf(options)
  const send = makeSend(client, options, secretHeaderNames)
  const watched = makeWatched(options)

  const transportError: Transport["transportError"] = (call, cause) =>
    transportFailure(provider, call, causeText(cause), true)

  const decodeError: Transport["decodeError"] = (call, detail, raw, requestId) =>
    new OutputDecodeError({
      provider,
      model: call.model,
      ...(requestId !== undefined ? { requestId } : {}),
      detail,
      raw: excerpt(raw, rawMax)
    })

  // A body past `maxResponseBytes`: the read stopped, the request was cancelled.
  function bodyReadError(call: Call, response: HttpClientResponse.HttpClientResponse) {
    return (error: HttpClientError.HttpClientError): LlmError =>
      error.cause instanceof BodyTooLarge
        ? decodeError(
          call,
          overLimit("the response body", "maxResponseBytes", `${maxResponseBytes} bytes`),
          "",
          requestIdOf?.(response)
        )
        : httpTransportError(provider, call, true)(error)
  }

  const readJson: Transport["readJson"] = (call, { clock, response, startMillis }) =>
    Effect.flatMap(
      Effect.mapError(readWhole(response, maxResponseBytes), bodyReadError(call, response)),
      (bytes) => {
        const text = utf8.decode(bytes)
        // JSON.parse skips the blank lines some servers send while a request waits.
        const body = parseJson(text)
        if (Option.isNone(body) || !isJsonObject(body.value)) {
          const what = Option.isNone(body) ? "JSON" : "a JSON object"
          return Effect.fail(decodeError(call, `the response body is not ${what}`, text, requestIdOf?.(response)))
        }
        const now = clock.currentTimeMillisUnsafe()
        return Effect.succeed({
          body: body.value,
          text,
          response,
          latency: Duration.millis(Math.max(0, now - startMillis)),
          rateLimit: RetryAfter.snapshot((name) => response.headers[name], now)
        })
      }
    )

  function json<A>(call: Call, read: (reply: JsonReply) => Effect.Effect<A, LlmError>): Effect.Effect<A, LlmError> {
    return watched(
      call,
      false,
      (watch) =>
        send(
          call,
          watch,
          (response, startMillis) => Effect.flatMap(readJson(call, { response, startMillis, clock: watch.clock }), read)
        )
    )
  }

  function text<A>(
    call: Call,
    read: (text: string, response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, LlmError>
  ): Effect.Effect<A, LlmError> {
    return watched(call, false, (watch) =>
      send(call, watch, (response) =>
        Effect.flatMap(
          Effect.mapError(readWhole(response, maxResponseBytes), bodyReadError(call, response)),
          (bytes) => read(utf8.decode(bytes), response)
        )))
  }

  const source: Transport["source"] = (call, open) =>
    watched(call, true, (watch) =>
      send(call, watch, (response, startMillis, mask) => {
        const parser = open({ response, startMillis, clock: watch.clock })
        return Effect.isEffect(parser) ? Effect.map(parser, replay) : opened(response, {
          parser,
          failed: bodyError(provider, call, parser),
          mask,
          watch,
          timedOut: (phase) => timeoutError(provider, call, watch, phase)
        })
      }))

  // Within a sent call, whose mask masks what the request carried.
  const errorOf: Transport["errorOf"] = (call, body, nowMillis, headers) =>
    fromHttpFailure({ provider, model: call.model, headers, body, nowMillis })

  return {
    provider,
    timeout,
    maxResponseBytes,
    prepare: makePrepare(options, timeout, staticHeaders),
    json,
    text,
    readJson,
    boundedText: readBounded,
    source,
    errorOf,
    decodeError,
    transportError
  }
}

/** Which limit passed. */
export type Phase = "request" | "headers" | "firstToken" | "idle"

/** A call's limits in milliseconds; `undefined` (or `Infinity`) for none. */
export interface Limits {
  /** The call's timeout, until `Watch.release`. */
  readonly request: number
  readonly headers?: number | undefined
  /** From the headers to the body's first bytes (a stream's). */
  readonly firstToken?: number | undefined
  /** The longest a read of a streamed body waits for bytes, once the first-token limit is over. */
  readonly idle?: number | undefined
}

/** What one call has done so far, stamped by the call and read by its watchdog. */
export class Watch implements Bound<Phase> {
  private requestDue: number
  private headersAt: number | undefined = undefined
  private begun = false
  private readingSince: number | undefined = undefined
  // The shortest limit a stamp starts: the longest the watchdog sleeps while it may start.
  private readonly shortest: number
  /** The phase that passed, once the watchdog found one. */
  passed: Phase | undefined = undefined

  readonly clock: Clock.Clock
  private readonly start: number

  constructor(private readonly watchdog: Watchdog, readonly limits: Limits) {
    this.clock = watchdog.clock
    this.start = this.clock.currentTimeMillisUnsafe()
    this.requestDue = this.start + limits.request
    this.shortest = Math.min(limits.firstToken ?? Infinity, limits.idle ?? Infinity)
  }

  headersIn(): void {
    this.headersAt = this.clock.currentTimeMillisUnsafe()
  }

  /** A read of the body starts: it waits for the provider, not for the consumer. */
  reading(): void {
    this.readingSince = this.clock.currentTimeMillisUnsafe()
  }

  /** A read of the body ended; `bytes`: it brought some. */
  read(bytes: boolean): void {
    this.readingSince = undefined
    if (bytes) this.begun = true
  }

  /** The call's own timeout no longer bounds it (a stream's first batch is out); `watchRest` watches the rest. */
  release(): void {
    this.requestDue = Infinity
  }

  /** Runs `stop` once the released stream's idle limit passes; the returned function stops watching. */
  watchRest(stop: Effect.Effect<void>): () => void {
    return this.watchdog.keep(this, (phase) => {
      this.passed = phase
      Effect.runFork(stop)
    })
  }

  /** The phase that has passed at `now`, or when to look again (`Infinity`: never). */
  check(now: number): Phase | number {
    const limits = this.limits
    const request = this.requestDue
    if (now >= request) return "request"
    // Until the stamp that starts a later limit, look again within the shortest of them.
    const look = now + this.shortest
    if (this.headersAt === undefined) {
      const at = limits.headers === undefined ? Infinity : this.start + limits.headers
      if (at < request && now >= at) return "headers"
      return Math.min(request, at, look)
    }
    if (!this.begun && limits.firstToken !== undefined) {
      const at = this.headersAt + limits.firstToken
      return now >= at ? "firstToken" : Math.min(request, at, look)
    }
    if (limits.idle === undefined) return request
    // A consumer that does not read is not the provider's stall: look again an idle limit from now.
    const at = (this.readingSince ?? now) + limits.idle
    return now >= at ? "idle" : Math.min(request, at)
  }
}

/** `work` within `watch`'s limits: a limit that passes is recorded (`Watch.passed`) and interrupts the work. */
export function raced<A, E>(work: Effect.Effect<A, E>, watch: Watch, passed: (phase: Phase) => E): Effect.Effect<A, E> {
  return bounded(work, watch, (phase) => {
    watch.passed = phase
    return passed(phase)
  })
}
