/**
 * The MCP definitions' pins' admin paths (docs/mcp.md):
 *
 * - `GET /admin/mcp/pins`: every pin by server, kind and name: its pinned digest and definition, and `held` (seen
 *   since, hidden from every key) or `null`.
 * - `POST /admin/mcp/pins/{server}/{kind}/{name}/approve` (a resource's name its URI, a template's its URI template,
 *   percent-encoded; `/{server}/{tool}/approve` for a tool): the held definition pinned, so that it is served again.
 *
 * A store that fails is 503.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { StoreUnavailableError } from "../../../Store.js"
import { AdminCheck } from "../access/adminCheck.js"
import type { Params, Subjects } from "../audit/record.js"
import * as Errors from "../errorAnswer.js"
import * as Pins from "../mcp/pins.js"
import { decodePath, errorResponse, json } from "../serving/answers.js"
import { Requests } from "../serving/requests.js"

// A path parameter, decoded.
const param = (params: Params, name: string) => decodePath(params[name] ?? "")

const unavailable = Errors.dataUnavailable("The MCP definitions' pins could not be read or written; retry later.")

/** A pin as the admin API writes it. */
export function render(pin: Pins.Pin) {
  return {
    server: pin.server,
    kind: pin.kind,
    name: pin.name,
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
        Effect.logWarning("MCP definitions' pins unavailable").pipe(Effect.annotateLogs({ reason: error.message })),
        errorResponse(unavailable)
      ),
    onSuccess: (value) => Effect.succeed(write(value))
  })
}

/** The audit subjects of pin approvals (`audit/record.ts`): the definition as `server/kind/name`, its pin as listed. */
export function subjects(pins: Pins.Pins): Subjects {
  function state(object: string | undefined) {
    const [server, kind, ...name] = (object ?? "").split("/")
    // A store that cannot be read gives no values: the row still names the definition and the outcome.
    return Effect.orElseSucceed(
      Effect.map(pins.list, (all) => {
        const pin = all.find((candidate) =>
          candidate.server === server && candidate.kind === kind && candidate.name === name.join("/")
        )
        return pin === undefined ? null : render(pin)
      }),
      () => null
    )
  }
  return {
    "POST /admin/mcp/pins/:server/:tool/approve": {
      object: (params) => `${param(params, "server")}/tool/${param(params, "tool")}`,
      state
    },
    "POST /admin/mcp/pins/:server/:kind/:name/approve": {
      object: (params) => `${param(params, "server")}/${param(params, "kind")}/${param(params, "name")}`,
      state
    }
  }
}

// The answer to an approval of `subject`: the pin, or 404 when nothing of it is held.
function approval(pins: Pins.Pins, subject: Pins.Subject) {
  return answered(pins.approve(subject), (pin) =>
    pin === undefined
      ? errorResponse(Errors.answer(
        404,
        `No definition of the MCP server \`${subject.server}\`'s ${subject.kind} \`${subject.name}\` is held back.`,
        "invalid_request_error",
        null,
        "pin_not_found"
      ))
      : json(200, JSON.stringify(render(pin))))
}

/** The pins' admin routes over the configuration served. */
export const routes = Effect.fnUntraced(function*(pins: Pins.Pins) {
  const { served } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  const list = served(() =>
    adminOnly(answered(pins.list, (all) => json(200, JSON.stringify({ pins: all.map(render) }))))
  )
  const approveTool = served(() =>
    Effect.flatMap(
      HttpRouter.params,
      (params) =>
        adminOnly(approval(pins, { server: param(params, "server"), kind: "tool", name: param(params, "tool") }))
    )
  )
  const approve = served(() =>
    Effect.flatMap(HttpRouter.params, (params) => {
      const kind = Pins.kinds.find((candidate) => candidate === param(params, "kind"))
      return adminOnly(
        kind === undefined
          ? Effect.succeed(errorResponse(Errors.answer(
            400,
            `\`${param(params, "kind")}\` is not a kind of MCP definition; the kinds are ${Pins.kinds.join(", ")}.`,
            "invalid_request_error",
            "kind",
            "invalid_kind"
          )))
          : approval(pins, { server: param(params, "server"), kind, name: param(params, "name") })
      )
    })
  )
  return [
    HttpRouter.route("GET", "/admin/mcp/pins", list),
    HttpRouter.route("POST", "/admin/mcp/pins/:server/:tool/approve", approveTool),
    HttpRouter.route("POST", "/admin/mcp/pins/:server/:kind/:name/approve", approve)
  ]
})
