/**
 * What the gateway reads from a request before it serves it: the path in the
 * one form the router and the key check both see, the request's id, and the
 * guard every request passes before its key is looked at (`guard`).
 *
 * The path is normalised once (RFC 3986 section 6.2.2: escapes of unreserved
 * characters decoded; and doubled slashes and a trailing slash dropped), then
 * matched exactly, case included, so a path is open, admin or keyed by one
 * reading of it. A page in a browser can reach a gateway on the machine it runs
 * on: by a form's or a `fetch`'s cross-site request (a CORS "simple" request
 * is sent without preflight: `text/plain`, a form's types, or no body) or by
 * DNS rebinding (a name of its own that resolves to 127.0.0.1, sent as `Host`).
 * The guard refuses both, whatever keys the gateway has.
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

/** The `Host` values of a gateway listening on loopback at `port`: its loopback names, with the port or without. */
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
export const sameOrigin = (origin: string, host: string | undefined): boolean => {
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

/** Whether a request carries a body: a `content-type`, a length above 0 or a chunked body declare one. */
const declaresBody = (headers: Readonly<Record<string, string | undefined>>): boolean =>
  headers["content-type"] !== undefined || headers["transfer-encoding"] !== undefined ||
  (headers["content-length"] !== undefined && headers["content-length"] !== "0")

/** Why the guard refuses a request: a `Host` that is not its own, a page of another origin, a body not JSON. */
export type Refusal = "host_not_allowed" | "cross_origin_request" | "unsupported_media_type"

/**
 * What every request passes before its key is looked at, on every route and whatever the keys: a gateway
 * listening on loopback (`hosts`: its loopback names) serves only those names, so a rebound name is refused; a
 * request that may change something (not GET, HEAD or OPTIONS) comes from no page or a page of the gateway's own
 * origin (its `Origin`, and its `Sec-Fetch-Site` where a browser sends it), and a body it carries is JSON, which a
 * page of another origin cannot send without the preflight the gateway never grants.
 */
export const guard = (
  method: string,
  headers: Readonly<Record<string, string | undefined>>,
  hosts: ReadonlySet<string> | undefined
): Refusal | undefined => {
  if (hosts !== undefined && !ownHost(hosts, headers["host"])) return "host_not_allowed"
  if (safeMethods.has(method)) return undefined
  const origin = headers["origin"]
  const site = headers["sec-fetch-site"]
  if (
    (origin !== undefined && !sameOrigin(origin, headers["host"])) || (site !== undefined && !ownFetchSites.has(site))
  ) {
    return "cross_origin_request"
  }
  return declaresBody(headers) && !isJson(headers["content-type"]) ? "unsupported_media_type" : undefined
}
