/**
 * A streamed response body read through a wire format's `StreamParser`, as
 * the `ChunkSource` a stream pulls (`providerHttp`'s `source` opens it).
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
import { type BodyReader, bodyReader, BodyTooLarge, concat, UndiciResponse } from "../undici/response.js"
import type { ChunkSource } from "./chunkSource.js"
import type { StreamParser } from "./providerHttp.js"
import type * as RetryAfter from "./retryAfter.js"

// The body of a response from another HttpClient, read through its stream's
// own pull (`Stream.toPull` would add a semaphore per pull; one reader pulls here).
const streamReader = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<BodyReader> =>
  Effect.flatMap(
    Scope.make(),
    (scope) =>
      Effect.map(Channel.toPullScoped(Stream.toChannel(response.stream), scope), (pull): BodyReader => ({
        read: Pull.catchDone(pull, () => Effect.succeed(undefined)),
        cancel: Scope.close(scope, Exit.void),
        // `timeoutFail` bounds this reader's first batch; nothing to end.
        endDeadline: () => {}
      }))
  )

/** `f` with a reader of the body: undici's own, at once, when the response came from `UndiciHttpClient`. */
export const withReader = <A, E>(
  response: HttpClientResponse.HttpClientResponse,
  f: (reader: BodyReader) => Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const reader = bodyReader(response)
  return reader === undefined ? Effect.flatMap(streamReader(response), f) : f(reader)
}

/**
 * The whole body, unless it passes `maxBytes`: then nothing more is read, the
 * request is cancelled, and the read fails with `BodyTooLarge` as its cause.
 */
export const readWhole = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> =>
  response instanceof UndiciResponse
    ? response.bytesWithin(maxBytes)
    : Effect.flatMap(streamReader(response), (reader) => {
      const parts: Array<Uint8Array> = []
      let size = 0
      const next: Effect.Effect<Uint8Array, HttpClientError.HttpClientError> = Effect.flatMap(reader.read, (batch) => {
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
      return Effect.ensuring(next, reader.cancel)
    })

/**
 * The body as a `ChunkSource`, read without a second stream: each pull feeds
 * every network chunk that has arrived to the parser and gives what it
 * produced, so one array of ChatChunks per read, never an Effect per event.
 * `failed` is the error of a body that failed before the parser's terminal event.
 * Events the parser skipped (`StreamParser.skipped`) are reported as they are found.
 *
 * `peek` reads the next batch ahead and keeps it for the next pull (the
 * transport reads the first batch within the call's timeout that way),
 * with no layer around `pull` for the rest of the stream.
 *
 * `idle` (for a reader whose exchange does not watch for stalls itself,
 * another client's): a body that brings nothing for `idle.millis` while it is
 * read fails with `idle.error()`. One timer per body, re-armed only when it
 * fires early; a read stamps the time and races the body's one stall signal
 * (this library's undici client keeps the limit on the exchange instead, at
 * no cost per read).
 */
export const bodySource = (
  parser: StreamParser,
  reader: BodyReader,
  rateLimit: RetryAfter.Snapshot | undefined,
  failed: (error: HttpClientError.HttpClientError) => LlmError,
  idle?: { readonly millis: number; readonly error: () => LlmError } | undefined
): ChunkSource & { readonly peek: Pull.Pull<void, LlmError> } => {
  // A batch read ahead by `peek`: the next pull gives it.
  let ahead: Arr.NonEmptyReadonlyArray<ChatChunk> | undefined
  // A failure found with chunks before it: those go out first, it on the next pull.
  let pending: LlmError | undefined
  let ended = false
  // The stall watch: the time of the last read, whether a read waits, whether it fired.
  let lastRead = 0
  let reading = false
  let stalled = false
  let stall: ((effect: Effect.Effect<never, LlmError>) => void) | undefined
  const stallSignal = Effect.callback<never, LlmError>((resume) => {
    if (stalled) resume(Effect.fail(idle!.error()))
    else stall = resume
  })
  let watch: ReturnType<typeof setTimeout> | undefined
  const unwatch = () => {
    if (watch !== undefined) clearTimeout(watch)
    watch = undefined
  }
  const watchFired = () => {
    watch = undefined
    if (ended) return
    const now = Date.now()
    // A consumer that does not read is not the provider's stall.
    if (!reading) lastRead = now
    const left = idle!.millis - (now - lastRead)
    if (left > 0) {
      watch = setTimeout(watchFired, left)
      return
    }
    stalled = true
    const resume = stall
    stall = undefined
    resume?.(Effect.fail(idle!.error()))
  }
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
  const stalledOut = (error: LlmError): Pull.Pull<never, LlmError> => {
    ended = true
    unwatch()
    // A stall after the terminal event (an upstream that holds its body open after the reply) loses nothing.
    const outcome: Pull.Pull<never, LlmError> = parser.done ? Cause.done() : Effect.fail(error)
    return Effect.andThen(reader.cancel, outcome)
  }
  const bodyFailed = (error: HttpClientError.HttpClientError): Pull.Pull<never, LlmError> => {
    ended = true
    reading = false
    unwatch()
    // The body failing after the terminal event (a reset instead of a clean close) loses nothing.
    if (parser.done) return Cause.done()
    return Effect.fail(stalled ? idle!.error() : failed(error))
  }
  // One read of the body fed to the parser. Built once, not per read: a provider that flushes every token makes one
  // read per event.
  const readOnce: Pull.Pull<Arr.NonEmptyReadonlyArray<ChatChunk>, LlmError> = Effect.matchEffect(
    idle === undefined ? reader.read : Effect.raceFirst(reader.read, stallSignal),
    {
      onFailure: (error) => error instanceof HttpClientError.HttpClientError ? bodyFailed(error) : stalledOut(error),
      onSuccess: (parts) => {
        reading = false
        const out: Array<ChatChunk> = []
        if (parts === undefined) {
          ended = true
          unwatch()
          if (stalled && !parser.done) return Effect.fail(idle!.error())
          return settle(out, parser.end(out))
        }
        // The events of the chunks before one that fails (an oversized event) still go out first.
        return settle(out, parser.push(parts, out))
      }
    }
  )
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
    if (idle !== undefined) {
      reading = true
      lastRead = Date.now()
      if (watch === undefined) watch = setTimeout(watchFired, idle.millis)
    }
    return readOnce
  })
  const peek = Effect.map(pull, (batch) => {
    ahead = batch
  })
  return { pull, peek, close: idle === undefined ? reader.cancel : Effect.andThen(Effect.sync(unwatch), reader.cancel) }
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
