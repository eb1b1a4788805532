/**
 * Who an admin request is, as the audit log records it, said in this one place: the name of the admin key it
 * presents (provider.json's `gateway.admin_keys`, or `admin-token` for the token `serve` keeps in its data
 * directory); for any other key, `sha256:` and the first 12 hex digits of its digest (never the key); `unknown` when
 * it presents none.
 */
import * as Redacted from "effect/Redacted"
import * as Auth from "../keys/auth.js"

/** How many hex digits of a secret's digest name it. */
const digestPrefix = 12

/** A secret (a key, a session's id) as a row names it: `sha256:` and the first hex digits of its digest. */
export function digestNamed(secret: string): string {
  return `sha256:${Auth.digest(secret).toString("hex").slice(0, digestPrefix)}`
}

/** The actor of a request with `headers`, under `auth`'s admin keys. */
export function actorOf(auth: Auth.Auth, headers: Readonly<Record<string, string | undefined>>): string {
  const key = Auth.presented(headers)
  if (key === undefined) return "unknown"
  return auth.adminNamed(Redacted.make(key)) ?? digestNamed(key)
}
