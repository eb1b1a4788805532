/**
 * The gateway proving who it is to a command line on this machine before that sends it `serve`'s admin token
 * (docs/cli.md, "Which gateway gets the token"): `GET /admin/instance?challenge=<random>` answers, to anyone, the
 * address the gateway listens on and the HMAC-SHA256, under the secret `serve` gave it (its admin token), of the
 * challenge and that address (the route: `routes/instance.ts`). Only a process holding the secret can answer a fresh
 * challenge, and the address bound into the proof keeps a process on another port (or another loopback address) from
 * relaying the real gateway's answer. The secret is 256 random bits, so its HMACs give nothing to guess it by; the
 * route answers 404 on a gateway given none.
 */
import * as Redacted from "effect/Redacted"
import { createHmac } from "node:crypto"

/** What the gateway proves: the secret it holds, and the address it listens on (`host:port`). */
export interface Instance {
  readonly secret: Redacted.Redacted<string>
  readonly listening: string
}

/** The proof of holding `secret`, for `challenge`, by the gateway listening at `listening`: hex HMAC-SHA256. */
export function proofOf(secret: Redacted.Redacted<string>, challenge: string, listening: string): string {
  return createHmac("sha256", Redacted.value(secret))
    .update(`effect-llm-router gateway instance\n${challenge}\n${listening}`)
    .digest("hex")
}
