import { describe, expect, it } from "@effect/vitest"
import { median, range } from "../../bench/stats.js"

describe("bench/stats", () => {
  it("the median is the middle value, the mean of the middle two for an even count, whatever the order", () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([10, 1, 4, 2])).toBe(3)
    expect(median([5])).toBe(5)
    expect(median([])).toBeNaN()
  })

  it("a range is the lowest and the highest, to two decimals", () => {
    expect(range([1.234, 0.5, 0.987])).toEqual([0.5, 1.23])
  })
})
