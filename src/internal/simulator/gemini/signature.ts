/**
 * The simulator's thought signatures: opaque base64, as Gemini's are, made from the call they sign (its name and its
 * arguments, whose keys keep no order in the API's `Struct`), so a request can be checked for a signature that came
 * back on another call, or damaged.
 */
import { createHash } from "node:crypto"
import { canonicalJson } from "../../json.js"

/** The signature of a call of `name` with `args` (its arguments, parsed). */
export function signatureOf(name: string, args: unknown): string {
  const digest = createHash("sha256").update(`${name}\n${canonicalJson(args ?? {})}`).digest("base64url")
  return Buffer.from(`sim-thought-signature:${digest}`).toString("base64")
}
