/**
 * The MCP tools' pins' admin paths (admin keys, as every admin path; docs/mcp.md):
 *
 * - `GET /admin/mcp/pins`: every tool's pin, by server then tool: its pinned digest and definition, and `held` (the
 *   digest and definition seen since, hidden from every key) or `null`.
 * - `POST /admin/mcp/pins/{server}/{tool}/approve`: the held definition pinned, so the tool is served again; 404 when
 *   nothing of that tool is held.
 *
 * A store that fails is 503 (its reason in a warning log line).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { StoreUnavailableError } from "../../../Store.js"
import type { Subjects } from "../audit/record.js"
import * as Errors from "../errorAnswer.js"
import type * as Pins from "../mcp/pins.js"
import { decodePath, errorResponse, json, type Serving } from "../serving.js"

const unavailable = Errors.answer(
  503,
  "The MCP tools' pins could not be read or written; retry later.",
  "server_error",
  null,
  "database_unavailable"
)

/** A pin as the admin API writes it. */
export function render(pin: Pins.Pin) {
  return {
    server: pin.server,
    tool: pin.tool,
    digest: pin.digest,
    definition: JSON.parse(pin.definition) as unknown,
    pinned_at: pin.pinnedAt,
    held: pin.held === undefined ? null : {
      digest: pin.held.digest,
      definition: JSON.parse(pin.held.definition) as unknown,
      seen_at: pin.held.seenAt
    }
  }
}

// `effect`'s value answered as JSON by `write`; a store that fails, 503.
function answered<A>(
  effect: Effect.Effect<A, StoreUnavailableError>,
  write: (value: A) => HttpServerResponse.HttpServerResponse
) {
  return Effect.matchEffect(effect, {
    onFailure: (error) =>
      Effect.as(
        Effect.logWarning("MCP tools' pins unavailable").pipe(Effect.annotateLogs({ reason: error.message })),
        errorResponse(unavailable)
      ),
    onSuccess: (value) => Effect.succeed(write(value))
  })
}

/** The audit subject of the pins' approval (`audit/record.ts`): the tool as `server/tool`, its pin as listed. */
export function subjects(pins: Pins.Pins): Subjects {
  function state(object: string | undefined) {
    const at = object?.indexOf("/") ?? -1
    const server = object?.slice(0, at)
    const tool = object?.slice(at + 1)
    // A store that cannot be read gives no values: the row still names the tool and the outcome.
    return Effect.orElseSucceed(
      Effect.map(pins.list, (all) => {
        const pin = all.find((candidate) => candidate.server === server && candidate.tool === tool)
        return pin === undefined ? null : render(pin)
      }),
      () => null
    )
  }
  return {
    "POST /admin/mcp/pins/:server/:tool/approve": {
      object: (params) => `${decodePath(params["server"] ?? "")}/${decodePath(params["tool"] ?? "")}`,
      state
    }
  }
}

/** The pins' admin routes over `serving`. */
export function routes(serving: Serving, pins: Pins.Pins) {
  const { adminOnly, served } = serving
  const list = served(() =>
    adminOnly(answered(pins.list, (all) => json(200, JSON.stringify({ pins: all.map(render) }))))
  )
  const approve = served(() =>
    Effect.flatMap(HttpRouter.params, (params) => {
      const server = decodePath(params["server"] ?? "")
      const tool = decodePath(params["tool"] ?? "")
      return adminOnly(answered(pins.approve(server, tool), (pin) =>
        pin === undefined
          ? errorResponse(Errors.answer(
            404,
            `No definition of the MCP server \`${server}\`'s tool \`${tool}\` is held back.`,
            "invalid_request_error",
            null,
            "pin_not_found"
          ))
          : json(200, JSON.stringify(render(pin)))))
    })
  )
  return [
    HttpRouter.route("GET", "/admin/mcp/pins", list),
    HttpRouter.route("POST", "/admin/mcp/pins/:server/:tool/approve", approve)
  ]
}
