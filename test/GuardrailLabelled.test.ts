/**
 * The labelled set through every built-in check in each stream mode: positives split at every offset of their value
 * must be blocked (a miss otherwise), near-misses and clean prose must pass (a false block otherwise), and masking
 * must give the same text however the stream was cut. The table of misses and false blocks is printed.
 */
import { describe, expect, it } from "@effect/vitest"
import { checks, guardrailOf, labelled, modes, run, splits, tally } from "./fixtures/guardrails/labelled.js"

describe("Guardrail: the labelled set", () => {
  const rows: Array<string> = []

  for (const check of checks) {
    const set = labelled(check.longestMatch + 64)
    for (const mode of modes) {
      it(`${check.name} in ${mode} mode: no misses, no false blocks`, () => {
        const { falseBlocks, misses, positives } = tally(check, mode, set)
        rows.push(
          `${check.name.padEnd(12)} ${mode.padEnd(7)} positives ${String(positives).padStart(2)}` +
            `  misses ${misses.length}  false blocks ${falseBlocks.length}`
        )
        expect(misses).toEqual([])
        expect(falseBlocks).toEqual([])
      })
    }

    it(`${check.name}: masking gives the same text however the stream is cut, and hides every value`, () => {
      const buffer = guardrailOf(check, "buffer", "mask")
      const window = guardrailOf(check, "window", "mask")
      for (const entry of set.filter((entry) => entry.kind === "positive" && entry.check === check.name)) {
        const whole = run(buffer, [entry.text])!
        const value = entry.text.slice(entry.value!.start, entry.value!.end)
        expect(whole).not.toContain(value)
        expect(whole).toContain(`[REDACTED:${check.name}]`)
        for (const chunks of splits(entry)) {
          expect(run(buffer, chunks)).toBe(whole)
          expect(run(window, chunks)).toBe(whole)
        }
      }
    })
  }

  it("prints the table", () => {
    process.stdout.write(`\nGuardrail labelled set (every split of each value):\n${rows.join("\n")}\n`)
    expect(rows.length).toBe(checks.length * modes.length)
  })
})
