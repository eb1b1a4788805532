/**
 * The one normalisation a guardrail's text goes through before any check reads it (docs/guardrails.md), so that a
 * disguise written to slip past a pattern reads as what it disguises: format and other invisible characters removed
 * (zero-width spaces and joiners, the byte-order mark, soft hyphens, variation selectors, tag characters: Unicode's
 * `Cf` and `Default_Ignorable_Code_Point`), compatibility forms folded by NFKC (fullwidth `ＡＫＩＡ`, mathematical
 * letters, circled digits, ligatures), then look-alike letters of other scripts folded to the ASCII letter or digit
 * they pass for (`АКІА` in Cyrillic, `Α` in Greek).
 *
 * The look-alikes are Unicode's confusables (UTS #39, `confusables.txt`): each letter of the Cyrillic, Greek, Armenian,
 * Cherokee, Coptic and Latin scripts whose prototype there is one ASCII letter or digit and that NFKC leaves as it is.
 * The published tables (and the npm packages that carry them) are skeletons for telling two strings apart: they fold
 * ASCII too (`0` to `O`, `1`, `I` and `|` to `l`), which would turn every digit a check reads into a letter, and fold
 * capital look-alikes of `I` (`І`, `Ι`) to `l`. So the fold is ours, from that data: ASCII is never changed, and a
 * capital whose prototype is `l` folds to `I`.
 *
 * A check reads the normalised text; what it finds is mapped back to the span of the text as written (`original`),
 * which a mask replaces whole, the invisible characters inside it included.
 */

/** The look-alikes of each ASCII letter and digit (see the module's documentation). */
const lookAlikes: Readonly<Record<string, string>> = {
  "2": "ꝚƧϨꙄ",
  "3": "ꞫȜƷꝪⳌЗӠ",
  "4": "Ꮞ",
  "5": "Ƽ",
  "6": "ⳒбᏮ",
  "8": "ȣȢ",
  "9": "ꝮⳊ",
  A: "ΑАᎪ",
  B: "ꞴΒВᏴ",
  C: "ⲤСᏟ",
  D: "Ꭰ",
  E: "ΕЕᎬ",
  F: "ꞘϜ",
  G: "ԌᏀᏳ",
  H: "ΗⲎНᎻ",
  I: "ƖΙⲒІӀ",
  J: "ꞲͿЈᎫ",
  K: "ΚⲔКᏦ",
  L: "ⳐᏞ",
  M: "ΜϺⲘМᎷ",
  N: "ΝⲚ",
  O: "ΟⲞОՕ",
  P: "ΡⲢРᏢ",
  R: "ƦᎡᏒ",
  S: "ЅՏᏕᏚ",
  T: "ΤⲦТᎢ",
  U: "Ս",
  V: "ѴᏙ",
  W: "ԜᎳᏔ",
  X: "ꞳΧⲬХ",
  Y: "ΥⲨУҮᎩᎽ",
  Z: "ΖᏃ",
  a: "ɑαа",
  b: "ƄЬᏏ",
  c: "ᴄⲥсꮯ",
  d: "ԁᏧ",
  e: "ꬲеҽ",
  f: "ꬵꞙẝք",
  g: "ɡᶃƍց",
  h: "һհᏂ",
  i: "ıɪɩιіꙇӏꭵᎥ",
  j: "ϳј",
  l: "ǀ",
  n: "ոռ",
  o: "ᴏᴑꬽοσⲟоօ",
  p: "ρⲣр",
  q: "ԛգզ",
  r: "ꭇꭈᴦⲅгꮁ",
  s: "ꜱƽѕꮪ",
  u: "ꞟᴜꭎꭒʋυս",
  v: "ᴠνѵꮩ",
  w: "ɯᴡѡԝաꮃ",
  x: "х",
  y: "ɣᶌʏỿꭚγуү",
  z: "ᴢꮓ"
}

/** Each look-alike, by code point, to the ASCII character it folds to. */
export const confusables: ReadonlyMap<number, string> = new Map(
  Object.entries(lookAlikes).flatMap(([ascii, alikes]) => [...alikes].map((alike) => [alike.codePointAt(0)!, ascii]))
)

// A character removed before any check: a format character, or one Unicode says to ignore where unsupported.
const invisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u
const mark = /\p{M}/u
// Printable ASCII and the usual whitespace: nothing to normalise.
const plain = /^[ -~\t\n\r]*$/
// A character the normalisation changes, besides what NFKC changes.
const changing = new RegExp(
  `[\\p{Cf}\\p{Default_Ignorable_Code_Point}${[...confusables.keys()].map((c) => String.fromCodePoint(c)).join("")}]`,
  "u"
)

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

/** `text` normalised (see the module's documentation), with its characters' places in `text`. */
export function normalise(text: string): Normalised {
  if (plain.test(text) || (!changing.test(text) && text.normalize("NFKC") === text)) return same(text)
  let out = ""
  // For each UTF-16 unit of `out`, the span of `text` its character came from.
  const starts: Array<number> = []
  const ends: Array<number> = []
  // The character being gathered: a base and the marks after it, as NFKC composes them together.
  let unit = ""
  let unitStart = 0
  let unitEnd = 0
  function flush(): void {
    if (unit === "") return
    for (const char of unit.length === 1 && unit < "\x80" ? unit : unit.normalize("NFKC")) {
      const folded = confusables.get(char.codePointAt(0)!) ?? char
      out += folded
      for (let i = 0; i < folded.length; i++) {
        starts.push(unitStart)
        ends.push(unitEnd)
      }
    }
    unit = ""
  }
  let at = 0
  for (const char of text) {
    const next = at + char.length
    if (!invisible.test(char)) {
      if (unit !== "" && mark.test(char)) {
        unit += char
        unitEnd = next
      } else {
        flush()
        unit = char
        unitStart = at
        unitEnd = next
      }
    }
    at = next
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
