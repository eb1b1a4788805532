/**
 * `mcp-tools-call`: what `serve` adds to an MCP `tools/call`, beside the least relay this library could be built on.
 * An upstream, the official SDK's `Server` over its Streamable HTTP transport (stateless, as
 * `test/utils/mcpUpstreams.ts`' `sdkUpstream`), serves one tool, `say`, that gives its text back; it runs in this
 * process (core 0). Three relays in front of it, each a process of its own on core 1 (`gateway.ts`' `startSide`):
 * `serve` (`serveSide`, the upstream its MCP server `echo`), the engine (`mcp-engine`: `effect/ai`'s `McpServer`
 * taking the call and its `McpClient` forwarding it, none of the gateway's layers) and the official SDK's own relay
 * (`mcp-sdk`: its `Server` and `Client`, no Effect), both in `gateway/sideProcess.ts`. One official SDK `Client` a
 * path (direct, and each relay's `/mcp`), each connected once, called in turn, the order rotated each round
 * (`MCP_TOOL_CALL_CALLS` rounds, default 2,000, after `MCP_TOOL_CALL_WARMUP`, 300): each relay's added p50 and p99
 * and its CPU a call over those rounds. Then 16 calls in flight (`MCP_TOOL_CALL_BURST` rounds of 16 a path, default
 * 100): each relay's calls a second over direct, and its CPU a call then. `ours_vs_engine_cpu` is the engine's CPU a
 * call over `serve`'s, `ours_vs_engine_burst` `serve`'s calls a second at 16 in flight over the engine's (each higher
 * better for ours).
 *
 * `MCP_TOOL_CALL_PROFILE=<dir>` starts each relay under `--cpu-prof`, its profile written to `<dir>/<side>` when it
 * stops, and writes `<dir>/window.json`, the span of the timed rounds on the profiles' clock, which
 * `npm run profile-split` keeps to (`bench/cpuProfile.ts`). `MCP_TOOL_CALL_OPS=1` loads `gateway/opsCounter.ts` into
 * each relay: its Effect operations and turns a call over the timed rounds (`ours_ops`, `engine_ops`...);
 * `MCP_TOOL_CALL_OPS=breakdown BENCH_OPS_BREAKDOWN=1` prints, besides, the steps whose count a call differs most
 * between `serve` and the engine, and each relay's operations a call by site, the line of this repository's
 * TypeScript that built them (`effectOps.ts`; the relays run with `--enable-source-maps`), with the steps of each (its
 * CPU figures are then not the relays').
 *
 *   npm run bench -- mcp-tools-call
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import type { Window } from "../cpuProfile.js"
import type { OpsAnswer } from "../gateway/opsCounter.js"
import { breakdownLines, siteLines } from "../gateway/opsReport.js"
import { pinSelf } from "../nodeArgs.js"
import { round2 } from "../stats.js"
import { clientKey, type Side, type SideLabel, startSide } from "./gateway.js"

export const mcpToolCallCaseName = "mcp-tools-call"

/** The case's line. */
export interface McpToolCallResult {
  readonly name: typeof mcpToolCallCaseName
  readonly calls: number
  readonly direct_p50_ms: number
  readonly direct_p99_ms: number
  readonly ours_p50_ms: number
  readonly ours_p99_ms: number
  readonly p50_added_ms: number
  readonly p99_added_ms: number
  /** `serve`'s CPU a call, one call in flight. */
  readonly ours_cpu_us: number
  /** Calls a second with 16 in flight, through `serve` over direct. */
  readonly burst_ratio: number
  /** The same of the engine (`mcp-engine`) and of the official SDK's relay (`mcp-sdk`). */
  readonly engine_p50_added_ms: number
  readonly engine_p99_added_ms: number
  readonly engine_cpu_us: number
  readonly engine_burst_ratio: number
  readonly sdk_p50_added_ms: number
  readonly sdk_p99_added_ms: number
  readonly sdk_cpu_us: number
  readonly sdk_burst_ratio: number
  /** Each relay's CPU a call with 16 in flight. */
  readonly ours_burst_cpu_us: number
  readonly engine_burst_cpu_us: number
  readonly sdk_burst_cpu_us: number
  /** The engine's CPU a call over `serve`'s. */
  readonly ours_vs_engine_cpu: number
  /** `serve`'s calls a second at 16 in flight over the engine's. */
  readonly ours_vs_engine_burst: number
  /** Effect operations and turns a call, when `MCP_TOOL_CALL_OPS` counts them. */
  readonly ours_ops?: number | undefined
  readonly ours_turns?: number | undefined
  readonly engine_ops?: number | undefined
  readonly engine_turns?: number | undefined
}

