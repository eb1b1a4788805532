/**
 * Throughput of this library versus raw undici, side by side in one run,
 * against the simulator in a child process.
 *
 *   npm run bench                   # every case
 *   npm run bench -- stream         # cases whose name contains "stream"
 *   npm run bench -- a,b            # cases whose name contains "a" or "b"
 *
 * Every case (`bench/cases/`) runs against each simulator HTTP server in
 * BENCH_SERVERS (default `node,platform`):
 * - `node`, the simulator's default `node:http` listener, cheap enough per
 *   request that neither client saturates it, so the ratio is the client CPU
 *   of ours versus raw undici (`bench/simulator.ts` measures the server's
 *   cost). Results carry the case's plain name.
 * - `platform`, the simulator on `effect/http`'s `HttpServer`, the stack the
 *   gateway serves HTTP with: a server about as costly as our client. Results
 *   are named `<case>@platform-server`.
 *
 * BENCH_HTTP (default `undici`) picks the `HttpClient` under "ours", a comma
 * list to A/B them in one run: `undici`, this library's
 * `UndiciHttpClient.layer()` (the faster, so the default), or `platform`,
 * `NodeHttpClient.layerUndici`. Results of a client other than the first
 * listed are named `<case>@<client>-http`.
 *
 * Other settings: BENCH_SECONDS (per measured round, default 3), BENCH_ROUNDS
 * (default 3), BENCH_CONCURRENCY (default 32), BENCH_WARMUP_SECONDS (default 10),
 * BENCH_TOKENS_PER_SECOND (the simulator's pace, token by token; unset, a reply
 * goes out in one write, but `gateway-stream`'s, paced by default: see
 * `cases/gateway.ts`), SIMULATOR_URL (use a running simulator instead of
 * starting them).
 *
 * Each case runs in a process of its own (this script again, `BENCH_UNIT`
 * naming the case), so no case inherits another's heap, JIT state or open
 * sockets, and a case measured in a whole run meets what it meets alone. It
 * is warmed up (ours, then baseline), then measured in rounds that alternate
 * ours and baseline; each figure is the MEDIAN of the rounds', and each ratio
 * comes with its range over them (`ratio_range`: the lowest and the highest
 * of a round's own ratio; `stats.ts`). On Linux with `taskset`, the simulator
 * runs on core 0 and the case's process on core 1.
 *
 * A case whose baseline is `{ effect }` (`router-overhead`: the router over
 * two deployments versus one `Llm`) measures both sides like "ours".
 *
 * `redis-limiter-overhead` (`cases/redisLimiter.ts`) is such a pair too: the
 * stack with its limiter and key pool in a Redis `Store` (a `redis-server` the
 * case starts) versus in memory, with a third side in the same rounds, its
 * floor (`floor` on the case: the fields on `Result`); a case whose
 * `unavailable` names a reason (no `redis-server`) is skipped, not failed.
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
 * `added-latency-c1-nonstream` and `added-latency-c1-stream` (`cases/addedLatency.ts`; `npm run bench --
 * added-latency`): one request at a time, straight to the simulator, through `serve` and through the engine side,
 * interleaved; the p50 and p99 that `serve` adds, and that the engine (its floor) adds, and each side's critical
 * path gap by gap (`gateway/criticalPath.ts`); the `-node-upstream` lines again in front of a bare `node:http`
 * upstream.
 *
 * `mcp-tools-call` (`cases/mcpToolCall.ts`; `npm run bench -- mcp-tools-call`): an MCP `tools/call` with the official
 * SDK's client, straight to an SDK upstream and through three relays, interleaved: `serve`'s `/mcp`, the engine
 * (`effect/ai`'s `McpServer` and `McpClient`, none of the gateway's layers) and the official SDK's own relay; the p50
 * and p99 each adds, its CPU a call, and calls a second with 16 in flight against direct.
 *
 * `guardrail-stream-modes` (`cases/guardrail.ts`; `npm run bench -- guardrail` runs it alone): the first text's
 * time and the CPU a streamed request takes through `Guardrail.layer` in each stream mode against no guardrail,
 * a window-mode block's time to its error and CPU against a window-mode pass of a reply of the same length, and the
 * labelled set's misses and false blocks per built-in check and mode.
 *
 * `guardrail-mcp-tool-call` (`cases/mcpGuardrail.ts`; `npm run bench -- guardrail-mcp`): a webhook guardrail's time,
 * CPU and posts per MCP tool call, one post a string against one a direction (`batch`).
 *
 * `streams-10k-memory` (`cases/streamsMemory.ts`) runs last, each side in a
 * process of its own against a slow simulator of its own: the peak memory of
 * 10,000 streams held open, ours versus raw undici.
 *
 * The last line printed is one JSON object:
 * `{"results":[{"name","ours_rps","baseline_rps","ratio","ours_cpu_us","baseline_cpu_us","cpu_ratio"}]}`,
 * ratio = ours / baseline of the median requests per second (higher is
 * better for ours); `*_cpu_us`, the case's process's CPU time per call, the
 * median of each side's rounds, and cpu_ratio = baseline / ours of those
 * (higher is better for ours), a figure that moves less with the machine's
 * other load; `ratio_range` and `cpu_ratio_range`, each ratio's range over the
 * rounds. The memory result is
 * `{"name","streams","ours_rss_mb","baseline_rss_mb","ratio","ours_heap_mb","baseline_heap_mb","heap_ratio",...}`,
 * its ratios ours / baseline of the peaks (lower is better for ours).
 * A case that fails (throws, a child process of its exits before reporting,
 * it times out) is `{"name","error"}` in that list, the others' figures kept,
 * and the run exits 1 (`report.ts`). Each throughput case starts a simulator of
 * its own and waits for it to exit before the next case starts.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Scope from "effect/Scope"
import { createInterface } from "node:readline"
import { Agent } from "undici"
import type { OptionsError } from "../src/OptionsError.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { addedLatencyCaseNames, type AddedLatencyResult, measureAddedLatency } from "./cases/addedLatency.js"
import { gatewayCaseNames, type GatewayResult, measureGateway } from "./cases/gateway.js"
import { guardrailCaseName, type GuardrailResult, measureGuardrail } from "./cases/guardrail.js"
import { cases } from "./cases/index.js"
import { mcpGuardrailCaseName, type McpGuardrailResult, measureMcpGuardrail } from "./cases/mcpGuardrail.js"
import { mcpToolCallCaseName, type McpToolCallResult, measureMcpToolCall } from "./cases/mcpToolCall.js"
import {
  measureStreamCapacity,
  reply,
  type StreamCapacityResult,
  streamCapacityResultName,
  streamCounts
} from "./cases/streamCapacity.js"
import { measureStreamsMemory, type MemoryResult, streamsMemoryResultName } from "./cases/streamsMemory.js"
import type { BenchCase, Side } from "./cases/types.js"
import { envNumber } from "./env.js"
import { measureKeyPool } from "./keyPool.js"
import { hasTaskset, nodeArgs, pinSelf, spawnNode } from "./nodeArgs.js"
import { attempt, type CaseFailure, caseFilter, summary } from "./report.js"
import { startSimulator } from "./simulatorChild.js"
import { median, range, round2 } from "./stats.js"

const keyPoolResultName = "keypool-acquire-release-10k-vs-10-keys"

const seconds = envNumber("BENCH_SECONDS", 3)
const rounds = envNumber("BENCH_ROUNDS", 3)
const concurrency = envNumber("BENCH_CONCURRENCY", 32)
const warmupSeconds = envNumber("BENCH_WARMUP_SECONDS", 10)
const servers = (process.env["BENCH_SERVERS"] ?? "node,platform").split(",").map((s) => s.trim()).filter((s) =>
  s !== ""
)
const selected = caseFilter(process.argv[2])
const httpLayers: Record<string, Layer.Layer<HttpClient.HttpClient, OptionsError>> = {
  undici: UndiciHttpClient.layer(),
  platform: NodeHttpClient.layerUndici
}
const https = (process.env["BENCH_HTTP"] ?? "undici").split(",").map((s) => s.trim()).filter((s) => s !== "")
for (const http of https) {
  if (httpLayers[http] === undefined) throw new Error(`BENCH_HTTP: unknown client ${http} (undici, platform)`)
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
  /** The side's `redis-server`'s CPU time per successful call, in microseconds, when it has one. */
  readonly redisCpuMicros: number | undefined
}

