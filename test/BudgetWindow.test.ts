/**
 * A budget's windows (`internal/budget/window.ts`): each instant lies in exactly one window of a period, which is
 * the same for every instant inside it and the next from its end; windows of two periods never share their key
 * (period and start) even where they start together, and one period written two ways has one key.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import type * as Budget from "../src/Budget.js"
import { periodKey, windowAt } from "../src/internal/budget/window.js"

const minute = 60_000
// Instants from 1970 to 2200, and periods from a minute to a year, or the UTC month.
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) })
const period: fc.Arbitrary<Budget.Period> = fc.oneof(
  fc.constant("month" as const),
  fc.integer({ min: 1, max: 525_600 }).map((minutes) => `${minutes} minutes` as const)
)

describe("a budget's windows", () => {
  it("hold their instant, are the same for every instant inside them and give way to the next at their end", () =>
    fc.assert(fc.property(period, instant, fc.double({ min: 0, max: 1, noNaN: true }), (period, now, share) => {
      const window = windowAt(period, now)
      assert.isAtMost(window.start, now)
      assert.isAbove(window.end, now)
      const inside = window.start + Math.floor((window.end - window.start - 1) * share)
      assert.deepStrictEqual(windowAt(period, inside), window)
      const next = windowAt(period, window.end)
      assert.strictEqual(next.start, window.end)
      assert.strictEqual(next.period, window.period)
    })))

  it("of two periods never share a key, even where they start at the same instant", () =>
    fc.assert(fc.property(period, period, instant, (one, other, now) => {
      fc.pre(periodKey(one) !== periodKey(other))
      const a = windowAt(one, now)
      const b = windowAt(other, now)
      assert.notDeepEqual([a.period, a.start], [b.period, b.start])
    })))

  it("at 00:00 UTC, an hour's and a day's start together and are told apart by their period", () => {
    const midnight = Date.UTC(2026, 4, 13)
    const hour = windowAt("1 hour", midnight + 10 * minute)
    const day = windowAt("1 day", midnight + 10 * minute)
    assert.strictEqual(hour.start, day.start)
    assert.notStrictEqual(hour.period, day.period)
  })

  it("of one period written two ways share their key", () => {
    assert.strictEqual(periodKey("1 day"), periodKey("24 hours"))
    assert.strictEqual(periodKey("1 day"), periodKey(86_400_000))
    assert.strictEqual(periodKey("month"), "month")
  })
})
