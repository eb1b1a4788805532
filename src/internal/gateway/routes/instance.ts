/**
 * `GET /admin/instance?challenge=<random>`: the gateway's proof of holding `serve`'s admin token on the connection the
 * request came on (`identity/instance.ts`), to anyone; 404 on a gateway given no secret.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Errors from "../errorAnswer.js"
import { type Connection, type Instance, proofOf } from "../identity/instance.js"
import { errorResponse, json } from "../serving/answers.js"

/** A challenge's shape: base64url, long enough to be fresh, short enough to bound the work. */
const challengeShape = /^[A-Za-z0-9_-]{22,128}$/

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

const noConnection = Errors.answer(
  400,
  "The connection of this request has closed: there is none to prove the instance on.",
  "invalid_request_error",
  null,
  "no_connection"
)

/** The TCP connection `request` came on, as the gateway's socket names its ends, while it is open. */
function connectionOf(request: HttpServerRequest.HttpServerRequest): Connection | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = NodeHttpServerRequest.toIncomingMessage(request).socket
  return localAddress === undefined || localPort === undefined || remoteAddress === undefined ||
      remotePort === undefined
    ? undefined
    : { gateway: { address: localAddress, port: localPort }, caller: { address: remoteAddress, port: remotePort } }
}

/** The answer of `GET /admin/instance` of a gateway proving `instance` (none: 404). */
export function answer(instance: Instance | undefined, request: HttpServerRequest.HttpServerRequest) {
  if (instance === undefined) return Effect.succeed(errorResponse(noInstance))
  const challenge = new URL(request.url, "http://gateway").searchParams.get("challenge") ?? ""
  if (!challengeShape.test(challenge)) return Effect.succeed(errorResponse(badChallenge))
  const connection = connectionOf(request)
  if (connection === undefined) return Effect.succeed(errorResponse(noConnection))
  return Effect.succeed(json(200, JSON.stringify({ proof: proofOf(instance.secret, challenge, connection) })))
}
