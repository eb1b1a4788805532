/**
 * Log lines as the tests read them: written as JSON by Effect's `Logger` into an array (`jsonLines`); among them the
 * request lines of a gateway serving with `logRequests` (`requestLogLines`), and the fields of one request's line once
 * it is written (`logLineOf`).
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { eventually } from "./eventually.js"

/** A log line, as `Logger.formatJson` writes it. */
export interface LogLine {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger writing each line as JSON (`Logger.formatJson`'s text) into `lines`, to provide to what a test runs. */
export const jsonLines = (lines: Array<string>) =>
  Logger.layer([Logger.map(Logger.formatJson, (line) => void lines.push(line))])

/** The request lines (message `request`) among `lines`, parsed, in the order they were written. */
export const requestLogLines = (lines: ReadonlyArray<string>): ReadonlyArray<LogLine> =>
  lines.map((line) => JSON.parse(line) as LogLine).filter((line) => line.message === "request")

/** The fields of the log line of the request `id` among `lines`, once it is written. */
export const logLineOf = (lines: ReadonlyArray<string>, id: string) =>
  Effect.map(
    eventually(
      `the log line of ${id}`,
      Effect.sync(() => requestLogLines(lines).find((line) => line.annotations["request_id"] === id)),
      (line) => line !== undefined
    ),
    (line) => line!.annotations
  )
