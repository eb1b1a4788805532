/**
 * The JSON lines `serve` writes on stderr: Effect's `Logger.formatStructured` output as Effect's `Logger.formatJson`
 * writes it, byte for byte.
 *
 * `Formatter.formatJson` walks every value through a replacer (masking what is redactable, cutting cycles, unboxing,
 * writing bigints and errors), which costs about three times `JSON.stringify` itself on a request's line (figures in
 * docs/performance.md). A line whose values are all JSON's own scalars (what the gateway's request line and most of
 * its other lines hold) has nothing for that replacer to change, so its bytes are `JSON.stringify`'s; any other line
 * is written by `Formatter.formatJson`. Which of the two writes a line is decided by its values alone.
 */
import * as Formatter from "effect/Formatter"
import * as Logger from "effect/Logger"

/** What `Logger.formatStructured` gives for a line. */
export type Structured = typeof Logger.formatStructured extends Logger.Logger<unknown, infer Output> ? Output : never

// Whether `value` is one `JSON.stringify` writes as `Formatter.formatJson` does: a string, a number, a boolean, null,
// or undefined (left out of its object by both).
const isScalar = (value: unknown): boolean =>
  value === null || value === undefined || typeof value === "string" || typeof value === "number" ||
  typeof value === "boolean"

// Whether every value of `record` is a scalar.
const allScalar = (record: Readonly<Record<string, unknown>>): boolean => {
  for (const key in record) {
    if (!isScalar(record[key])) return false
  }
  return true
}

/** `structured` as `Logger.formatJson` writes it. */
export const jsonLine = (structured: Structured): string =>
  isScalar(structured.message) && allScalar(structured.annotations)
    ? JSON.stringify(structured)
    : Formatter.formatJson(structured)

/** A logger writing each line, as `Logger.formatJson` does, to `write` (the line without its newline). */
export const logger = (write: (line: string) => void): Logger.Logger<unknown, void> =>
  Logger.map(Logger.formatStructured, (structured) => write(jsonLine(structured)))
