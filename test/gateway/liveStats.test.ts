import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as LiveStats from "../../src/internal/gateway/observe/liveStats.js"
import type * as Router from "../../src/Router.js"

const numbers = fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { maxLength: 300 })
const q = fc.double({ min: 0.001, max: 1, noNaN: true })

const ascending = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)

// The router's status details with these cumulative counts, the other fields left out (the rates read only these).
const details = (counts: Record<string, readonly [requests: number, failures: number]>) => {
  const out: Record<string, { requests: number; failures: number }> = {}
  for (const [name, [requests, failures]] of Object.entries(counts)) out[name] = { requests, failures }
  return out as unknown as Router.Status["details"]
}

describe("live stats: quantiles over a bounded window", () => {
  it("quantile is the nearest rank: at least q of the values at or below it, fewer than q below it", () =>
    fc.assert(fc.property(numbers.filter((values) => values.length > 0), q, (values, q) => {
      const sorted = ascending(values)
      const value = LiveStats.quantile(sorted, q)!
      expect(values).toContain(value)
      expect(sorted.filter((x) => x <= value).length).toBeGreaterThanOrEqual(q * values.length)
      expect(sorted.filter((x) => x < value).length).toBeLessThan(q * values.length)
    })))

  it("quantile of 1..100: p50 is 50, p95 is 95, p100 is 100; of nothing, undefined", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect([0.5, 0.95, 1].map((q) => LiveStats.quantile(sorted, q))).toEqual([50, 95, 100])
    expect(LiveStats.quantile([7], 0.95)).toBe(7)
    expect(LiveStats.quantile([], 0.5)).toBeUndefined()
  })

  it("a window holds the last `capacity` values pushed, never more", () =>
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), numbers, (capacity, values) => {
      const window = new LiveStats.Window(capacity)
      for (const value of values) window.push(value)
      expect(window.size).toBe(Math.min(capacity, values.length))
      expect([...window.sorted()]).toEqual(ascending(values.slice(-capacity)))
    })))

  it("a window's p50 and p95 are those of its last values, sorted; null while it is empty", () =>
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), numbers, (capacity, values) => {
      const window = new LiveStats.Window(capacity)
      for (const value of values) window.push(value)
      const kept = ascending(values.slice(-capacity))
      expect(LiveStats.quantiles(window)).toEqual(
        kept.length === 0
          ? null
          : { p50: kept[Math.ceil(0.5 * kept.length) - 1], p95: kept[Math.ceil(0.95 * kept.length) - 1] }
      )
    })))
})

describe("live stats: request and error rates from the router's counts", () => {
  it("since the start while it is shorter than the span: 10 attempts in 2 s, 2 failed", () => {
    const rates = new LiveStats.Rates(1_000)
    const rate = rates.read(details({ a: [10, 2], b: [0, 0] }), 3_000)
    expect(rate.get("a")).toEqual({ requests: 5, errors: 0.2 })
    expect(rate.get("b")).toEqual({ requests: 0, errors: null })
  })

  it("over the last span once the gateway has run longer: a steady 3 a second reads 3, then 0 once it stops", () => {
    const rates = new LiveStats.Rates(0)
    let requests = 0
    // 30 s of readings every second, 3 attempts a second, one of them failing.
    for (let second = 1; second <= 30; second++) {
      requests += 3
      const rate = rates.read(details({ a: [requests, requests / 3] }), second * 1000).get("a")!
      expect(rate.requests).toBeCloseTo(3, 9)
      expect(rate.errors).toBeCloseTo(1 / 3, 9)
    }
    // Quiet for a whole span: nothing in the window.
    for (let second = 31; second <= 45; second++) rates.read(details({ a: [requests, requests / 3] }), second * 1000)
    expect(rates.read(details({ a: [requests, requests / 3] }), 46_000).get("a")).toEqual({ requests: 0, errors: null })
  })

  it("keeps a bounded number of readings, and its rates are never negative and its error share within 0..1", () =>
    fc.assert(fc.property(
      fc.array(
        fc.record({
          step: fc.integer({ min: 0, max: 3_000 }),
          requests: fc.integer({ min: -2, max: 50 }),
          failures: fc.nat(60)
        }),
        {
          maxLength: 200
        }
      ),
      (readings) => {
        const rates = new LiveStats.Rates(0)
        let now = 0
        let requests = 0
        let failures = 0
        for (const reading of readings) {
          now += reading.step
          requests = Math.max(0, requests + reading.requests)
          failures += reading.failures
          const rate = rates.read(details({ a: [requests, failures] }), now).get("a")!
          expect(rate.requests).toBeGreaterThanOrEqual(0)
          if (rate.errors !== null) {
            expect(rate.errors).toBeGreaterThanOrEqual(0)
            expect(rate.errors).toBeLessThanOrEqual(1)
          }
          expect(rates.size).toBeLessThanOrEqual(rates.span / rates.gap + 2)
        }
      }
    )))
})

describe("live stats: recorded by deployment", () => {
  const deployments = [
    { name: "openai/gpt-4o", provider: "openai", model: "gpt-4o" },
    { name: "openai/gpt-4o-mini", provider: "openai", model: "gpt-4o-mini" },
    { name: "azure/gpt-4o-mini", provider: "azure", model: "gpt-4o-mini" }
  ]

  it("a reply names its deployment, or a dated version of its model (the longest that fits), else none", () => {
    expect(LiveStats.resolve(deployments, "openai/gpt-4o-mini")).toBe("openai/gpt-4o-mini")
    expect(LiveStats.resolve(deployments, "openai/gpt-4o-mini-2024-07-18")).toBe("openai/gpt-4o-mini")
    expect(LiveStats.resolve(deployments, "openai/gpt-4o-2024-08-06")).toBe("openai/gpt-4o")
    expect(LiveStats.resolve(deployments, "azure/gpt-4o-mini-2024-07-18")).toBe("azure/gpt-4o-mini")
    expect(LiveStats.resolve(deployments, "azure/gpt-4o-2024-08-06")).toBeUndefined()
    expect(LiveStats.resolve(deployments, "openai/gpt-4o2")).toBeUndefined()
    expect(LiveStats.resolve(deployments, "other/gpt-4o")).toBeUndefined()
  })

  it("records each finished request's latency, first token and cost under its deployment; nothing without one", () => {
    const stats = LiveStats.makeLiveStats(deployments, 0)
    stats.record("openai/gpt-4o-mini-2024-07-18", 120, 40, 0.002)
    stats.record("openai/gpt-4o-mini", 80, undefined, undefined)
    stats.record("openai/gpt-4o-mini", 100, undefined, 0.001)
    stats.record(undefined, 5, 5, 1)
    stats.record("other/model", 5, 5, 1)
    const mini = stats.recorded("openai/gpt-4o-mini")!
    expect([...mini.latency.sorted()]).toEqual([80, 100, 120])
    expect([...mini.firstToken.sorted()]).toEqual([40])
    expect(mini.cost).toBeCloseTo(0.003, 12)
    for (const name of ["openai/gpt-4o", "azure/gpt-4o-mini"]) {
      const other = stats.recorded(name)!
      expect([other.latency.size, other.firstToken.size, other.cost]).toEqual([0, 0, 0])
    }
    expect(stats.recorded("other/model")).toBeUndefined()
    expect(mini.latency.capacity).toBe(LiveStats.windowSize)
  })
})
