/**
 * An MCP server that goes down while nobody calls it is found by the gateway's ping (`ping_interval` of its entry):
 * with no call of any client, it is tried again with backoff and, once back, listed again, its new tool served and the
 * official SDK's client in a session told on its standalone stream.
 */
import { expect, it } from "@effect/vitest"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"
import { gatewayOn, providerKey } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { sdkClient } from "../utils/mcpClient.js"
import { restartingServer } from "../utils/mcpUpstreams.js"

const agentKey = "gw-mcp-ping-agent-0b7c2e91"

it.live(
  "an HTTP server that stops with no call is found by the ping, tried again, and listed again once it is back",
  () =>
    Effect.gen(function*() {
      const docs = yield* restartingServer([{ name: "lookup", description: "Looks a word up." }])
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* gatewayOn(simulator, undefined, {
        mcp_servers: { docs: { url: docs.url, ping_interval: 1 } },
        gateway: { keys: [{ name: "agent", key: agentKey, tools: ["docs__*"] }] }
      })
      const client = yield* sdkClient(`${gateway.url}/mcp`, agentKey)
      const told: Array<string> = []
      client.setNotificationHandler(ToolListChangedNotificationSchema, (notification) =>
        void told.push(notification.method))
      const names = Effect.promise(async () =>
        (await client.listTools()).tools.map((tool) => tool.name).sort()
      )
      expect(yield* names).toEqual(["docs__lookup"])

      // Stopped, and back on the same port with another tool: no client calls anything meanwhile.
      yield* docs.stop
      yield* Effect.sleep("2 seconds")
      yield* docs.restart([{ name: "define", description: "Defines a word." }])
      yield* eventually("the client told the tools changed", Effect.sync(() => told), (got) => got.length > 0, {
        within: "20 seconds",
        every: "200 millis"
      })
      expect(told).toEqual(["notifications/tools/list_changed"])
      expect(yield* names).toEqual(["docs__define", "docs__lookup"])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)
