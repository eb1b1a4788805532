/**
 * Work over many items (a batch's lines) done in slices, the event loop given back between two, so that one large piece
 * of work does not hold every other request waiting.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"

/** How many items are taken between two turns of the event loop: some milliseconds of decoding a batch's lines. */
const sliceItems = 200

/**
 * `step` applied to each of `items` in turn, the event loop given back every `sliceItems`; the first failure stops it.
 */
export function inSlices<A, B, E>(
  items: Iterable<A>,
  step: (item: A) => Result.Result<B, E>
): Effect.Effect<Array<B>, E> {
  return Effect.suspend(() => {
    const iterator = items[Symbol.iterator]()
    const out: Array<B> = []
    const slice: Effect.Effect<boolean, E> = Effect.suspend(() => {
      for (let taken = 0; taken < sliceItems; taken++) {
        const next = iterator.next()
        if (next.done === true) return Effect.succeed(true)
        const result = step(next.value)
        if (Result.isFailure(result)) return Effect.fail(result.failure)
        out.push(result.success)
      }
      return Effect.succeed(false)
    })
    const rest: Effect.Effect<Array<B>, E> = Effect.flatMap(
      slice,
      (done) => done ? Effect.succeed(out) : Effect.andThen(Effect.yieldNow, rest)
    )
    return rest
  })
}
