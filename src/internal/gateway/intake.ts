/**
 * What the gateway reads from a request before serving it: the path in the one form the router and the key check both
 * see, the request's id, the guard every request passes before its key is looked at (`guard`), and its session.
 *
 * The path is normalised once (RFC 3986 section 6.2.2) and matched exactly, case included, so a path is open, admin or
 * keyed by one reading of it. The guard refuses what a page in a browser can send a gateway on its own machine: a
 * cross-site request (a CORS "simple" request needs no preflight) or DNS rebinding (a name of its own sent as `Host`).
 *
 * The session, for the router's affinity (`Router.Options.affinity`): the body's (each route's decoder names it), else
 * the client's `x-session-id` header, else a hash of the prompt's shared prefix when it is long enough for a provider
 * to cache it. A session is its key's: the router sees it prefixed with the key's id.
 */

import { createHash } from "node:crypto"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { textOf } from "../../Message.js"

// The router's own reading of an absolute-form request target (`http://host/path`): its path.
const absoluteForm = /^https?:\/\/.*?\//
// Where a path ends: its query, or a `;` or `#`, which the router reads as a query too.
const pathEnd = /[?;#]/
// Escapes of unreserved characters (RFC 3986 section 2.3): ALPHA, DIGIT, `-`, `.`, `_`, `~`.
const unreservedEscape = /%(?:3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|2[de]|5f|7e)/gi
// A `%` that starts no escape: the path is malformed, and left as it is (the router matches no route by it).
const strayPercent = /%(?![0-9a-f]{2})/i
const doubledSlash = /\/{2,}/g
// A path that needs none of that: it starts with `/`, holds no escape or doubled slash, and ends without `/`.
const canonical = /^(?:\/[^/%?;#]+)+$|^\/$/

function decodeEscape(escape: string): string {
  return String.fromCharCode(Number.parseInt(escape.slice(1), 16))
}

/**
 * `text` with the escapes of unreserved characters decoded (RFC 3986 section 6.2.2.2), unless a `%` starts no escape
 * (malformed: left as it is). A decoded character never starts an escape, so once is enough.
 */
export function unreservedDecoded(text: string): string {
  return strayPercent.test(text) ? text : text.replace(unreservedEscape, decodeEscape)
}

/** `url` (a request target) with its path normalised; what follows the path is kept. */
export function canonicalUrl(url: string): string {
  if (canonical.test(url)) return url
  const target = url.startsWith("/") ? url : url.replace(absoluteForm, "/")
  const end = target.search(pathEnd)
  const path = end < 0 ? target : target.slice(0, end)
  let normal = unreservedDecoded(path).replace(doubledSlash, "/")
  if (normal.length > 1 && normal.endsWith("/")) normal = normal.slice(0, -1)
  return end < 0 ? normal : normal + target.slice(end)
}

/** The longest `x-request-id` taken from a client. */
export const maxRequestIdLength = 128

const requestIdShape = new RegExp(`^[A-Za-z0-9._:-]{1,${maxRequestIdLength}}$`)

/**
 * The request's id: the client's `x-request-id` when it is one (at most `maxRequestIdLength` characters of
 * `[A-Za-z0-9._:-]`, which a header, a log line and a JSON string carry as they are), else `fresh()`.
 */
export function requestId(header: string | undefined, fresh: () => string): string {
  return header !== undefined && requestIdShape.test(header) ? header : fresh()
}

/**
 * The longest model name taken, in UTF-8 bytes: longer than any provider's, short enough to log, keep in the request
 * log and name in an answer. A longer one is refused (400 `model_too_long`) before anything else is made of it.
 */
export const maxModelBytes = 256

/** The bytes of `model` when it is longer than `maxModelBytes`, else undefined. */
export function oversizedModel(model: string): number | undefined {
  const bytes = Buffer.byteLength(model)
  return bytes > maxModelBytes ? bytes : undefined
}

/** The most characters of a client's text (a path, a model name) a log line or a request log row holds. */
export const maxLoggedLength = 256

/** `text` as a log line or row holds it: whole up to `maxLoggedLength` characters, else their first and `…`. */
export function logged(text: string): string {
  if (text.length <= maxLoggedLength) return text
  // Not cut inside a surrogate pair.
  const high = text.charCodeAt(maxLoggedLength - 1)
  return `${text.slice(0, high >= 0xd800 && high <= 0xdbff ? maxLoggedLength - 1 : maxLoggedLength)}…`
}

/** The `Host` values of a gateway listening on loopback at `port`: its loopback names, with the port or without. */
export function loopbackHosts(port: number): ReadonlySet<string> {
  return new Set(["localhost", "127.0.0.1", "[::1]"].flatMap((name) => [name, `${name}:${port}`]))
}

/** Whether a request's `Host` is one of `hosts` (a request without one names no other host). */
export function ownHost(hosts: ReadonlySet<string>, host: string | undefined): boolean {
  return host === undefined || hosts.has(host.toLowerCase())
}

/** Whether a `content-type` is JSON's (`application/json`, its parameters aside). */
export function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const end = contentType.indexOf(";")
  return (end < 0 ? contentType : contentType.slice(0, end)).trim().toLowerCase() === "application/json"
}

// The methods that change nothing: a page may have a browser send them anywhere (a link, an image), so they are not
// what the origin check guards.
const safeMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

// `Sec-Fetch-Site` values of a request the gateway's own origin, or the user, made (Fetch Metadata Request
// Headers, W3C): `same-site` is not enough, another port of localhost is the same site.
const ownFetchSites: ReadonlySet<string> = new Set(["same-origin", "none"])

const defaultPorts: Readonly<Record<string, string>> = { "http:": "80", "https:": "443" }

/**
 * Whether `origin` (an `Origin` header) is the origin of the `host` a request names: a browser's `Origin` holds
 * the page's scheme, name and port, and `null` for a page without one (a sandbox, a file).
 */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  if (url.origin === "null" || defaultPorts[url.protocol] === undefined) return false
  const named = host.toLowerCase()
  const port = url.port === "" ? defaultPorts[url.protocol] : url.port
  return named === `${url.hostname}:${port}` || (url.port === "" && named === url.hostname)
}

/** Whether a request asks for a WebSocket (`Upgrade: websocket`, RFC 6455). */
export function isWebSocket(headers: Readonly<Record<string, string | undefined>>): boolean {
  return headers["upgrade"]?.toLowerCase() === "websocket"
}

/** Whether a request carries a body: a `content-type`, a length above 0 or a chunked body declare one. */
function declaresBody(headers: Readonly<Record<string, string | undefined>>): boolean {
  return headers["content-type"] !== undefined || headers["transfer-encoding"] !== undefined ||
    (headers["content-length"] !== undefined && headers["content-length"] !== "0")
}

/** Why the guard refuses a request: a `Host` that is not its own, a page of another origin, a body not JSON. */
export type Refusal = "host_not_allowed" | "cross_origin_request" | "unsupported_media_type"

/**
 * What every request passes before its key is looked at, whatever the keys: on loopback (`hosts`) only the loopback
 * names are served, so a rebound name is refused; a request that may change something (not GET, HEAD or OPTIONS) comes
 * from no page or the gateway's own origin, and its body is JSON, which another origin cannot send without the
 * preflight the gateway never grants (on `upload` paths a multipart form too: a browser sends `Origin` with every form
 * it posts). A WebSocket handshake is checked as a POST's: a page may open one anywhere, and no CORS guards it.
 */
export function guard(
  method: string,
  headers: Readonly<Record<string, string | undefined>>,
  hosts: ReadonlySet<string> | undefined,
  upload: boolean
): Refusal | undefined {
  if (hosts !== undefined && !ownHost(hosts, headers["host"])) return "host_not_allowed"
  if (safeMethods.has(method) && !isWebSocket(headers)) return undefined
  const origin = headers["origin"]
  const site = headers["sec-fetch-site"]
  if (
    (origin !== undefined && !sameOrigin(origin, headers["host"])) || (site !== undefined && !ownFetchSites.has(site))
  ) {
    return "cross_origin_request"
  }
  const type = headers["content-type"]
  return declaresBody(headers) && !isJson(type) && !(upload && isForm(type)) ? "unsupported_media_type" : undefined
}

/** Whether a `content-type` is a multipart form's (`multipart/form-data`, its boundary aside). */
function isForm(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(;|$)/i.test(contentType)
}

/** The paths whose bodies may be multipart forms: an upload's. */
export const uploadPaths: ReadonlySet<string> = new Set(["/v1/files"])

/** The header a client names its session with when its body cannot. */
export const header = "x-session-id"

/**
 * The shortest shared prefix, in characters, that makes a session of its own: about the shortest prompt OpenAI's and
 * Anthropic's prompt caches keep (1,024 tokens), at some four characters a token.
 */
export const minPrefixChars = 4096

/** The hash of the request's system messages and first user message, when they hold at least `least` characters. */
function prefixSession(request: ChatRequest, least: number): string | undefined {
  // Measured before hashing: most prompts are shorter than the bound, and a hash made for them would be thrown away.
  const parts: Array<readonly [role: string, text: string]> = []
  let length = 0
  for (const message of request.messages) {
    if (message.role !== "system" && message.role !== "user") break
    const text = textOf(message.content)
    parts.push([message.role, text])
    length += text.length
    if (message.role === "user") break
  }
  if (length < least) return undefined
  const hash = createHash("sha256")
  for (const [role, text] of parts) hash.update(role).update("\u0000").update(text).update("\u0000")
  return `prefix:${hash.digest("base64url")}`
}

/** The request's session as its client names it: the body's, else the client's header, else its long prefix's hash. */
export function named(request: ChatRequest, headerValue: string | undefined): string | undefined {
  return request.session ??
    (headerValue !== undefined && headerValue !== "" ? headerValue : prefixSession(request, minPrefixChars))
}

/**
 * The session of a conversation however short its prefix: its hash (`prefixSession`), the same for each of its turns.
 * For a conversation whose state only the deployment that made it reads back, short or not.
 */
export function conversationSession(request: ChatRequest): string | undefined {
  return prefixSession(request, 0)
}

/**
 * The request with its session (`named`) scoped to the key that made it (`owner`, its id): a session one key names is
 * never another's, so no key can steer, or learn from the routing of, another's conversations by naming them.
 */
export function withSession(
  request: ChatRequest,
  headerValue: string | undefined,
  owner: string | undefined
): ChatRequest {
  const session = named(request, headerValue)
  if (session === undefined) return request
  return { ...request, session: owner === undefined ? session : `${owner}\u0000${session}` }
}
