/**
 * The fixed window of a `Budget` period that holds an instant (one of the
 * back-to-back windows of its length from the Unix epoch, or the UTC month),
 * its name, and the slack of a budget's sums.
 */
import * as Duration from "effect/Duration"
import type { Period } from "../../Budget.js"

/** A billionth of a dollar: float sums of cents are not exact. */
export const tolerance = 1e-9

/** Whether a call of `estimate` is refused by a limit with `committed` (spent and reserved) of its `limit` gone. */
export const refuses = (committed: number, estimate: number, limit: number): boolean =>
  committed >= limit || committed + estimate > limit + tolerance

export interface Window {
  readonly start: number
  readonly end: number
}

/** A period as a budget's status and errors name it: `month`, or its duration formatted. */
export const periodName = (period: Period): string =>
  period === "month" ? "month" : Duration.format(Duration.fromInputUnsafe(period))

export const windowAt = (period: Period, now: number): Window => {
  if (period === "month") {
    const date = new Date(now)
    return {
      start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
    }
  }
  const length = Duration.toMillis(period)
  const start = Math.floor(now / length) * length
  return { start, end: start + length }
}
