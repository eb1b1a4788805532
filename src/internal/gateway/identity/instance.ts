/**
 * The gateway proving who it is to a command line on this machine before that sends it `serve`'s admin token
 * (docs/cli.md, "Which gateway gets the token"): `GET /admin/instance?challenge=<random>` answers anyone the
 * HMAC-SHA256, under that token, of the challenge and the TCP connection's two ends as the gateway's socket names them.
 * Only a holder of the secret can answer a fresh challenge, and binding the connection keeps a relay in the middle
 * (another user's listener on another loopback address) from passing the real gateway's answer on. The secret is 256
 * random bits, so its HMACs give nothing to guess it by; a gateway given none answers 404.
 */
import * as Redacted from "effect/Redacted"
import { createHmac } from "node:crypto"

/** What the gateway proves it holds. */
export interface Instance {
  readonly secret: Redacted.Redacted<string>
}

/** One end of a TCP connection: its IP address and port. */
export interface Endpoint {
  readonly address: string
  readonly port: number
}

/** A TCP connection by its two ends: the gateway's (where it accepted it) and the caller's. */
export interface Connection {
  readonly gateway: Endpoint
  readonly caller: Endpoint
}

// An IPv4 address as a dual-stack socket names it (`::ffff:127.0.0.1`) is the address the other end names plainly.
const mappedIpv4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i

/** `endpoint` written the same on both ends of the connection: `127.0.0.1:4000`, `[::1]:4000`. */
export function endpointText(endpoint: Endpoint): string {
  const address = endpoint.address.toLowerCase().replace(mappedIpv4, "$1")
  return `${address.includes(":") ? `[${address}]` : address}:${endpoint.port}`
}

/** The proof of holding `secret`, for `challenge`, on `connection`: hex HMAC-SHA256. */
export function proofOf(secret: Redacted.Redacted<string>, challenge: string, connection: Connection): string {
  return createHmac("sha256", Redacted.value(secret))
    .update(
      `effect-llm-router gateway connection\n${challenge}\n${endpointText(connection.gateway)}\n${
        endpointText(connection.caller)
      }`
    )
    .digest("hex")
}
