/**
 * Building `ProviderClient.ChunkSource`s out of other things: a `Stream`
 * (read through `Stream.toPull`), a first batch read already, and a source
 * opened up to its first batch, the point before which a caller may still try
 * elsewhere (an `Llm` retries, a `Router` falls back) and after which a
 * failure fails the stream.
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../ChatChunk.js"
import type { LlmError } from "../LlmError.js"
import type { ChunkSource } from "../ProviderClient.js"

/** `stream` read through `Stream.toPull` in a scope of its own, which `close` closes. */
export const fromStream = (stream: Stream.Stream<ChatChunk, LlmError>): Effect.Effect<ChunkSource> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Scope.make(), (scope) =>
      Effect.onExit(
        restore(Scope.provide(Stream.toPull(stream), scope)),
        (exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)
      ).pipe(Effect.map((pull): ChunkSource => ({ pull, close: Scope.close(scope, Exit.void) }))))
  )

/** `rest`, with `first` (a batch read from it already, if any) given out before it. */
export const startingWith = (
  first: Arr.NonEmptyReadonlyArray<ChatChunk> | undefined,
  rest: ChunkSource
): ChunkSource => {
  let head = first
  return {
    pull: Effect.suspend(() => {
      if (head === undefined) return first === undefined ? Cause.done() : rest.pull
      const batch = head
      head = undefined
      return Effect.succeed(batch)
    }),
    close: rest.close
  }
}

/**
 * The source `open` opens, once its first batch has arrived; a source that
 * ends before any fails with `ended()`. On a failure or an interruption
 * before then, the source is closed.
 */
export const openToFirst = (
  open: Effect.Effect<ChunkSource, LlmError>,
  ended: () => LlmError
): Effect.Effect<ChunkSource, LlmError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(open), (source) =>
      Effect.map(
        Effect.onError(
          restore(Effect.mapError(source.pull, (error) => Cause.isDone(error) ? ended() : error)),
          () => source.close
        ),
        (first) => startingWith(first, source)
      ))
  )
