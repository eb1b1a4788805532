/**
 * What the gateway reads from a request before it serves it: the path in the
 * one form the router and the key check both see, the request's id, whether
 * its `Host` is the gateway's own loopback name, and whether its body is
 * declared JSON.
 *
 * The path is normalised once (RFC 3986 section 6.2.2: escapes of unreserved
 * characters decoded; and doubled slashes and a trailing slash dropped), then
 * matched exactly, case included, so a path is open, admin or keyed by one
 * reading of it. Without gateway keys the gateway serves loopback only; a
 * page in a browser can still reach it, by a form's cross-site POST (a CORS
 * "simple" request: no preflight, so `content-type` is not JSON) or by DNS
 * rebinding (a name of its own that resolves to 127.0.0.1, sent as `Host`):
 * both are refused.
 */

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

const decodeEscape = (escape: string): string => String.fromCharCode(Number.parseInt(escape.slice(1), 16))

/** `url` (a request target) with its path normalised; what follows the path is kept. */
export const canonicalUrl = (url: string): string => {
  if (canonical.test(url)) return url
  const target = url.startsWith("/") ? url : url.replace(absoluteForm, "/")
  const end = target.search(pathEnd)
  const path = end < 0 ? target : target.slice(0, end)
  // Decoded only when every `%` starts an escape: a decoded character never starts one, so once is enough.
  const decoded = strayPercent.test(path) ? path : path.replace(unreservedEscape, decodeEscape)
  let normal = decoded.replace(doubledSlash, "/")
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
export const requestId = (header: string | undefined, fresh: () => string): string =>
  header !== undefined && requestIdShape.test(header) ? header : fresh()

/** The `Host` values of a gateway without keys listening on `port`: its loopback names, with the port or without. */
export const loopbackHosts = (port: number): ReadonlySet<string> =>
  new Set(["localhost", "127.0.0.1", "[::1]"].flatMap((name) => [name, `${name}:${port}`]))

/** Whether a request's `Host` is one of `hosts` (a request without one names no other host). */
export const ownHost = (hosts: ReadonlySet<string>, host: string | undefined): boolean =>
  host === undefined || hosts.has(host.toLowerCase())

/** Whether a `content-type` is JSON's (`application/json`, its parameters aside). */
export const isJson = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false
  const end = contentType.indexOf(";")
  return (end < 0 ? contentType : contentType.slice(0, end)).trim().toLowerCase() === "application/json"
}
