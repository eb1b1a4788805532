/**
 * `batch`'s progress on stderr: on a terminal, one line redrawn up to ten times a second; otherwise a plain line
 * every few seconds. Both read time through `Clock` and tick on a `Schedule`, so `TestClock` drives them in tests.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import { formatDollars } from "../internal/llmError/describe.js"
import type { Io } from "./io.js"
import { programName } from "./usage.js"

/**
 * What a run has done so far: each non-blank input line (`total`) ends up skipped (already in the results), bad or run.
 */
export interface Counts {
  total: number
  /** Already in the results file, from an earlier run. */
  skipped: number
  /** Lines that could not run. */
  bad: number
  succeeded: number
  failed: number
  tokens: number
  cost: number
}

export const emptyCounts = (total: number): Counts => ({
  total,
  skipped: 0,
  bad: 0,
  succeeded: 0,
  failed: 0,
  tokens: 0,
  cost: 0
})

/**
 * Where the progress goes when stderr is a terminal: its width, read at each redraw.
 */
export interface Terminal {
  readonly columns: () => number
}

/**
 * How often the terminal line is redrawn.
 */
export const redrawEvery = Duration.millis(100)

/**
 * How often a plain progress line is printed when stderr is not a terminal.
 */
export const lineEvery = Duration.seconds(5)

const ran = (counts: Counts) => counts.succeeded + counts.failed
const finished = (counts: Counts) => counts.skipped + counts.bad + ran(counts)

/** `42s`, `3m07s`, `1h05m`. */
const clock = (seconds: number): string => {
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/**
 * The figures of a progress line; failures and bad lines only when there are any.
 */
export const figures = (counts: Counts, elapsed: Duration.Duration): ReadonlyArray<string> => {
  const seconds = Duration.toSeconds(elapsed)
  const rate = seconds > 0 ? ran(counts) / seconds : 0
  const left = counts.total - finished(counts)
  // Rounded up: "0s" only when nothing is left.
  const eta = left === 0 ? "ETA 0s" : rate > 0 ? `ETA ${clock(Math.ceil(left / rate))}` : "ETA -"
  return [
    `${finished(counts)}/${counts.total}`,
    `${rate.toFixed(1)}/s`,
    eta,
    `${counts.tokens.toLocaleString("en-US")} tokens`,
    formatDollars(counts.cost),
    ...(counts.failed > 0 ? [`${counts.failed} failed`] : []),
    ...(counts.bad > 0 ? [`${counts.bad} bad`] : [])
  ]
}

/**
 * The terminal's progress line: a bar sized to what is left of `columns` (none below 10 cells), then the figures;
 * never wider than `columns - 1`, so it does not wrap.
 */
export const bar = (counts: Counts, elapsed: Duration.Duration, columns: number): string => {
  const text = figures(counts, elapsed).join("  ")
  const room = Math.min(30, columns - 1 - text.length - 3)
  if (room < 10) return text.slice(0, Math.max(0, columns - 1))
  const share = counts.total === 0 ? 1 : finished(counts) / counts.total
  const filled = Math.round(share * room)
  return `[${"#".repeat(filled)}${"-".repeat(room - filled)}] ${text}`
}

/**
 * The plain progress line (stderr not a terminal).
 */
export const plain = (counts: Counts, elapsed: Duration.Duration): string =>
  `${programName}: batch ${figures(counts, elapsed).join(", ")}\n`

/**
 * The last line of a run, finished or interrupted.
 */
export const summary = (counts: Counts, elapsed: Duration.Duration, interrupted: boolean): string => {
  const parts = [
    `${counts.succeeded} succeeded`,
    `${counts.failed} failed`,
    `${counts.bad} bad line${counts.bad === 1 ? "" : "s"}`,
    `${counts.skipped} already done`
  ]
  const spent = `${counts.tokens.toLocaleString("en-US")} tokens, ${formatDollars(counts.cost)}, in ${
    clock(Duration.toSeconds(elapsed))
  }`
  const left = counts.total - finished(counts)
  return interrupted
    ? `${programName}: batch interrupted: ${parts.join(", ")}; ${spent}; ${left} left (run it again to continue)\n`
    : `${programName}: batch done: ${parts.join(", ")}; ${spent}\n`
}

/**
 * A running progress display.
 */
export interface Progress {
  /** A message on a line of its own (the terminal's progress line is cleared first, and redrawn). */
  readonly log: (text: string) => Effect.Effect<void>
  /** Clears the progress line and prints the summary. */
  readonly finish: (interrupted: boolean) => Effect.Effect<void>
}

const clearLine = "\r\x1b[K"

/**
 * Starts the display over `counts`, which the run updates in place; its ticking fiber is tied to the scope.
 */
export const start = Effect.fnUntraced(
  function*(options: {
    readonly io: Io
    readonly counts: Counts
    readonly terminal: Terminal | undefined
    /** Whether the figures are drawn as the run goes (a bar, or a line every few seconds). Default: true. */
    readonly ticking?: boolean | undefined
  }) {
    const { counts, io, terminal } = options
    const startedAt = yield* Clock.currentTimeMillis
    const elapsed = Effect.map(Clock.currentTimeMillis, (now) => Duration.millis(now - startedAt))
    // The line now on the terminal ("" when none): redrawn only when it changes.
    let shown = ""
    const draw = Effect.flatMap(elapsed, (time) =>
      Effect.sync(() => {
        if (terminal === undefined) return io.stderr(plain(counts, time))
        const line = bar(counts, time, terminal.columns())
        if (line !== shown) io.stderr(`${clearLine}${line}`)
        shown = line
      }))
    const clear = Effect.sync(() => {
      if (shown !== "") io.stderr(clearLine)
      shown = ""
    })
    const ticking = yield* Effect.forkScoped(
      options.ticking === false
        ? Effect.void
        : terminal === undefined
        ? Effect.delay(Effect.repeat(draw, Schedule.spaced(lineEvery)), lineEvery)
        : Effect.repeat(draw, Schedule.spaced(redrawEvery))
    )
    return {
      log: (text) => Effect.andThen(clear, Effect.sync(() => io.stderr(text))),
      finish: (interrupted) =>
        Fiber.interrupt(ticking).pipe(
          Effect.andThen(clear),
          Effect.andThen(elapsed),
          Effect.flatMap((time) => Effect.sync(() => io.stderr(summary(counts, time, interrupted))))
        )
    } satisfies Progress
  }
)
