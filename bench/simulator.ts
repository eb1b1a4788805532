/**
 * Simulator throughput: a raw undici client (one `Pool`, 32 keep-alive
 * connections, 32 requests in flight) against servers running in child
 * processes, non-streamed and streamed, 64-token replies, all latency knobs at
 * zero.
 *
 * Servers compared:
 * - `simulator, node`: `Simulator.make()`, its default plain `node:http` listener;
 * - `simulator, platform`: `Simulator.make({ server: "platform" })`, the same
 *   engine served through `effect/http` (`HttpRouter` on `NodeHttpServer`);
 * - `node:http + render`: a bare `node:http` handler doing the simulator's own
 *   work (JSON parse, decode, generate, render) with no admission checks;
 * - `node:http static`: a bare `node:http` handler replaying the bytes the
 *   simulator produced for the same request (the ceiling of this client and
 *   machine).
 *
 * Usage: `node --import tsx bench/simulator.ts [seconds-per-run] [rounds]`
 * (defaults 3 and 3). Prints requests per second (the median of the rounds,
 * and the best) and the server's CPU time per request.
 */
import { type ChildProcess, fork } from "node:child_process"
import * as Http from "node:http"
import { fileURLToPath } from "node:url"
import { Pool } from "undici"
import { loaderArgs } from "./nodeArgs.js"

const replyTokens = 64
const concurrency = 32

const requestBody = (stream: boolean) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    messages: [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", content: "Tell me about Effect in one paragraph." }
    ]
  })

const headers = { "content-type": "application/json", authorization: "Bearer sk-bench" }

type ServerKind = "node" | "platform" | "render" | "static"

// ---------------------------------------------------------------------------
// Child: one server
// ---------------------------------------------------------------------------

const readAll = (req: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => {
      text += chunk
    })
    req.on("end", () => resolve(text))
  })

const serveChild = async (kind: ServerKind) => {
  const { Effect, Exit, Result, Scope } = await import("effect")
  const Simulator = await import("../src/simulator/Simulator.js")
  const OpenAiChat = await import("../src/simulator/OpenAiChat.js")
  const Reply = await import("../src/simulator/Reply.js")

  let port: number
  if (kind === "node" || kind === "platform") {
    const scope = Effect.runSync(Scope.make())
    const sim = await Effect.runPromise(Simulator.make({ replyTokens, server: kind }).pipe(Scope.provide(scope)))
    port = sim.port
    process.on("disconnect", () => {
      void Effect.runPromise(Scope.close(scope, Exit.void)).then(() => process.exit(0))
    })
  } else {
    const format = OpenAiChat.format
    const render = (text: string): { readonly stream: boolean; readonly body: string } => {
      const read = format.decode(JSON.parse(text))
      if (Result.isFailure(read)) throw new Error("bad request")
      const decoded = read.success
      const generated = Reply.generate(decoded.prompt, {
        replyTokens,
        reasoningTokens: 0,
        toolCalls: 1,
        cachedTokens: 0
      })
      if (Result.isFailure(generated)) throw new Error(generated.failure.message)
      const reply = generated.success
      const meta = { id: "chatcmpl-bench", created: Math.floor(Date.now() / 1000), model: decoded.prompt.model }
      if (!decoded.stream) return { stream: false, body: format.renderReply(reply, meta, decoded.extra) }
      const { events, tail } = format.renderStream(reply, meta, decoded.extra)
      return { stream: true, body: events.join("") + tail }
    }
    const staticBodies = new Map<string, { readonly stream: boolean; readonly body: string }>()
    const server = Http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      void readAll(req).then((text) => {
        let out = kind === "static" ? staticBodies.get(text) : undefined
        if (out === undefined) {
          out = render(text)
          if (kind === "static") staticBodies.set(text, out)
        }
        if (out.stream) {
          res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
          res.end(out.body)
        } else {
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out.body) })
          res.end(out.body)
        }
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    port = (server.address() as { port: number }).port
    process.on("disconnect", () => process.exit(0))
  }
  process.on("message", (message) => {
    if (message === "cpu") process.send?.({ cpu: process.cpuUsage() })
  })
  process.send?.({ port })
}

