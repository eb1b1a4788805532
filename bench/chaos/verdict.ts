/**
 * The bar of the chaos run: what a report must show, as the list of what it
 * misses (empty when it is met).
 */
import type { Report } from "./run.js"

export const verdict = (report: Report, options: { readonly memory?: boolean } = {}): ReadonlyArray<string> => {
  const missed: Array<string> = []
  if (report.lost > 0) missed.push(`${report.lost} calls lost (neither answered nor failed with an LlmError)`)
  if (report.truncated > 0) missed.push(`${report.truncated} truncated answers reported as success`)
  if (report.answered + report.failed + report.lost + report.truncated !== report.calls) {
    missed.push(
      `outcomes add up to ${report.answered + report.failed + report.lost + report.truncated}, not ${report.calls}`
    )
  }
  for (const [what, n] of Object.entries(report.leftover)) {
    if (n !== 0) missed.push(`${what}: ${n} left at the end`)
  }
  // The heap left after a full collection when the run measured it (`--expose-gc`), else the quarters' means.
  const { firstQuarterHeapMb, lastQuarterHeapMb, settledHeapMb } = report.memory
  const settled = settledHeapMb.length >= 2
  const first = settled ? settledHeapMb[0]! : firstQuarterHeapMb
  const last = settled ? settledHeapMb[settledHeapMb.length - 1]! : lastQuarterHeapMb
  if ((options.memory ?? true) && last > first * 1.25 && last - first > 8) {
    missed.push(
      `memory grew: heap ${first} MB ${settled ? "after the first quarter" : "in the first quarter"}, ${last} MB ${
        settled ? "at the end" : "in the last"
      }${settled ? " (after full collections)" : ""}`
    )
  }
  return missed
}
