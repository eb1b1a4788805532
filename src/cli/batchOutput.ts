/**
 * `batch`'s output: a JSONL file of results, one line per finished request, and on a re-run the ids it already holds.
 * Each line is one synchronous append (`fs.writeSync`), which an interrupted fiber cannot stop halfway, so Ctrl-C
 * leaves whole lines only; a process killed outright can leave a partial last line, which `resume` cuts off.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fs from "node:fs"
import type { ChatResponse } from "../ChatResponse.js"
import { messageOf } from "../internal/errorText.js"
import { type Id, keyOf } from "./batchInput.js"
import type { Counts } from "./batchProgress.js"
import { toJson } from "./chatOutput.js"
import { errorJson, scrub } from "./io.js"

/**
 * The results file holds a line that is not a result (no `id`): some other file, which `batch` will not append to.
 */
export class ResultsFileError extends Data.TaggedError("ResultsFileError")<{ readonly message: string }> {}

/**
 * What a re-run finds in the results file: the ids with a result, and the bytes of a partial last line cut off.
 */
export interface Resumed {
  readonly done: ReadonlySet<string>
  readonly cut: number
}

const tail = 64 * 1024

/** The file's length up to and including its last newline. */
const wholeLength = (fd: number, size: number): number => {
  const buffer = Buffer.alloc(tail)
  for (let end = size; end > 0; end -= tail) {
    const start = Math.max(0, end - tail)
    const read = fs.readSync(fd, buffer, 0, end - start, start)
    const newline = buffer.subarray(0, read).lastIndexOf(0x0a)
    if (newline >= 0) return start + newline + 1
  }
  return 0
}

/** The first `length` bytes' lines, read a chunk at a time (a results file can be large). */
function* wholeLines(fd: number, length: number): Generator<string> {
  const buffer = Buffer.alloc(tail)
  const decoder = new TextDecoder()
  let rest = ""
  for (let position = 0; position < length;) {
    const read = fs.readSync(fd, buffer, 0, Math.min(tail, length - position), position)
    position += read
    const lines = (rest + decoder.decode(buffer.subarray(0, read), { stream: true })).split("\n")
    rest = lines.pop()!
    yield* lines
  }
}

const idOf = (text: string): Id | undefined => {
  try {
    const json: unknown = JSON.parse(text)
    if (typeof json !== "object" || json === null || !("id" in json)) return undefined
    return typeof json.id === "string" || typeof json.id === "number" ? json.id : undefined
  } catch {
    return undefined
  }
}

/**
 * Reads the results a previous run left in `file` (none if missing). A partial last line, from a process killed
 * mid-write, is cut off so its request runs again; a line that is not a result fails with `ResultsFileError`.
 */
export const resume = (file: string): Effect.Effect<Resumed, ResultsFileError> =>
  Effect.try({
    try: (): Result.Result<Resumed, ResultsFileError> => {
      if (!fs.existsSync(file)) return Result.succeed({ done: new Set(), cut: 0 })
      const fd = fs.openSync(file, "r+")
      try {
        const size = fs.fstatSync(fd).size
        const whole = wholeLength(fd, size)
        if (whole < size) fs.ftruncateSync(fd, whole)
        const done = new Set<string>()
        let number = 0
        for (const line of wholeLines(fd, whole)) {
          number++
          if (line.trim() === "") continue
          const id = idOf(line)
          if (id === undefined) {
            return Result.fail(
              new ResultsFileError({
                message: `${file} line ${number} is not a batch result (a JSON object with an id); ` +
                  "give --out a new file or one an earlier batch wrote"
              })
            )
          }
          done.add(keyOf(id))
        }
        return Result.succeed({ done, cut: size - whole })
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: (error) =>
      new ResultsFileError({
        message: `cannot read ${file}: ${messageOf(error)}`
      })
  }).pipe(
    Effect.flatMap(Effect.fromResult)
  )

/**
 * Appends whole lines to a file.
 */
export interface Appender {
  readonly append: (line: string) => Effect.Effect<void>
}

/**
 * Opens `file` for appending, closed with the scope. Each line goes out in one synchronous write (repeated only for
 * what a short write left), so no interruption splits it.
 */
export const appender = (file: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => fs.openSync(file, "a"),
      catch: (error) =>
        new ResultsFileError({
          message: `cannot write ${file}: ${messageOf(error)}`
        })
    }),
    (fd) => Effect.sync(() => fs.closeSync(fd))
  ).pipe(Effect.map((fd): Appender => ({
    append: (line) =>
      Effect.sync(() => {
        const bytes = Buffer.from(line.endsWith("\n") ? line : `${line}\n`, "utf8")
        let written = 0
        while (written < bytes.length) written += fs.writeSync(fd, bytes, written)
      })
  })))

/**
 * A result line: the id with the reply (as `chat --json` prints it) or the typed error (`{"tag", "message", ...}`),
 * every secret scrubbed.
 */
export const resultLine = (
  id: Id,
  result: Result.Result<ChatResponse, unknown>,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): string =>
  scrub(
    JSON.stringify(
      Result.isSuccess(result) ? { id, response: toJson(result.success) } : { id, ...errorJson(result.failure) }
    ),
    secrets
  )

/**
 * A request's result appended as its line and counted: a reply's tokens and cost, or a failure.
 */
export const record = (options: {
  readonly out: Appender
  readonly counts: Counts
  readonly id: Id
  readonly result: Result.Result<ChatResponse, unknown>
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}): Effect.Effect<void> => {
  const { counts, result } = options
  if (Result.isSuccess(result)) {
    counts.succeeded++
    counts.tokens += result.success.usage.totalTokens
    counts.cost += result.success.cost ?? 0
  } else counts.failed++
  return options.out.append(resultLine(options.id, result, options.secrets))
}
