/**
 * The request log lines of a gateway serving with `logRequests`, as the tests read them: written as JSON by Effect's
 * `Logger` into an array (`jsonLines`), and the fields of one request's line once it is written (`logLineOf`).
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { eventually } from "./eventually.js"

/** A log line, as `Logger.formatJson` writes it. */
export interface LogLine {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger writing each line as JSON into `lines`, to provide to `Gateway.make`. */
export const jsonLines = (lines: Array<string>) =>
  Logger.layer([Logger.map(Logger.formatJson, (line) => void lines.push(line))])

/** The fields of the log line of the request `id` among `lines`, once it is written. */
export const logLineOf = (lines: ReadonlyArray<string>, id: string) =>
  Effect.map(
    eventually(
      `the log line of ${id}`,
      Effect.sync(() =>
        lines.map((line) => JSON.parse(line) as LogLine).find((line) =>
          line.message === "request" && line.annotations["request_id"] === id
        )
      ),
      (line) => line !== undefined
    ),
    (line) => line!.annotations
  )
