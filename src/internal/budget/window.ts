/**
 * The fixed window of a `Budget` period that holds an instant (back-to-back windows from the Unix epoch, or the UTC
 * month), the slack of a budget's sums, and the refusal every form of a budget gives.
 */
import * as Duration from "effect/Duration"
import type { Call, Limit, Period } from "../../Budget.js"
import { BudgetExceededError } from "../../LlmError.js"

/** A billionth of a dollar: float sums of cents are not exact. */
export const tolerance = 1e-9

/** Whether a call of `estimate` is refused by a limit with `committed` (spent and reserved) of its `limit` gone. */
export const refuses = (committed: number, estimate: number, limit: number): boolean =>
  committed >= limit || committed + estimate > limit + tolerance

/** The refusal of `call` by `limit`, with `committed` of it gone, until `periodEnd` (epoch ms). */
export const exceeded = (call: Call, limit: Limit, committed: number, periodEnd: number): BudgetExceededError =>
  new BudgetExceededError({
    provider: call.provider ?? "unknown",
    model: call.model ?? "",
    scope: limit.scope,
    limit: limit.limit,
    spent: committed,
    estimate: call.estimate,
    periodEnd
  })

export interface Window {
  readonly start: number
  readonly end: number
  /**
   * Its period's key: windows of two periods may start at the same instant (an hour's and a day's), so both name a
   * window.
   */
  readonly period: string
}

/** Whether a budget takes a period this long: a shorter one than a minute is a rate limit. */
export const periodInBounds = (millis: number): boolean => millis >= 60_000 && millis <= 366 * 86_400_000

/** The bounds `periodInBounds` takes, in words. */
export const periodBounds = "from 1 minute to 366 days"

/** A period's key: `month`, or its length in milliseconds; one key per length, however it was written. */
export const periodKey = (period: Period): string =>
  period === "month" ? "month" : String(Duration.toMillis(Duration.fromInputUnsafe(period)))

/** A period as a budget's status and errors name it: `month`, or its duration formatted. */
export const periodName = (period: Period): string =>
  period === "month" ? "month" : Duration.format(Duration.fromInputUnsafe(period))

export const windowAt = (period: Period, now: number): Window => {
  if (period === "month") {
    const date = new Date(now)
    return {
      start: Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1),
      end: Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1),
      period: "month"
    }
  }
  const length = Duration.toMillis(Duration.fromInputUnsafe(period))
  const start = Math.floor(now / length) * length
  return { start, end: start + length, period: String(length) }
}
