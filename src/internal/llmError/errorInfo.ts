/**
 * What a failed call's body says: the provider's error fields, read from any of the providers' shapes, and the text
 * kept of it (shortened, HTML stripped, keys masked).
 */
import * as Redacted from "effect/Redacted"
import { hash } from "node:crypto"
import { isJsonObject } from "../json.js"

const maxDetail = 300

export interface ErrorInfo {
  readonly message?: string | undefined
  readonly code?: string | undefined
  readonly type?: string | undefined
  readonly numericCode?: number | undefined
  readonly param?: string | undefined
  readonly details?: unknown
  readonly requestId?: string | undefined
  /** An AWS error's `__type` (`com.amazon.coral.service#UnrecognizedClientException`). */
  readonly awsType?: string | undefined
  readonly text: string
}

const asString = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined

const parseBody = (body: unknown): unknown => {
  if (typeof body !== "string") return body
  const trimmed = body.trim()
  if (trimmed === "" || (trimmed[0] !== "{" && trimmed[0] !== "[")) return trimmed
  try {
    return JSON.parse(trimmed)
  } catch {
    return trimmed
  }
}

/** Reads the provider's error fields from any of the shapes the providers use. */
export const errorInfo = (body: unknown): ErrorInfo => {
  const parsed = parseBody(body)
  if (!isJsonObject(parsed)) {
    const text = typeof parsed === "string" ? excerpt(parsed) : ""
    return { message: text === "" ? undefined : text, text }
  }
  // {error: {...}} (OpenAI, Gemini, OpenRouter, Anthropic), {error: "text"} (Ollama), or a flat
  // {object: "error", message, type, code} (vLLM before 0.10.1).
  const inner = parsed["error"]
  const source = isJsonObject(inner) ? inner : parsed
  const message = typeof inner === "string" ? inner : asString(source["message"])
  const rawCode = source["code"]
  const status = asString(source["status"])
  return {
    message,
    code: typeof rawCode === "string" ? rawCode : status,
    type: asString(source["type"]),
    numericCode: typeof rawCode === "number" ? rawCode : undefined,
    param: asString(source["param"]),
    details: source["details"] ?? (isJsonObject(source["metadata"]) ? source["metadata"] : undefined),
    requestId: asString(parsed["request_id"]),
    awsType: asString(parsed["__type"]),
    text: JSON.stringify(parsed)
  }
}

/** The text on one line, without HTML, shortened. */
export const excerpt = (text: string): string => {
  const plain = text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]+>/g, " ")
  const collapsed = plain.replace(/\s+/g, " ").trim()
  return collapsed.length > maxDetail ? `${collapsed.slice(0, maxDetail)}…` : collapsed
}

/**
 * `LlmError.maskKey`: the ends a person recognises a key by, and a fingerprint (16 bits of its SHA-256) that tells
 * apart keys whose ends are alike.
 */
export const maskKey = (key: string): string => {
  const ends = key.length >= 12 ? `${key.slice(0, 3)}…${key.slice(-4)}` : `…${key.slice(-2)}`
  return `${ends}#${hash("sha256", key, "hex").slice(0, 4)}`
}

// A shortened text (ending in "…") may end in the start of a key it cut.
const maskCut = (text: string, key: string): string => {
  if (!text.endsWith("…")) return text
  const body = text.slice(0, -1)
  for (let n = Math.min(key.length - 1, body.length); n >= 4; n--) {
    if (body.endsWith(key.slice(0, n))) return `${body.slice(0, -n)}${maskKey(key)}…`
  }
  return text
}

// `text` with every run of at least `least` characters that begins `value` or ends it (the secret whole, or a piece of
// it cut anywhere) masked as `value` is.
const maskRuns = (text: string, value: string, least: number): string => {
  const id = maskKey(value)
  const head = value.slice(0, least)
  let out = text
  for (let at = out.indexOf(head); at >= 0; at = out.indexOf(head, at + id.length)) {
    let end = at + least
    while (end < out.length && end - at < value.length && out[end] === value[end - at]) end++
    out = `${out.slice(0, at)}${id}${out.slice(end)}`
  }
  const tail = value.slice(-least)
  for (let at = out.lastIndexOf(tail); at >= 0; at = at === 0 ? -1 : out.lastIndexOf(tail, at - 1)) {
    let start = at
    let matched = least
    while (start > 0 && matched < value.length && out[start - 1] === value[value.length - matched - 1]) {
      start--
      matched++
    }
    out = `${out.slice(0, start)}${id}${out.slice(at + least)}`
    at = start
  }
  return out
}

/**
 * The text with every secret masked, whole or cut short at the text's end; with `pieces`, also every piece of at
 * least that many characters that begins or ends a secret (an echo cut short by its writer). Every secret is masked
 * whole before any cut or in pieces: a piece of one may be held in another, which is then masked as itself.
 */
export const scrub = (
  text: string,
  secrets: ReadonlyArray<Redacted.Redacted<string>> | undefined,
  pieces?: number
): string => {
  if (secrets === undefined) return text
  const values = secrets.map(Redacted.value).filter((value) => value.length >= 4)
  let out = text
  for (const value of values) {
    if (out.includes(value)) out = out.split(value).join(maskKey(value))
  }
  for (const value of values) out = maskCut(out, value)
  if (pieces === undefined) return out
  for (const value of values) {
    if (value.length > pieces) out = maskRuns(out, value, pieces)
  }
  return out
}
