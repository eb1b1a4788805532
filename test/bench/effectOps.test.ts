import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { countOps } from "../../bench/effectOps.js"

describe("bench/effectOps", () => {
  it("counts the operations a fiber evaluates, and a turn each time it runs until it ends or waits", async () => {
    const counted = countOps()
    const before = counted()
    Effect.runSync(Effect.flatMap(Effect.succeed(1), (n) => Effect.succeed(n + 1)))
    const sync = counted()
    expect(sync.turns - before.turns).toBe(1)
    expect(sync.ops - before.ops).toBe(3)
    // A wait and its resumption: two turns.
    await Effect.runPromise(Effect.callback<number>((resume) => {
      setTimeout(() => resume(Effect.succeed(1)), 1)
    }))
    const waited = counted()
    expect(waited.turns - sync.turns).toBe(2)
    expect(waited.ops - sync.ops).toBeGreaterThan(0)
  })
})

describe("bench/effectOps' breakdown by site", () => {
  it("keys each operation by the line of this repository's code that built it, and every one is counted", () => {
    const steps = new Map<string, number>()
    const sites = new Map<string, number>()
    countOps({ steps, sites })
    const here = "test/bench/effectOps.test.ts:"
    // A region entered here, and an operation Effect builds inside it (the region's frame, pushed by the fiber).
    const program = () =>
      Effect.flatMap(Effect.uninterruptible(Effect.succeed(1)), (n) => Effect.interruptible(Effect.succeed(n + 1)))
    // The first run tracks each kind of operation it meets; the second is counted with every one's site.
    Effect.runSync(program())
    steps.clear()
    sites.clear()
    Effect.runSync(program())
    const total = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0)
    expect(total(sites)).toBe(total(steps))
    const bySite = [...sites.keys()].map((key) => ({ site: key.split("\t")[0]!, label: key.split("\t")[1]! }))
    // None is Effect's own: the flatMap's, the regions' and the exit that leaves the one pushed here.
    expect(bySite.filter((one) => !one.site.startsWith(here))).toEqual([])
    expect(bySite.map((one) => one.label)).toContain("Success -> SetInterruptible ")
    expect(bySite.some((one) => one.label.startsWith("OnSuccess"))).toBe(true)
  })
})
