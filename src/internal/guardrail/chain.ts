/**
 * A chain of guardrails: each asked about the same text in turn, normalised once (`normalise.ts`), their blocks and
 * masks gathered in the text as written, and the one stream mode the chain runs in, its strictest.
 */
import * as Effect from "effect/Effect"
import type { Guardrail, Mode, OnError, Span, Verdict, Where } from "../../Guardrail.js"
import { GuardrailError } from "../../Guardrail.js"
import { normalise, type Normalised } from "./normalise.js"

/** One guardrail's block of a text. */
export interface Block {
  readonly guardrail: string
  readonly reason: string
  /** Where the blocked matter is, when the check said. */
  readonly spans: ReadonlyArray<Span> | undefined
}

/** What a chain answered about a text: every block, every mask's spans, and the guardrails that masked. */
export interface Outcome {
  readonly blocks: ReadonlyArray<Block>
  readonly masks: ReadonlyArray<Span>
  readonly maskedBy: ReadonlyArray<string>
}

/** Where a text is checked and for which model. */
export interface Place {
  readonly where: Where
  readonly model?: string | undefined
}

export function running(chain: ReadonlyArray<Guardrail>, where: Where): ReadonlyArray<Guardrail> {
  return chain.filter((guardrail) => guardrail.on.includes(where))
}

/** Every guardrail of `chain` asked about `text`, in order; what they answered. */
export function scan(chain: ReadonlyArray<Guardrail>, text: string, place: Place): Effect.Effect<Outcome> {
  return scanNormalised(chain, normalise(text), place)
}

/** `scan` of a text already normalised: the spans of what they answered in its text as written. */
export function scanNormalised(
  chain: ReadonlyArray<Guardrail>,
  text: Normalised,
  place: Place
): Effect.Effect<Outcome> {
  return Effect.map(scanAllNormalised(chain, [text], place), (outcomes) => outcomes[0]!)
}

/**
 * Every guardrail of `chain` asked about all of `texts` at once (`checkAll`: one webhook post for them all), in order;
 * their answers' spans in the text as written.
 */
export function scanAll(
  chain: ReadonlyArray<Guardrail>,
  texts: ReadonlyArray<string>,
  place: Place
): Effect.Effect<ReadonlyArray<Outcome>> {
  return scanAllNormalised(chain, texts.map(normalise), place)
}

function scanAllNormalised(
  chain: ReadonlyArray<Guardrail>,
  texts: ReadonlyArray<Normalised>,
  place: Place
): Effect.Effect<ReadonlyArray<Outcome>> {
  const read = texts.map((text) => text.text)
  return Effect.map(
    Effect.forEach(chain, (guardrail) =>
      Effect.map(
        guardrail.checkAll(read, { guardrail: guardrail.name, where: place.where, model: place.model }),
        (verdicts) => ({ guardrail, verdicts })
      )),
    (answers) => texts.map((text, index) => outcomeOf(answers, text, index))
  )
}

/** What `answers` said of the `index`th text, their spans mapped back to `text` as written. */
function outcomeOf(
  answers: ReadonlyArray<{ readonly guardrail: Guardrail; readonly verdicts: ReadonlyArray<Verdict> }>,
  text: Normalised,
  index: number
): Outcome {
  const written = (spans: ReadonlyArray<Span>): Array<Span> =>
    spans.map((span) => ({ ...span, ...text.span(span.start, span.end) }))
  const blocks: Array<Block> = []
  const masks: Array<Span> = []
  const maskedBy: Array<string> = []
  for (const { guardrail, verdicts } of answers) {
    const verdict = verdicts[index]!
    if (verdict._tag === "Block") {
      blocks.push({
        guardrail: guardrail.name,
        reason: verdict.reason,
        spans: verdict.spans === undefined ? undefined : written(verdict.spans)
      })
    } else if (verdict._tag === "Mask" && verdict.spans.length > 0) {
      masks.push(...written(verdict.spans))
      maskedBy.push(guardrail.name)
    }
  }
  return { blocks, masks, maskedBy }
}

export function blocked(block: Block, where: Where): GuardrailError {
  return new GuardrailError({ guardrail: block.guardrail, where, reason: block.reason })
}

/** `text` with `spans` replaced, overlapping ones merged with the first's replacement, all clamped to the text. */
export function applyMasks(text: string, spans: ReadonlyArray<Span>): string {
  if (spans.length === 0) return text
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end)
  let out = ""
  let at = 0
  for (const span of sorted) {
    const start = Math.max(span.start, at, 0)
    const end = Math.min(span.end, text.length)
    if (end <= start) {
      // Inside a span already replaced, or empty.
      continue
    }
    out += text.slice(at, start) + (span.start >= at ? span.replacement : "")
    at = end
  }
  return out + text.slice(at)
}

/** The mode a chain runs a stream in, with its bounds. */
export type Resolved =
  | { readonly _tag: "None" }
  | { readonly _tag: "Audit" }
  | { readonly _tag: "Buffer"; readonly maxBytes: number; readonly onError: OnError }
  | { readonly _tag: "Window"; readonly window: number; readonly overlap: number }

const strictness: Record<Mode, number> = { audit: 0, window: 1, buffer: 2 }

/**
 * The strictest mode of `chain` (`buffer` over `window` over `audit`). A buffer holds the smallest bound, closed when
 * any guardrail's is; a window's overlap is the largest of the chain's overlaps and declared longest matches, its size
 * the smallest window, and at least twice the overlap.
 */
export function resolve(chain: ReadonlyArray<Guardrail>): Resolved {
  if (chain.length === 0) return { _tag: "None" }
  const mode = chain.reduce<Mode>(
    (strictest, guardrail) => (strictness[guardrail.mode] > strictness[strictest] ? guardrail.mode : strictest),
    "audit"
  )
  if (mode === "audit") return { _tag: "Audit" }
  const moded = chain.filter((guardrail) => guardrail.mode === mode)
  if (mode === "buffer") {
    return {
      _tag: "Buffer",
      maxBytes: Math.min(...moded.map((guardrail) => guardrail.maxBufferBytes)),
      onError: moded.some((guardrail) => guardrail.onError === "closed") ? "closed" : "open"
    }
  }
  const overlap = Math.max(
    ...moded.map((guardrail) => guardrail.overlap),
    ...chain.map((guardrail) => guardrail.longestMatch ?? 0)
  )
  const window = Math.max(Math.min(...moded.map((guardrail) => guardrail.window)), 2 * overlap, 1)
  return { _tag: "Window", window, overlap }
}
