/** Bytes of a response body: chunks joined into one array, and the cause of a body read whole that passed its limit. */

/** The cause of the failure of a body read whole (`readWhole`) that passed its limit of `maxBytes`. */
export class BodyTooLarge extends Error {
  constructor(readonly maxBytes: number) {
    super(`the body passed ${maxBytes} bytes`)
    this.name = "BodyTooLarge"
  }
}

const emptyBody = new Uint8Array(0)

/**
 * Copied with `set`, cheaper than `Buffer.concat` (docs/performance.md): a provider flushing every token hands over
 * dozens of chunks a read.
 */
export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 0) return emptyBody
  if (chunks.length === 1) return chunks[0]!
  let size = 0
  for (const chunk of chunks) size += chunk.length
  const joined = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    joined.set(chunk, offset)
    offset += chunk.length
  }
  return joined
}