const count = (name: string, fallback: number) => {
  const given = Number(process.env[name])
  return Number.isInteger(given) && given > 0 ? given : fallback
}

const sayTool = {
  name: "say",
  description: "Says its text.",
  inputSchema: { type: "object" as const, properties: { text: { type: "string" } }, required: ["text"] }
}

/** The upstream: a stateless SDK server a request, on loopback; its `/mcp` URL and its stop. */
async function upstream() {
  const http = Http.createServer((request, response) => {
    const server = new Server({ name: "echo", version: "1.0.0" }, { capabilities: { tools: {} } })
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [sayTool] }))
    server.setRequestHandler(CallToolRequestSchema, (call) => ({
      content: [{ type: "text", text: String(call.params.arguments?.["text"]) }]
    }))
    const transport = new StreamableHTTPServerTransport({})
    response.on("close", () => {
      void transport.close()
      void server.close()
    })
    void server.connect(transport).then(() => transport.handleRequest(request, response))
  })
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    stop: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve())
        http.closeAllConnections()
      })
  }
}

/** An SDK client connected to `url`, and one call of `tool` on it timed in milliseconds. */
async function caller(url: string, tool: string) {
  const client = new Client({ name: "bench", version: "1.0.0" })
  const headers = { authorization: `Bearer ${clientKey}` }
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  async function call(): Promise<number> {
    const start = process.hrtime.bigint()
    const result = await client.callTool({ name: tool, arguments: { text: "hello" } })
    const millis = Number(process.hrtime.bigint() - start) / 1e6
    if (result.isError === true) throw new Error(`${url}: ${JSON.stringify(result.content)}`)
    return millis
  }
  return { call, close: () => client.close() }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const round3 = (n: number) => Math.round(n * 1000) / 1000

/** Calls a second of `rounds` rounds of 16 calls at once. */
async function burst(call: () => Promise<number>, rounds: number): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) await Promise.all(Array.from({ length: 16 }, call))
  return rounds * 16 / (Number(process.hrtime.bigint() - start) / 1e9)
}

// µs of the monotonic clock, the one a `.cpuprofile`'s timestamps are on.
const now = () => Number(process.hrtime.bigint() / 1000n)

/** The span of the timed rounds, written beside the relays' profiles when they are profiled. */
function writeWindow(window: Window) {
  const profile = process.env["MCP_TOOL_CALL_PROFILE"]
  if (profile === undefined || profile === "") return
  Fs.mkdirSync(profile, { recursive: true })
  Fs.writeFileSync(Path.join(profile, "window.json"), JSON.stringify(window))
}

/** The relays: `serve` and the two it is measured against. */
const relays = [
  { label: "ours", path: "serve", tool: "echo__say" },
  { label: "mcp-engine", path: "engine", tool: "say" },
  { label: "mcp-sdk", path: "sdk", tool: "say" }
] as const satisfies ReadonlyArray<{ readonly label: SideLabel; readonly path: string; readonly tool: string }>

type PathName = "direct" | (typeof relays)[number]["path"]

/**
 * The relays' processes, each started as `variant` says, `serve`'s with the upstream at `echo` as its server `echo`.
 */
