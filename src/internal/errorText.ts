/**
 * The text of a failure of unknown type: an `Error`'s message, anything else as `String` writes it. What a thrown
 * value, a rejected promise or a defect says, put into an error's message.
 */

/** An `Error`'s message, or the value as text. */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