/** One side of a case, ready to measure. */
interface Measured {
  readonly measure: (millis: number) => Promise<Count>
  /** The CPU time so far of the side's `redis-server`, in microseconds. */
  readonly redisCpuMicros: (() => Promise<number>) | undefined
}

const undiciSide = (call: () => Promise<unknown>): Measured => ({
  measure: (millis) => measureBaseline(call, millis),
  redisCpuMicros: undefined
})

// One measured round of one side: its throughput and what each call cost this
// process in CPU time, which moves far less than throughput with the load of
// other processes on the machine; and what it cost its Redis, read around the round.
const score = async (side: Measured, millis: number, label: string): Promise<Score> => {
  const redisBefore = await side.redisCpuMicros?.()
  const before = process.cpuUsage()
  const count = await side.measure(millis)
  const cpu = process.cpuUsage(before)
  const redisAfter = await side.redisCpuMicros?.()
  if (count.failed > 0) {
    console.error(`${label}: ${count.failed} failed calls; first:`, count.firstError)
  }
  const perCall = (micros: number) => count.ok === 0 ? Infinity : micros / count.ok
  return {
    rps: count.ok / (millis / 1000),
    cpuMicros: perCall(cpu.user + cpu.system),
    redisCpuMicros: redisBefore === undefined || redisAfter === undefined
      ? undefined
      : perCall(redisAfter - redisBefore)
  }
}

