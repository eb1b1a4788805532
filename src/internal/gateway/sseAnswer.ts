/**
 * A stream's answer, once its first batch is in: the route's encoder turns
 * each batch into one write of the response body; a failure is an error event
 * that ends it, as is a `Restart` the encoder cannot hide. Each batch is noted
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
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LlmError } from "../../LlmError.js"
import type { Batch } from "../chunkSource.js"
import type * as Errors from "./errors.js"
import * as Logs from "./logs.js"
import type * as Metrics from "./metrics.js"
import type * as Render from "./render.js"

/** How a route answers a failure: the error answer to an engine failure, and the body of a restart's error event. */
export interface Failures {
  readonly answer: (error: LlmError) => Errors.ErrorAnswer
  readonly restarted: string
}

// The writes of one pull of the body: a batch's one write (and a restart's error event), or a failure's error event.
type Writes = NonEmptyReadonlyArray<Uint8Array>

/**
 * The answer to a stream whose `first` batch is in and the rest to come from `rest`, encoded by `encoder`, with
 * `headers` (the content type is the encoder's); `scope` is the stream's (closing it lets go of what it holds).
 */
export const answer = (
  encoder: Render.StreamEncoder,
  first: Batch,
  rest: Pull.Pull<Batch, LlmError>,
  entry: Logs.Entry,
  failures: Failures,
  tally: Metrics.Tally,
  headers: Headers.Input,
  scope: Scope.Scope
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  let ended = false
  // A batch noted in the log entry, and in the metrics when it ends the stream (true then).
  const noted = (batch: Batch): boolean => {
    const finished = Logs.streamed(entry, batch)
    if (finished) tally.finished(entry.usage, entry.cost)
    return finished
  }
  // An encoded batch's writes: a restart the encoder cannot hide ends the stream with an error event.
  const writes = (encoded: Render.Encoded): Writes => {
    if (encoded.restarted === undefined) return [encoded.bytes]
    ended = true
    tally.restarted()
    return [encoded.bytes, encoder.error(failures.restarted)]
  }
  const written = (batch: Batch): Writes => {
    noted(batch)
    return writes(encoder.batch(batch))
  }
  // The stream's failure as an error event, which ends it.
  const failed = (error: LlmError): Writes => {
    ended = true
    tally.end()
    const answer = failures.answer(error)
    Logs.failed(entry, error._tag, answer)
    tally.failed(error)
    return [encoder.error(answer.body)]
  }
  // The writes of the next pull of `rest`; none when the stream has ended.
  const following = Effect.match(rest, {
    onFailure: (error): Writes | undefined => Cause.isDone(error) ? undefined : failed(error),
    onSuccess: written
  })
  const options = { contentType: encoder.contentType, headers }
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
      const pulled = owed ?? (ended ? undefined : following)
      owed = undefined
      if (pulled === undefined) return Cause.done()
      return Effect.flatMap(pulled, (writes) => {
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
    return more === undefined ? HttpServerResponse.uint8Array(encoded.bytes, options) : streamed([encoded.bytes, ...more])
  })
}
