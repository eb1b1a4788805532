/**
 * How a bench reports a figure it measured several times: the median of the
 * repeats (one disturbed round moves it less than a best or a mean), and the
 * range of a ratio over them, which says how far one repeat is from the next.
 */

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** `n` to two decimals. */
export const round2 = (n: number): number => Math.round(n * 100) / 100

/** The lowest and the highest of `values`, to two decimals. */
export const range = (values: ReadonlyArray<number>): readonly [number, number] => [
  round2(Math.min(...values)),
  round2(Math.max(...values))
]