// A side's figures in a round's line: calls a second, and CPU a call here (and in its Redis).
const describe = (score: Score, cpuLabel: string) =>
  `${score.rps.toFixed(0)} rps (${score.cpuMicros.toFixed(1)} us${cpuLabel}` +
  (score.redisCpuMicros === undefined ? ")" : `, ${score.redisCpuMicros.toFixed(1)} us in Redis)`)

/**
 * A side's score over its rounds, each figure the median of the rounds': requests per second, CPU a call (here, in
 * its Redis, and both together in one round).
 */
const medianOf = (scores: ReadonlyArray<Score>) => ({
  rps: median(scores.map((s) => s.rps)),
  cpuMicros: median(scores.map((s) => s.cpuMicros)),
  redisCpuMicros: scores.some((s) => s.redisCpuMicros === undefined)
    ? undefined
    : median(scores.map((s) => s.redisCpuMicros!)),
  allCpuMicros: median(scores.map((s) => s.cpuMicros + (s.redisCpuMicros ?? 0)))
})

/**
 * One result: each figure the median of the rounds', each ratio of those
 * medians, with its range over the rounds (`ratio_range`, `cpu_ratio_range`:
 * the lowest and highest of a round's own ratio). A case with a floor adds
 * `floor_rps`, `floor_ratio` (floor / baseline of the requests per second: the most any design the
 * floor stands for reaches here), `ours_vs_floor` (ours / floor) and
 * `floor_cpu_us`; a side with a `redis-server` of its own adds its CPU a call,
 * the least of its rounds, read from `INFO cpu` around each
 * (`ours_redis_cpu_us`, `floor_redis_cpu_us`), and the CPU ratio counting it:
 * `cpu_ratio_with_redis` = baseline / (ours here + ours in Redis), the least
 * sum of one round's, and `floor_cpu_ratio_with_redis` likewise.
 */
interface Result {
  readonly name: string
  readonly ours_rps: number
  readonly baseline_rps: number
  readonly ratio: number
  readonly ratio_range?: readonly [number, number]
  readonly ours_cpu_us?: number
  readonly baseline_cpu_us?: number
  readonly cpu_ratio?: number
  readonly cpu_ratio_range?: readonly [number, number]
  readonly floor_rps?: number
  readonly floor_ratio?: number
  readonly ours_vs_floor?: number
  readonly floor_cpu_us?: number
  readonly ours_redis_cpu_us?: number
  readonly floor_redis_cpu_us?: number
  readonly cpu_ratio_with_redis?: number
  readonly floor_cpu_ratio_with_redis?: number
}

