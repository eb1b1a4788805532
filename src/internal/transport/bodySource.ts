/**
 * A response body, read through the `HttpClientResponse` contract (its
 * `stream`), whatever the client: read whole within a limit, or read through
 * a wire format's `StreamParser` as the `ChunkSource` a stream pulls
 * (`providerHttp`'s `source` opens it).
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { LlmError } from "../../LlmError.js"
import { BodyTooLarge, concat } from "./bytes.js"
import type { ChunkSource } from "./chunkSource.js"
import type { Phase, Watch } from "./phases.js"
import type { StreamParser } from "./providerHttp.js"
import type * as RetryAfter from "./retryAfter.js"

/**
 * A response body read without a second `Stream`: `read` waits for the next
 * chunks and gives every chunk the body's stream pulled at once, or
 * `undefined` once the body has ended; `cancel` closes the body's stream (the
 * request is cancelled if it still runs, and a read in progress ends).
 */
export interface BodyReader {
  readonly read: Effect.Effect<Arr.NonEmptyReadonlyArray<Uint8Array> | undefined, HttpClientError.HttpClientError>
  readonly cancel: Effect.Effect<void>
}

/**
 * The reader of `response.stream`, through its channel's own pull
 * (`Stream.toPull` would add a semaphore per pull; one reader pulls here).
 */
export const reader = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<BodyReader> =>
  Effect.flatMap(
    Scope.make(),
    (scope) =>
      Effect.map(Channel.toPullScoped(Stream.toChannel(response.stream), scope), (pull): BodyReader => ({
        read: Pull.catchDone(pull, () => Effect.succeed(undefined)),
        cancel: Scope.close(scope, Exit.void)
      }))
  )

/**
 * The whole body, unless it passes `maxBytes`: then nothing more is read, the
 * request is cancelled, and the read fails with `BodyTooLarge` as its cause.
 */
export const readWhole = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> =>
  // A length the response declares bounds its body (HTTP frames the body by it): within the limit, the body is read
  // whole as the client reads one (a stream of it costs more than the rest of a short call).
  Number(response.headers["content-length"]) <= maxBytes
    ? Effect.map(response.arrayBuffer, (buffer) => new Uint8Array(buffer))
    : readCounted(response, maxBytes)

const readCounted = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> =>
  Effect.flatMap(reader(response), (body) => {
    const parts: Array<Uint8Array> = []
    let size = 0
    const next: Effect.Effect<Uint8Array, HttpClientError.HttpClientError> = Effect.flatMap(body.read, (batch) => {
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

/** What `bodySource` reads and reports to. */
export interface Body {
  readonly parser: StreamParser
  readonly reader: BodyReader
  readonly rateLimit: RetryAfter.Snapshot | undefined
  /** The error of a body that failed before the parser's terminal event. */
  readonly failed: (error: HttpClientError.HttpClientError) => LlmError
  /** The call's watch: each read is stamped on it; a read it ended fails with `timedOut` of its phase. */
  readonly watch: Watch
  readonly timedOut: (phase: Phase) => LlmError
}

/**
 * The body as a `ChunkSource`, read without a second stream: each pull feeds
 * every network chunk that has arrived to the parser and gives what it
 * produced, so one array of ChatChunks per read, never an Effect per event.
 * Events the parser skipped (`StreamParser.skipped`) are reported as they are found.
 *
 * `peek` reads the next batch ahead and keeps it for the next pull (the
 * transport reads the first batch within the call's timeout that way),
 * with no layer around `pull` for the rest of the stream.
 *
 * A read that the call's watchdog ended (by cancelling the body, once the
 * stream is released) fails with that limit's error, unless the parser had
 * seen the terminal event: a body held open after the reply loses nothing.
 */
export const bodySource = (body: Body): ChunkSource & { readonly peek: Pull.Pull<void, LlmError> } => {
  const { parser, rateLimit, watch } = body
  const read = body.reader.read
  // A batch read ahead by `peek`: the next pull gives it.
  let ahead: Arr.NonEmptyReadonlyArray<ChatChunk> | undefined
  // A failure found with chunks before it: those go out first, it on the next pull.
  let pending: LlmError | undefined
  let ended = false
  // The response's rate-limit headers and the count of skipped events go out
  // on its Finish chunk (a healthy stream without headers copies nothing).
  const batch = (out: Arr.NonEmptyArray<ChatChunk>) => {
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
  const settle = (out: Array<ChatChunk>, failure: LlmError | undefined) => {
    if (failure !== undefined) pending = failure
    const next = Arr.isArrayNonEmpty(out) ? batch(out) : pull
    const counter = parser.skipped
    if (counter === undefined || counter.count === skipped) return next
    skipped = counter.count
    return Effect.andThen(counter.report, next)
  }
  // The body ended by the watchdog: after the terminal event (an upstream that holds its body open) nothing is lost.
  const timedOut = (phase: Phase): Pull.Pull<never, LlmError> => {
    ended = true
    return parser.done ? Cause.done() : Effect.fail(body.timedOut(phase))
  }
  // One read of the body fed to the parser. Built once, not per read: a provider that flushes every token makes one
  // read per event.
  const fed = {
    onFailure: (error: HttpClientError.HttpClientError): Pull.Pull<never, LlmError> => {
      watch.read(false)
      if (watch.passed !== undefined) return timedOut(watch.passed)
      ended = true
      // The body failing after the terminal event (a reset instead of a clean close) loses nothing.
      return parser.done ? Cause.done() : Effect.fail(body.failed(error))
    },
    onSuccess: (
      parts: Arr.NonEmptyReadonlyArray<Uint8Array> | undefined
    ): Pull.Pull<Arr.NonEmptyReadonlyArray<ChatChunk>, LlmError> => {
      watch.read(parts !== undefined)
      if (watch.passed !== undefined) return timedOut(watch.passed)
      const out: Array<ChatChunk> = []
      if (parts === undefined) {
        ended = true
        return settle(out, parser.end(out))
      }
      // The events of the chunks before one that fails (an oversized event) still go out first.
      return settle(out, parser.push(parts, out))
    }
  }
  const readOnce: Pull.Pull<Arr.NonEmptyReadonlyArray<ChatChunk>, LlmError> = Effect.matchEffect(read, fed)
  const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<ChatChunk>, LlmError> = Effect.suspend(() => {
    if (ahead !== undefined) {
      const batch = ahead
      ahead = undefined
      return Effect.succeed(batch)
    }
    if (pending !== undefined) {
      const failure = pending
      pending = undefined
      ended = true
      return Effect.fail(failure)
    }
    if (ended) return Cause.done()
    watch.reading()
    return readOnce
  })
  const peek = Effect.map(pull, (batch) => {
    ahead = batch
  })
  return { pull, peek, close: body.reader.cancel }
}

/** A source whose one batch is `chunks` (a stream request answered with one JSON body). */
export const replay = (chunks: ReadonlyArray<ChatChunk>): ChunkSource => {
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
