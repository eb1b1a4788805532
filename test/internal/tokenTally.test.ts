import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { countTokens } from "gpt-tokenizer"
import * as Tally from "../../src/internal/tokens/tally.js"

const exact = (text: string) => countTokens(text, { disallowedSpecial: new Set() })

const countAtOnce = (texts: ReadonlyArray<string>, tokenizer: Tally.Tokenizer = exact) => {
  const tally = Tally.make(tokenizer)
  for (const text of texts) tally.count(text)
  return tally.total()
}

// A tokenizer that records what it was given.
const recording = () => {
  const pieces: Array<number> = []
  const tokenizer: Tally.Tokenizer = (text) => {
    pieces.push(text.length)
    return exact(text)
  }
  return { pieces, tokenizer, fed: () => pieces.reduce((sum, length) => sum + length, 0) }
}

// Ordinary text: words that end in a non-space, each followed by a separator
// that starts with a space, so every run between cuts is short.
const wordPool = [
  "the",
  "quick",
  "brown",
  "fox",
  "jumps",
  "over",
  "lazy",
  "dog",
  "token",
  "stream",
  "gateway",
  "über",
  "naïve",
  "日本語",
  "42",
  "3.14",
  "don't",
  "<|endoftext|>",
  "😀",
  "x/y",
  "(a+b)"
]
const word = fc.oneof(
  fc.constantFrom(...wordPool),
  fc.tuple(fc.string({ unit: "binary", maxLength: 40 }), fc.constantFrom("a", "é", "中", "7", ".", "😀")).map((
    [body, end]
  ) => body + end)
)
const separator = fc.constantFrom(" ", "  ", " \n", ", ", " \t", " - ")
const ordinaryText = (maxWords: number) =>
  fc.array(fc.tuple(word, separator), { maxLength: maxWords }).map((pairs) => pairs.map(([w, s]) => w + s).join(""))

// Runs with no space in them, as base64 blobs, CJK text or one repeated character are.
const longRun = fc.oneof(
  fc.integer({ min: Tally.maxRun, max: 700 }).map((length) => "a".repeat(length)),
  fc.array(fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), {
    minLength: Tally.maxRun,
    maxLength: 700
  })
    .map((chars) => chars.join("")),
  fc.array(fc.constantFrom(..."的一是不了人我在有他这为之大来以个中上们"), {
    minLength: Tally.maxRun,
    maxLength: 400
  })
    .map((chars) => chars.join(""))
)

const withinTolerance = (counted: number, reference: number, relative: number) =>
  Math.abs(counted - reference) <= Math.ceil(reference * relative) + 2

