/**
 * A `Result` a test expects to have gone one way: its success or its failure, else an error that shows the other
 * side (so a failing assertion names what came back).
 */
import * as Result from "effect/Result"

/** The success of `result`; throws naming its failure. */
export function read<A, E>(result: Result.Result<A, E>): A {
  return Result.getOrThrowWith(result, (failure) => new Error(`refused: ${JSON.stringify(failure)}`))
}

/** The failure of `result`; throws naming its success. */
export function failed<A, E>(result: Result.Result<A, E>): E {
  return Result.getOrThrowWith(Result.flip(result), (success) => new Error(`not refused: ${JSON.stringify(success)}`))
}
