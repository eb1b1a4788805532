/**
 * Zhipu GLM's key as a signed token: a key `id.secret` is sent as a short-lived JWT, HS256 over `{api_key: id, exp,
 * timestamp}` (times in milliseconds, as Zhipu's own SDK writes them) with the header `{alg: "HS256", sign_type:
 * "SIGN"}`, signed with `secret`.
 *
 * @since 0.1.0
 * @internal
 */
import * as Redacted from "effect/Redacted"
import { createHmac } from "node:crypto"

/** How long a token is valid, as Zhipu's SDK makes them. */
export const tokenTtlMillis = 3 * 60 * 1000

/** A cached token is replaced this long before it expires, so none is sent about to lapse. */
export const refreshMarginMillis = 30 * 1000

const base64Url = (text: string): string => Buffer.from(text, "utf8").toString("base64url")

/** The token for `id` and `secret` at `nowMillis`. */
export const sign = (id: string, secret: string, nowMillis: number): string => {
  const header = base64Url(JSON.stringify({ alg: "HS256", sign_type: "SIGN" }))
  const payload = base64Url(JSON.stringify({ api_key: id, exp: nowMillis + tokenTtlMillis, timestamp: nowMillis }))
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url")
  return `${header}.${payload}.${signature}`
}

/**
 * An `OpenAiChat` `auth` function for Zhipu, its token cached per key until `refreshMarginMillis` before it expires. A
 * key without a dot is sent as it is (Zhipu also accepts its API key as a plain bearer token).
 */
export const auth = (): (key: Redacted.Redacted<string>, nowMillis: number) => Readonly<Record<string, string>> => {
  // Keyed by the key itself: a pool holds a few keys, and this map never leaves the closure.
  const cache = new Map<string, { readonly header: string; readonly issuedAt: number }>()
  return (key, nowMillis) => {
    const text = Redacted.value(key)
    const dot = text.indexOf(".")
    if (dot <= 0 || dot === text.length - 1) return { authorization: `Bearer ${text}` }
    const cached = cache.get(text)
    // A clock that went back before the token's timestamp gets a new one too.
    if (
      cached !== undefined && nowMillis >= cached.issuedAt &&
      nowMillis < cached.issuedAt + tokenTtlMillis - refreshMarginMillis
    ) {
      return { authorization: cached.header }
    }
    const header = `Bearer ${sign(text.slice(0, dot), text.slice(dot + 1), nowMillis)}`
    cache.set(text, { header, issuedAt: nowMillis })
    return { authorization: header }
  }
}
