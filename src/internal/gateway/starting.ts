/**
 * The answer to a request that comes before the gateway serves its first configuration. The port is bound first (a
 * configuration served on loopback is built with its number, which `port: 0` leaves to the system), and building the
 * configuration waits for its MCP servers (docs/mcp.md). Meanwhile every request is answered at once, 503 with
 * `Retry-After`: a load balancer sees an instance not yet in service, and the official clients retry. Nothing else is
 * read of the request and nothing is logged: the request log, the keys and the metrics are the configuration's.
 */
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Dialects from "./dialects.js"
import * as Errors from "./errorAnswer.js"
import * as Intake from "./intake.js"
import { errorResponse } from "./serving/answers.js"

// The probes' paths, which say what state the gateway is in rather than refuse.
const probes: ReadonlySet<string> = new Set(["/health", "/ready"])

/** The answer to the request being served, before the first configuration is. */
export const answer = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const path = new URL(Intake.canonicalUrl(request.url), "http://gateway").pathname
  return probes.has(path)
    ? HttpServerResponse.text(`{"status":"starting"}`, {
      status: 503,
      contentType: "application/json",
      headers: { "retry-after": String(Errors.starting.retryAfter) }
    })
    : errorResponse(Errors.starting, Dialects.errorsOf(request.method, path))
})
