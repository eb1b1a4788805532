/**
 * What a format takes in a message's content and a tool result's: a media part of a kind it does not read is refused
 * by its path (`RequestError`), naming what it is (`Media.kindOf`: by its type, not by the field it came in), never
 * dropped; and a `data:` URL's bytes as the base64 of an API that takes a medium so.
 */

import type { ContentPart, ImagePart } from "../../Message.js"
import { RequestError } from "../codecError.js"
import * as Media from "../tokens/media.js"

/**
 * A `data:` URL's payload as the base64 of its bytes, as an API that takes a medium's bytes wants them: as it is when
 * it is base64, else its percent-decoded text's UTF-8 (a `URIError` when that is not valid percent-encoding).
 */
export function base64Payload(payload: string, base64: boolean): string {
  return base64 ? payload : Buffer.from(decodeURIComponent(payload), "utf8").toString("base64")
}

/**
 * Refuses a media part that is not an image, for a format that takes only images (`api`: its name, for the message).
 */
export function requireImage(part: ImagePart, where: string, api: string): void {
  requireMediaKind(part, where, api, ["image"])
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
 * A media part's kind, when it is one of the kinds `reads` that a format takes in a message's content; any other is
 * refused by its path `where`, naming what it is and what `api` takes.
 */
export function requireMediaKind(
  part: ImagePart,
  where: string,
  api: string,
  reads: ReadonlyArray<Media.Kind>
): Media.Kind {
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
 * A tool result's content as one text (its text parts joined), for a format that takes only text in one; a media part
 * is refused by its path under `where`.
 */
export function toolResultText(content: string | ReadonlyArray<ContentPart>, where: string, api: string): string {
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