/** What one throughput case needs of the run: the client its "ours" side runs on, and raw undici's dispatcher. */
interface PairSettings {
  readonly name: string
  readonly benchCase: BenchCase
  readonly runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>
  readonly dispatcher: Agent
  readonly url: string
}

/** One throughput case against the simulator at `url`: warm-up, then rounds alternating the sides. */
const measurePair = async ({ benchCase, dispatcher, name, runtime, url }: PairSettings): Promise<Result> => {
  // What a case builds (a rate limiter's refill fiber, a redis-server) lives until the case ends.
  const scope = await runtime.runPromise(Scope.make())
  const effectSide = async (side: Side): Promise<Measured> => {
    const built = await runtime.runPromise(Scope.provide(side(url), scope))
    const { call, redisCpuMicros } = Effect.isEffect(built) ? { call: built, redisCpuMicros: undefined } : built
    return {
      measure: (millis) => measureOurs(runtime, call, millis),
      redisCpuMicros: redisCpuMicros === undefined ? undefined : () => runtime.runPromise(redisCpuMicros)
    }
  }
  const scores: { ours: Array<Score>; baseline: Array<Score>; floor: Array<Score> } = {
    ours: [],
    baseline: [],
    floor: []
  }
  try {
    const ours = await effectSide(benchCase.ours)
    const baseline: Measured = typeof benchCase.baseline === "function"
      ? undiciSide(benchCase.baseline(url, dispatcher))
      : await effectSide(benchCase.baseline.effect)
    const floor = benchCase.floor === undefined ? undefined : await effectSide(benchCase.floor)
    await ours.measure(warmupSeconds * 1000)
    await baseline.measure(warmupSeconds * 1000)
    await floor?.measure(warmupSeconds * 1000)
    for (let i = 0; i < rounds; i++) {
      const a = await score(ours, seconds * 1000, `${name} ours`)
      const b = await score(baseline, seconds * 1000, `${name} baseline`)
      const c = floor === undefined ? undefined : await score(floor, seconds * 1000, `${name} floor`)
      console.log(
        `${name} round ${i + 1}: ours ${describe(a, " CPU a call")}, baseline ${describe(b, "")}` +
          (c === undefined ? "" : `, floor ${describe(c, "")}`)
      )
      scores.ours.push(a)
      scores.baseline.push(b)
      if (c !== undefined) scores.floor.push(c)
    }
  } finally {
    await runtime.runPromise(Scope.close(scope, Exit.void))
  }
  const ours = medianOf(scores.ours)
  const baseline = medianOf(scores.baseline)
  const floor = scores.floor.length === 0 ? undefined : medianOf(scores.floor)
  const paired = scores.ours.map((ours, i) => ({ ours, baseline: scores.baseline[i]! }))
  return {
    name,
    ours_rps: Math.round(ours.rps),
    baseline_rps: Math.round(baseline.rps),
    ratio: round2(baseline.rps === 0 ? 0 : ours.rps / baseline.rps),
    ratio_range: range(paired.map((one) => one.baseline.rps === 0 ? 0 : one.ours.rps / one.baseline.rps)),
    ours_cpu_us: round2(ours.cpuMicros),
    baseline_cpu_us: round2(baseline.cpuMicros),
    cpu_ratio: round2(baseline.cpuMicros / ours.cpuMicros),
    cpu_ratio_range: range(paired.map((one) => one.baseline.cpuMicros / one.ours.cpuMicros)),
    ...(floor === undefined ? {} : {
      floor_rps: Math.round(floor.rps),
      floor_ratio: round2(baseline.rps === 0 ? 0 : floor.rps / baseline.rps),
      ours_vs_floor: round2(floor.rps === 0 ? 0 : ours.rps / floor.rps),
      floor_cpu_us: round2(floor.cpuMicros)
    }),
    ...(ours.redisCpuMicros === undefined ? {} : {
      ours_redis_cpu_us: round2(ours.redisCpuMicros),
      cpu_ratio_with_redis: round2(baseline.cpuMicros / ours.allCpuMicros)
    }),
    ...(floor?.redisCpuMicros === undefined ? {} : {
      floor_redis_cpu_us: round2(floor.redisCpuMicros),
      floor_cpu_ratio_with_redis: round2(baseline.cpuMicros / floor.allCpuMicros)
    })
  }
}

