/**
 * The gateway proving who it is to a command line on this machine before that sends it `serve`'s admin token
 * (docs/cli.md, "Which gateway gets the token"): `GET /admin/instance?challenge=<random>` answers, to anyone, the
 * address the gateway listens on and the HMAC-SHA256, under the secret `serve` gave it (its admin token), of the
 * challenge and that address. Only a process holding the secret can answer a fresh challenge, and the address bound
 * into the proof keeps a process on another port (or another loopback address) from relaying the real gateway's
 * answer. The secret is 256 random bits, so its HMACs give nothing to guess it by; the route answers 404 on a gateway
 * given none.
 */
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Redacted from "effect/Redacted"
import { createHmac } from "node:crypto"
import * as Errors from "../errorAnswer.js"
import { errorResponse, json } from "../serving/answers.js"

/** What the gateway proves: the secret it holds, and the address it listens on (`host:port`). */
export interface Instance {
  readonly secret: Redacted.Redacted<string>
  readonly listening: string
}

/** A challenge's shape: base64url, long enough to be fresh, short enough to bound the work. */
const challengeShape = /^[A-Za-z0-9_-]{22,128}$/

/** The proof of holding `secret`, for `challenge`, by the gateway listening at `listening`: hex HMAC-SHA256. */
export function proofOf(secret: Redacted.Redacted<string>, challenge: string, listening: string): string {
  return createHmac("sha256", Redacted.value(secret))
    .update(`effect-llm-router gateway instance\n${challenge}\n${listening}`)
    .digest("hex")
}

const noInstance = Errors.answer(
  404,
  "This gateway proves no instance: it was not started by `serve` with its data directory's admin token.",
  "invalid_request_error",
  null,
  "no_instance_proof"
)

const badChallenge = Errors.answer(
  400,
  "`challenge` must be 22 to 128 base64url characters, fresh for each request.",
  "invalid_request_error",
  "challenge",
  "invalid_challenge"
)

/** The answer of `GET /admin/instance` of a gateway proving `instance` (none: 404). */
export function answer(instance: Instance | undefined, request: HttpServerRequest.HttpServerRequest) {
  if (instance === undefined) return Effect.succeed(errorResponse(noInstance))
  const challenge = new URL(request.url, "http://gateway").searchParams.get("challenge") ?? ""
  if (!challengeShape.test(challenge)) return Effect.succeed(errorResponse(badChallenge))
  return Effect.succeed(json(
    200,
    JSON.stringify({ listening: instance.listening, proof: proofOf(instance.secret, challenge, instance.listening) })
  ))
}
