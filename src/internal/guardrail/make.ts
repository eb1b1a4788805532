/**
 * A guardrail's common options read and checked once (where it runs, its stream mode and bounds, its failure
 * policy), and the guardrail over built-in checks.
 */
import * as Effect from "effect/Effect"
import type { CheckContext, CommonOptions, Guardrail, Options, Span, Verdict, Where } from "../../Guardrail.js"
import type { OptionsError } from "../../OptionsError.js"
import * as Problems from "../optionsError.js"
import type { Check } from "./checks.js"

const module = "Guardrail"

/** Every place a guardrail can run, the default of `on`. */
export const everywhere: ReadonlyArray<Where> = ["request", "reply", "toolArguments", "toolResult"]

export const defaultWindow = 1024

export const defaultMaxBufferBytes = 262_144

/** A guardrail's settings but its check, read from its options with its longest match. */
export type Settings = Omit<Guardrail, "check" | "checkAll">

/** `options`' common settings, or every problem they have; a window's overlap is at least `longestMatch`. */
export function settings(
  options: CommonOptions,
  longestMatch: number | undefined
): Effect.Effect<Settings, OptionsError> {
  const mode = options.mode ?? "buffer"
  const on = options.on ?? everywhere
  const name = options.name
  const overlap = options.overlap ?? longestMatch ?? 0
  const window = options.window ?? Math.max(defaultWindow, 2 * overlap)
  const problems = [
    Problems.nonEmpty(module, "name", name),
    ["audit", "buffer", "window"].includes(mode)
      ? undefined
      : Problems.make(module, "mode", mode, `"audit", "buffer" or "window"`),
    on.length > 0 && on.every((where) => everywhere.includes(where))
      ? undefined
      : Problems.make(module, "on", on, `a non-empty list of ${everywhere.map((where) => `"${where}"`).join(", ")}`),
    options.onError === undefined || options.onError === "open" || options.onError === "closed"
      ? undefined
      : Problems.make(module, "onError", options.onError, `"open" or "closed"`),
    Problems.positive(module, "maxBufferBytes", options.maxBufferBytes, { integer: true, optional: true }),
    Problems.positive(module, "window", options.window, { integer: true, optional: true }),
    options.overlap === undefined || (Number.isInteger(options.overlap) && options.overlap >= 0)
      ? undefined
      : Problems.make(module, "overlap", options.overlap, "an integer, 0 or more"),
    mode === "window" && longestMatch === undefined && options.overlap === undefined
      ? Problems.make(module, "overlap", undefined, "set in window mode when the check's longest match is unknown")
      : undefined,
    mode === "window" && longestMatch !== undefined && overlap < longestMatch
      ? Problems.make(module, "overlap", overlap, `at least the checks' longest match, ${longestMatch} characters`)
      : undefined,
    mode === "window" && window <= overlap
      ? Problems.make(module, "window", window, `more than the overlap, ${overlap} characters`)
      : undefined
  ]
  const problem = Problems.all(problems)
  if (problem !== undefined) return Effect.fail(problem)
  return Effect.succeed({
    name,
    on,
    mode,
    window,
    overlap,
    maxBufferBytes: options.maxBufferBytes ?? defaultMaxBufferBytes,
    onError: options.onError ?? "closed",
    longestMatch
  })
}

/** The findings of `checks` in `text`, as spans masked with `[REDACTED:<check>]`. */
function spansOf(checks: ReadonlyArray<Check>, text: string): Array<Span> {
  const spans: Array<Span> = []
  for (const check of checks) {
    for (const { end, label, start } of check.find(text)) {
      spans.push({ start, end, label, replacement: `[REDACTED:${check.name}]` })
    }
  }
  return spans
}

/** A block's reason: what was found, in words, each kind once. */
export function reasonOf(spans: ReadonlyArray<Span>): string {
  return `found ${[...new Set(spans.map((span) => span.label))].join(", ")}`
}

/** A guardrail over built-in checks. */
export function make(options: Options): Effect.Effect<Guardrail, OptionsError> {
  const checks = options.checks
  const action = options.action ?? "block"
  if (!Array.isArray(checks) || checks.length === 0) {
    return Effect.fail(Problems.make(module, "checks", checks, "a non-empty list of checks"))
  }
  if (action !== "block" && action !== "mask") {
    return Effect.fail(Problems.make(module, "action", action, `"block" or "mask"`))
  }
  const longestMatch = Math.max(...checks.map((check) => check.longestMatch))
  function verdict(text: string): Verdict {
    const spans = spansOf(checks, text)
    if (spans.length === 0) return { _tag: "Pass" }
    return action === "mask" ? { _tag: "Mask", spans } : { _tag: "Block", reason: reasonOf(spans), spans }
  }
  return Effect.map(settings(options, longestMatch), (settings) => ({
    ...settings,
    check: (text: string, _context: CheckContext): Effect.Effect<Verdict> => Effect.succeed(verdict(text)),
    checkAll: (texts: ReadonlyArray<string>, _context: CheckContext) => Effect.succeed(texts.map(verdict))
  }))
}

/**
 * What a check that failed (`what`, in words, without the text) answers by its guardrail's policy: `closed`, a block
 * saying so; `open`, a pass, logged.
 */
export function failed(settings: Settings, place: CheckContext, what: string): Effect.Effect<Verdict> {
  if (settings.onError === "closed") return Effect.succeed({ _tag: "Block", reason: `the check failed: ${what}` })
  return Effect.as(
    Effect.logWarning("guardrail: the check failed; the text goes unchecked (fail-open)").pipe(
      Effect.annotateLogs({ guardrail: settings.name, where: place.where, failure: what })
    ),
    { _tag: "Pass" } as const
  )
}
