/**
 * A stream's chunks pulled one batch at a time (`ChunkSource`): the form in which an adapter builds its stream, and in
 * which `Llm` and `Router` hold a stream they hand on, letting go in `close` of what they hold for its whole life (a
 * key and a permit, a deployment).
 *
 * Effect 4 runs a stream as its channel's pull, so a stream built by `streamFromSource` and read back by `openFirst`
 * gives the source's own pull, with no second stream around it, whoever built the stream (an adapter, an `Llm`, a
 * user's decorator).
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import { type LlmError, StreamTruncatedError } from "../../LlmError.js"

/** One batch of a stream's chunks. */
export type Batch = Arr.NonEmptyReadonlyArray<ChatChunk>

export interface ChunkSource {
  /** The next batch; fails with `Cause.Done` once the stream has ended, as a `Stream`'s pull does. */
  readonly pull: Pull.Pull<Batch, LlmError>
  /** Lets go of what the stream holds (aborts the request if it still runs). Called exactly once, on every path. */
  readonly close: Effect.Effect<void>
}

/** A stream over the source `open` gives, closed when the stream ends, fails or is interrupted. */
export function streamFromSource(open: Effect.Effect<ChunkSource, LlmError>): Stream.Stream<ChatChunk, LlmError> {
  return Stream.fromChannel(Channel.fromTransform((_, scope) =>
    // Uninterruptible between opening the source and handing its `close` to the stream's scope.
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(open), (source) => Effect.as(Scope.addFinalizer(scope, source.close), source.pull))
    )
  ))
}

/** `rest`, with `first` (a batch read from it already, if any) given out before it. */
export function startingWith(
  first: Batch | undefined,
  rest: Pull.Pull<Batch, LlmError>
): Pull.Pull<Batch, LlmError> {
  let head = first
  return Effect.suspend(() => {
    if (head === undefined) return first === undefined ? Cause.done() : rest
    const batch = head
    head = undefined
    return Effect.succeed(batch)
  })
}

/**
 * `stream` read through its own pull once its first batch has arrived: the point before which a caller may still try
 * elsewhere (an `Llm` retries, a `Router` falls back) and after which a failure fails the stream; one that ends before
 * any batch fails with `ended()`. What the stream holds is let go when `scope` closes, which the caller does on every
 * path, a failure here included.
 */
export function openFirst<A, E = LlmError>(
  stream: Stream.Stream<ChatChunk, E>,
  scope: Scope.Scope,
  ended: () => E,
  opened: (first: Batch, rest: Pull.Pull<Batch, E>) => A
): Effect.Effect<A, E> {
  return Effect.flatMap(Channel.toPullScoped(Stream.toChannel(stream), scope), (pull) =>
    Effect.mapBoth(pull, {
      onFailure: (error) => Cause.isDone(error) ? ended() : error,
      onSuccess: (first) => opened(first, pull)
    }))
}

/** `openFirst`'s `ended` for a stream of `model` at `provider`: the stream is truncated before any chunk. */
export const endedEmpty = (provider: string, model: string) => () =>
  new StreamTruncatedError({ provider, model, detail: "the stream ended before any chunk" })
