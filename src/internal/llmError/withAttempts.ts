/**
 * An error rebuilt with the attempts that came before it: what `Router` fails with at the end of a deployment chain.
 */
import type { Attempt, LlmError } from "../../LlmError.js"

/** The same error, of the same class, with `attempts` set. */
export const withAttempts = <E extends LlmError>(error: E, attempts: ReadonlyArray<Attempt>): E => {
  const { _tag, ...fields } = error
  const Class = error.constructor as new(fields: Omit<E, "_tag">) => E
  return new Class({ ...fields, attempts } as Omit<E, "_tag">)
}
