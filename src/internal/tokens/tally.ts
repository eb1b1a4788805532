/**
 * Bounded, linear local token counting over a tokenizer that is not.
 *
 * `gpt-tokenizer`'s byte-pair merge costs about the square of a pre-token's length, so a long run without spaces (a
 * base64 blob, CJK text, one repeated character) stalls the process, and its merge cache keeps pre-tokens however long
 * they are. A tally feeds it short pieces only, and only a bounded share of a long text:
 *
 * - Text is cut before every space that follows a non-space, where the tokenizer's own pre-tokenizer cuts too, so the
 *   pieces' counts add up to the whole text's exactly.
 * - A run with no such cut is cut every `maxRun` characters (never inside a surrogate pair); each such cut may move a
 *   token or two at its edges.
 * - The first `exactUnits` units of text are all counted; a piece cut inside a run weighs `runWeight` units a UTF-8
 *   byte, as it costs the tokenizer several times more (no pre-token from its cache). Past them, pieces are sampled:
 *   from `exactUnits * 2^(k-1)` to `exactUnits * 2^k` units one piece in `2^k` is counted, so each doubling of the text
 *   costs about `exactUnits / 2` more units; the pieces left out are counted at the rate of those counted beside them.
 *
 * A tally sums any number of texts under one budget, each cut on its own. A text can arrive in parts (`Channel`): only
 * its tail after the last cut is kept, so a streamed reply of any size is counted in bounded memory.
 */

/** A tokenizer's count for one text. */
export type Tokenizer = (text: string) => number

/** The longest run without a cut that is given to the tokenizer whole. */
export const maxRun = 128

/** The longest piece given to the tokenizer. */
export const maxPiece = 1024

/** The units of text counted exactly before sampling starts. */
export const exactUnits = 16_384

/** The units a UTF-8 byte counts for in a piece cut inside a run. */
export const runWeight = 8

/** A channel's tail is cut into pieces past this many characters: a shorter reply is tokenized only without usage. */
export const flushAt = 64 * maxPiece

/** A text that arrives in parts: what follows its last cut. */
export interface Channel {
  tail: string
}

/** A sum of token counts under one budget. */
export interface Tally {
  /** Adds the tokens of one whole text. */
  readonly count: (text: string) => void
  /** Counts the pieces of `channel`'s tail; `ended` when no more of its text follows. */
  readonly drain: (channel: Channel, ended: boolean) => void
  /** The tokens counted so far, with the sampled stretches extrapolated. */
  readonly total: () => number
}

// JavaScript's `\s` (the tokenizer's pattern is a `u` regular expression), by
// char code: the tests check it against the regular expression itself.
export const isWhitespace = (code: number): boolean =>
  code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x1680 ||
  (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f ||
  code === 0x205f || code === 0x3000 || code === 0xfeff

const isCut = (text: string, index: number): boolean =>
  text.charCodeAt(index) === 32 && !isWhitespace(text.charCodeAt(index - 1))

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff

// The UTF-8 length of `text` from `start` to `end`, near enough: a surrogate
// pair counts 6, not 4.
const utf8Length = (text: string, start: number, end: number): number => {
  let bytes = end - start
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index)
    if (code >= 0x80) bytes += code >= 0x800 ? 2 : 1
  }
  return bytes
}

// Where the piece that starts at `start` ends, or -1 when the text may still grow and is too short to decide. The
// decision reads at most `maxPiece + 1` characters, so a text counted in parts is cut exactly as the same text counted
// at once.
export const pieceEnd = (text: string, start: number, ended: boolean): number => {
  const available = text.length - start
  if (!ended && available <= maxPiece) return -1
  const limit = Math.min(text.length, start + maxPiece)
  let lastCut = start
  for (let index = start + 1; index < limit; index++) {
    if (isCut(text, index)) lastCut = index
    else if (index - lastCut >= maxRun) {
      if (lastCut > start) return lastCut
      const end = start + maxRun
      return isHighSurrogate(text.charCodeAt(end - 1)) ? end - 1 : end
    }
  }
  return limit === text.length ? limit : lastCut
}

// Counted and left-out characters of one sampling stretch.
interface Stretch {
  tokens: number
  counted: number
  skipped: number
}

// One piece in 2^level, by the high bits of a multiplicative hash, so no period in the pieces lines up with the sample.
const sampled = (index: number, level: number): boolean =>
  level === 0 || (Math.imul(index, 0x9e3779b1) >>> 0) >>> (32 - Math.min(level, 31)) === 0

/** A tally over `tokenizer`. */
export const make = (tokenizer: Tokenizer): Tally => {
  const stretches: Array<Stretch> = [{ tokens: 0, counted: 0, skipped: 0 }]
  let seen = 0
  let nextLevelAt = exactUnits
  let index = 0
  // The piece of `text` from `start` to `end`, sliced only when it is counted.
  const piece = (text: string, start: number, end: number) => {
    while (seen >= nextLevelAt) {
      stretches.push({ tokens: 0, counted: 0, skipped: 0 })
      nextLevelAt *= 2
      index = 0
    }
    const level = stretches.length - 1
    const stretch = stretches[level]!
    if (sampled(index, level)) {
      stretch.tokens += tokenizer(text.slice(start, end))
      stretch.counted += end - start
    } else {
      stretch.skipped += end - start
    }
    index++
    seen += end < text.length && !isCut(text, end) ? utf8Length(text, start, end) * runWeight : end - start
  }
  const cut = (text: string, ended: boolean): number => {
    let start = 0
    for (let end = pieceEnd(text, 0, ended); end !== -1 && start < text.length; end = pieceEnd(text, start, ended)) {
      piece(text, start, end)
      start = end
    }
    return start
  }
  return {
    count: (text) => {
      cut(text, true)
    },
    drain: (channel, ended) => {
      const tail = channel.tail
      channel.tail = tail.slice(cut(tail, ended))
    },
    total: () => {
      let total = 0
      for (const stretch of stretches) {
        total += stretch.tokens
        if (stretch.skipped > 0) total += Math.round(stretch.skipped * stretch.tokens / stretch.counted)
      }
      return total
    }
  }
}