// Not a throughput pair: acquire/release pairs per second at 10,000 keys
// ("ours") against 10 keys ("baseline"); a logarithmic pool keeps the
// ratio above 1/3 (10,000 keys within 3x the time of 10).
const keyPoolResult = async (
  runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>
): Promise<Result> => {
  const { pairsPerSecond10, pairsPerSecond10k } = await runtime.runPromise(measureKeyPool)
  console.log(
    `${keyPoolResultName}: ${pairsPerSecond10k.toFixed(0)} pairs/s at 10,000 keys, ${pairsPerSecond10.toFixed(0)} at 10`
  )
  return {
    name: keyPoolResultName,
    ours_rps: Math.round(pairsPerSecond10k),
    baseline_rps: Math.round(pairsPerSecond10),
    ratio: round2(pairsPerSecond10k / pairsPerSecond10)
  }
}

// Each case meets a simulator of its own, stopped (its sockets closed) before the next case starts.
const withSimulator = async <A>(server: string, run: (url: string) => Promise<A>): Promise<A> => {
  const simulator = await startSimulator(server)
  try {
    return await run(simulator.url)
  } finally {
    await simulator.stop()
  }
}

/** Every result a run can report. */
type AnyResult =
  | Result
  | GatewayResult
  | AddedLatencyResult
  | McpToolCallResult
  | StreamCapacityResult
  | MemoryResult
  | GuardrailResult
  | McpGuardrailResult
  | CaseFailure

/**
 * What a run is made of: a case, by the names of its results, measured in a child process of its own (`BENCH_UNIT`,
 * its first name).
 */
interface Unit {
  readonly names: ReadonlyArray<string>
  /** Why it cannot run on this machine, when it cannot: it is skipped, not failed. */
  readonly unavailable?: (() => string | undefined) | undefined
  readonly run: (clients: Clients) => Promise<AnyResult | ReadonlyArray<AnyResult>>
}

/** What a unit's process calls with: a runtime per `BENCH_HTTP` client for "ours", raw undici's dispatcher. */
interface Clients {
  readonly runtimes: ReadonlyArray<ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>>
  readonly dispatcher: Agent
}

/** Every unit of a run, in the order they run. */
const units = (): ReadonlyArray<Unit> => {
  const all: Array<Unit> = []
  for (const server of servers) {
    for (const benchCase of cases) {
      for (const [h, http] of https.entries()) {
        const plain = server === "node" ? benchCase.name : `${benchCase.name}@${server}-server`
        const name = h === 0 ? plain : `${plain}@${http}-http`
        all.push({
          names: [name],
          unavailable: benchCase.unavailable,
          run: ({ dispatcher, runtimes }) =>
            withSimulator(server, (url) => measurePair({ name, benchCase, runtime: runtimes[h]!, dispatcher, url }))
        })
      }
    }
  }
  all.push({ names: [keyPoolResultName], run: ({ runtimes }) => keyPoolResult(runtimes[0]!) })
  // A guardrail's stream modes against none, through `Guardrail.layer` over the full stack; with the labelled set.
  all.push({
    names: [guardrailCaseName],
    run: ({ runtimes }) =>
      measureGuardrail({
        seconds,
        rounds,
        warmupSeconds,
        concurrency,
        runtime: runtimes[0]!,
        startSimulator: (tokensPerSecond, replyTokens) => startSimulator("node", tokensPerSecond, replyTokens)
      })
  })
  // A webhook guardrail on an MCP tool call: one post a string against one a direction (`batch`).
  all.push({
    names: [mcpGuardrailCaseName],
    run: ({ runtimes }) => measureMcpGuardrail({ seconds, rounds, warmupSeconds, concurrency, runtime: runtimes[0]! })
  })
  // The gateway cases: HTTP servers in processes of their own, driven by autocannon, each case with its own.
  for (const name of gatewayCaseNames) {
    all.push({
      names: [name],
      run: () =>
        measureGateway({
          seconds,
          rounds,
          warmupSeconds,
          concurrency,
          name,
          startSimulator: (tokensPerSecond) => startSimulator("node", tokensPerSecond)
        })
    })
  }
  // One request at a time, straight to the simulator and through `serve`, interleaved: what `serve` adds.
  all.push({
    names: [...addedLatencyCaseNames],
    run: () => measureAddedLatency({ startSimulator: () => startSimulator("node") })
  })
  // An MCP tools/call straight to an SDK upstream and through `serve`'s /mcp, interleaved: what `serve` adds.
  all.push({
    names: [mcpToolCallCaseName],
    run: () => measureMcpToolCall(() => startSimulator("node"))
  })
  // Streams held at once through the gateway, the pass-through and the floors: each count a unit of its own.
  for (const count of streamCounts(process.env["STREAM_CAPACITY_COUNTS"])) {
    all.push({
      names: [`${streamCapacityResultName}-${count}`],
      run: () =>
        measureStreamCapacity({
          count,
          startSimulator: () => startSimulator("node", String(reply.tokensPerSecond), reply.tokens)
        })
    })
  }
  // Its own processes, after the throughput cases, so it disturbs none of them.
  all.push({ names: [streamsMemoryResultName], run: measureStreamsMemory })
  return all
}

