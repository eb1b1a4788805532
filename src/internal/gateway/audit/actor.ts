/**
 * A secret (a session's id) as an audit row names it, said in this one place: `sha256:` and the first 12 hex digits
 * of its digest, never the secret.
 */
import { digest } from "../access/caller.js"

/** How many hex digits of a secret's digest name it. */
const digestPrefix = 12

/** A secret (a session's id) as a row names it: `sha256:` and the first hex digits of its digest. */
export function digestNamed(secret: string): string {
  return `sha256:${digest(secret).slice(0, digestPrefix)}`
}
