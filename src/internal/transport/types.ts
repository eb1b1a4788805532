/** The types of an adapter's HTTP transport (`transport/providerHttp.ts`). */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type * as Redacted from "effect/Redacted"
import type * as Result from "effect/Result"
import type { ChatChunk } from "../../ChatChunk.js"
import type { InvalidRequestError, LlmError, OutputDecodeError, TransportError } from "../../LlmError.js"
import type { Credentials, HttpOptions } from "../../ProviderClient.js"
import type * as RetryAfter from "../llmError/retryAfter.js"
import type { ChunkSource } from "./chunkSource.js"
import type { SkippedEvents } from "./skippedEvents.js"

/**
 * One response body's stream state. `push` and `end` append chunks to `out` and return the failure that ends the
 * stream, if any (the chunks appended before it still count); `done`: the terminal event was seen (a transport failure
 * after it loses nothing).
 */
export interface StreamParser {
  readonly done: boolean
  /** Events skipped because they were not JSON (reported by the body's reader); absent until the first. */
  readonly skipped?: SkippedEvents | undefined
  /** The error of a body that failed mid-way (`responseStarted`); `Transport.transportError` when absent. */
  transportError?(detail: string): TransportError
  /** The chunks of one read of the body, in order. */
  push(parts: NonEmptyReadonlyArray<Uint8Array>, out: Array<ChatChunk>): LlmError | undefined
  end(out: Array<ChatChunk>): LlmError | undefined
}

/** The transport of one adapter: where it sends, how the key goes, and the user's `HttpOptions`. */
export interface Options extends HttpOptions {
  readonly provider: string
  /** Joined with each call's path; a trailing `/` is dropped. */
  readonly baseUrl: string
  /** The header that carries the key (`authorization` with `Bearer `, `x-api-key`...); none when undefined. */
  readonly auth: (key: Redacted.Redacted<string>) => readonly [name: string, value: string] | undefined
  /** Headers that depend on the request's time (a signed token); traces redact only `authorization`. Default: none. */
  readonly timedAuth?:
    | ((key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>>)
    | undefined
  /**
   * A bearer token asked for per request (Microsoft Entra ID's), sent in place of the key; its failure fails the call
   * with `AuthError` `credential_unavailable`. Default: none.
   */
  readonly token?: Effect.Effect<Redacted.Redacted<string>, string> | undefined
  /**
   * Signs each request as it is sent (AWS Signature Version 4); a detail naming the credentials tried, when none could
   * be had, fails the call with `AuthError` `credential_unavailable`. Default: none.
   */
  readonly sign?:
    | ((request: HttpClientRequest.HttpClientRequest, nowMillis: number) => Effect.Effect<
      HttpClientRequest.HttpClientRequest,
      string
    >)
    | undefined
  /**
   * Headers besides `authorization` that `timedAuth` or `sign` set with a secret (AWS's `x-amz-security-token`),
   * redacted from traces as the key's header is. Default: none.
   */
  readonly secretHeaders?: ReadonlyArray<string> | undefined
  /** The request id of a response, for the errors `json` builds. Default: none. */
  readonly requestId?: ((response: HttpClientResponse.HttpClientResponse) => string | undefined) | undefined
  /** How many characters of a raw body an `OutputDecodeError` keeps. Default: 500. */
  readonly maxRawExcerpt?: number | undefined
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

/** What a stream's parser is built from, once the response headers are in. */
export interface StreamStart {
  readonly response: HttpClientResponse.HttpClientResponse
  readonly startMillis: number
  readonly clock: Clock.Clock
}

export interface Transport {
  readonly provider: string
  /** The timeout of a call whose request sets none. */
  readonly timeout: Duration.Duration
  /** The largest body read whole, in bytes, and the cap of a stream event's size (`HttpOptions.maxResponseBytes`). */
  readonly maxResponseBytes: number
  /** A POST of `body` as JSON to `path`, or the `InvalidRequestError` of a body that cannot be written. */
  readonly prepare: (args: {
    readonly path: string
    readonly body: unknown
    readonly model: string
    readonly credentials: Credentials
    /** The request's own timeout, overriding the default. */
    readonly timeout?: Duration.Duration | undefined
    /** Headers of this call, set over the provider's own. Default: none. */
    readonly headers?: Readonly<Record<string, string>> | undefined
  }) => Result.Result<Call, InvalidRequestError>
  /**
   * Sends the call and reads its whole reply as a JSON object, within the timeout; a body past `maxResponseBytes` fails
   * with `OutputDecodeError`. Every failure, `read`'s too, has every secret the request carried masked.
   */
  readonly json: <A>(call: Call, read: (reply: JsonReply) => Effect.Effect<A, LlmError>) => Effect.Effect<A, LlmError>
  /** Sends the call and reads its whole reply as text (a batch's JSONL results), bounded and masked as `json`'s. */
  readonly text: <A>(
    call: Call,
    read: (text: string, response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, LlmError>
  ) => Effect.Effect<A, LlmError>
  /** Reads a 2xx response's whole body as a JSON object (a stream request answered with one JSON body). */
  readonly readJson: (call: Call, start: StreamStart) => Effect.Effect<JsonReply, LlmError>
  /** The start of a body, bounded (an error or HTML page); empty when it cannot be read. */
  readonly boundedText: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<string>
  /**
   * Sends the call and reads its body as a `ChunkSource` through the parser `open` builds; the timeout bounds the wait
   * for the first batch, not the rest. An Effect from `open` (a server that answered a stream request with one JSON
   * body) gives the source's only batch. Failures are masked as `json`'s.
   */
  readonly source: (
    call: Call,
    open: (start: StreamStart) => StreamParser | Effect.Effect<ReadonlyArray<ChatChunk>, LlmError>
  ) => Effect.Effect<ChunkSource, LlmError>
  /**
   * The error of a 2xx body that carries an error payload, or of a stream's error event; unmasked, as the transport
   * masks the sent call's failures.
   */
  readonly errorOf: (
    call: Call,
    body: unknown,
    nowMillis: number,
    headers?: Readonly<Record<string, string | undefined>>
  ) => LlmError
  /** An `OutputDecodeError` with the raw text shortened. */
  readonly decodeError: (call: Call, detail: string, raw: string, requestId?: string | undefined) => OutputDecodeError
  /** A `TransportError` for a body that failed mid-way (`responseStarted`), with the key scrubbed from the detail. */
  readonly transportError: (call: Call, cause: unknown) => TransportError
}
