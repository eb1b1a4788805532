/**
 * `batch`'s input: a JSONL file read line by line (never whole), each line an
 * OpenAI Chat Completions body plus an `id`, turned into the request it asks
 * for or the reason it cannot run.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { toChatRequest } from "../internal/openAiRequest.js"

/**
 * A request's id as the input wrote it: a string or a number.
 *
 * @since 0.3.0
 * @category Models
 */
export type Id = string | number

/**
 * The id as a key for sets: `1` and `"1"` are different ids.
 *
 * @since 0.3.0
 * @category Models
 */
export const keyOf = (id: Id): string => JSON.stringify(id)

/**
 * One line of the input: nothing (blank), a line that cannot run and why, or a request.
 *
 * @since 0.3.0
 * @category Models
 */
export type Line =
  | { readonly _tag: "Blank" }
  | { readonly _tag: "Bad"; readonly line: number; readonly reason: string }
  | { readonly _tag: "Request"; readonly line: number; readonly id: Id; readonly request: ChatRequest }

const isId = (value: unknown): value is Id =>
  (typeof value === "string" && value !== "") || (typeof value === "number" && Number.isFinite(value))

/**
 * Reads one line (numbered from 1). The `id` is taken out of the body; the
 * rest must be a chat request (`openAiRequest.toChatRequest`).
 *
 * @since 0.3.0
 * @category Parsing
 */
export const parseLine = (text: string, line: number): Line => {
  if (text.trim() === "") return { _tag: "Blank" }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    return { _tag: "Bad", line, reason: `not JSON (${error instanceof Error ? error.message : String(error)})` }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { _tag: "Bad", line, reason: "not a JSON object (a chat request body plus an id)" }
  }
  const { id, ...body } = json as Record<string, unknown>
  if (!isId(id)) {
    return { _tag: "Bad", line, reason: id === undefined ? "no id" : "the id is neither a non-empty string nor a number" }
  }
  const request = toChatRequest(body)
  return Result.isFailure(request)
    ? { _tag: "Bad", line, reason: request.failure }
    : { _tag: "Request", line, id, request: request.success }
}

/**
 * The file's lines with their numbers (from 1), read as a stream.
 *
 * @since 0.3.0
 * @category Reading
 */
export const lines = (file: string) =>
  Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) => fs.stream(file))).pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.map((text, index) => [text, index + 1] as const)
  )

/**
 * How many lines of the file are not blank: the total the progress counts
 * to, read once before the run (a stream, so a large file costs no memory).
 *
 * @since 0.3.0
 * @category Reading
 */
export const countLines = (file: string) =>
  lines(file).pipe(Stream.runFold(() => 0, (count, [text]) => (text.trim() === "" ? count : count + 1)))
