import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
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
  // One breakdown for the process, as a side has: a fiber keeps the first counter's hook.
  const steps = new Map<string, number>()
  const sites = new Map<string, number>()
  countOps({ steps, sites })

  it("keys each operation by the line of this repository's code that built it, and every one is counted", () => {
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

  it("names a package's line from its node_modules when the package lies outside the repository", async () => {
    // A package in a directory of its own (as a worktree's `node_modules` linked to another checkout's) that builds an
    // Effect on a timer, no line of this repository's below it; this module's Effect handed in, the one counted.
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-ops-"))
    try {
      const file = Path.join(dir, "node_modules", "outside", "index.js")
      Fs.mkdirSync(Path.dirname(file), { recursive: true })
      Fs.writeFileSync(
        file,
        "export const later = (Effect) => new Promise((resolve) => setTimeout(() => resolve(Effect.runSync(\n" +
          "  Effect.uninterruptible(Effect.succeed(1))))))\n"
      )
      const { later } = (await import(pathToFileURL(file).href)) as {
        readonly later: (effect: typeof Effect) => Promise<number>
      }
      await later(Effect)
      sites.clear()
      await later(Effect)
      // Its line as the loader gives it (vitest's may move it); before, no site at all.
      const named = [...sites.keys()].map((key) => key.split("\t")[0]!)
      expect(named.length).toBeGreaterThan(0)
      for (const site of named) expect(site).toMatch(/^node_modules\/outside\/index\.js:\d+$/)
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
