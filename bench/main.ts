/**
 * Throughput of this library versus raw undici, side by side in one run,
 * against the simulator in a child process.
 *
 *   npm run bench                   # every case
 *   npm run bench -- stream         # cases whose name contains "stream"
 *
 * Every case (`bench/cases/`) runs against each simulator HTTP server in
 * BENCH_SERVERS (default `node,platform`):
 * - `node`, the simulator's default `node:http` listener, cheap enough per
 *   request that neither client saturates it, so the ratio is the client CPU
 *   of ours versus raw undici (`bench/simulator.ts` measures the server's
 *   cost). Results carry the case's plain name.
 * - `platform`, the simulator on `effect/http`'s `HttpServer`, as DESIGN.md
 *   specifies HTTP in: a server about as costly as our client. Results are
 *   named `<case>@platform-server`.
 *
 * BENCH_HTTP (default `undici`) picks the `HttpClient` under "ours", a comma
 * list to A/B them in one run: `undici`, this library's
 * `UndiciHttpClient.layer()` (the faster, so the default), or `platform`,
 * `NodeHttpClient.layerUndici`. Results of a client other than the first
 * listed are named `<case>@<client>-http`.
 *
 * Other settings: BENCH_SECONDS (per measured round, default 3), BENCH_ROUNDS
 * (default 3), BENCH_CONCURRENCY (default 32), BENCH_WARMUP_SECONDS (default 2),
 * SIMULATOR_URL (use a running simulator instead of starting them).
 *
 * Each case is warmed up (ours, then baseline), then measured in rounds that
 * alternate ours and baseline; the score of each side is its BEST round, in
 * requests per second (the machine is shared, so the best round is the one
 * least disturbed). On Linux with `taskset`, the simulator runs on core 0 and
 * this process on core 1.
 *
 * A case whose baseline is `{ effect }` (`router-overhead`: the router over
 * two deployments versus one `Llm`) measures both sides like "ours".
 *
 * `redis-limiter-overhead` (`cases/redisLimiter.ts`) is such a pair too: the
 * stack with its limiter and key pool in a Redis `Store` (a `redis-server` the
 * case starts) versus in memory; a case whose `unavailable` names a reason
 * (no `redis-server`) is skipped, not failed.
 *
 * `gateway-nonstream` and `gateway-stream` (`cases/gateway.ts`) run after the
 * throughput cases: HTTP servers in processes of their own (the gateway, a
 * `node:http` pass-through, `effect/http`'s pass-through as the floor, the
 * `node:http` pass-through decoding what it forwards, and `effect/http`
 * answering through the library's `Llm` as the engine) in front of a
 * simulator of their own, driven by autocannon; their results add the floor's,
 * the decoder's and the engine's figures and the added latency at 1,000
 * requests per second.
 *
 * `streams-10k-memory` (`cases/streamsMemory.ts`) runs last, each side in a
 * process of its own against a slow simulator of its own: the peak memory of
 * 10,000 streams held open, ours versus raw undici.
 *
 * The last line printed is one JSON object:
 * `{"results":[{"name","ours_rps","baseline_rps","ratio","ours_cpu_us","baseline_cpu_us","cpu_ratio"}]}`,
 * ratio = ours / baseline of the best rounds' requests per second (higher is
 * better for ours); `*_cpu_us`, this process's CPU time per call in each side's
 * cheapest round, and cpu_ratio = baseline / ours of those (higher is better
 * for ours), a figure that moves less with the machine's other load. The memory result is
 * `{"name","streams","ours_rss_mb","baseline_rss_mb","ratio","ours_heap_mb","baseline_heap_mb","heap_ratio",...}`,
 * its ratios ours / baseline of the peaks (lower is better for ours).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Scope from "effect/Scope"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as os from "node:os"
import { createInterface } from "node:readline"
import { Agent } from "undici"
import type { OptionsError } from "../src/OptionsError.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { type GatewayResult, gatewayCaseNames, measureGateway } from "./cases/gateway.js"
import { cases } from "./cases/index.js"
import { type MemoryResult, measureStreamsMemory, streamsMemoryResultName } from "./cases/streamsMemory.js"
import { measureKeyPool } from "./keyPool.js"
import { nodeArgs } from "./nodeArgs.js"

const keyPoolResultName = "keypool-acquire-release-10k-vs-10-keys"

const envNumber = (name: string, fallback: number): number => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

const seconds = envNumber("BENCH_SECONDS", 3)
const rounds = envNumber("BENCH_ROUNDS", 3)
const concurrency = envNumber("BENCH_CONCURRENCY", 32)
const warmupSeconds = envNumber("BENCH_WARMUP_SECONDS", 2)
const servers = (process.env["BENCH_SERVERS"] ?? "node,platform").split(",").map((s) => s.trim()).filter((s) => s !== "")
const filter = process.argv[2]
const httpLayers: Record<string, Layer.Layer<HttpClient.HttpClient, OptionsError>> = {
  undici: UndiciHttpClient.layer(),
  platform: NodeHttpClient.layerUndici
}
const https = (process.env["BENCH_HTTP"] ?? "undici").split(",").map((s) => s.trim()).filter((s) => s !== "")
for (const http of https) {
  if (httpLayers[http] === undefined) throw new Error(`BENCH_HTTP: unknown client ${http} (undici, platform)`)
}

const hasTaskset = (() => {
  if (os.platform() !== "linux" || os.availableParallelism() < 2) return false
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

interface Server {
  readonly url: string
  readonly stop: () => void
}

// A bench script in a child process, on `core` when the machine allows; its
// stdout piped, and an IPC channel when asked.
const spawnNode = (args: ReadonlyArray<string>, core: number, env: NodeJS.ProcessEnv, ipc: boolean): ChildProcess => {
  const options = {
    stdio: ["ignore", "pipe", "inherit", ...(ipc ? ["ipc" as const] : [])] as Array<"ignore" | "pipe" | "inherit" | "ipc">,
    env
  }
  return hasTaskset
    ? spawn("taskset", ["-c", String(core), process.execPath, ...args], options)
    : spawn(process.execPath, args, options)
}

const pinSelf = (core: number) => {
  if (hasTaskset) execFileSync("taskset", ["-a", "-pc", String(core), String(process.pid)], { stdio: "ignore" })
}

const startSimulator = async (server: string): Promise<Server> => {
  const given = process.env["SIMULATOR_URL"]
  if (given !== undefined && given !== "") return { url: given, stop: () => {} }
  const child = spawnNode(nodeArgs("simulatorProcess"), 0, { ...process.env, BENCH_SIMULATOR_SERVER: server }, false)
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the simulator exited (${code}) before printing its URL`)))
    lines.once("line", (line) => resolve(line.trim()))
  })
  return { url, stop: () => child.kill() }
}

interface Count {
  readonly ok: number
  readonly failed: number
  readonly firstError: unknown
}

const measureOurs = (
  runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>,
  call: Effect.Effect<unknown, unknown>,
  millis: number
): Promise<Count> => {
  let ok = 0
  let failed = 0
  let firstError: unknown
  const deadline = performance.now() + millis
  const worker = Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => Effect.exit(call),
    step: (exit) => {
      if (Exit.isSuccess(exit)) ok++
      else if (failed++ === 0) firstError = exit.cause
    }
  })
  return runtime.runPromise(
    Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  ).then(() => ({ ok, failed, firstError }))
}

const measureBaseline = async (call: () => Promise<unknown>, millis: number): Promise<Count> => {
  let ok = 0
  let failed = 0
  let firstError: unknown
  const deadline = performance.now() + millis
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        await call()
        ok++
      } catch (error) {
        if (failed++ === 0) firstError = error
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ok, failed, firstError }
}

interface Score {
  /** Successful calls per second. */
  readonly rps: number
  /** This process's CPU time (user + system) per successful call, in microseconds. */
  readonly cpuMicros: number
}

