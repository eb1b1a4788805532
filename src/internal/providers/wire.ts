/**
 * What every wire codec shares: JSON objects as `JSON.parse` returns them, a
 * reply's id and model as the provider names them, tool-call arguments as the
 * object a provider wants (in a request, refused when they are not one; in a reply, kept), and
 * the two errors a codec throws, which the adapter template turns into typed
 * errors (`RequestError` into `InvalidRequestError`, `ShapeError` into
 * `OutputDecodeError`).
 */

import type { ContentPart, ImagePart, ToolCall } from "../../Message.js"
import * as Media from "../tokens/media.js"

/** A JSON object as `JSON.parse` returns it. */
export type JsonRecord = Record<string, unknown>

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value)
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
 * A tool call's arguments, JSON text in the domain, as the object `provider`
 * wants them; `""` (a call made with no arguments) is `{}`. Throws
 * `RequestError` at `param`, naming the call, when they are not a JSON object.
 */
export function argumentsObject(call: ToolCall, provider: string, param: string): JsonRecord {
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
  if (!isRecord(value)) {
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
 * `args`), whatever a deployment answered: `""` is `{}`, and arguments that are not a JSON object are kept under
 * `arguments`, as a reply cannot be refused.
 */
export function argumentsRecord(call: Pick<ToolCall, "arguments">): JsonRecord {
  if (call.arguments.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(call.arguments)
    return isRecord(value) ? value : { arguments: call.arguments }
  } catch {
    return { arguments: call.arguments }
  }
}

/** A request this format cannot express; the adapter answers it with `InvalidRequestError`. */
export class RequestError {
  constructor(readonly detail: string, readonly param?: string) {}
}

/**
 * Refuses a media part that is not an image (`Media.kindOf`: by its type, not by the field it came in), for a format
 * that takes only images (`api`: its name, for the message); `where` is the part's path (`messages[0].content[1]`).
 */
export function imageOnly(part: ImagePart, where: string, api: string): void {
  mediaOnly(part, where, api, ["image"])
}

const kindNames: Readonly<Record<Media.Kind, string>> = {
  image: "images",
  audio: "audio",
  video: "videos",
  pdf: "PDFs",
  document: "documents",
  unknown: "files of no stated type"
}

/**
 * A media part's kind (`Media.kindOf`), when it is one of the kinds `reads` that a format takes in a message's content;
 * any other is refused by its path `where`, naming what it is and what `api` takes.
 */
export function mediaOnly(part: ImagePart, where: string, api: string, reads: ReadonlyArray<Media.Kind>): Media.Kind {
  const kind = Media.kindOf(part)
  if (reads.includes(kind)) return kind
  throw new RequestError(
    `${where} is ${Media.describe(kind, Media.mediaTypeOf(part))}: ${api} takes ` +
      `${reads.map((read) => kindNames[read]).join(" and ")} only in a message's content; send it to a deployment ` +
      "that reads it (a Gemini one)",
    where
  )
}

/**
 * A tool result's content as one text (its text parts joined), for a format that takes only text in one (`api`: its
 * name, for the message); a media part is refused by its path under `where` (the message's, `messages[2]`), naming
 * what it is, never dropped.
 */
export function textResult(content: string | ReadonlyArray<ContentPart>, where: string, api: string): string {
  if (typeof content === "string") return content
  let out = ""
  content.forEach((part, j) => {
    if (part.type === "text") {
      out += part.text
      return
    }
    const at = `${where}.content[${j}]`
    throw new RequestError(
      `${at} is ${Media.describe(Media.kindOf(part), Media.mediaTypeOf(part))}: ${api} takes only text in a tool ` +
        "result; send it to a deployment that reads media there (an Anthropic one)",
      at
    )
  })
  return out
}

/** A wire value that is not what the format promises. */
export class ShapeError {
  constructor(readonly reason: string) {}
}
