/**
 * Disguises: a value of every built-in check written with invisible characters at its cut points, fullwidth forms and
 * look-alike letters of other scripts is found as written plainly, in every stream mode however the stream is cut,
 * and a mask replaces its span of the text as written (docs/guardrails.md). Every single substitution of every value
 * is tried whole; mixed disguises are a property over streams.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Guardrail from "../src/Guardrail.js"
import { normalise } from "../src/internal/guardrail/normalise.js"
import { checks, chunked, fullwidth, lookAlikesOf, values } from "./fixtures/guardrails/labelled.js"

const invisibles = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u{e0041}", "\ufe0f"]

/** Each check's values, with the check that must find them. */
const cases = checks.flatMap((check) =>
  (values[check.name] ?? []).map((value) => ({ check, value: value.replace(/\n/g, " ").slice(0, 300) }))
).filter(({ check, value }) => check.find(value).length > 0)

function guardrailOf(check: Guardrail.Check, mode: Guardrail.Mode, action: "block" | "mask") {
  return Effect.runSync(Guardrail.make({
    name: check.name,
    checks: [check],
    action,
    mode,
    window: check.longestMatch + 16,
    overlap: check.longestMatch
  }))
}

/** `chunks` through `guardrail`: the text released, or undefined when it was blocked. */
function run(guardrail: Guardrail.Guardrail, chunks: ReadonlyArray<string>): string | undefined {
  const exit = Effect.runSyncExit(
    Stream.fromIterable(chunks).pipe(Guardrail.checkStream([guardrail], { where: "reply" }), Stream.mkString)
  )
  return Exit.isSuccess(exit) ? exit.value : undefined
}

const lead = "Here it is: "
const tail = "; and that was all."

describe("Guardrail: disguised values", () => {
  it("every single look-alike or fullwidth substitution of every value is found", () => {
    let tried = 0
    for (const { check, value } of cases) {
      const guardrail = guardrailOf(check, "buffer", "block")
      ;[...value].forEach((char, i) => {
        for (const alike of [...(lookAlikesOf.get(char) ?? []), fullwidth(char)]) {
          if (alike === char) continue
          const chars = [...value]
          chars[i] = alike
          tried++
          expect(run(guardrail, [lead + chars.join("") + tail]), `${check.name}: ${chars.join("")}`).toBeUndefined()
        }
      })
    }
    expect(tried).toBeGreaterThan(1000)
  })

  it("an invisible character at every cut point of every value, of every kind, is found", () => {
    for (const { check, value } of cases) {
      const guardrail = guardrailOf(check, "buffer", "block")
      for (const invisible of invisibles) {
        const disguised = [...value].join(invisible)
        expect(run(guardrail, [lead + disguised + tail]), `${check.name}: ${JSON.stringify(disguised)}`)
          .toBeUndefined()
      }
    }
  })

  /** A value disguised: each character kept, fullwidth or a look-alike, and up to `most` invisibles after each. */
  const disguised = fc.constantFrom(...cases).chain(({ check, value }) =>
    fc.tuple(
      fc.constant(check),
      fc.constant(value),
      fc.array(
        fc.tuple(fc.nat({ max: 8 }), fc.array(fc.constantFrom(...invisibles), { maxLength: 3 })),
        { minLength: [...value].length, maxLength: [...value].length }
      ),
      fc.array(fc.nat(), { maxLength: 12 })
    )
  ).map(([check, value, choices, cuts]) => {
    const text = [...value].map((char, i) => {
      const [pick, after] = choices[i]!
      const alikes = [fullwidth(char), ...(lookAlikesOf.get(char) ?? [])]
      const shown = pick < 3 ? char : alikes[pick % alikes.length]!
      return shown + (i < value.length - 1 ? after.join("") : "")
    }).join("")
    return { check, value, text: lead + text + tail, cuts }
  })

  it("mixed disguises, streamed in any cuts: blocked in every mode, and masked as the whole text is", () => {
    fc.assert(
      fc.property(disguised, ({ check, cuts, text }) => {
        const chunks = chunked(text, cuts.map((cut) => cut % (text.length + 1)))
        for (const mode of ["audit", "buffer", "window"] as const) {
          expect(run(guardrailOf(check, mode, "block"), chunks), mode).toBeUndefined()
        }
        const whole = run(guardrailOf(check, "buffer", "mask"), [text])!
        expect(whole.startsWith(lead)).toBe(true)
        expect(whole.endsWith(tail)).toBe(true)
        expect(normalise(whole).text).toContain(`[REDACTED:${check.name}]`)
        expect(run(guardrailOf(check, "buffer", "mask"), chunks)).toBe(whole)
        expect(run(guardrailOf(check, "window", "mask"), chunks)).toBe(whole)
      }),
      { numRuns: 300 }
    )
  })

  it("a window counts what the checks read: invisibles that stretch a value past the overlap do not split it", () => {
    // Each character of the value followed by more invisibles than the window holds characters, one a delta.
    const check = Guardrail.secrets
    const value = values["secrets"]!.find((secret) => secret.startsWith("AKIA"))!
    const stretched = [...value].join("\u200b".repeat(check.longestMatch))
    const deltas = [...`${lead}${stretched}${tail}`]
    expect(run(guardrailOf(check, "window", "block"), deltas)).toBeUndefined()
    const masked = run(guardrailOf(check, "window", "mask"), deltas)!
    expect(masked).toBe(`${lead}[REDACTED:secrets]${tail}`)
  })

  it("the normalised text maps each finding back to the span written", () => {
    const written = `key: ＡＫ\u200bІА${"２".repeat(4)}${"X".repeat(12)} end`
    const normal = normalise(written)
    expect(normal.text).toBe(`key: AKIA2222${"X".repeat(12)} end`)
    const found = Guardrail.secrets.find(normal.text)[0]!
    expect(normal.span(found.start, found.end)).toEqual({ start: 5, end: written.length - 4 })
    // Text with nothing to fold is read as written.
    for (const plain of ["plain ASCII", "Straße “quoted” — 東京", ""]) {
      expect(normalise(plain).text).toBe(plain)
    }
  })
})
