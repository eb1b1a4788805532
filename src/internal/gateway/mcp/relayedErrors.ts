/**
 * An upstream's JSON-RPC error that a call's client gets as that error, with the HTTP status the revision gives it: a
 * 2026-07-28 server's -32021 (`MissingRequiredClientCapabilityError`, HTTP 400) for a capability the calling client did
 * not declare. A call's handler answers its failures as `isError` results (docs/mcp.md), and `McpServer` sends only a
 * middleware's failure as a JSON-RPC error of its own code, so the registrations run `middleware`, which gives each
 * request a place (`Relayed`) for such an error (`relay`) and answers the error left there.
 */
import type * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"

/** An error to relay, and the HTTP status it goes with. */
export interface Relayable {
  readonly error: McpSchema.McpErrorBase
  readonly status: number
}

/** Where a call's handler leaves the error its client gets as its answer (none: the handler's own failure goes). */
export class Relayed extends Context.Service<Relayed, { relayable: Relayable | undefined }>()(
  "effect-llm-router/gateway/mcp/Relayed"
) {}

// `relayable` answered: its status on the HTTP response, its error as the request's.
function answer(relayable: Relayable) {
  return Effect.withFiber<never, McpSchema.McpErrorBase>((fiber) => {
    HttpEffect.appendPreResponseHandlerUnsafe(
      fiber.context,
      (_request, response) => Effect.succeed(HttpServerResponse.setStatus(response, relayable.status))
    )
    return Effect.fail(relayable.error)
  })
}

/**
 * The middleware of the endpoints' registrations: each request gets a `Relayed` of its own; when its handler left an
 * error there, that error is the answer, whatever the handler then answered (a call answers its failures as results);
 * else the handler's outcome goes as it came.
 */
export const middleware = McpServer.middleware<{ provides: Relayed }>()((effect) => {
  const place: Relayed["Service"] = { relayable: undefined }
  return Effect.provideService(effect, Relayed, place).pipe(
    Effect.matchCauseEffect({
      onFailure: (cause) =>
        place.relayable === undefined || Cause.hasInterrupts(cause)
          ? Effect.failCause(cause)
          : answer(place.relayable),
      onSuccess: (success) => place.relayable === undefined ? Effect.succeed(success) : answer(place.relayable)
    })
  )
})

/**
 * `relayable` left in `services`' place for the request's middleware to answer, and `failure`, the handler's own
 * failure (what its client gets where no middleware runs).
 */
export function relay(
  services: Context.Context<never>,
  relayable: Relayable,
  failure: McpSchema.InternalError
): Effect.Effect<never, McpSchema.InternalError> {
  const place = Context.getOption(services, Relayed)
  if (place._tag === "Some") place.value.relayable = relayable
  return Effect.fail(failure)
}
