/** The text of a thrown value, a rejected promise or a defect, put into an error's message. */

/** An `Error`'s message, or the value as text. */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
