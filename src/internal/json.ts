/**
 * JSON as every wire reads and writes it: parsed text, objects, canonical text, a reply's id, model and objects, and a
 * tool call's arguments as the object a provider wants (in a request, refused when they are not one; in a reply, kept).
 */

import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ToolCall } from "../Message.js"
import { RequestError, ShapeError } from "./codecError.js"

/** A JSON object as `JSON.parse` returns it. */
export type JsonObject = Record<string, unknown>

/** Whether a JSON value is an object (not an array, not `null`). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}

/** The JSON value `text` holds; none when it is not JSON. */
export const parseJson: (text: string) => Option.Option<unknown> = Option.liftThrowable(JSON.parse)

/** The JSON object `text` holds; `undefined` when it is not JSON, or not an object. */
export function parseJsonObject(text: string): JsonObject | undefined {
  const value = parseJson(text)
  return Option.isSome(value) && isJsonObject(value.value) ? value.value : undefined
}

/**
 * `value` as JSON text with keys sorted and undefined fields (and `omitting`) left out, so values equal as JSON give
 * equal text, for a digest or a key made of them.
 */
export function canonicalJson(value: unknown, omitting?: string): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, omitting)).join(",")}]`
  const record = value as Readonly<Record<string, unknown>>
  const fields = Object.keys(record).filter((name) => name !== omitting && record[name] !== undefined).sort()
  return `{${fields.map((name) => `${JSON.stringify(name)}:${canonicalJson(record[name], omitting)}`).join(",")}}`
}

/** `A` with every field optional, and never `undefined`: what `definedFields` leaves of it. */
type Defined<A> = { [K in keyof A]?: Exclude<A[K], undefined> }

/** `fields` without those `undefined`, in their order: optional fields left out rather than given as `undefined`. */
export const definedFields = <A extends Record<string, unknown>>(fields: A): Defined<A> =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Defined<A>

/** The fields of `body` named in `fields` that it defines, in `fields`' order (a counting or compaction body). */
export const pickDefined = (body: JsonObject, fields: ReadonlyArray<string>): JsonObject =>
  Object.fromEntries(fields.flatMap((field) => body[field] === undefined ? [] : [[field, body[field]]]))

/** A JSON object of any fields, for a request schema's free-form members (a tool's parameters, a JSON schema). */
export const JsonObjectSchema = Schema.Record(Schema.String, Schema.Unknown)

/** A reply's field that is a JSON object; anything else is a `ShapeError` naming `field`. */
export function requireObject(value: unknown, field: string): JsonObject {
  if (!isJsonObject(value)) throw new ShapeError(`${field} is not an object`)
  return value
}

/** A reply's field that is a list; anything else is a `ShapeError` naming `field`. */
export function requireArray(value: unknown, field: string): Array<unknown> {
  if (!Array.isArray(value)) throw new ShapeError(`${field} is not an array`)
  return value
}

/** A reply's id as the provider sent it; `""` when it sent none. */
export function replyId(value: unknown): string {
  return (typeof value === "string" ? value : "")
}

/** The model a reply names; `undefined` when it names none (the model asked for stands). */
export function replyModel(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined
}

/**
 * A tool call's arguments as the object a request carries; `""` (a call with no arguments) is `{}`. Throws
 * `RequestError` at `param` when they are not a JSON object.
 */
export function requestArguments(call: ToolCall, provider: string, param: string): JsonObject {
  if (call.arguments.trim() === "") return {}
  let value: unknown
  try {
    value = JSON.parse(call.arguments)
  } catch {
    throw new RequestError(
      `the arguments of tool call "${call.id}" (${call.name}) are not valid JSON; ${provider} needs them as an object`,
      param
    )
  }
  if (!isJsonObject(value)) {
    throw new RequestError(
      `the arguments of tool call "${call.id}" (${call.name}) are not a JSON object; ${provider} needs them as an ` +
        `object`,
      param
    )
  }
  return value
}

/**
 * A tool call's arguments as the object a reply writes (Anthropic's `tool_use` `input`, Gemini's `functionCall`
 * `args`): `""` is `{}`, and arguments that are not a JSON object are kept under `arguments`, as a reply cannot be
 * refused.
 */
export function replyArguments(call: Pick<ToolCall, "arguments">): JsonObject {
  if (call.arguments.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(call.arguments)
    return isJsonObject(value) ? value : { arguments: call.arguments }
  } catch {
    return { arguments: call.arguments }
  }
}
