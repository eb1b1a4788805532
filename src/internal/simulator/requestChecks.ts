/**
 * What the simulator's wire formats share in checking a request by hand (field by field, so an error names the
 * offending field as the real API does): the key of a bearer `authorization` header, a value's type as error messages
 * name it, the value at the path a codec's schema refused, the `InvalidRequest` failure, and a URL path's segment
 * decoded.
 */
import type * as Http from "node:http"
import type { ApiError } from "../../simulator/WireFormat.js"

/** The key an `authorization` header carries, with or without its `Bearer` scheme. */
export const bearerKey = (headers: Http.IncomingHttpHeaders): string | undefined => {
  const value = headers.authorization
  return value === undefined ? undefined : value.replace(/^bearer\s+/i, "").trim()
}

/** A JSON value's type with its article, as OpenAI and Gemini word it (`got an array`). */
export const typeName = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : `a ${typeof u}`

/** A JSON value's type bare, as Anthropic (pydantic) and Ollama (Go's `encoding/json`) word it (`array`). */
export const bareTypeName = (u: unknown): string =>
  u === null ? "null" : Array.isArray(u) ? "array" : typeof u === "object" ? "object" : typeof u

/** The failure of a request the format rejects. */
export type InvalidRequest = Extract<ApiError, { readonly _tag: "InvalidRequest" }>

/** A request the format rejects; `param` names the offending field. */
export const invalid = (message: string, param?: string, code?: string): InvalidRequest => ({
  _tag: "InvalidRequest",
  message,
  param,
  code
})

/** The value at `path` in a parsed JSON body (`undefined` where there is none). */
export const valueAt = (body: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let value = body
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined
    value = (value as Readonly<Record<PropertyKey, unknown>>)[key]
  }
  return value
}

/** A path segment percent-decoded, or as it is when its escapes are invalid. */
export const decodeSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}
