/**
 * A stream's answer, once its first batch is in: the route's encoder turns
 * each batch into one write of the response body; a failure is an error event
 * that ends it, as is a `Restart` the encoder cannot hide, and the gateway's
 * shutdown once its grace period is over (`drain.ts`). Each batch is noted
 * in the request's log entry (and, at its `Finish`, in the metrics) as it comes.
 *
 * A stream whose whole answer is in hand by its first batch (the batch holds
 * the `Finish`, after which the `ChatChunk` protocol has nothing but the
 * stream's end) is written in one piece when its end is in hand too: the pull
 * of its end starts at once, in a fiber of the stream's scope, and when it has
 * ended by the time it first waits (the upstream body came whole with the
 * reply), the answer is one `Uint8Array` body with the same headers, instead
 * of a `Stream` body of one write (effect/http writes a `Stream` body at a
 * higher cost per response). An upstream that sends its reply and its end in
 * one read (a short answer, a fast server, the bench's simulator) takes this
 * path. Otherwise the answer is a stream at once, its next write what that
 * pull brings: an upstream that holds its body open after the reply holds
 * back only the response's end, as without the extra pull.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Headers from "effect/http/Headers"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LlmError } from "../../LlmError.js"
import type { Batch } from "../transport/chunkSource.js"
import type { Drain } from "./drain.js"
import type * as Errors from "./errors.js"
import * as Logs from "./logs.js"
import type * as Metrics from "./metrics.js"
import type * as Render from "./render.js"

// The log's and the metrics' name for a stream cut at shutdown.
const shutdownTag = "ServerShutdown"

/**
 * How a route answers a failure: the error answer to an engine failure, the body of a restart's error event, and the
 * body of the error event that ends a stream cut at shutdown.
 */
export interface Failures {
  readonly answer: (error: LlmError) => Errors.ErrorAnswer
  readonly restarted: string
  readonly shutdown: string
}

/** A stream whose first batch is in: what its answer is made of. */
export interface Opened {
  /** Encodes the stream's batches in the route's wire. */
  readonly encoder: Render.StreamEncoder
  readonly first: Batch
  /** The rest of the stream, pulled batch by batch. */
  readonly rest: Pull.Pull<Batch, LlmError>
  readonly entry: Logs.Entry
  readonly failures: Failures
  readonly tally: Metrics.Tally
  /** The answer's headers (its content type is the encoder's). */
  readonly headers: Headers.Input
  /** The stream's scope: closing it lets go of what the stream holds. */
  readonly scope: Scope.Closeable
  /** Where the stream is kept, to be cut when the gateway shuts down (`drain.ts`). */
  readonly drain: Drain
  /**
   * Ends the response at once, outside its body's writer, with `last` as its last write (if any): how a cut ends a
   * stream whose writer waits on the upstream.
   */
  readonly endNow: (last: Uint8Array | undefined) => void
}

// The writes of one pull of the body: a batch's one write (and a restart's error event), or a failure's error event.
type Writes = NonEmptyReadonlyArray<Uint8Array>

/**
 * The answer to a stream, encoded by its encoder, its rest pulled as the response is written. Cut at shutdown
 * (`drain.ts`), the stream lets go of its upstream call and ends with the route's shutdown error event, unless its
 * whole answer went out already.
 */
