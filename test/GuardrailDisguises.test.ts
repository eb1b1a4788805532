/**
 * Disguises: a value of every built-in check written with invisible characters at its cut points, fullwidth forms and
 * look-alike letters of other scripts is found as written plainly, in every stream mode however the stream is cut,
 * and a mask replaces its span of the text as written (docs/guardrails.md). Every single substitution of every value
 * is tried whole; mixed disguises are a property over streams. Over their whole domain: every look-alike of Lisu,
 * Canadian syllabics, Tifinagh and Cherokee, every combining mark, every regional indicator, and every bidirectional
 * control at every cut point of a key (a right-to-left override holding the rest of the key reversed).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Guardrail from "../src/Guardrail.js"
import { confusables, normalise } from "../src/internal/guardrail/normalise.js"
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

  /** Every code point whose character matches `pattern`. */
  function everyCharacter(pattern: RegExp): Array<string> {
    const out: Array<string> = []
    for (let code = 0; code <= 0x10ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue
      const char = String.fromCodePoint(code)
      if (pattern.test(char)) out.push(char)
    }
    return out
  }

  const awsKey = values["secrets"]!.find((secret) => secret.startsWith("AKIA"))!

  /** Whether the secrets check finds the key in `text`, and its spans, cut from the text as written, leave none of it. */
  function foundWhole(text: string): boolean {
    const read = normalise(text)
    const findings = Guardrail.secrets.find(read.text)
    let left = text
    for (const finding of [...findings].reverse()) {
      const { end, start } = read.span(finding.start, finding.end)
      left = left.slice(0, start) + left.slice(end)
    }
    return findings.length > 0 && !normalise(left).text.includes(awsKey.slice(4))
  }

  it("every look-alike of Lisu, Canadian syllabics, Tifinagh and Cherokee that Unicode's confusables take for an ASCII letter or digit reads as it", () => {
    const least: Record<string, number> = { Lisu: 26, Canadian_Aboriginal: 20, Tifinagh: 6, Cherokee: 60 }
    for (const [script, count] of Object.entries(least)) {
      const folded = everyCharacter(new RegExp(`^\\p{Script=${script}}$`, "u"))
        .filter((char) => confusables.has(char.codePointAt(0)!))
      expect(folded.length, script).toBeGreaterThanOrEqual(count)
      for (const char of folded) {
        const ascii = confusables.get(char.codePointAt(0)!)!
        expect(normalise(char).text, `${script} ${char}`).toBe(ascii)
        // In place of that character in an AWS key, wherever the key has it, the key is found.
        const at = awsKey.indexOf(ascii)
        if (at >= 0) {
          const disguised = awsKey.slice(0, at) + char + awsKey.slice(at + 1)
          expect(foundWhole(`${lead}${disguised}${tail}`), `${script} ${char}`).toBe(true)
        }
      }
    }
    // Cherokee's small letters read as their capitals, which they are drawn as (or as the small letter they look like).
    for (const small of everyCharacter(/^(?=\p{Script=Cherokee})\p{Ll}$/u)) {
      const capital = normalise(small.toUpperCase()).text
      if (capital < "\x80") expect(normalise(small).text.toUpperCase(), small).toBe(capital.toUpperCase())
    }
  })

  it("every combining mark, after every character of a key, is dropped: the key is found, masked with its marks", () => {
    const marks = everyCharacter(/^\p{M}$/u)
    expect(marks.length).toBeGreaterThan(2000)
    for (const mark of marks) {
      const disguised = [...awsKey].map((char) => char + mark).join("")
      expect(foundWhole(`${lead}${disguised}${tail}`), `U+${mark.codePointAt(0)!.toString(16)}`).toBe(true)
    }
  })

  it("every regional indicator symbol reads as its letter, and a key's capitals written as them are found", () => {
    const regional = everyCharacter(/^\p{RI}$/u)
    expect(regional.map((char) => normalise(char).text).join("")).toBe("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    const disguised = [...awsKey].map((char) => /[A-Z]/.test(char) ? regional[char.charCodeAt(0) - 0x41] : char).join(
      ""
    )
    expect(foundWhole(`${lead}${disguised}${tail}`)).toBe(true)
  })

  it("every bidirectional control at every cut point of a key: the key as it is shown is found", () => {
    const controls = [
      "\u061c",
      "\u200e",
      "\u200f",
      "\u202a",
      "\u202b",
      "\u202c",
      "\u202d",
      "\u2066",
      "\u2067",
      "\u2068",
      "\u2069"
    ]
    const chars = [...awsKey]
    for (let cut = 0; cut <= chars.length; cut++) {
      const [before, after] = [chars.slice(0, cut).join(""), chars.slice(cut).join("")]
      // Controls that leave Latin letters in their order, alone or opening a run that is closed.
      for (const control of controls) {
        for (const disguised of [before + control + after, `${before}${control}${after}\u202c`]) {
          expect(
            foundWhole(`${lead}${disguised}${tail}`),
            `U+${control.codePointAt(0)!.toString(16)} at ${cut}`
          )
            .toBe(true)
        }
      }
      // A right-to-left override shows what it holds reversed: the rest of the key written reversed inside one, to its
      // pop or to the end of the line, shows the key.
      const reversed = [...after].reverse().join("")
      for (const disguised of [`${before}\u202e${reversed}\u202c`, `${before}\u202e${reversed}`]) {
        const text = disguised.endsWith("\u202c") ? `${lead}${disguised}${tail}` : `${lead}${disguised}\n${tail}`
        expect(foundWhole(text), `override at ${cut}: ${JSON.stringify(disguised)}`).toBe(true)
      }
    }
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
