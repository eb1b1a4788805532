/**
 * The labelled set through every built-in check in each stream mode: positives split at every offset of their value
 * must be blocked (a miss otherwise), near-misses and clean prose must pass (a false block otherwise), and masking
 * must give the same text however the stream was cut. The same positives in each disguise (an invisible character at
 * every cut point of the value, fullwidth forms, look-alike letters of other scripts) must be blocked and masked as
 * well. The table of misses and false blocks, and the disguises' miss rates, are printed.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  checks,
  type Disguise,
  disguisedSet,
  disguises,
  guardrailOf,
  labelled,
  modes,
  run,
  splits,
  tally
} from "./fixtures/guardrails/labelled.js"

describe("Guardrail: the labelled set", () => {
  const rows: Array<string> = []
  // Per disguise and mode: the streams of disguised positives tried, and those that got through.
  const rates = new Map<string, { tried: number; missed: number }>()

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

      for (const kind of disguises) {
        it(`${check.name} in ${mode} mode, its values disguised (${kind}): no misses`, () => {
          const { misses, tried } = tally(check, mode, disguisedSet(set, kind))
          const rate = rates.get(`${kind} ${mode}`) ?? { tried: 0, missed: 0 }
          rates.set(`${kind} ${mode}`, { tried: rate.tried + tried, missed: rate.missed + misses.length })
          expect(misses).toEqual([])
        })
      }
    }

    it(`${check.name}: masking gives the same text however the stream is cut, and hides every value`, () => {
      const buffer = guardrailOf(check, "buffer", "mask")
      const window = guardrailOf(check, "window", "mask")
      const positives = set.filter((entry) => entry.kind === "positive" && entry.check === check.name)
      const disguised = disguises.flatMap((kind: Disguise) => disguisedSet(positives, kind))
      for (const entry of [...positives, ...disguised]) {
        const whole = run(buffer, [entry.text])!
        const value = entry.text.slice(entry.value!.start, entry.value!.end)
        expect(whole).not.toContain(value)
        expect(whole).toContain(`[REDACTED:${check.name}]`)
        // The mask takes the value's span whole, its disguise included: the text around it is as it was.
        expect(whole.startsWith(entry.text.slice(0, entry.value!.start))).toBe(true)
        expect(whole.endsWith(entry.text.slice(entry.value!.end))).toBe(true)
        for (const chunks of splits(entry)) {
          expect(run(buffer, chunks)).toBe(whole)
          expect(run(window, chunks)).toBe(whole)
        }
      }
    })
  }

  it("prints the tables", () => {
    const rateRows = [...rates].map(([key, { missed, tried }]) =>
      `${key.padEnd(18)} missed ${String(missed).padStart(5)} of ${String(tried).padStart(5)}` +
      `  (${(100 * missed / tried).toFixed(1)}%)`
    )
    process.stdout.write(
      `\nGuardrail labelled set (every split of each value):\n${rows.join("\n")}\n` +
        `\nDisguised values (every split of each), by disguise and mode:\n${rateRows.join("\n")}\n`
    )
    expect(rows.length).toBe(checks.length * modes.length)
    expect(rates.size).toBe(disguises.length * modes.length)
  })
})
