/**
 * A running MCP server's own `notifications/tools/list_changed` is followed without a restart or a reload: the
 * gateway lists the server again and tells its own sessions, as the official SDK's client sees `/mcp`. The official
 * SDK's server (a session, which sends the change on the standalone `GET` stream the gateway opens for it) adding a
 * tool at run time; an `effect/ai` `McpServer` over stdio adding one during a call (the change a line of its output).
 * And a session that comes back to its standalone stream with `Last-Event-ID` is told the change it missed, over raw
 * HTTP and through the official SDK client's own `resumeStream`.
 */
import { expect, it } from "@effect/vitest"
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Simulator from "../../src/simulator/Simulator.js"
import { gatewayOn, providerKey } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { sdkClient } from "../utils/mcpClient.js"
import { initialized, mcpPost, standaloneEvents } from "../utils/mcpRaw.js"
import { unrulyServer } from "../utils/mcpUpstreams.js"

/**
 * The official SDK's `McpServer` with a session per client on loopback, offering `first`, for the scope's life: its
 * URL, its servers (one a session), and the sessions that have their standalone stream (`GET`) open.
 */
const growingServer = Effect.acquireRelease(
  Effect.promise(async () => {
    const servers: Array<McpServer> = []
    const streams = new Set<string>()
    const sessions = new Map<string, StreamableHTTPServerTransport>()
    const http = Http.createServer((request, response) => {
      const id = request.headers["mcp-session-id"]
      const existing = typeof id === "string" ? sessions.get(id) : undefined
      if (existing !== undefined) {
        if (request.method === "GET" && typeof id === "string") {
          streams.add(id)
          response.on("close", () => void streams.delete(id))
        }
        return void existing.handleRequest(request, response)
      }
      const server = new McpServer({ name: "live", version: "1.0.0" })
      server.registerTool("first", { description: "The first tool." }, () => ({
        content: [{ type: "text", text: "first" }]
      }))
      servers.push(server)
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => void sessions.set(id, transport)
      })
      void server.connect(transport).then(() => transport.handleRequest(request, response))
    })
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
    return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`, servers, streams, http }
  }),
  ({ http, servers }) =>
    Effect.promise(async () => {
      await Promise.all(servers.map((server) => server.close()))
      http.closeAllConnections()
      await new Promise((resolve) => http.close(resolve))
    })
)

const agentKey = "gw-mcp-list-changed-agent-5d1e9a47"

// The gateway section: a key that may use every tool of `live` and `unruly`.
const gateway = { keys: [{ name: "agent", key: agentKey, tools: ["live__*", "unruly__*"] }] }

// A gateway (on the simulator) serving the unruly stdio server, for the scope's life.
const unrulyGateway = Effect.flatMap(
  Simulator.make({ apiKeys: [providerKey] }),
  (simulator) => gatewayOn(simulator, undefined, { mcp_servers: { unruly: unrulyServer }, gateway })
)

// An official SDK client of `url` (a gateway's `/mcp`) with the agent's key for the scope's life: the list changes it
// has been told.
const told = (url: string) =>
  Effect.map(sdkClient(url, agentKey), (client) => {
    const methods: Array<string> = []
    client.setNotificationHandler(ToolListChangedNotificationSchema, (notification) => {
      methods.push(notification.method)
    })
    return { client, methods }
  })

const toolNames = (
  client: { readonly listTools: () => Promise<{ readonly tools: ReadonlyArray<{ name: string }> }> }
) => Effect.promise(async () => (await client.listTools()).tools.map((tool) => tool.name).sort())

it.live(
  "an official SDK server that adds a tool at run time: the gateway follows its list_changed, and its client is told",
  () =>
    Effect.gen(function*() {
      const live = yield* growingServer
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const served = yield* gatewayOn(simulator, undefined, { mcp_servers: { live: { url: live.url } }, gateway })
      const { client, methods } = yield* told(`${served.url}/mcp`)
      expect(yield* toolNames(client)).toEqual(["live__first"])
      // The gateway's session with the server has its standalone stream open (the client's with the gateway opens
      // after `initialize` too).
      yield* eventually(
        "the gateway's standalone stream at the server",
        Effect.sync(() => live.streams.size),
        (n) => n === 1
      )
      yield* Effect.sleep("500 millis")

      const [session] = live.servers
      session!.registerTool("added", { description: "Added at run time." }, () => ({
        content: [{ type: "text", text: "added" }]
      }))
      yield* eventually("the client told the tools changed", Effect.sync(() => methods), (got) => got.length > 0, {
        within: "15 seconds",
        every: "100 millis"
      })
      expect(methods).toEqual(["notifications/tools/list_changed"])
      expect(yield* toolNames(client)).toEqual(["live__added", "live__first"])
      const result = yield* Effect.promise(() => client.callTool({ name: "live__added", arguments: {} }))
      expect(result.content).toEqual([{ type: "text", text: "added" }])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "an Effect McpServer over stdio that adds a tool during a call: served without a restart, its client told",
  () =>
    Effect.gen(function*() {
      const served = yield* unrulyGateway
      const { client, methods } = yield* told(`${served.url}/mcp`)
      const pid = yield* Effect.promise(() => client.callTool({ name: "unruly__pid", arguments: {} }))
      expect(yield* toolNames(client)).not.toContain("unruly__grown")
      yield* Effect.sleep("500 millis")

      const grew = yield* Effect.promise(() => client.callTool({ name: "unruly__grow", arguments: {} }))
      expect(grew.content).toEqual([{ type: "text", text: "grew" }])
      yield* eventually("the new tool at /mcp", toolNames(client), (names) => names.includes("unruly__grown"), {
        within: "15 seconds",
        every: "100 millis"
      })
      yield* eventually("the client told", Effect.sync(() => methods), (got) => got.length > 0)
      expect(methods).toContain("notifications/tools/list_changed")
      const grown = yield* Effect.promise(() => client.callTool({ name: "unruly__grown", arguments: {} }))
      expect(grown.content).toEqual([{ type: "text", text: "grown" }])
      // The same process: followed, not restarted.
      expect(yield* Effect.promise(() => client.callTool({ name: "unruly__pid", arguments: {} }))).toEqual(pid)
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "a session that comes back to its standalone stream with Last-Event-ID is told the change it missed meanwhile",
  () =>
    Effect.gen(function*() {
      const served = yield* unrulyGateway
      const url = `${served.url}/mcp`
      const { headers } = yield* initialized(url, agentKey, "2025-11-25")
      // The stream opens with a priming event: an id and no data, the id the client comes back with.
      const [priming] = yield* standaloneEvents(url, agentKey, headers, 1)
      const primed = /^id: (\S+)\ndata: $/.exec(priming ?? "")?.[1]
      expect(primed, priming).toBeDefined()

      // The change comes while the session has no stream open.
      const grew = yield* mcpPost(url, agentKey, headers, {
        id: 2,
        method: "tools/call",
        params: { name: "unruly__grow", arguments: {} }
      })
      expect(grew.status).toBe(200)
      const listed = mcpPost(url, agentKey, headers, { id: 3, method: "tools/list" })
      yield* eventually("the new tool at /mcp", listed, (answer) =>
        (answer.body?.result?.tools ?? []).some((tool) =>
          tool.name === "unruly__grown"
        ))

      const changed = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`
      const epoch = primed!.replace(/-[0-9]+$/, "")
      const [missed, again] = yield* standaloneEvents(url, agentKey, headers, 2, primed)
      expect(missed).toMatch(new RegExp(`^id: ${epoch}-[1-9][0-9]*\n${changed.replace(/[{}]/g, "\\$&")}$`))
      const missedId = /^id: (\S+)/.exec(missed!)![1]
      expect(again).toBe(`id: ${missedId}\ndata: `)
      // Come back with that id: nothing missed, only the priming event.
      expect(yield* standaloneEvents(url, agentKey, headers, 1, missedId)).toEqual([`id: ${missedId}\ndata: `])
      // An id this gateway did not give (another instance's, or one past what it keeps): told every list changed.
      const lost = yield* standaloneEvents(url, agentKey, headers, 4, "elsewhere-3")
      expect(lost.slice(0, 3)).toEqual(
        ["tools", "prompts", "resources"].map((kind) =>
          `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/${kind}/list_changed"}`
        )
      )
      expect(lost[3]).toBe(`id: ${missedId}\ndata: `)
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "the official SDK client resuming its standalone stream from an earlier id is told the change again, from the replay",
  () =>
    Effect.gen(function*() {
      const served = yield* unrulyGateway
      const url = `${served.url}/mcp`
      const { client, methods } = yield* told(url)
      const transport = client.transport as StreamableHTTPClientTransport
      const session = { "mcp-session-id": transport.sessionId!, "mcp-protocol-version": transport.protocolVersion! }
      const [priming] = yield* standaloneEvents(url, agentKey, session, 1)
      const primed = /^id: (\S+)\ndata: $/.exec(priming ?? "")![1]!

      yield* Effect.promise(() => client.callTool({ name: "unruly__grow", arguments: {} }))
      yield* eventually("the new tool at /mcp", toolNames(client), (names) => names.includes("unruly__grown"), {
        within: "15 seconds",
        every: "100 millis"
      })
      // Its own standalone stream tells it the change once (as it comes, or replayed when it reopens); a stream resumed
      // from before the change is replayed it once more.
      const tokens: Array<string> = []
      yield* Effect.promise(() =>
        transport.resumeStream(primed, { onresumptiontoken: (token) => void tokens.push(token) })
      )
      yield* eventually("told twice", Effect.sync(() => methods.length), (n) => n >= 2, {
        within: "15 seconds",
        every: "100 millis"
      })
      expect(new Set(methods)).toEqual(new Set(["notifications/tools/list_changed"]))
      expect(tokens[0]).toMatch(new RegExp(`^${primed.replace(/-[0-9]+$/, "")}-[1-9][0-9]*$`))
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)