export const answer = (opened: Opened): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const { encoder, entry, failures, first, rest, scope, tally } = opened
  let ended = false
  // Whether the answer's `Finish` went out; whether the stream is being cut; whether the body's writer waits on a
  // pull of `rest` (nothing but the request's interruption stops that pull, and that drops the connection).
  let complete = false
  let cutting = false
  let waiting = false
  // A batch noted in the log entry, and in the metrics when it ends the stream (true then).
  const noted = (batch: Batch): boolean => {
    const finished = Logs.streamed(entry, batch)
    if (finished) {
      complete = true
      tally.finished(entry.usage, entry.cost)
    }
    return finished
  }
  // An encoded batch's writes: a restart the encoder cannot hide ends the stream with an error event.
  const writes = (encoded: Render.Encoded): Writes => {
    if (encoded.restarted === undefined) return [encoded.bytes]
    ended = true
    tally.restarted()
    return [encoded.bytes, encoder.error(failures.restarted)]
  }
  // The end of a stream cut at shutdown: its error event, none when its answer is whole or it has ended already.
  const cutShort = (): Writes | undefined => {
    if (ended) return undefined
    ended = true
    if (complete) return undefined
    entry.error = shutdownTag
    tally.cut(shutdownTag)
    return [encoder.error(failures.shutdown)]
  }
  const written = (batch: Batch): Writes | undefined => {
    if (cutting) return cutShort()
    noted(batch)
    return writes(encoder.batch(batch))
  }
  // The stream's failure as an error event, which ends it.
  const failed = (error: LlmError): Writes | undefined => {
    if (cutting) return cutShort()
    ended = true
    tally.end()
    const answer = failures.answer(error)
    Logs.failed(entry, error._tag, answer)
    tally.failed(error)
    return [encoder.error(answer.body)]
  }
  // The writes of the next pull of `rest`; none when the stream has ended.
  const following = Effect.match(rest, {
    onFailure: (error): Writes | undefined => Cause.isDone(error) ? (cutting ? cutShort() : undefined) : failed(error),
    onSuccess: written
  })
  // A pull that failed as the cut closed the stream's scope under it ends as the cut does.
  const brokenOff = (cause: Cause.Cause<never>): Effect.Effect<Writes | undefined> =>
    cutting ? Effect.sync(cutShort) : Effect.failCause(cause)
  // The cut: the upstream call let go of, and the error event written by the body's writer at its next pull, or at
  // once, with the response's end, when the writer waits on a pull of `rest`.
  opened.drain.opened(
    entry,
    Effect.suspend(() => {
      if (ended) return Effect.void
      cutting = true
      if (waiting) opened.endNow(cutShort()?.[0])
      return Scope.close(scope, Exit.interrupt())
    })
  )
  const options = { contentType: encoder.contentType, headers: opened.headers }
  // A body of `head`, then what `pending` brings (a pull of `rest` under way: its writes are owed even when it
  // ended the stream, a failure's error event among them), then each batch of `rest` until it ends or fails.
  const streamed = (head: Writes, pending?: Effect.Effect<Writes | undefined>) => {
    let queued: Writes | undefined = head
    let owed = pending
    const pull = Effect.suspend((): Pull.Pull<Writes> => {
      if (queued !== undefined) {
        const writes = queued
        queued = undefined
        return Effect.succeed(writes)
      }
      const pulled = cutting ? Effect.sync(cutShort) : owed ?? (ended ? undefined : following)
      owed = undefined
      if (pulled === undefined) return Cause.done()
      waiting = true
      return Effect.flatMap(Effect.catchCause(pulled, brokenOff), (writes) => {
        waiting = false
        if (writes !== undefined) return Effect.succeed(writes)
        ended = true
        tally.end()
        return Cause.done()
      })
    })
    return HttpServerResponse.stream(Stream.fromPull(Effect.succeed(pull)), options)
  }
  const finished = noted(first)
  const encoded = encoder.batch(first)
  if (encoded.restarted !== undefined || !finished) return Effect.succeed(streamed(writes(encoded)))
  // The whole answer is in hand: its end is pulled at once, and waited for only as the stream's next write.
  return Effect.map(Effect.forkIn(following, scope, { startImmediately: true }), (pulling) => {
    const exit = pulling.pollUnsafe()
    if (exit === undefined || Exit.isFailure(exit)) return streamed([encoded.bytes], Fiber.join(pulling))
    const more = exit.value
    return more === undefined
      ? HttpServerResponse.uint8Array(encoded.bytes, options)
      : streamed([encoded.bytes, ...more])
  })
}