// One measured round of one side: its throughput and what each call cost this
// process in CPU time, which moves far less than throughput with the load of
// other processes on the machine.
const score = async (measure: (millis: number) => Promise<Count>, millis: number, label: string): Promise<Score> => {
  const before = process.cpuUsage()
  const count = await measure(millis)
  const cpu = process.cpuUsage(before)
  if (count.failed > 0) {
    console.error(`${label}: ${count.failed} failed calls; first:`, count.firstError)
  }
  return { rps: count.ok / (millis / 1000), cpuMicros: count.ok === 0 ? Infinity : (cpu.user + cpu.system) / count.ok }
}

const round2 = (n: number) => Math.round(n * 100) / 100

interface Result {
  readonly name: string
  readonly ours_rps: number
  readonly baseline_rps: number
  readonly ratio: number
  readonly ours_cpu_us?: number
  readonly baseline_cpu_us?: number
  readonly cpu_ratio?: number
}

const main = async () => {
  pinSelf(1)
  const runtimes = https.map((http) => ManagedRuntime.make(httpLayers[http]!))
  const runtime = runtimes[0]!
  const dispatcher = new Agent()
  const results: Array<Result | GatewayResult | MemoryResult> = []
  console.log(
    `concurrency ${concurrency}; warm-up ${warmupSeconds}s; ${rounds} rounds of ${seconds}s per side, ` +
      `best round kept; simulator servers: ${servers.join(", ")}; HttpClient: ${https.join(", ")}; pinned to separate cores: ${hasTaskset}`
  )
  try {
    for (const server of servers) {
      const simulator = await startSimulator(server)
      try {
        for (const benchCase of cases) {
          for (const [h, http] of https.entries()) {
            const runtime = runtimes[h]!
            const plain = server === "node" ? benchCase.name : `${benchCase.name}@${server}-server`
            const name = h === 0 ? plain : `${plain}@${http}-http`
            if (filter !== undefined && !name.includes(filter)) continue
            const unavailable = benchCase.unavailable?.()
            if (unavailable !== undefined) {
              console.log(`${name}: skipped, ${unavailable}`)
              continue
            }
            // What a case builds (a rate limiter's refill fiber) lives until the case ends.
            const scope = await runtime.runPromise(Scope.make())
            let bestOurs = 0
            let bestBaseline = 0
            let leastCpuOurs = Infinity
            let leastCpuBaseline = Infinity
            try {
              const ours = await runtime.runPromise(Scope.provide(benchCase.ours(simulator.url), scope))
              const measureBaselineSide = typeof benchCase.baseline === "function"
                ? ((call) => (millis: number) => measureBaseline(call, millis))(benchCase.baseline(simulator.url, dispatcher))
                : ((call) => (millis: number) => measureOurs(runtime, call, millis))(
                  await runtime.runPromise(Scope.provide(benchCase.baseline.effect(simulator.url), scope))
                )
              await measureOurs(runtime, ours, warmupSeconds * 1000)
              await measureBaselineSide(warmupSeconds * 1000)
              for (let i = 0; i < rounds; i++) {
                const a = await score((millis) => measureOurs(runtime, ours, millis), seconds * 1000, `${name} ours`)
                const b = await score(measureBaselineSide, seconds * 1000, `${name} baseline`)
                console.log(
                  `${name} round ${i + 1}: ours ${a.rps.toFixed(0)} rps (${a.cpuMicros.toFixed(1)} us CPU a call), ` +
                    `baseline ${b.rps.toFixed(0)} rps (${b.cpuMicros.toFixed(1)} us)`
                )
                bestOurs = Math.max(bestOurs, a.rps)
                bestBaseline = Math.max(bestBaseline, b.rps)
                leastCpuOurs = Math.min(leastCpuOurs, a.cpuMicros)
                leastCpuBaseline = Math.min(leastCpuBaseline, b.cpuMicros)
              }
            } finally {
              await runtime.runPromise(Scope.close(scope, Exit.void))
            }
            results.push({
              name,
              ours_rps: Math.round(bestOurs),
              baseline_rps: Math.round(bestBaseline),
              ratio: round2(bestBaseline === 0 ? 0 : bestOurs / bestBaseline),
              ours_cpu_us: round2(leastCpuOurs),
              baseline_cpu_us: round2(leastCpuBaseline),
              cpu_ratio: round2(leastCpuBaseline / leastCpuOurs)
            })
          }
        }
      } finally {
        simulator.stop()
      }
    }
    if (filter === undefined || keyPoolResultName.includes(filter)) {
      // Not a throughput pair: acquire/release pairs per second at 10,000 keys
      // ("ours") against 10 keys ("baseline"); a logarithmic pool keeps the
      // ratio above 1/3 (10,000 keys within 3x the time of 10).
      const { pairsPerSecond10, pairsPerSecond10k } = await runtime.runPromise(measureKeyPool)
      console.log(`${keyPoolResultName}: ${pairsPerSecond10k.toFixed(0)} pairs/s at 10,000 keys, ${pairsPerSecond10.toFixed(0)} at 10`)
      results.push({
        name: keyPoolResultName,
        ours_rps: Math.round(pairsPerSecond10k),
        baseline_rps: Math.round(pairsPerSecond10),
        ratio: round2(pairsPerSecond10k / pairsPerSecond10)
      })
    }
    // The gateway cases: HTTP servers in processes of their own, driven by autocannon.
    results.push(
      ...await measureGateway({
        seconds,
        rounds,
        warmupSeconds,
        concurrency,
        names: gatewayCaseNames.filter((name) => filter === undefined || name.includes(filter)),
        spawnNode,
        startSimulator: () => startSimulator("node"),
        pinSelf
      })
    )
    // Its own processes, after the throughput cases, so it disturbs none of them.
    if (filter === undefined || streamsMemoryResultName.includes(filter)) results.push(await measureStreamsMemory())
  } finally {
    for (const runtime of runtimes) await runtime.dispose()
    await dispatcher.close()
  }
  console.log(JSON.stringify({ results }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
