/**
 * A stdio MCP server's standard error, written to the gateway's log line by line, each line cut at `maxLineChars` and
 * rate-limited by the project's `RateLimiter` (the lines past it counted in the next line logged), with every
 * credential the gateway holds masked (`credentials.ts`), so that a secret it gave the server stays out of the log even
 * when the server prints it.
 */
import * as Effect from "effect/Effect"
import * as RateLimiter from "../../../RateLimiter.js"
import type * as Credentials from "./credentials.js"

/** The longest line logged; the rest of a longer one is cut. */
export const maxLineChars = 1000

/** Lines logged a second, at most, over time. */
export const linesPerSecond = 20

/** Lines logged at once, at most, after a quiet while. */
export const lineBurst = 100

/** The log of one server's standard error: `write` takes each chunk it prints; `flush` logs a last unended line. */
export interface StderrLog {
  readonly write: (chunk: Uint8Array) => Effect.Effect<void>
  readonly flush: Effect.Effect<void>
}

/** The log of the standard error of the server `server`, `credentials` masked in it. */
export const make = Effect.fnUntraced(function*(
  server: string,
  credentials: Pick<Credentials.Credentials, "mask" | "longest">
) {
  // This process's log lines: the limiter's own memory store.
  const limiter = yield* Effect.orDie(RateLimiter.make({ capacity: lineBurst, refillRate: linesPerSecond })).pipe(
    Effect.provide(RateLimiter.layerStoreMemory)
  )
  const decoder = new TextDecoder()
  // The line being read; `cut` once it passed its bound, so its rest is skipped up to its end.
  let line = ""
  let cut = false
  let dropped = 0

  // Logs `text` (masked, cut) if the limit lets it, else counts it dropped.
  const emit = (text: string, wasCut: boolean) =>
    Effect.scoped(limiter.consume({ onExceeded: "fail" })).pipe(
      Effect.matchEffect({
        onFailure: () => Effect.sync(() => void (dropped += 1)),
        onSuccess: () => {
          const skipped = dropped
          dropped = 0
          const shown = credentials.mask(text).slice(0, maxLineChars)
          return Effect.logInfo(
            `Gateway: the MCP server ${server} wrote to stderr: ${shown}${wasCut ? " [line cut]" : ""}` +
              (skipped > 0 ? ` (${skipped} earlier lines dropped: more than ${linesPerSecond} a second)` : "")
          )
        }
      })
    )

  const write = Effect.fnUntraced(function*(chunk: Uint8Array) {
    const text = decoder.decode(chunk, { stream: true })
    let start = 0
    while (start <= text.length) {
      const end = text.indexOf("\n", start)
      const piece = text.slice(start, end < 0 ? text.length : end)
      if (!cut) {
        line += piece
        // Kept a secret's length past the bound, so a secret across the cut is masked whole before it is cut.
        if (line.length > maxLineChars + credentials.longest()) {
          yield* emit(line, true)
          line = ""
          cut = true
        }
      }
      if (end < 0) break
      if (!cut) yield* emit(line.replace(/\r$/, ""), line.length > maxLineChars)
      line = ""
      cut = false
      start = end + 1
    }
  })

  return {
    write,
    flush: Effect.suspend(() => {
      const last = line
      line = ""
      return !cut && last !== "" ? emit(last, last.length > maxLineChars) : Effect.void
    })
  } satisfies StderrLog
})
