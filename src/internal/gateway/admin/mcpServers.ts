/**
 * `GET /admin/mcp/servers` (an admin path, as every one; docs/mcp.md): the MCP servers the configuration serves now,
 * each with its price and the tools the gateway took from it, each tool's state against its pin (`served`, or `held`
 * while its definition is not the one pinned) and, with a database, its calls from the request log (calls, those that
 * ended in an error of any kind, and what they were charged). The dashboard draws its MCP section from it. Without a
 * database the figures are `null` (no request log is kept); a database that fails is 503.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Sql from "../../persistence/sql.js"
import { AdminCheck } from "../access/adminCheck.js"
import { qualified } from "../access/tools.js"
import * as Errors from "../errorAnswer.js"
import type * as Endpoint from "../mcp/endpoint.js"
import * as Pins from "../mcp/pins.js"
import { errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"

/** A tool's calls as the request log counts them. */
export interface Calls {
  readonly calls: number
  /** Calls that ended in an error: an `isError` result, a server that failed the call, or a refusal. */
  readonly errors: number
  /** US dollars charged. */
  readonly cost: number
}

const unavailable = Errors.answer(
  503,
  "The MCP servers' figures could not be read (the database or the pins' store is unavailable); retry later.",
  "server_error",
  null,
  "database_unavailable"
)

const none: Calls = { calls: 0, errors: 0, cost: 0 }

const keyOf = (server: string, tool: string) => `${server}\u0000${tool}`

// Every MCP tool's calls in the request log, by server and tool.
function callsOf(database: Sql.Database) {
  const { bounds, sql } = database
  return Sql.step(
    bounds,
    "reading the MCP calls of the request log",
    Effect.map(
      sql<Readonly<Record<string, unknown>>>`SELECT mcp_server, mcp_tool, COUNT(*) AS calls,
        SUM(CASE WHEN error IS NULL THEN 0 ELSE 1 END) AS errors, SUM(COALESCE(cost, 0)) AS cost
        FROM requests WHERE mcp_server IS NOT NULL GROUP BY mcp_server, mcp_tool`,
      (rows) =>
        new Map(rows.map((row): [string, Calls] => [
          keyOf(String(row["mcp_server"]), String(row["mcp_tool"])),
          { calls: Number(row["calls"]), errors: Number(row["errors"] ?? 0), cost: Number(row["cost"] ?? 0) }
        ]))
    )
  )
}

/** The answer's body: the servers `catalog` served, their tools' states by `pins`, their calls by `calls`. */
export function render(
  catalog: ReadonlyArray<Endpoint.Catalogued>,
  pins: ReadonlyArray<Pins.Pin>,
  calls: ReadonlyMap<string, Calls> | undefined
) {
  const pinned = new Map(
    pins.filter((pin) => pin.kind === "tool").map((pin) => [keyOf(pin.server, pin.name), pin.digest])
  )
  return {
    request_log: calls !== undefined,
    servers: catalog.map((server) => ({
      name: server.name,
      path: `/mcp/${server.name}`,
      price_per_call: server.price > 0 ? server.price : null,
      tools: server.tools.map((tool) => {
        const figures = calls === undefined ? undefined : calls.get(keyOf(server.name, tool.name)) ?? none
        return {
          name: tool.name,
          qualified: qualified(server.name, tool.name),
          state:
            pinned.get(keyOf(server.name, tool.name)) === Pins.seen(server.name, { kind: "tool", value: tool }).digest
              ? "served"
              : "held",
          calls: figures?.calls ?? null,
          errors: figures?.errors ?? null,
          cost: figures?.cost ?? null
        }
      })
    }))
  }
}

/** The route over the configuration served: its MCP endpoints (none: no servers), the pins. */
export const routes = Effect.fnUntraced(function*(endpoints: Endpoint.Endpoints | undefined, pins: Pins.Pins) {
  const { options } = yield* Configuration
  const { served } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  const database = options.database
  const answer = Effect.all([
    endpoints === undefined ? Effect.succeed([]) : endpoints.catalog,
    pins.list,
    database === undefined ? Effect.succeed(undefined) : callsOf(database)
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