// ---------------------------------------------------------------------------
// Parent: the client
// ---------------------------------------------------------------------------

interface Server {
  readonly kind: ServerKind
  readonly child: ChildProcess
  readonly url: string
}

const start = (kind: ServerKind): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["--serve", kind], { execArgv: [...loaderArgs] })
    child.once("error", reject)
    child.once("message", (message) => {
      resolve({ kind, child, url: `http://127.0.0.1:${(message as { port: number }).port}` })
    })
  })

const cpuMicros = (server: Server): Promise<number> =>
  new Promise((resolve) => {
    server.child.once("message", (message) => {
      const { cpu } = message as { cpu: { user: number; system: number } }
      resolve(cpu.user + cpu.system)
    })
    server.child.send("cpu")
  })

const run = async (server: Server, stream: boolean, seconds: number) => {
  const pool = new Pool(server.url, { connections: concurrency, pipelining: 1 })
  const body = requestBody(stream)
  let done = 0
  let failed = 0
  let measuring = false
  let stop = false
  const worker = async () => {
    while (!stop) {
      const response = await pool.request({ path: "/v1/chat/completions", method: "POST", headers, body })
      const text = await response.body.text()
      const ok = response.statusCode === 200 && (stream ? text.endsWith("data: [DONE]\n\n") : text.endsWith("}"))
      if (measuring) {
        if (ok) done++
        else failed++
      }
    }
  }
  const workers = Array.from({ length: concurrency }, worker)
  await new Promise((resolve) => setTimeout(resolve, 500)) // warm-up
  measuring = true
  const cpu0 = await cpuMicros(server)
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const elapsed = (performance.now() - t0) / 1000
  const cpu1 = await cpuMicros(server)
  measuring = false
  const count = done
  stop = true
  await Promise.all(workers)
  await pool.close()
  if (failed > 0) throw new Error(`${server.kind}: ${failed} bad responses`)
  return { rps: count / elapsed, cpuPerRequest: (cpu1 - cpu0) / count }
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const main = async () => {
  const seconds = Number(process.argv[2] ?? 3)
  const rounds = Number(process.argv[3] ?? 3)
  const kinds: ReadonlyArray<ServerKind> = ["node", "platform", "render", "static"]
  const labels: Record<ServerKind, string> = {
    node: "simulator, node (default)",
    platform: "simulator, platform",
    render: "node:http + render",
    static: "node:http static"
  }
  const servers = await Promise.all(kinds.map(start))
  const results = new Map<string, Array<{ rps: number; cpuPerRequest: number }>>()
  console.log(
    `undici Pool, ${concurrency} connections, ${concurrency} in flight, ${replyTokens}-token replies, ` +
      `${seconds}s x ${rounds} rounds, node ${process.version}`
  )
  // Rounds interleave the servers so that a noisy neighbour hurts all of them alike.
  for (let round = 0; round < rounds; round++) {
    for (const stream of [false, true]) {
      for (const server of servers) {
        const key = `${server.kind}/${stream ? "stream" : "json"}`
        const result = await run(server, stream, seconds)
        results.set(key, [...(results.get(key) ?? []), result])
      }
    }
  }
  for (const stream of [false, true]) {
    console.log(`\n${stream ? "streaming (SSE, include_usage)" : "non-streaming"}`)
    for (const kind of kinds) {
      const rs = results.get(`${kind}/${stream ? "stream" : "json"}`)!
      const rps = median(rs.map((r) => r.rps))
      const best = Math.max(...rs.map((r) => r.rps))
      const cpu = median(rs.map((r) => r.cpuPerRequest))
      console.log(
        `  ${labels[kind].padEnd(30)} ${rps.toFixed(0).padStart(7)} rps (best ${best.toFixed(0).padStart(6)})` +
          `   server CPU ${cpu.toFixed(0).padStart(4)} µs/request`
      )
    }
  }
  for (const server of servers) server.child.disconnect()
}

const serveIndex = process.argv.indexOf("--serve")
if (serveIndex >= 0) {
  void serveChild(process.argv[serveIndex + 1] as ServerKind)
} else {
  void main()
}
