/**
 * `GET /admin/mcp/servers` (docs/mcp.md): the MCP servers served now, each with its price and the tools the gateway
 * took from it, each tool's state against its pin (`served`, or `held`) and its calls, errors and charges from the
 * request log. The dashboard draws its MCP section from it.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import { AdminCheck } from "../access/adminCheck.js"
import { qualified } from "../access/tools.js"
import * as Errors from "../errorAnswer.js"
import type * as Endpoint from "../mcp/endpoint.js"
import * as Pins from "../mcp/pins.js"
import { RequestLogStore } from "../observe/requestLogStore.js"
import type * as RequestRows from "../observe/requestTable.js"
import { errorResponse, json } from "../serving/answers.js"
import { Requests } from "../serving/requests.js"

const unavailable = Errors.dataUnavailable(
  "The MCP servers' figures could not be read (the database or the pins' store is unavailable); retry later."
)

const none = { calls: 0, errors: 0, cost: 0 }

const keyOf = (server: string, tool: string) => `${server}\u0000${tool}`

/** The answer's body: the servers `catalog` served, their tools' states by `pins`, their calls by `calls`. */
export function render(
  catalog: ReadonlyArray<Endpoint.Catalogued>,
  pins: ReadonlyArray<Pins.Pin>,
  calls: ReadonlyArray<RequestRows.ToolCalls>
) {
  const pinned = new Map(
    pins.filter((pin) => pin.kind === "tool").map((pin) => [keyOf(pin.server, pin.name), pin.digest])
  )
  const counted = new Map(calls.map((tool) => [keyOf(tool.server, tool.tool), tool]))
  return {
    servers: catalog.map((server) => ({
      name: server.name,
      path: `/mcp/${server.name}`,
      price_per_call: server.price > 0 ? server.price : null,
      tools: server.tools.map((tool) => {
        const figures = counted.get(keyOf(server.name, tool.name)) ?? none
        return {
          name: tool.name,
          qualified: qualified(server.name, tool.name),
          state:
            pinned.get(keyOf(server.name, tool.name)) === Pins.seen(server.name, { kind: "tool", value: tool }).digest
              ? "served"
              : "held",
          calls: figures.calls,
          errors: figures.errors,
          cost: figures.cost
        }
      })
    }))
  }
}

/** The route over the configuration served: its MCP endpoints (none: no servers), the pins, the request log's store. */
export const routes = Effect.fnUntraced(function*(endpoints: Endpoint.Endpoints | undefined, pins: Pins.Pins) {
  const { served } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  const log = yield* RequestLogStore
  const answer = Effect.all([
    endpoints === undefined ? Effect.succeed([]) : endpoints.catalog,
    pins.list,
    log.toolCalls
  ]).pipe(
    Effect.matchEffect({
      onFailure: (error) =>
        Effect.as(
          Effect.logWarning("MCP servers' figures unavailable").pipe(Effect.annotateLogs({ reason: error.message })),
          errorResponse(unavailable)
        ),
      onSuccess: ([catalog, all, calls]) => Effect.succeed(json(200, JSON.stringify(render(catalog, all, calls))))
    })
  )
  return [HttpRouter.route("GET", "/admin/mcp/servers", served(() => adminOnly(answer)))]
})
