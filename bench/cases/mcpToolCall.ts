/**
 * `mcp-tools-call`: what `serve` adds to an MCP `tools/call`. An upstream, the official SDK's `Server` over its
 * Streamable HTTP transport (stateless, as `test/utils/mcpUpstreams.ts`' `sdkUpstream`), serves one tool, `say`, that
 * gives its text back; it runs in this process (core 0). `serve` (`gateway.ts`' `serveSide`, core 1) has it as its
 * MCP server `echo`. One official SDK `Client` calls the upstream direct, another calls `serve`'s `/mcp` (`echo__say`),
 * each connected once, interleaved call by call (`MCP_TOOL_CALL_CALLS` rounds, default 2,000, after
 * `MCP_TOOL_CALL_WARMUP`, 300): the added p50 and p99, and `serve`'s CPU a call over those rounds. Then 16 calls in
 * flight (`MCP_TOOL_CALL_BURST` rounds of 16 per side, default 100): calls a second through `serve` over direct.
 *
 * `MCP_TOOL_CALL_PROFILE=<dir>` starts `serve` under `--cpu-prof` with its profile written to `<dir>` when it stops.
 *
 *   npm run bench -- mcp-tools-call
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { pinSelf } from "../nodeArgs.js"
import { clientKey, startSide } from "./gateway.js"

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

/** The case: one upstream, one `serve`, a client on each path. */
export async function measureMcpToolCall(
  startSimulator: () => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
): Promise<ReadonlyArray<McpToolCallResult>> {
  const simulator = await startSimulator()
  pinSelf(0)
  const echo = await upstream()
  const profile = process.env["MCP_TOOL_CALL_PROFILE"]
  try {
    const serve = await startSide("ours", simulator.url, {
      config: { mcp_servers: { echo: { url: echo.url } } },
      keyTools: ["echo__*"],
      ...(profile === undefined || profile === "" ? {} : { nodeArgs: ["--cpu-prof", "--cpu-prof-dir", profile] })
    })
    try {
      const direct = await caller(echo.url, "say")
      const ours = await caller(`${serve.url}/mcp`, "echo__say")
      try {
        for (let i = 0; i < count("MCP_TOOL_CALL_WARMUP", 300); i++) await Promise.all([direct.call(), ours.call()])
        const rounds = count("MCP_TOOL_CALL_CALLS", 2_000)
        const times = { direct: [] as Array<number>, ours: [] as Array<number> }
        const cpuBefore = await serve.cpu()
        for (let i = 0; i < rounds; i++) {
          if (i % 2 === 0) {
            times.direct.push(await direct.call())
            times.ours.push(await ours.call())
          } else {
            times.ours.push(await ours.call())
            times.direct.push(await direct.call())
          }
        }
        const cpu = (await serve.cpu()) - cpuBefore
        const burstRounds = count("MCP_TOOL_CALL_BURST", 100)
        const directRate = await burst(direct.call, burstRounds)
        const oursRate = await burst(ours.call, burstRounds)
        const d = times.direct.sort((a, b) => a - b)
        const o = times.ours.sort((a, b) => a - b)
        const result: McpToolCallResult = {
          name: mcpToolCallCaseName,
          calls: rounds,
          direct_p50_ms: round3(percentile(d, 0.5)),
          direct_p99_ms: round3(percentile(d, 0.99)),
          ours_p50_ms: round3(percentile(o, 0.5)),
          ours_p99_ms: round3(percentile(o, 0.99)),
          p50_added_ms: round3(percentile(o, 0.5) - percentile(d, 0.5)),
          p99_added_ms: round3(percentile(o, 0.99) - percentile(d, 0.99)),
          ours_cpu_us: Math.round(cpu / rounds),
          burst_ratio: Math.round(oursRate / directRate * 100) / 100
        }
        console.log(
          `${mcpToolCallCaseName}: ${rounds} calls each; direct p50 ${result.direct_p50_ms} ms p99 ` +
            `${result.direct_p99_ms} ms; through serve p50 ${result.ours_p50_ms} ms p99 ${result.ours_p99_ms} ms, ` +
            `added p50 ${result.p50_added_ms} ms, p99 ${result.p99_added_ms} ms; serve's CPU ${result.ours_cpu_us} µs a ` +
            `call; 16 in flight, through serve over direct ${result.burst_ratio}`
        )
        return [result]
      } finally {
        await Promise.all([direct.close(), ours.close()])
      }
    } finally {
      await serve.stop()
    }
  } finally {
    await echo.stop()
    await simulator.stop()
    pinSelf(1)
  }
}
