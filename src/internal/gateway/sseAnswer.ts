/**
 * A stream's answer, once its first batch is in: the route's encoder turns
 * each batch into one write of the response body, the first at once and each
 * next one as the upstream brings it; a failure is an error event that ends
 * it, as is a `Restart` the encoder cannot hide, and the gateway's shutdown
 * once its grace period is over (`drain.ts`). Each batch is noted in the
 * request's log entry (and, at its `Finish`, in the metrics) as it comes.
 *
 * Every stream takes this one path, however its upstream's reads fall: a reply
 * that came whole in one read (a short one, a response-cache hit) is one write,
 * and the response ends when the upstream's body does.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Headers from "effect/http/Headers"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LlmError } from "../../LlmError.js"
import type { Batch } from "../transport/chunkSource.js"
import type { CutReason, Drain } from "./drain.js"
import * as Logs from "./observe/logs.js"
import type * as Metrics from "./observe/metrics.js"
import type * as Errors from "./openai/errors.js"
import type * as Render from "./openai/render.js"

// The log's and the metrics' name for a stream cut, by why it was cut.
const cutTags: Record<CutReason, string> = { shutdown: "ServerShutdown", revoked: "KeyRevoked" }

/**
 * How a route answers a failure: the error answer to an engine failure, the body of a restart's error event, and the
 * bodies of the error events that end a stream cut at shutdown, or because its key was revoked.
 */
export interface Failures {
  readonly answer: (error: LlmError) => Errors.ErrorAnswer
  readonly restarted: string
  readonly shutdown: string
  readonly revoked: string
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
export function answer(opened: Opened): HttpServerResponse.HttpServerResponse {
  const { encoder, entry, failures, first, rest, scope, tally } = opened
  let ended = false
  // Whether the answer's `Finish` went out; whether the stream is being cut; whether the body's writer waits on a
  // pull of `rest` (nothing but the request's interruption stops that pull, and that drops the connection).
  let complete = false
  let cutting: CutReason | undefined
  let waiting = false
  // A batch noted in the log entry, and in the metrics when it ends the stream.
  const noted = (batch: Batch): void => {
    if (!Logs.streamed(entry, batch)) return
    complete = true
    if (entry.midStream === "continued") tally.continued()
    tally.finished(entry.usage, entry.cost)
  }
  // What the encoder asked to be done before the writes of its last batch (`Encoded.before`).
  let before: Effect.Effect<void> | undefined
  // An encoded batch's writes: a restart the encoder cannot hide ends the stream with an error event.
  const writes = (encoded: Render.Encoded): Writes => {
    before = encoded.before
    if (encoded.restarted === undefined) return [encoded.bytes]
    ended = true
    tally.restarted()
    return [encoded.bytes, encoder.error(failures.restarted)]
  }
  // The end of a cut stream: its reason's error event, none when its answer is whole or it has ended already.
  const cutShort = (): Writes | undefined => {
    if (ended || cutting === undefined) return undefined
    ended = true
    if (complete) return undefined
    entry.error = cutTags[cutting]
    tally.cut(cutTags[cutting])
    return [encoder.error(failures[cutting])]
  }
  const written = (batch: Batch): Writes | undefined => {
    if (cutting !== undefined) return cutShort()
    noted(batch)
    return writes(encoder.batch(batch))
  }
  // The stream's failure as an error event, which ends it.
  const failed = (error: LlmError): Writes | undefined => {
    if (cutting !== undefined) return cutShort()
    ended = true
    tally.end()
    const answer = failures.answer(error)
    Logs.failed(entry, error._tag, answer)
    tally.failed(error)
    return [encoder.error(answer.body)]
  }
  // The writes of the next pull of `rest`; none when the stream has ended.
  const following = Effect.match(rest, {
    onFailure: (error): Writes | undefined =>
      Cause.isDone(error) ? (cutting !== undefined ? cutShort() : undefined) : failed(error),
    onSuccess: written
  })
  // A pull that failed as the cut closed the stream's scope under it ends as the cut does.
  const brokenOff = (cause: Cause.Cause<never>): Effect.Effect<Writes | undefined> =>
    cutting !== undefined ? Effect.sync(cutShort) : Effect.failCause(cause)
  // The cut: the upstream call let go of, and the error event written by the body's writer at its next pull, or at
  // once, with the response's end, when the writer waits on a pull of `rest`.
  opened.drain.opened(
    entry,
    (reason) =>
      Effect.suspend(() => {
        if (ended || cutting !== undefined) return Effect.void
        cutting = reason
        if (waiting) opened.endNow(cutShort()?.[0])
        return Scope.close(scope, Exit.interrupt())
      })
  )
  noted(first)
  // The first batch's writes, then those of each pull of `rest` until it ends or fails.
  let queued: Writes | undefined = writes(encoder.batch(first))
  // `writes`, once what the encoder asked for before them is done.
  const after = (writes: Writes): Effect.Effect<Writes> => {
    if (before === undefined) return Effect.succeed(writes)
    const pending = before
    before = undefined
    return Effect.as(pending, writes)
  }
  const pull = Effect.suspend((): Pull.Pull<Writes> => {
    if (queued !== undefined) {
      const head = queued
      queued = undefined
      return after(head)
    }
    const pulled = cutting !== undefined ? Effect.sync(cutShort) : ended ? undefined : following
    if (pulled === undefined) return Cause.done()
    waiting = true
    return Effect.flatMap(Effect.catchCause(pulled, brokenOff), (next) => {
      waiting = false
      if (next !== undefined) return after(next)
      ended = true
      tally.end()
      return Cause.done()
    })
  })
  return HttpServerResponse.stream(Stream.fromPull(Effect.succeed(pull)), {
    contentType: encoder.contentType,
    headers: opened.headers
  })
}
