/** Byte chunkings for the stream parsers' property tests. */

/**
 * Splits at the given byte offsets (modulo the length plus one), so multi-byte
 * characters get cut too; an offset given twice, or at either end, makes an empty chunk.
 */
export const splitAt = (all: Uint8Array, points: ReadonlyArray<number>): Array<Uint8Array> => {
  const cuts = points.map((p) => p % (all.length + 1)).sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let from = 0
  for (const cut of cuts) {
    out.push(all.subarray(from, cut))
    from = cut
  }
  out.push(all.subarray(from))
  return out
}

/** One chunk per byte. */
export const bytewise = (all: Uint8Array): Array<Uint8Array> => Array.from(all, (_, i) => all.subarray(i, i + 1))
