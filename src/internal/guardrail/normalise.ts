/**
 * The one normalisation a guardrail's text goes through before any check reads it (docs/guardrails.md), so that a
 * disguise written to slip past a pattern reads as what it disguises:
 *
 * - what a right-to-left override (U+202E) holds is read in the order it is shown;
 * - invisible characters are removed (Unicode's `Cf` and `Default_Ignorable_Code_Point`: zero-width characters, soft
 *   hyphens, variation selectors, tag characters, bidirectional controls);
 * - NFKD folds compatibility forms (fullwidth `ＡＫＩＡ`, mathematical letters, circled digits) and the marks on a
 *   character that reads as ASCII are dropped; a letter of another script keeps its marks;
 * - look-alike letters of other scripts (`АКІА` in Cyrillic: `lookAlikes.ts`, from Unicode's confusables)
 *   and regional indicator symbols are folded to the ASCII letter or digit they pass for.
 *
 * What a check finds in the normalised text is mapped back to the span of the text as written (`original`), which a
 * mask replaces whole, invisible characters included (a finding inside an override, the whole override).
 */
import { lookAlikes } from "./lookAlikes.js"

/** Each look-alike, by code point, to the ASCII character it folds to. */
export const confusables: ReadonlyMap<number, string> = new Map(
  Object.entries(lookAlikes).flatMap(([ascii, alikes]) => [...alikes].map((alike) => [alike.codePointAt(0)!, ascii]))
)

// The regional indicator symbols, Unicode's letters A to Z for flags, in that order.
const regionalA = 0x1f1e6
const regionalZ = 0x1f1ff

/** The ASCII character `char` folds to: a look-alike's letter or digit, a regional indicator's letter; or `char`. */
function folded(char: string): string {
  const code = char.codePointAt(0)!
  if (code >= regionalA && code <= regionalZ) return String.fromCharCode(0x41 + code - regionalA)
  return confusables.get(code) ?? char
}

// A character removed before any check: a format character, or one Unicode says to ignore where unsupported.
const invisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u
const mark = /\p{M}/u
// Printable ASCII and the usual whitespace: nothing to normalise.
const plain = /^[ -~\t\n\r]*$/
// A character the normalisation changes, besides what NFKD changes.
const changing = new RegExp(
  `[\\p{Cf}\\p{Default_Ignorable_Code_Point}\\p{M}\\p{RI}${
    [...confusables.keys()].map((c) => String.fromCodePoint(c)).join("")
  }]`,
  "u"
)

// The right-to-left override, the pop that ends it, and what ends a paragraph and with it every override.
const rightToLeftOverride = "\u202e"
const embeddingOrOverride = /[\u202a\u202b\u202d\u202e]/
const popDirectionalFormatting = "\u202c"
// Unicode's paragraph separators (bidirectional class B).
const paragraphEnds: ReadonlySet<string> = new Set(["\n", "\r", "\u001c", "\u001d", "\u001e", "\u0085", "\u2029"])

/** One character of a text in the order it is read, with the span of the text it stands for. */
interface Read {
  readonly char: string
  readonly start: number
  readonly end: number
}

/**
 * `text`'s characters in the order they are shown: what a right-to-left override holds is reversed, a base with its
 * marks kept together (Unicode's bidirectional algorithm), each of its characters standing for the whole run, so that a
 * finding in it is the run.
 */
function shownOrder(text: string): Array<Read> {
  const out: Array<Read> = []
  let at = 0
  while (at < text.length) {
    const override = text.indexOf(rightToLeftOverride, at)
    const until = override < 0 ? text.length : override
    for (const char of text.slice(at, until)) {
      out.push({ char, start: at, end: at + char.length })
      at += char.length
    }
    if (override < 0) break
    const end = overrideEnd(text, override)
    const units: Array<string> = []
    for (const char of text.slice(override, end)) {
      if (units.length > 0 && mark.test(char)) units[units.length - 1] += char
      else units.push(char)
    }
    for (const unit of units.reverse()) for (const char of unit) out.push({ char, start: override, end })
    at = end
  }
  return out
}

