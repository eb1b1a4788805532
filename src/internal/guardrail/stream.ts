/**
 * The stream modes as gates over a reply's text deltas: each takes a delta and gives back the text it releases now, and
 * at the end the rest, or fails with the block. Pure in everything but the chain's checks.
 *
 * - audit: releases every delta at once; at the end checks the whole text, and fails on a block.
 * - buffer: releases the whole text checked and masked at the end; past its bound, closed fails, open releases what it
 *   holds and lets the rest through unchecked.
 * - window: checks every `window` characters with up to `overlap` released characters before them, and releases all
 *   but the last `overlap`, never cutting a finding (a finding in the held-back tail is decided by a later check).
 *   With an overlap at least a check's longest match, one check sees every finding whole, so the window finds and masks
 *   what a buffer does (docs/guardrails.md).
 */
import * as Effect from "effect/Effect"
import type { Guardrail, GuardrailError, Span } from "../../Guardrail.js"
import { applyMasks, blocked, type Outcome, type Place, type Resolved, scan, scanNormalised } from "./chain.js"
import { normalise } from "./normalise.js"

/** One stream's gate. */
export interface Gate {
  /** The text `delta` releases now (possibly empty). */
  readonly push: (delta: string) => Effect.Effect<string, GuardrailError>
  /** The text still held, released at the end, or the block. */
  readonly end: Effect.Effect<string, GuardrailError>
}

const encoder = new TextEncoder()

/** The first block of `outcome`, or the text masked. */
function settle(outcome: Outcome, text: string, place: Place): Effect.Effect<string, GuardrailError> {
  const block = outcome.blocks[0]
  return block === undefined
    ? Effect.succeed(applyMasks(text, outcome.masks))
    : Effect.fail(blocked(block, place.where))
}

function audit(chain: ReadonlyArray<Guardrail>, place: Place): Gate {
  let whole = ""
  return {
    push: (delta) => {
      whole += delta
      return Effect.succeed(delta)
    },
    end: Effect.suspend(() =>
      Effect.flatMap(scan(chain, whole, place), (outcome) => {
        const block = outcome.blocks[0]
        if (block !== undefined) return Effect.fail(blocked(block, place.where))
        // What audit mode let through cannot be masked any more: said, without the text.
        return outcome.masks.length === 0 ? Effect.succeed("") : Effect.as(
          Effect.logWarning("guardrail: audit mode let through text a mask would have changed").pipe(
            Effect.annotateLogs({
              where: place.where,
              found: [...new Set(outcome.masks.map((s) => s.label))].join(", ")
            })
          ),
          ""
        )
      })
    )
  }
}

function buffer(
  chain: ReadonlyArray<Guardrail>,
  place: Place,
  mode: Extract<Resolved, { readonly _tag: "Buffer" }>
): Gate {
  let held = ""
  let bytes = 0
  let overflowed = false
  return {
    push: (delta) =>
      Effect.suspend(() => {
        if (overflowed) return Effect.succeed(delta)
        held += delta
        bytes += encoder.encode(delta).length
        if (bytes <= mode.maxBytes) return Effect.succeed("")
        if (mode.onError === "closed") {
          return Effect.fail(blocked({
            guardrail: chain.filter((guardrail) => guardrail.mode === "buffer").map((g) => g.name).join(", "),
            reason: `the reply passed the buffer's bound of ${mode.maxBytes} bytes`,
            spans: undefined
          }, place.where))
        }
        overflowed = true
        const out = held
        held = ""
        return Effect.as(
          Effect.logWarning("guardrail: the reply passed the buffer's bound; the rest goes unchecked (fail-open)")
            .pipe(Effect.annotateLogs({ where: place.where, maxBufferBytes: mode.maxBytes })),
          out
        )
      }),
    end: Effect.suspend(() =>
      overflowed || held === ""
        ? Effect.succeed("")
        : Effect.flatMap(scan(chain, held, place), (o) => settle(o, held, place))
    )
  }
}

/** Where a window may cut `held`: `from`, moved back to the start of any span it would split. */
export function cutOf(from: number, spans: ReadonlyArray<Span>): number {
  let cut = Math.max(from, 0)
  let moved = true
  while (moved) {
    moved = false
    for (const span of spans) {
      if (span.start < cut && span.end > cut) {
        cut = span.start
        moved = true
      }
    }
  }
  return cut
}

/**
 * `spans` (offsets into context + held) in held's offsets: those in the context dropped, one begun there cut to held.
 */
function inHeld(spans: ReadonlyArray<Span>, offset: number): Array<Span> {
  const out: Array<Span> = []
  for (const span of spans) {
    if (span.end > offset) out.push({ ...span, start: Math.max(span.start - offset, 0), end: span.end - offset })
  }
  return out
}

/**
 * The window's gate. Its sizes count the text as the checks read it (normalised), so invisible characters slipped
 * inside a finding cannot stretch it past the overlap.
 */
function window(
  chain: ReadonlyArray<Guardrail>,
  place: Place,
  mode: Extract<Resolved, { readonly _tag: "Window" }>
): Gate {
  let held = ""
  // The characters the checks read in `held`, counted as its deltas came.
  let heldRead = 0
  // What was released last, as it came (not masked): the text before `held` a check reads.
  let context = ""

  /** Checks context + held; releases what may go now (`final`: everything), masked, or fails. */
  function check(final: boolean): Effect.Effect<string, GuardrailError> {
    const text = normalise(context + held)
    const offset = context.length
    return Effect.flatMap(scanNormalised(chain, text, place), (outcome) => {
      const masks = inHeld(outcome.masks, offset)
      const blockSpans = outcome.blocks.map((block) =>
        block.spans === undefined ? undefined : inHeld(block.spans, offset)
      )
      const cut = final ? held.length : cutOf(
        text.startAt(text.text.length - mode.overlap) - offset,
        [...masks, ...blockSpans.flatMap((s) => s ?? [])]
      )
      // A block counts now when its check gave no spans, or when one of its findings ends before the cut.
      const index = blockSpans.findIndex((spans) => spans === undefined || spans.some((span) => span.end <= cut))
      if (index >= 0) return Effect.fail(blocked(outcome.blocks[index]!, place.where))
      const released = held.slice(0, cut)
      const out = applyMasks(released, masks.filter((span) => span.end <= cut))
      const kept = text.indexAt(offset + cut)
      context = text.original.slice(kept > mode.overlap ? text.startAt(kept - mode.overlap) : 0, offset + cut)
      held = held.slice(cut)
      heldRead = text.text.length - kept
      return Effect.succeed(out)
    })
  }

  return {
    push: (delta) =>
      Effect.suspend(() => {
        held += delta
        heldRead += normalise(delta).text.length
        return heldRead >= mode.window ? check(false) : Effect.succeed("")
      }),
    // Everything held, checked: the gate takes more deltas after it, read with what it released last before them.
    end: Effect.suspend(() => (held === "" ? Effect.succeed("") : check(true)))
  }
}

/** A new gate for one stream through `chain` in its resolved mode. */
export function gate(chain: ReadonlyArray<Guardrail>, place: Place, mode: Resolved): Gate {
  switch (mode._tag) {
    case "None":
      return { push: Effect.succeed, end: Effect.succeed("") }
    case "Audit":
      return audit(chain, place)
    case "Buffer":
      return buffer(chain, place, mode)
    case "Window":
      return window(chain, place, mode)
  }
}