describe("tokenTally", () => {
  it("isWhitespace is JavaScript's \\s", () => {
    const mismatches: Array<number> = []
    for (let code = 0; code <= 0xffff; code++) {
      if (Tally.isWhitespace(code) !== /\s/u.test(String.fromCharCode(code))) mismatches.push(code)
    }
    expect(mismatches).toEqual([])
  })

  it("is exact on ordinary text below the sampling threshold", () =>
    fc.assert(
      fc.property(fc.array(ordinaryText(60), { maxLength: 4 }), (texts) => {
        fc.pre(texts.reduce((sum, text) => sum + text.length, 0) < Tally.exactUnits)
        expect(countAtOnce(texts)).toBe(texts.reduce((sum, text) => sum + exact(text), 0))
      }),
      { numRuns: 200 }
    ))

  it("moves at most two tokens per cut inside a run, below the sampling threshold", () =>
    fc.assert(
      fc.property(fc.array(fc.oneof(ordinaryText(8), longRun), { minLength: 1, maxLength: 3 }), (parts) => {
        const text = parts.join(" ")
        fc.pre(new TextEncoder().encode(text).length * Tally.runWeight < Tally.exactUnits)
        const cutsInRuns = Math.ceil(text.length / (Tally.maxRun - 1))
        expect(Math.abs(countAtOnce([text]) - exact(text))).toBeLessThanOrEqual(2 * cutsInRuns)
      }),
      { numRuns: 100 }
    ))

  // One piece in 2^k of a stretch is counted, so the estimate's error is chance, now and then past 2%. Each run
  // tokenizes a long text, so a failure is reported as found, not shrunk: shrinking an array of a thousand pairs one
  // such run at a time holds a worker far past any timeout (it is synchronous, so no timeout stops it).
  it("stays within 3% (plus 2 tokens) of the exact count on ordinary text past the sampling threshold", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.array(fc.tuple(word, separator), { minLength: 50, maxLength: 1_000 }),
        (rounds, pairs) => {
          // A long text from a varied start: its words again and again, rotated each time.
          let text = ""
          for (let round = 0; text.length <= rounds * Tally.exactUnits; round++) {
            for (let index = 0; index < pairs.length; index++) {
              const [w, s] = pairs[(index + round) % pairs.length]!
              text += w + s
            }
          }
          expect(withinTolerance(countAtOnce([text]), exact(text), 0.03)).toBe(true)
        }
      ),
      { numRuns: 20, endOnFailure: true }
    ))

  it("counts a text given in parts as it counts the whole text, keeping a bounded tail", () =>
    fc.assert(
      fc.property(
        fc.array(fc.oneof(ordinaryText(200), longRun), { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 20 }),
        (parts, cuts) => {
          // Long enough to be cut several times on the way.
          const once = parts.join(" ") + " "
          const text = once.repeat(Math.ceil(3 * Tally.flushAt / once.length))
          const tally = Tally.make(exact)
          const channel: Tally.Channel = { tail: "" }
          let start = 0
          for (let index = 0; start < text.length; index++) {
            const end = Math.min(text.length, start + cuts[index % cuts.length]!)
            channel.tail += text.slice(start, end)
            if (channel.tail.length > Tally.flushAt) {
              tally.drain(channel, false)
              expect(channel.tail.length).toBeLessThanOrEqual(Tally.maxPiece)
            }
            start = end
          }
          tally.drain(channel, true)
          expect(channel.tail).toBe("")
          expect(tally.total()).toBe(countAtOnce([text]))
        }
      ),
      // Each run tokenizes about 200,000 characters, twice: a failure is reported as found, not shrunk.
      { numRuns: 30, endOnFailure: true }
    ))

  it("gives the tokenizer short pieces only, and a share of a long text that grows with its logarithm", () => {
    const work = (length: number) => {
      const spy = recording()
      countAtOnce(["a".repeat(length)], spy.tokenizer)
      expect(Math.max(...spy.pieces)).toBeLessThanOrEqual(Tally.maxRun)
      return spy.fed()
    }
    const perDoubling = (Tally.exactUnits / 2 + Tally.maxPiece * Tally.runWeight) / Tally.runWeight
    const mb = work(1 << 20)
    expect(mb).toBeLessThanOrEqual(
      Tally.exactUnits / Tally.runWeight + perDoubling * Math.log2((1 << 20) * Tally.runWeight / Tally.exactUnits + 1)
    )
    // Four times the text, two more doublings.
    expect(work(1 << 22) - mb).toBeLessThanOrEqual(2 * perDoubling)

    const spy = recording()
    const prose = "The quick brown fox jumps over the lazy dog, again and again. ".repeat(40_000)
    countAtOnce([prose], spy.tokenizer)
    expect(Math.max(...spy.pieces)).toBeLessThanOrEqual(Tally.maxPiece)
    expect(spy.fed()).toBeLessThan(prose.length / 20)
  })

  it("counts a 1 MB string with no space in it", () => {
    const total = countAtOnce(["a".repeat(1 << 20)])
    // "aaaaaaaa" is one o200k token.
    expect(withinTolerance(total, (1 << 20) / 8, 0.01)).toBe(true)
  }, 10_000)
})
