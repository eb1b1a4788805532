/**
 * `batch`'s input: a JSONL file read line by line (never whole), each line an OpenAI Chat Completions body plus an
 * `id`, turned into the request it asks for or the reason it cannot run.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { messageOf } from "../internal/errorText.js"
import { toChatRequest } from "../internal/wire/openAiChat/codec.js"

/**
 * A request's id as the input wrote it: a string or a number.
 */
export type Id = string | number

/**
 * The id as a key for sets: `1` and `"1"` are different ids.
 */
export const keyOf = (id: Id): string => JSON.stringify(id)

/**
 * One line of the input: nothing (blank), a line that cannot run and why, or a request.
 */
export type Line =
  | { readonly _tag: "Blank" }
  | { readonly _tag: "Bad"; readonly line: number; readonly reason: string }
  | { readonly _tag: "Request"; readonly line: number; readonly id: Id; readonly request: ChatRequest }

/**
 * A line that runs.
 */
export type Request = Extract<Line, { readonly _tag: "Request" }>

const isId = (value: unknown): value is Id =>
  (typeof value === "string" && value !== "") || (typeof value === "number" && Number.isFinite(value))

/**
 * Reads one line (numbered from 1): the `id` is taken out, the rest must be a chat request
 * (`openAiRequest.toChatRequest`).
 */
export const parseLine = (text: string, line: number): Line => {
  if (text.trim() === "") return { _tag: "Blank" }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return { _tag: "Bad", line, reason: `not JSON (${messageOf(error)})` }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { _tag: "Bad", line, reason: "not a JSON object (a chat request body plus an id)" }
  }
  const { id, ...body } = json as Record<string, unknown>
  if (!isId(id)) {
    return {
      _tag: "Bad",
      line,
      reason: id === undefined ? "no id" : "the id is neither a non-empty string nor a number"
    }
  }
  const request = toChatRequest(body)
  return Result.isFailure(request)
    ? { _tag: "Bad", line, reason: request.failure }
    : { _tag: "Request", line, id, request: request.success }
}

/**
 * A line of the input as read: its text, or, past the limit, only its size (its bytes dropped as they came).
 */
export type RawLine =
  | { readonly _tag: "Text"; readonly number: number; readonly text: string }
  | { readonly _tag: "TooLong"; readonly number: number; readonly bytes: number }

/** The lines read so far, and the current one's bytes: kept up to the limit, only counted past it. */
interface Splitting {
  number: number
  parts: Array<Uint8Array>
  bytes: number
}

const LF = 10
const CR = 13
const utf8 = new TextDecoder()

/** The current line, ended: decoded (a `\r` before its `\n` dropped) when within `maxLineBytes`. */
function endLine(state: Splitting, maxLineBytes: number): RawLine {
  state.number++
  const { bytes, number, parts } = state
  state.parts = []
  state.bytes = 0
  if (bytes > maxLineBytes) return { _tag: "TooLong", number, bytes }
  let whole = parts[0] ?? new Uint8Array(0)
  if (parts.length > 1) {
    whole = new Uint8Array(bytes)
    let at = 0
    for (const part of parts) {
      whole.set(part, at)
      at += part.length
    }
  }
  const end = whole.length > 0 && whole[whole.length - 1] === CR ? whole.length - 1 : whole.length
  return { _tag: "Text", number, text: utf8.decode(whole.subarray(0, end)) }
}

/** Adds `bytes` to the current line; once it passes `maxLineBytes` nothing of it is kept but its size. */
function take(state: Splitting, bytes: Uint8Array, maxLineBytes: number): void {
  state.bytes += bytes.length
  if (state.bytes <= maxLineBytes) state.parts.push(bytes)
  else state.parts = []
}

/** The lines one chunk of the file ends. A UTF-8 character never holds the byte of `\n`, so bytes split safely. */
function split(state: Splitting, chunk: Uint8Array, maxLineBytes: number): ReadonlyArray<RawLine> {
  const out: Array<RawLine> = []
  let start = 0
  for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, start)) {
    take(state, chunk.subarray(start, lf), maxLineBytes)
    out.push(endLine(state, maxLineBytes))
    start = lf + 1
  }
  if (start < chunk.length) take(state, chunk.subarray(start), maxLineBytes)
  return out
}

/**
 * The file's lines as a byte stream split at `\n`: a line longer than `maxLineBytes` is never built (its bytes counted
 * and dropped), so one huge line costs no memory and the lines after it are still read. Unlike the provider streams'
 * NDJSON splitter (`internal/wire/ollama/ndjson.ts`), it goes on past a long line and keeps blank ones.
 */
export const lines = (file: string, maxLineBytes: number) =>
  Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) => fs.stream(file))).pipe(
    Stream.mapAccum(
      (): Splitting => ({ number: 0, parts: [], bytes: 0 }),
      (state, chunk: Uint8Array) => [state, split(state, chunk, maxLineBytes)] as const,
      // The last line needs no `\n`.
      { onHalt: (state) => (state.bytes > 0 ? [endLine(state, maxLineBytes)] : []) }
    )
  )

/**
 * A line as read, as a request or the reason it cannot run: a line past the limit is a bad line, named by its size.
 */
export const readLine = (raw: RawLine, maxLineBytes: number): Line =>
  raw._tag === "Text"
    ? parseLine(raw.text, raw.number)
    : {
      _tag: "Bad",
      line: raw.number,
      reason: `${raw.bytes} bytes, longer than a line may be (${maxLineBytes} bytes; --max-line-bytes sets it)`
    }

/**
 * How many lines are not blank: the progress' total, read once before the run as a stream, so a large file costs no
 * memory.
 */
export const countLines = (file: string, maxLineBytes: number) =>
  lines(file, maxLineBytes).pipe(
    Stream.runFold(() => 0, (count, line) => (line._tag === "Text" && line.text.trim() === "" ? count : count + 1))
  )
