/** A tool call's arguments as a simulated stream sends them: in pieces, so a client must join them. */

/** `text` in pieces of at most 8 characters, and at least two pieces. */
export function fragment(text: string): ReadonlyArray<string> {
  if (text.length < 16) {
    const half = Math.ceil(text.length / 2)
    return [text.slice(0, half), text.slice(half)]
  }
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += 8) out.push(text.slice(i, i + 8))
  return out
}
