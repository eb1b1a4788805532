/**
 * Opening a deployment's stream up to its first chunk, the point before which
 * `Router` falls back, and after which a failure fails the stream. (`Llm`
 * does the same over a provider's `ChunkSource`, without a second stream.)
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../ChatChunk.js"
import type { LlmError } from "../LlmError.js"

export type Pull = Effect.Effect<Chunk.Chunk<ChatChunk>, Option.Option<LlmError>>

export interface Opened<X> {
  /** Holds the stream and whatever `start` acquired; the consumer's stream closes it. */
  readonly scope: Scope.CloseableScope
  /** The first non-empty chunk. */
  readonly first: Chunk.Chunk<ChatChunk>
  readonly pull: Pull
  readonly extra: X
}

const firstChunk = (pull: Pull, ended: () => LlmError): Effect.Effect<Chunk.Chunk<ChatChunk>, LlmError> =>
  Effect.flatMap(
    Effect.mapError(pull, (error) => Option.getOrElse(error, ended)),
    (chunk) => (Chunk.isEmpty(chunk) ? firstChunk(pull, ended) : Effect.succeed(chunk))
  )

/**
 * Runs `start` in a new scope (what it acquires lives there), then pulls the
 * stream it returns up to its first non-empty chunk; a stream that ends before
 * any chunk fails with `ended()`. On failure (or interruption) the scope is
 * closed at once; on success it is handed over, open.
 */
export const open = <X>(
  start: (scope: Scope.Scope) => Effect.Effect<{ readonly stream: Stream.Stream<ChatChunk, LlmError>; readonly extra: X }, LlmError>,
  ended: () => LlmError
): Effect.Effect<Opened<X>, LlmError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Scope.make(), (scope) =>
      Effect.flatMap(
        restore(
          Effect.flatMap(start(scope), ({ extra, stream }) =>
            Effect.flatMap(Scope.extend(Stream.toPull(stream), scope), (pull) =>
              Effect.map(firstChunk(pull, ended), (first) => ({ first, pull, extra }))))
        ).pipe(Effect.exit),
        (opened) =>
          Exit.isFailure(opened)
            ? Effect.zipRight(Scope.close(scope, opened), Effect.failCause(opened.cause))
            : Effect.succeed({ scope, ...opened.value })
      ))
  )

/** The whole stream of an opened one: its first chunk, then the rest. */
export const rest = <X>(opened: Opened<X>): Stream.Stream<ChatChunk, LlmError> =>
  Stream.concat(Stream.fromChunk(opened.first), Stream.repeatEffectChunkOption(opened.pull))
