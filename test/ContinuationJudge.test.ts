/**
 * How a router judges a continuation turn's opening (`internal/router/continuation.ts`), as properties over answers
 * of distinct words cut anywhere: a correct continuation is forwarded as it is; an answer started again word for word,
 * or one that repeats the sent text's tail first, is forwarded from where the sent text stopped, so the client reads
 * the answer once; the answer again in other words is never passed off as the rest; nothing is decided on too little.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { judge, minimumOverlap, openingWindow } from "../src/internal/router/continuation.js"

// An answer of distinct words, as a model writes one: a capital first, spaces and punctuation between, a full stop.
const answer = fc.uniqueArray(fc.stringMatching(/^[a-z]{4,9}$/), { minLength: 24, maxLength: 60 }).map((words) =>
  words.map((word, i) => (i === 0 ? word[0]!.toUpperCase() + word.slice(1) : i % 7 === 0 ? `, ${word}` : ` ${word}`))
    .join("") + "."
)

// An answer and where it was cut: after a few words at least (40 characters), before its end.
const cut = answer.chain((text) =>
  fc.integer({ min: Math.min(40, text.length - 2), max: text.length - 2 }).map((at) => ({ text, at }))
)

const forwarded = (sent: string, opening: string) => {
  const verdict = judge(sent, opening, true)
  return verdict._tag === "Continues" ? opening.slice(verdict.drop) : verdict._tag
}

describe("a continuation turn's opening", () => {
  it("that goes on from the cut is forwarded as it is", () =>
    fc.assert(fc.property(cut, ({ at, text }) => {
      assert.strictEqual(text.slice(0, at) + forwarded(text.slice(0, at), text.slice(at)), text)
    })))

  it("that starts the answer again word for word is forwarded from where the sent text stopped", () =>
    fc.assert(fc.property(cut, ({ at, text }) => {
      const sent = text.slice(0, at)
      const rest = forwarded(sent, text)
      // Read once: the sent text and the rest make the answer, but for the separator at the cut.
      assert.strictEqual((sent + rest).replace(/[\s,]+/g, " "), text.replace(/[\s,]+/g, " "))
    })))

  it("that repeats the sent text's tail first is forwarded without the repeat", () =>
    fc.assert(fc.property(cut, fc.integer({ min: minimumOverlap, max: 80 }), ({ at, text }, back) => {
      const sent = text.slice(0, at)
      // The model goes back some characters (at a word's start) and writes on from there.
      const from = sent.lastIndexOf(" ", Math.max(0, at - back))
      // A repeat is taken as one from `minimumOverlap` characters as compared (punctuation and spaces as one space).
      const repeat = sent.slice(from + 1).replace(/[^a-z0-9]+/gi, " ").trim()
      if (from <= 0 || repeat.length < minimumOverlap) return
      const rest = forwarded(sent, text.slice(from + 1))
      assert.strictEqual((sent + rest).replace(/[\s,]+/g, " "), text.replace(/[\s,]+/g, " "))
    })))

  it("that gives the answer again in other words is judged restarted", () =>
    fc.assert(fc.property(cut, ({ at, text }) => {
      const sent = text.slice(0, at)
      // The same words, each pair swapped: the same answer, reworded.
      const words = text.replace(/[.,]/g, "").split(" ")
      const reworded = words.map((_, i) => words[i % 2 === 0 ? Math.min(i + 1, words.length - 1) : i - 1]).join(" ")
      if (reworded.toLowerCase().startsWith(sent.toLowerCase().replace(/[.,]/g, "").slice(0, 20))) return
      assert.strictEqual(judge(sent, reworded, true)._tag, "Restarted")
    })))

  it("is not judged on less than its window, unless it ended; one that ended inside a restart is restarted", () => {
    const sent = "The capital of France is Paris, a city on the Seine known for"
    assert.strictEqual(judge(sent, " its museums", false)._tag, "Undecided")
    assert.strictEqual(judge(sent, "The capital of France", false)._tag, "Undecided")
    assert.strictEqual(judge(sent, "The capital of France", true)._tag, "Restarted")
    assert.deepStrictEqual(judge(sent, " its museums.", true), { _tag: "Continues", drop: 0 })
    assert.isAtLeast(openingWindow, minimumOverlap)
  })

  it("an ended opening that is only the start of the sent text's first word, or a word or two, goes on as it is", () => {
    // Found by the first property (seed -226609950): the rest " call." of an answer that begins "Caller".
    const sent = "Caller clqqcb mbbi vwruc vvkzk etqrwouso alvmxu, lengt hdzkima nzljgz"
    assert.deepStrictEqual(judge(sent, " call.", true), { _tag: "Continues", drop: 0 })
    assert.deepStrictEqual(judge(sent, " caller.", true), { _tag: "Continues", drop: 0 })
    assert.strictEqual(judge(sent, "Caller clqqcb mbbi vwruc", true)._tag, "Restarted")
  })
})
