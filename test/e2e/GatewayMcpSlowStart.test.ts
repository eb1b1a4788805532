/**
 * A stdio MCP server slower to start than the gateway's start waits for (`connectTimeout`): the gateway starts without
 * it, and the process it started goes on opening; once it answers, its tools are served from that same process, not
 * from a second one started in its place. A call of its tool before then is told the server has not answered, and its own
 * endpoint answers 503.
 */
import { expect, it } from "@effect/vitest"
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { listedTools, sdkClient } from "../utils/mcpClient.js"
import { alive, calcServer } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-slow-start-0001"

it.live(
  "a stdio server that answers only after the start's wait is served from the process started first",
  () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "mcp-slow-start-"))
      const pidFile = join(dir, "calc.pid")
      const waitFile = join(dir, "go")
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const config = yield* ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        mcp_servers: { calc: { ...calcServer, env: { CALC_PID_FILE: pidFile, CALC_WAIT_FILE: waitFile } } }
      })
      // Its start waits `connectTimeout` for a server that answers nothing until `waitFile` exists.
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      expect(yield* listedTools(gateway.url)).toEqual([])
      const first = yield* eventually(
        "the server's process started",
        Effect.sync(() => {
          try {
            return Number(readFileSync(pidFile, "utf8"))
          } catch {
            return 0
          }
        }),
        (pid) => pid > 0
      )
      // A call of its tool meanwhile (a client that listed it before a restart) is told the server has not answered,
      // not that the tool does not exist.
      const client = yield* sdkClient(`${gateway.url}/mcp`)
      const early = yield* Effect.promise(() =>
        client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } }).then(() => undefined, (error) => error)
      )
      expect(early).toBeInstanceOf(McpError)
      expect(early.code).toBe(ErrorCode.InvalidParams)
      expect(early.message).toContain(
        "Tool 'calc__add' is of the MCP server calc, which has not answered since the gateway started"
      )
      // Its own endpoint is not there yet: 503, to be tried again.
      const own = yield* Effect.promise(() =>
        fetch(`${gateway.url}/mcp/calc`, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" })
        })
      )
      expect(own.status).toBe(503)
      expect(own.headers.get("retry-after")).toBe("5")
      expect(yield* Effect.promise(() => own.json())).toMatchObject({
        error: {
          code: "mcp_server_unavailable",
          message: "The MCP server calc has not answered since the gateway started; /mcp/calc is served once it " +
            "answers: try again shortly."
        }
      })
      writeFileSync(waitFile, "")
      yield* eventually("its tools served", listedTools(gateway.url), (tools) => tools.includes("calc__add"))
      expect(yield* listedTools(gateway.url, undefined, "/mcp/calc")).toContain("add")
      // Then the same client's call is answered by the server.
      const answered = yield* Effect.promise(() => client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } }))
      expect(answered.isError).not.toBe(true)
      expect(answered.structuredContent).toEqual({ value: 5 })
      // Served by the process started first, still running: the start's wait gave up nothing.
      expect(Number(readFileSync(pidFile, "utf8"))).toBe(first)
      expect(alive(first)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
  { timeout: 120_000 }
)