async function startRelays(simulator: string, echo: string): Promise<Record<(typeof relays)[number]["path"], Side>> {
  const profile = process.env["MCP_TOOL_CALL_PROFILE"]
  const counting = (process.env["MCP_TOOL_CALL_OPS"] ?? "") !== ""
  // Sites are lines of the TypeScript source when Node reads the bench build's source maps.
  const sourceMaps = process.env["MCP_TOOL_CALL_OPS"] === "breakdown" ? ["--enable-source-maps"] : []
  const variant = (path: string) => ({
    nodeArgs: [
      ...sourceMaps,
      ...(profile === undefined || profile === "" ? [] : ["--cpu-prof", "--cpu-prof-dir", Path.join(profile, path)])
    ],
    ...(counting ? { imports: ["gateway/opsCounter"] } : {})
  })
  const started: Array<Side> = []
  try {
    started.push(
      await startSide("ours", simulator, {
        config: { mcp_servers: { echo: { url: echo } } },
        keyTools: ["echo__*"],
        ...variant("serve")
      })
    )
    started.push(await startSide("mcp-engine", echo, variant("engine")))
    started.push(await startSide("mcp-sdk", echo, variant("sdk")))
  } catch (error) {
    await Promise.all(started.map((side) => side.stop()))
    throw error
  }
  const [serve, engine, sdk] = started
  return { serve: serve!, engine: engine!, sdk: sdk! }
}

const ask = (side: Side) => side.ask("ops") as Promise<OpsAnswer>

