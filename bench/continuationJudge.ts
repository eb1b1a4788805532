/**
 * How often the continuation judge (`internal/router/continuation.ts`'s `judge`) errs, in both directions, over the
 * prose paragraphs of `docs/*.md`:
 *
 *   npx tsx bench/continuationJudge.ts
 *
 * (`EVERY=n`: only every n-th paragraph, for a quicker and rougher run.)
 *
 * - false restarts: each paragraph cut after each of its words, the fallback's reply exactly the rest of the paragraph
 *   (and, apart, the start of another paragraph: a reply that is not the answer again), read as a stream is (growing
 *   prefixes of `CHUNK` characters, ended only at its end). Any verdict but `Continues` is an error, and so is a join
 *   that is not the paragraph (`wrong joins`: a rest that begins by repeating 16 characters or more of the cut text is
 *   a repeat no judge tells from one).
 * - missed restarts: each paragraph cut after every fourth word from the third on, the reply the paragraph again in
 *   light rewording (short words dropped or replaced, the first sentence's clauses swapped, a lead-in such as "Sure! ",
 *   another case and punctuation). A reply judged `Continues` whose join is not the paragraph's words is missed.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { judge, type Verdict } from "../src/internal/router/continuation.js"

const chunk = Number(process.env["CHUNK"] || 16)
const every = Number(process.env["EVERY"] || 1)
const docs = Path.join(import.meta.dirname, "..", "docs")

// The prose paragraphs of a page: blank-line separated, outside code fences, not headings, tables or lists' markup.
const paragraphsOf = (page: string): Array<string> => {
  const out: Array<string> = []
  let fenced = false
  let lines: Array<string> = []
  const close = () => {
    const text = lines.join("\n").trim()
    lines = []
    if (text.split(/\s+/).length >= 12 && !/^[#|>]/.test(text) && !text.includes("|")) out.push(text)
  }
  for (const line of page.split("\n")) {
    if (line.startsWith("```")) {
      fenced = !fenced
      close()
    } else if (fenced) continue
    else if (line.trim() === "") close()
    else lines.push(line)
  }
  close()
  return out
}

const paragraphs = Fs.readdirSync(docs).filter((name) => name.endsWith(".md")).sort()
  .flatMap((name) => paragraphsOf(Fs.readFileSync(Path.join(docs, name), "utf8")))
  .filter((_, index) => index % every === 0)

// The verdict on a reply read as a stream is: growing prefixes until one is decided, then the whole of it ended.
const verdictOf = (sent: string, reply: string): Verdict => {
  for (let read = chunk; read < reply.length; read += chunk) {
    const verdict = judge(sent, reply.slice(0, read), false)
    if (verdict._tag !== "Undecided") return verdict
  }
  return judge(sent, reply, true)
}

const wordsOf = (text: string): string => (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).join(" ")

// Where each word of `text` ends.
const wordEnds = (text: string): Array<number> =>
  [...text.matchAll(/\S+/g)].map((match) => match.index + match[0].length)

const replacements: Record<string, string> = { the: "a", a: "the", is: "was", and: "&", of: "for", to: "into" }
const rewordings: ReadonlyArray<readonly [string, (text: string) => string]> = [
  ["short words dropped", (text) => text.split(/\s+/).filter((word) => word.replace(/\W/g, "").length > 3).join(" ")],
  ["short words replaced", (text) => text.replace(/\b\w+\b/g, (word) => replacements[word.toLowerCase()] ?? word)],
  ["clauses swapped", (text) => {
    const end = text.search(/[.:;]\s/)
    const first = end < 0 ? text : text.slice(0, end)
    const comma = first.indexOf(", ")
    if (comma < 0) return `${first.split(" ").reverse().join(" ")}${text.slice(first.length)}`
    return `${first.slice(comma + 2)}, ${first.slice(0, comma)}${text.slice(first.length)}`
  }],
  ["Sure! ", (text) => `Sure! ${text}`],
  ["Certainly. ", (text) => `Certainly. ${text}`],
  ["To answer again: ", (text) => `To answer again: ${text}`],
  ["lower case, no punctuation", (text) => text.toLowerCase().replace(/[^\p{L}\p{N}\s]+/gu, "")]
]

let cuts = 0
let falseRestarts = 0
let wrongJoins = 0
const lateFalse = { cuts: 0, restarts: 0 }
let others = 0
let otherRestarts = 0
const restarts = new Map<string, { cases: number; missed: number }>()
paragraphs.forEach((paragraph, index) => {
  const ends = wordEnds(paragraph)
  const other = paragraphs[(index + 1) % paragraphs.length]!
  ends.slice(0, -1).forEach((at, word) => {
    const sent = paragraph.slice(0, at)
    cuts++
    if (word >= 32) lateFalse.cuts++
    const verdict = verdictOf(sent, paragraph.slice(at))
    if (verdict._tag !== "Continues") {
      falseRestarts++
      if (word >= 32) lateFalse.restarts++
    } else if (sent + paragraph.slice(at).slice(verdict.drop) !== paragraph) wrongJoins++
    others++
    if (verdictOf(sent, ` ${other}`)._tag !== "Continues") otherRestarts++
    if (word < 2 || word % 4 !== 0) return
    for (const [name, reword] of rewordings) {
      const reply = reword(paragraph)
      const tally = restarts.get(name) ?? { cases: 0, missed: 0 }
      restarts.set(name, tally)
      tally.cases++
      const said = verdictOf(sent, reply)
      if (said._tag === "Continues" && wordsOf(sent + reply.slice(said.drop)) !== wordsOf(paragraph)) tally.missed++
    }
  })
})

const rate = (part: number, whole: number): string => `${part} of ${whole} (${((100 * part) / whole).toFixed(2)}%)`
console.log(`${paragraphs.length} paragraphs, read in chunks of ${chunk} characters`)
console.log(`false restarts, the rest of the paragraph: ${rate(falseRestarts, cuts)}`)
console.log(`  of them after word 32: ${rate(lateFalse.restarts, lateFalse.cuts)}`)
console.log(`  wrong joins: ${rate(wrongJoins, cuts)}`)
console.log(`false restarts, another paragraph's start: ${rate(otherRestarts, others)}`)
let cases = 0
let missed = 0
for (const [name, tally] of restarts) {
  cases += tally.cases
  missed += tally.missed
  console.log(`missed restarts, ${name}: ${rate(tally.missed, tally.cases)}`)
}
console.log(`missed restarts, all: ${rate(missed, cases)}`)