/** The unit named by `BENCH_UNIT`, measured in this process: its results printed as the last line. */
const runUnit = async (wanted: string) => {
  pinSelf(1)
  const runtimes = https.map((http) => ManagedRuntime.make(httpLayers[http]!))
  const dispatcher = new Agent()
  const results: Array<AnyResult> = []
  try {
    const unit = units().find((one) => one.names[0] === wanted)
    if (unit === undefined) throw new Error(`BENCH_UNIT: no case ${wanted}`)
    await attempt(results, unit.names, () => unit.run({ runtimes, dispatcher }))
  } finally {
    for (const runtime of runtimes) await runtime.dispose()
    await dispatcher.close()
  }
  const { exitCode, line } = summary(results)
  console.log(line)
  process.exitCode = exitCode
}

/**
 * A unit measured in a child process of its own, its lines relayed as they come; its results, the last line it
 * prints; fails when it exits without them. The child is started on every core this process has, and pins itself to
 * core 1 (`runUnit`) after it has seen them: started on core 1 alone, it would count one core and pin none of its
 * own children (the simulator and the client's core 0), which would then share core 1 with the side measured.
 */
const inChild = (unit: Unit): Promise<ReadonlyArray<AnyResult>> =>
  new Promise((resolve, reject) => {
    const child = spawnNode({ args: nodeArgs("main"), env: { ...process.env, BENCH_UNIT: unit.names[0]! } })
    let last = ""
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("{\"results\":")) last = line
      else console.log(line)
    })
    child.once("close", (code, signal) => {
      if (last === "") return reject(new Error(`its process exited (${code ?? signal}) without results`))
      resolve((JSON.parse(last) as { readonly results: ReadonlyArray<AnyResult> }).results)
    })
  })

const main = async () => {
  const wanted = process.env["BENCH_UNIT"]
  if (wanted !== undefined && wanted !== "") return runUnit(wanted)
  console.log(
    `concurrency ${concurrency}; warm-up ${warmupSeconds}s; ${rounds} rounds of ${seconds}s per side, ` +
      `median of the rounds kept; each case in a process of its own; simulator servers: ${servers.join(", ")}; ` +
      `HttpClient: ${https.join(", ")}; pinned to separate cores: ${hasTaskset}`
  )
  const results: Array<AnyResult> = []
  for (const unit of units()) {
    if (!unit.names.some(selected)) continue
    const unavailable = unit.unavailable?.()
    if (unavailable !== undefined) {
      console.log(`${unit.names.join(", ")}: skipped, ${unavailable}`)
      continue
    }
    await attempt(results, unit.names, () => inChild(unit))
  }
  const { exitCode, line } = summary(results)
  console.log(line)
  process.exitCode = exitCode
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