/** The case: one upstream, three relays, a client on each path. */
export async function measureMcpToolCall(
  startSimulator: () => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
): Promise<ReadonlyArray<McpToolCallResult>> {
  const simulator = await startSimulator()
  pinSelf(0)
  const echo = await upstream()
  const counting = (process.env["MCP_TOOL_CALL_OPS"] ?? "") !== ""
  try {
    const sides = await startRelays(simulator.url, echo.url)
    try {
      const callers = {
        direct: await caller(echo.url, "say"),
        serve: await caller(`${sides.serve.url}/mcp`, "echo__say"),
        engine: await caller(`${sides.engine.url}/mcp`, "say"),
        sdk: await caller(`${sides.sdk.url}/mcp`, "say")
      }
      const paths = Object.keys(callers) as Array<PathName>
      try {
        for (let i = 0; i < count("MCP_TOOL_CALL_WARMUP", 300); i++) {
          await Promise.all(paths.map((path) => callers[path].call()))
        }
        const rounds = count("MCP_TOOL_CALL_CALLS", 2_000)
        const times: Record<PathName, Array<number>> = { direct: [], serve: [], engine: [], sdk: [] }
        const cpu = (side: Side) => side.cpu()
        const cpuBefore = await Promise.all(relays.map(({ path }) => cpu(sides[path])))
        const opsBefore = counting ? await Promise.all([ask(sides.serve), ask(sides.engine)]) : undefined
        const from = now()
        for (let i = 0; i < rounds; i++) {
          for (let j = 0; j < paths.length; j++) {
            const path = paths[(i + j) % paths.length]!
            times[path].push(await callers[path].call())
          }
        }
        writeWindow({ from, to: now() })
        const opsAfter = counting ? await Promise.all([ask(sides.serve), ask(sides.engine)]) : undefined
        const cpuAfter = await Promise.all(relays.map(({ path }) => cpu(sides[path])))
        const cpuOf = (path: (typeof relays)[number]["path"]) => {
          const at = relays.findIndex((relay) => relay.path === path)
          return Math.round((cpuAfter[at]! - cpuBefore[at]!) / rounds)
        }
        const burstRounds = count("MCP_TOOL_CALL_BURST", 100)
        const rates = {} as Record<PathName, number>
        const burstCpu = {} as Record<(typeof relays)[number]["path"], number>
        for (const path of paths) {
          const before = path === "direct" ? 0 : await sides[path].cpu()
          rates[path] = await burst(callers[path].call, burstRounds)
          if (path !== "direct") burstCpu[path] = Math.round(((await sides[path].cpu()) - before) / (burstRounds * 16))
        }
        const sorted = (path: PathName) => times[path].sort((a, b) => a - b)
        const d = sorted("direct")
        const added = (path: PathName, p: number) => round3(percentile(sorted(path), p) - percentile(d, p))
        const o = sorted("serve")
        const perCall = (n: number) => round2(n / rounds)
        const result: McpToolCallResult = {
          name: mcpToolCallCaseName,
          calls: rounds,
          direct_p50_ms: round3(percentile(d, 0.5)),
          direct_p99_ms: round3(percentile(d, 0.99)),
          ours_p50_ms: round3(percentile(o, 0.5)),
          ours_p99_ms: round3(percentile(o, 0.99)),
          p50_added_ms: added("serve", 0.5),
          p99_added_ms: added("serve", 0.99),
          ours_cpu_us: cpuOf("serve"),
          burst_ratio: round2(rates.serve / rates.direct),
          engine_p50_added_ms: added("engine", 0.5),
          engine_p99_added_ms: added("engine", 0.99),
          engine_cpu_us: cpuOf("engine"),
          engine_burst_ratio: round2(rates.engine / rates.direct),
          sdk_p50_added_ms: added("sdk", 0.5),
          sdk_p99_added_ms: added("sdk", 0.99),
          sdk_cpu_us: cpuOf("sdk"),
          sdk_burst_ratio: round2(rates.sdk / rates.direct),
          ours_burst_cpu_us: burstCpu.serve,
          engine_burst_cpu_us: burstCpu.engine,
          sdk_burst_cpu_us: burstCpu.sdk,
          ours_vs_engine_cpu: round2(cpuOf("engine") / cpuOf("serve")),
          ours_vs_engine_burst: round2(rates.serve / rates.engine),
          ...(opsBefore === undefined || opsAfter === undefined ? {} : {
            ours_ops: perCall(opsAfter[0].ops - opsBefore[0].ops),
            ours_turns: perCall(opsAfter[0].turns - opsBefore[0].turns),
            engine_ops: perCall(opsAfter[1].ops - opsBefore[1].ops),
            engine_turns: perCall(opsAfter[1].turns - opsBefore[1].turns)
          })
        }
        console.log(
          `${mcpToolCallCaseName}: ${rounds} calls a path; direct p50 ${result.direct_p50_ms} ms p99 ` +
            `${result.direct_p99_ms} ms; added p50 / p99 ms and CPU a call: serve ${result.p50_added_ms} / ` +
            `${result.p99_added_ms}, ${result.ours_cpu_us} µs; engine ${result.engine_p50_added_ms} / ` +
            `${result.engine_p99_added_ms}, ${result.engine_cpu_us} µs; SDK relay ${result.sdk_p50_added_ms} / ` +
            `${result.sdk_p99_added_ms}, ${result.sdk_cpu_us} µs; 16 in flight over direct: serve ` +
            `${result.burst_ratio} (${result.ours_burst_cpu_us} µs a call), engine ${result.engine_burst_ratio} ` +
            `(${result.engine_burst_cpu_us} µs), SDK relay ${result.sdk_burst_ratio} (${result.sdk_burst_cpu_us} µs)`
        )
        if (opsBefore !== undefined && opsAfter !== undefined && opsAfter[0].breakdown.length > 0) {
          console.log(
            `${mcpToolCallCaseName}: operations a call, serve (engine), by step:\n` +
              breakdownLines([opsBefore[0], opsAfter[0]], [opsBefore[1], opsAfter[1]], rounds).join("\n")
          )
          console.log(
            `${mcpToolCallCaseName}: operations a call by site, serve:\n` +
              siteLines([opsBefore[0], opsAfter[0]], rounds).join("\n") +
              `\n${mcpToolCallCaseName}: operations a call by site, engine:\n` +
              siteLines([opsBefore[1], opsAfter[1]], rounds).join("\n")
          )
        }
        return [result]
      } finally {
        await Promise.all(paths.map((path) => callers[path].close()))
      }
    } finally {
      await Promise.all(relays.map(({ path }) => sides[path].stop()))
    }
  } finally {
    await echo.stop()
    await simulator.stop()
    pinSelf(1)
  }
}