/**
 * Where the override at `start` ends: past its pop (nested embeddings and overrides counted), else at the end of its
 * paragraph or of the text.
 */
function overrideEnd(text: string, start: number): number {
  let depth = 0
  for (let at = start; at < text.length; at++) {
    const char = text[at]!
    if (embeddingOrOverride.test(char)) depth++
    else if (char === popDirectionalFormatting && --depth === 0) return at + 1
    else if (paragraphEnds.has(char)) return at
  }
  return text.length
}

/** A text as the checks read it, and the way back to the text as written. */
export interface Normalised {
  /** The text as written. */
  readonly original: string
  /** The text the checks read. */
  readonly text: string
  /** The offset in `original` where the character at `index` of `text` starts (`original.length` past its end). */
  readonly startAt: (index: number) => number
  /** The first index of `text` whose character starts at `offset` of `original` or after it. */
  readonly indexAt: (offset: number) => number
  /** The span of `original` that `text`'s span `[start, end)` came from. */
  readonly span: (start: number, end: number) => { readonly start: number; readonly end: number }
}

function same(text: string): Normalised {
  const clamp = (index: number) => Math.min(Math.max(index, 0), text.length)
  return {
    original: text,
    text,
    startAt: clamp,
    indexAt: clamp,
    span: (start, end) => ({ start: clamp(start), end: Math.max(clamp(end), clamp(start)) })
  }
}

/** `text`'s characters in order, each with its span. */
function* inOrder(text: string): Generator<Read> {
  let at = 0
  for (const char of text) {
    yield { char, start: at, end: at + char.length }
    at += char.length
  }
}

/**
 * A base and its marks decomposed (NFKD), the marks of a base that is ASCII once folded dropped (an accent, a stroke,
 * an enclosing circle on a letter it disguises), and the rest composed again (NFC), as NFKC leaves a letter of another
 * script with its marks.
 */
function unmarked(unit: string): string {
  let kept = ""
  let ascii = false
  for (const char of unit.normalize("NFKD")) {
    if (mark.test(char)) {
      if (!ascii) kept += char
    } else {
      ascii = folded(char) < "\x80"
      kept += char
    }
  }
  return kept.normalize("NFC")
}

/** `text` normalised (see the module's documentation), with its characters' places in `text`. */
export function normalise(text: string): Normalised {
  if (plain.test(text) || (!changing.test(text) && text.normalize("NFKD") === text)) return same(text)
  let out = ""
  // For each UTF-16 unit of `out`, the span of `text` its character came from.
  const starts: Array<number> = []
  const ends: Array<number> = []
  // The character being gathered: a base and the marks after it, decomposed and composed together.
  let unit = ""
  let unitStart = 0
  let unitEnd = 0
  function flush(): void {
    if (unit === "") return
    for (const char of unit.length === 1 && unit < "\x80" ? unit : unmarked(unit)) {
      const shown = folded(char)
      out += shown
      for (let i = 0; i < shown.length; i++) {
        starts.push(unitStart)
        ends.push(unitEnd)
      }
    }
    unit = ""
  }
  for (const { char, end, start } of text.includes(rightToLeftOverride) ? shownOrder(text) : inOrder(text)) {
    if (invisible.test(char)) continue
    if (unit !== "" && mark.test(char)) {
      unit += char
      unitEnd = Math.max(unitEnd, end)
    } else {
      flush()
      unit = char
      unitStart = start
      unitEnd = end
    }
  }
  flush()
  if (out === text) return same(text)
  const startAt = (index: number) => (index < 0 ? 0 : index < starts.length ? starts[index]! : text.length)
  function indexAt(offset: number): number {
    let low = 0
    let high = starts.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (starts[middle]! < offset) low = middle + 1
      else high = middle
    }
    return low
  }
  function span(start: number, end: number) {
    const from = Math.min(Math.max(start, 0), starts.length)
    const to = Math.min(Math.max(end, from), starts.length)
    return to === from ? { start: startAt(from), end: startAt(from) } : { start: starts[from]!, end: ends[to - 1]! }
  }
  return { original: text, text: out, startAt, indexAt, span }
}
