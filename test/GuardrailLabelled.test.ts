/**
 * The labelled set through every built-in check in each stream mode: positives split at every offset of their value
 * must be blocked (a miss otherwise), near-misses and clean prose must pass (a false block otherwise), and masking
 * must give the same text however the stream was cut. The table of misses and false blocks is printed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as Guardrail from "../src/Guardrail.js"
import { type Labelled, labelled, splits, wordList } from "./fixtures/guardrails/labelled.js"

const checks: ReadonlyArray<Guardrail.Check> = [
  ...Object.values(Guardrail.checks),
  Guardrail.words("words", wordList)
]

const modes: ReadonlyArray<Guardrail.Mode> = ["audit", "buffer", "window"]

function guardrailOf(check: Guardrail.Check, mode: Guardrail.Mode, action: "block" | "mask") {
  return Effect.runSync(Guardrail.make({
    name: check.name,
    checks: [check],
    action,
    mode,
    // A small window, so that text is released before the value comes.
    window: check.longestMatch + 16,
    overlap: check.longestMatch
  }))
}

/** The stream of `chunks` through `guardrail`: its text, or undefined when it was blocked. */
function run(guardrail: Guardrail.Guardrail, chunks: ReadonlyArray<string>): string | undefined {
  const exit = Effect.runSyncExit(
    Stream.fromIterable(chunks).pipe(Guardrail.checkStream([guardrail], { where: "reply" }), Stream.mkString)
  )
  if (Exit.isSuccess(exit)) return exit.value
  const error = Exit.findErrorOption(exit)
  if (error._tag === "Some" && error.value._tag === "GuardrailError") return undefined
  throw new Error(`the stream failed otherwise: ${String(exit)}`)
}

interface Tally {
  misses: Array<string>
  falseBlocks: Array<string>
}

function tally(check: Guardrail.Check, mode: Guardrail.Mode, set: ReadonlyArray<Labelled>): Tally {
  const guardrail = guardrailOf(check, mode, "block")
  const result: Tally = { misses: [], falseBlocks: [] }
  for (const entry of set) {
    const mine = entry.check === check.name
    if (entry.kind === "positive" && !mine) continue
    for (const chunks of entry.kind === "positive" ? splits(entry) : [[entry.text]]) {
      const blocked = run(guardrail, chunks) === undefined
      if (entry.kind === "positive" && !blocked) result.misses.push(`${entry.id} cut at ${chunks[0]!.length}`)
      if (entry.kind !== "positive" && blocked) result.falseBlocks.push(entry.id)
    }
  }
  return result
}

describe("Guardrail: the labelled set", () => {
  const rows: Array<string> = []

  for (const check of checks) {
    const set = labelled(check.longestMatch + 64)
    for (const mode of modes) {
      it(`${check.name} in ${mode} mode: no misses, no false blocks`, () => {
        const { falseBlocks, misses } = tally(check, mode, set)
        const positives = set.filter((entry) => entry.kind === "positive" && entry.check === check.name)
        rows.push(
          `${check.name.padEnd(12)} ${mode.padEnd(7)} positives ${String(positives.length).padStart(2)}` +
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
