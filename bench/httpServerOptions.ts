/**
 * What `node:http`'s deadlines cost a request: the server's CPU a request under Node's own deadlines, the gateway's
 * (`deadlines` of `internal/gateway/server.ts`, at its default request deadline) and none. The server, in a child
 * process, reads each body whole and answers a short JSON body; this process sends it an MCP `tools/call`'s request
 * (its headers and body as an MCP client sends them) over one kept-alive connection, one request after another.
 *
 *   node --import tsx bench/httpServerOptions.ts
 *
 * HTTP_REQUESTS (20000) requests a set a round after 2000 to warm up, BENCH_ROUNDS (3) rounds, each set in each.
 */
import { fork } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { deadlines, defaultRequestBodyTimeoutSeconds } from "../src/internal/gateway/server.js"
import { envNumber } from "./env.js"
import { median, round2 } from "./stats.js"

const sets: Record<string, Http.ServerOptions> = {
  "Node's own deadlines": {},
  "the gateway's deadlines": deadlines(defaultRequestBodyTimeoutSeconds * 1000),
  "no deadlines": { requestTimeout: 0, headersTimeout: 0 }
}

const headers = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  authorization: "Bearer sk-http-server-options-bench",
  "mcp-session-id": "4753873c-c3b9-4abe-b95a-871f7efda9fd",
  "mcp-protocol-version": "2025-11-25"
}
const body = JSON.stringify({
  method: "tools/call",
  params: { name: "echo__say", arguments: { text: "hello" } },
  jsonrpc: "2.0",
  id: 2
})
const answer = JSON.stringify({ jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "hello" }] } })

type Message = { readonly port: number } | { readonly cpu: number }

/** The child: a server under the options of its argument, its port sent, then its CPU in µs whenever asked. */
function server(options: Http.ServerOptions) {
  const http = Http.createServer(options, (request, response) => {
    request.on("data", () => {})
    request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end(answer))
  })
  http.listen(0, "127.0.0.1", () => process.send!({ port: (http.address() as AddressInfo).port }))
  process.on("message", (message) => {
    if (message === "stop") process.exit(0)
    const used = process.cpuUsage()
    process.send!({ cpu: used.user + used.system })
  })
}

/** The server's CPU a request, in µs, under `options`. */
async function measure(options: Http.ServerOptions, requests: number): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ["server", JSON.stringify(options)])
  const next = <K extends "port" | "cpu">(key: K, send?: string) =>
    new Promise<number>((resolve) => {
      const listener = (message: Message) => {
        if (!(key in message)) return
        child.off("message", listener)
        resolve((message as Record<K, number>)[key])
      }
      child.on("message", listener)
      if (send !== undefined) child.send(send)
    })
  const port = await next("port")
  const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const request = Http.request({ host: "127.0.0.1", port, method: "POST", path: "/mcp", agent, headers }, (res) => {
        res.resume()
        res.on("end", resolve)
      })
      request.on("error", reject)
      request.end(body)
    })
  for (let i = 0; i < 2000; i++) await one()
  const before = await next("cpu", "cpu")
  for (let i = 0; i < requests; i++) await one()
  const after = await next("cpu", "cpu")
  child.send("stop")
  agent.destroy()
  return (after - before) / requests
}

async function main() {
  const requests = envNumber("HTTP_REQUESTS", 20_000)
  const rounds = envNumber("BENCH_ROUNDS", 3)
  const figures: Record<string, Array<number>> = {}
  for (let round = 0; round < rounds; round++) {
    for (const [name, options] of Object.entries(sets)) (figures[name] ??= []).push(await measure(options, requests))
  }
  for (const [name, each] of Object.entries(figures)) {
    console.log(`${name}: ${round2(median(each))} µs a request (rounds: ${each.map(round2).join(", ")})`)
  }
}

if (process.argv[2] === "server") server(JSON.parse(process.argv[3]!) as Http.ServerOptions)
else void main()
