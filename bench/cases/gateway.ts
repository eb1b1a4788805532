/**
 * `gateway-nonstream` and `gateway-stream`: this library's gateway as users
 * run it (the command line's `serve` over a provider.json with one deployment
 * at the simulator: `serveSide`) against a bare `node:http` + undici pass-through proxy in
 * front of the same simulator, both driven over HTTP by the same load
 * generator, autocannon, with the same connections and duration. A third
 * side, the floor, is the same pass-through on `effect/http` (`HttpRouter` on
 * `NodeHttpServer`): what the platform's server costs before any gateway
 * work. A fourth side, the decoder, is the `node:http` pass-through decoding
 * the answer and writing it anew (each SSE event's JSON parsed): the
 * cheapest a gateway that reads what it forwards can be, written by hand. A
 * fifth side, the engine, is the floor's server answering through this
 * library (the deployment's `Llm` from the same provider.json, its stream
 * encoded by the gateway's own OpenAI render) with no router, gateway keys,
 * logs or metrics: the least a gateway on this library's engine costs, so
 * engine / baseline is the most a gateway on the library's stream and
 * `effect/http` reaches, and ours / engine what the gateway's own layers cost.
 * Each side is a process of its own (`serve`, or `bench/gateway/sideProcess.ts`).
 *
 * Not a pair of in-process calls like the other cases, so `bench/main.ts`
 * runs it after them, as `measureGateway`, each case with a simulator of its
 * own on the `node` server. With `taskset`, the simulator and this process
 * (autocannon) share core 0 and the side under load has core 1 to itself.
 *
 * `gateway-stream`'s simulator paces its reply token by token, as a model
 * streams, at `streamTokensPerSecond` unless `BENCH_TOKENS_PER_SECOND` sets
 * the pace (which paces `gateway-nonstream`'s reply too): a gateway then
 * forwards each token as a write of its own, and requests per second are
 * bound by the pace, so the CPU figures are the ones to compare.
 *
 * Per case: every side warmed up, then measured in rounds alternating the
 * sides at full load (autocannon at the bench's concurrency for
 * BENCH_SECONDS); the median of the rounds' requests per second, and of the
 * side process's CPU time per request, each ratio with its range over the
 * rounds. Then latency at a fixed 1,000 requests per second (autocannon's
 * `overallRate`), for each side and for the simulator alone, in rounds; a
 * side's added latency is its p50 (p99) minus the simulator's, each the
 * median of the rounds, from every
 * response's own time (autocannon's histogram keeps whole milliseconds).
 *
 * `GATEWAY_ALLOC=1` loads `gateway/allocCounter.ts` into each side: the bytes a request allocates in each side's
 * process over its throughput rounds (`allocated_bytes`, the median of the rounds), and the largest sources of the
 * last round, a request's bytes by function, printed. The profiler slows the sides: CPU figures are then not theirs.
 * `GATEWAY_CPU_PROF=<dir>` runs each side under Node's `--cpu-prof`, its profile written in `<dir>/<side>` when the
 * side stops. `GATEWAY_OPS=1` loads `gateway/opsCounter.ts` into `serve` and the engine: each one's Effect operations
 * and fiber turns a request over its throughput rounds (`ours_ops`, `engine_ops`...); `GATEWAY_OPS=breakdown
 * BENCH_OPS_BREAKDOWN=1` prints, besides, the steps whose count a request differs most between the two, and each one's
 * operations a request by site (`gateway/opsReport.ts`; the two run with `--enable-source-maps`). Counting slows both:
 * CPU figures are then not theirs.
 */
import autocannon from "autocannon"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import type { AllocAnswer } from "../gateway/allocCounter.js"
import { providerJson } from "../gateway/deployment.js"
import type { OpsAnswer } from "../gateway/opsCounter.js"
import { breakdownLines, type Counted, siteLines } from "../gateway/opsReport.js"
import type { LoopDelay } from "../gateway/sideMonitor.js"
import { firstLine, loaderArgs, nodeArgs, pinSelf, spawnNode, stopChild } from "../nodeArgs.js"
import { median, range, round2 } from "../stats.js"

export const gatewayCaseNames = ["gateway-nonstream", "gateway-stream"] as const

/** A gateway case's name. */
export type GatewayCaseName = (typeof gatewayCaseNames)[number]

/** The pace of `gateway-stream`'s reply, in tokens per second, when `BENCH_TOKENS_PER_SECOND` sets none. */
export const streamTokensPerSecond = 1_000

/**
 * The simulator's pace for the case `name`: `given` (`BENCH_TOKENS_PER_SECOND`), else `streamTokensPerSecond` for
 * `gateway-stream`; undefined (unpaced) for `gateway-nonstream`.
 */
export function simulatorPace(name: GatewayCaseName, given: string | undefined): string | undefined {
  if (given !== undefined && given !== "") return given
  return name === "gateway-stream" ? String(streamTokensPerSecond) : undefined
}

/** The fixed rate the latencies are measured at. */
const latencyRate = 1_000

/** What `bench/main.ts` lends the case. */
export interface GatewaySettings {
  readonly seconds: number
  readonly rounds: number
  readonly warmupSeconds: number
  readonly concurrency: number
  /** The case to run. */
  readonly name: GatewayCaseName
  /**
   * Starts a simulator on the `node` server, pinned to core 0, its streamed reply paced at `tokensPerSecond` (a
   * decimal, as `BENCH_TOKENS_PER_SECOND` takes it; unpaced when undefined); its base URL ends in `/v1`.
   */
  readonly startSimulator: (
    tokensPerSecond: string | undefined
  ) => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
}

/**
 * One result line: ours = the gateway, baseline = the `node:http` proxy, floor = `effect/http`'s pass-through,
 * decoder = the proxy decoding what it forwards, engine = `effect/http` answering through the library's `Llm`.
 */
export interface GatewayResult {
  readonly name: string
  readonly ours_rps: number
  readonly baseline_rps: number
  readonly ratio: number
  /** The lowest and highest of a round's own ratio. */
  readonly ratio_range: readonly [number, number]
  readonly ours_cpu_us: number
  readonly baseline_cpu_us: number
  readonly cpu_ratio: number
  readonly cpu_ratio_range: readonly [number, number]
  readonly floor_rps: number
  /** floor / baseline requests per second: the most `effect/http` allows. */
  readonly floor_ratio: number
  /** ours / floor requests per second: how close the gateway is to the floor. */
  readonly ours_vs_floor: number
  readonly floor_cpu_us: number
  readonly decoder_rps: number
  /** decoder / baseline requests per second: the most a gateway that decodes what it forwards reaches by hand. */
  readonly decoder_ratio: number
  /** ours / decoder requests per second. */
  readonly ours_vs_decoder: number
  readonly decoder_cpu_us: number
  readonly engine_rps: number
  /** engine / baseline requests per second: the most a gateway on this library's stream and `effect/http` reaches. */
  readonly engine_ratio: number
  /** ours / engine requests per second: what the gateway's own layers (router, keys, logs, metrics, checks) cost. */
  readonly ours_vs_engine: number
  readonly engine_cpu_us: number
  /** Added latency at 1,000 requests per second, milliseconds over the simulator alone. */
  readonly ours_p50_added_ms: number
  readonly ours_p99_added_ms: number
  readonly baseline_p50_added_ms: number
  readonly baseline_p99_added_ms: number
  readonly floor_p50_added_ms: number
  readonly floor_p99_added_ms: number
  readonly engine_p50_added_ms: number
  readonly engine_p99_added_ms: number
  /** Bytes a request allocates in each side's process (freed ones too), when `GATEWAY_ALLOC` counts them. */
  readonly allocated_bytes?: Readonly<Record<string, number>>
  /** Effect operations and fiber turns a request in `serve` and in the engine, when `GATEWAY_OPS` counts them. */
  readonly ours_ops?: number
  readonly ours_turns?: number
  readonly engine_ops?: number
  readonly engine_turns?: number
}

/**
 * A side of the gateway bench: `ours` the gateway, `baseline` the `node:http` pass-through, and the others; `control`
 * is a second pass-through, the baseline again in a process of its own; `mcp-engine` and `mcp-sdk` the MCP case's
 * relays (`gateway/sideProcess.ts`).
 */
export type SideLabel = "ours" | "baseline" | "floor" | "decoder" | "engine" | "control" | "mcp-engine" | "mcp-sdk"

export type { LoopDelay } from "../gateway/sideMonitor.js"

/** What a side answers over its IPC channel, each with one message. */
export type SideQuestion = "cpu" | "delay" | "trace-on" | "trace-off" | "ops" | "alloc-on" | "alloc-off"

/**
 * A side's process: its base URL, its CPU time so far (microseconds), its event loop's delay since the last ask, and
 * how to stop it. Ask one thing at a time: each answer is the process' next message.
 */
export interface Side {
  readonly label: SideLabel
  readonly url: string
  readonly cpu: () => Promise<number>
  readonly delay: () => Promise<LoopDelay>
  /**
   * Any question the side answers; `"trace-on"` and `"trace-off"` when it loads `gateway/criticalPath`, `"ops"` when
   * it loads `gateway/opsCounter`, `"alloc-on"` and `"alloc-off"` when it loads `gateway/allocCounter`.
   */
  readonly ask: (question: SideQuestion) => Promise<unknown>
  readonly stop: () => Promise<void>
}

const sideNames = {
  ours: "serve",
  baseline: "proxy",
  floor: "floor",
  decoder: "decoder",
  engine: "engine",
  control: "proxy",
  "mcp-engine": "mcp-engine",
  "mcp-sdk": "mcp-sdk"
} as const

/** The key the bench's clients send, which the gateway side is configured with (`BENCH_GATEWAY_KEY`). */
export const clientKey = "sk-bench-client-0123456789"

/** How the stream profile (`bench/streamProfile.ts`) and the MCP case run the gateway side instead. */
export interface ServeVariant {
  /** Entries of provider.json besides the deployment and the gateway key (`mcp_servers`). */
  readonly config?: Readonly<Record<string, unknown>> | undefined
  /** The MCP tools the gateway key may use (its `tools`); none when absent. */
  readonly keyTools?: ReadonlyArray<string> | undefined
  /** Node's arguments before the program's (`--cpu-prof`), for any side. */
  readonly nodeArgs?: ReadonlyArray<string> | undefined
  /** Bench modules loaded after `gateway/servePreload` (`gateway/phaseRecorder`). */
  readonly imports?: ReadonlyArray<string> | undefined
  /** `serve`'s `run` under a recording tracer (`gateway/tracedServe.ts`), in place of the command line. */
  readonly traced?: boolean | undefined
}

/** Node's `--import` of each bench module `names` (paths under `bench/`, without extension). */
function importArgs(names: ReadonlyArray<string>): Array<string> {
  return names.flatMap((name) => ["--import", pathToFileURL(nodeArgs(name).slice(loaderArgs.length)[0]!).href])
}

/**
 * The gateway side's program: the command line's `serve` (`src/cli/main.ts`, what `bin/effect-llm-router.js`
 * runs), with a provider.json of the one deployment and a gateway key, and a data directory of its own (its SQLite
 * database of request-log rows and its admin token), both made in `dir`; its request log (a JSON line per request on
 * stderr) written to `dir`'s `serve.log`, as `serve 2> serve.log` would. `servePreload.ts`, loaded first, answers the
 * bench's questions.
 */
export function serveSide(upstream: string, dir: string, variant: ServeVariant = {}) {
  const config = Path.join(dir, "provider.json")
  Fs.writeFileSync(
    config,
    JSON.stringify({
      ...providerJson(upstream),
      ...variant.config,
      gateway: {
        keys: [{
          name: "bench",
          key: "env:BENCH_GATEWAY_KEY",
          ...(variant.keyTools === undefined ? {} : { tools: variant.keyTools })
        }]
      }
    })
  )
  const script = (name: string) => nodeArgs(name).slice(loaderArgs.length)
  return {
    args: [
      ...loaderArgs,
      ...(variant.nodeArgs ?? []),
      ...importArgs(["gateway/servePreload", ...(variant.imports ?? [])]),
      ...(variant.traced === true ? script("gateway/tracedServe") : [...script("../src/cli/main"), "serve"]),
      "--config",
      config,
      "--data",
      Path.join(dir, "data"),
      "--port",
      "0"
    ],
    env: { ...process.env, BENCH_GATEWAY_KEY: clientKey },
    log: Path.join(dir, "serve.log")
  }
}

/** The last lines of the file at `path`, or nothing when it cannot be read. */
export function tailOf(path: string): string {
  try {
    return Fs.readFileSync(path, "utf8").split("\n").slice(-20).join("\n")
  } catch {
    return ""
  }
}

/**
 * The side `label` in a process of its own on core 1, in front of the simulator at `upstream`; `variant.imports` are
 * bench modules its Node loads first (`gateway/criticalPath`) and `variant.nodeArgs` its Node's arguments; the rest
 * of `variant` applies to `serve` alone.
 */
export const startSide = async (
  label: SideLabel,
  upstream: string,
  variant: ServeVariant = {}
): Promise<Side> => {
  const imports = variant.imports ?? []
  const dir = label === "ours" ? Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-router-bench-")) : undefined
  const serve = dir === undefined ? undefined : serveSide(upstream, dir, variant)
  const logFd = serve === undefined ? undefined : Fs.openSync(serve.log, "w")
  const child = spawnNode({
    args: serve?.args ??
      [
        ...loaderArgs,
        ...(variant.nodeArgs ?? []),
        ...importArgs(imports),
        ...nodeArgs("gateway/sideProcess").slice(loaderArgs.length)
      ],
    core: 1,
    env: serve?.env ?? { ...process.env, BENCH_GATEWAY_SIDE: sideNames[label], BENCH_UPSTREAM: upstream },
    ipc: true,
    stderr: logFd
  })
  if (logFd !== undefined) Fs.closeSync(logFd)
  const removeDir = () => {
    if (dir !== undefined) Fs.rmSync(dir, { recursive: true, force: true })
  }
  const url = await firstLine(child, `the ${sideNames[label]} side`).catch((error: Error) => {
    const log = serve === undefined ? "" : tailOf(serve.log)
    removeDir()
    throw new Error(error.message + (log === "" ? "" : `; its stderr ends:\n${log}`))
  })
  let exited: string | undefined
  child.once("exit", (code, signal) => {
    exited = `the ${sideNames[label]} side exited (${code ?? signal})`
  })
  const ask = <A>(question: SideQuestion, read: (answer: unknown) => A) =>
    new Promise<A>((resolve, reject) => {
      if (exited !== undefined) return reject(new Error(exited))
      child.once("message", (answer) => resolve(read(answer)))
      child.send(question, (error) => error === null ? undefined : reject(error))
    })
  return {
    label,
    url,
    cpu: () => ask("cpu", Number),
    delay: () => ask("delay", (answer) => answer as LoopDelay),
    ask: (question) => ask(question, (answer) => answer),
    stop: () => stopChild(child).then(removeDir)
  }
}

const body = (stream: boolean) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Tell me about Effect in one paragraph." }],
    ...(stream ? { stream: true } : {})
  })

interface Load {
  readonly ok: number
  readonly seconds: number
  readonly times: Array<number>
}

/** One autocannon run against `base`'s chat endpoint; fails on any non-2xx answer or error. */
const load = async (
  base: string,
  stream: boolean,
  seconds: number,
  connections: number,
  rate?: number
): Promise<Load> => {
  const times: Array<number> = []
  const instance = autocannon({
    url: `${base.replace(/\/v1$/, "")}/v1/chat/completions`,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${clientKey}` },
    body: body(stream),
    connections,
    duration: seconds,
    ...(rate === undefined ? {} : { overallRate: rate })
  })
  if (rate !== undefined) instance.on("response", (_client, status, _bytes, time) => status < 300 && times.push(time))
  const result = await instance
  if (result.non2xx > 0 || result.errors > 0 || result["2xx"] === 0) {
    throw new Error(
      `${base}: ${result.non2xx} non-2xx answers and ${result.errors} errors in ${result["2xx"]} requests`
    )
  }
  return { ok: result["2xx"], seconds: result.duration, times }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const round3 = (n: number) => Math.round(n * 1000) / 1000

/** A side's figures, one a round of each kind. */
interface Rounds {
  readonly rps: Array<number>
  readonly cpuMicros: Array<number>
  readonly p50: Array<number>
  readonly p99: Array<number>
  readonly allocated: Array<number>
}

/** A side's figures over its rounds, each the median (`../stats.ts`). */
interface Medians {
  readonly rps: number
  readonly cpuMicros: number
  readonly p50: number
  readonly p99: number
}

/** Whether the sides count the bytes they allocate (`GATEWAY_ALLOC`). */
const counting = (process.env["GATEWAY_ALLOC"] ?? "") !== ""

/** Whether `serve` and the engine count their Effect operations (`GATEWAY_OPS`), and by site (`breakdown`). */
const opsCounting = process.env["GATEWAY_OPS"] ?? ""

/** The sides whose operations are counted when `GATEWAY_OPS` is set. */
const opsSides: ReadonlyArray<SideLabel> = ["ours", "engine"]

/** `serve`'s and the engine's operations and turns a request over `requests` of each, and their breakdown. */
function opsFigures(name: string, ours: Counted, engine: Counted, requests: readonly [number, number]) {
  const of = (side: Counted, field: "ops" | "turns", n: number) => round2((side[1][field] - side[0][field]) / n)
  if (ours[1].breakdown.length > 0) {
    console.log(
      `${name}: operations a request, serve (engine), by step:\n` +
        breakdownLines(ours, engine, requests[0]).join("\n")
    )
    console.log(
      `${name}: operations a request by site, serve:\n` + siteLines(ours, requests[0]).join("\n") +
        `\n${name}: operations a request by site, engine:\n` + siteLines(engine, requests[1]).join("\n")
    )
  }
  return {
    ours_ops: of(ours, "ops", requests[0]),
    ours_turns: of(ours, "turns", requests[0]),
    engine_ops: of(engine, "ops", requests[1]),
    engine_turns: of(engine, "turns", requests[1])
  }
}

/** Each side's bytes a request, the median of its rounds. */
function allocatedBytes(sides: ReadonlyArray<Side>, seen: ReadonlyMap<string, Rounds>): Record<string, number> {
  return Object.fromEntries(sides.map((side) => [side.label, Math.round(median(seen.get(side.label)!.allocated))]))
}

/** A side's largest sources of allocation in a round, in bytes a request. */
function printSources(name: string, label: SideLabel, allocated: AllocAnswer, requests: number): void {
  const sources = allocated.sources.map(([source, bytes]) => `  ${(bytes / requests).toFixed(0).padStart(6)} ${source}`)
  console.log(`${name} ${label}: bytes a request by source\n${sources.join("\n")}`)
}

const measureCase = async (
  settings: GatewaySettings,
  name: string,
  stream: boolean,
  simulator: string,
  sides: ReadonlyArray<Side>
) => {
  const seen = new Map<string, Rounds>()
  for (const label of ["simulator", ...sides.map((side) => side.label)]) {
    seen.set(label, { rps: [], cpuMicros: [], p50: [], p99: [], allocated: [] })
  }
  for (const side of sides) await load(side.url, stream, settings.warmupSeconds, settings.concurrency)
  const counted = sides.filter((side) => opsCounting !== "" && opsSides.includes(side.label))
  const opsBefore = await Promise.all(counted.map((side) => side.ask("ops") as Promise<OpsAnswer>))
  const served = new Map<SideLabel, number>()
  for (let i = 0; i < settings.rounds; i++) {
    const line: Array<string> = []
    for (const side of sides) {
      if (counting) await side.ask("alloc-on")
      const before = await side.cpu()
      const run = await load(side.url, stream, settings.seconds, settings.concurrency)
      const cpuMicros = (await side.cpu() - before) / run.ok
      const rps = run.ok / run.seconds
      served.set(side.label, (served.get(side.label) ?? 0) + run.ok)
      seen.get(side.label)!.rps.push(rps)
      seen.get(side.label)!.cpuMicros.push(cpuMicros)
      line.push(`${side.label} ${rps.toFixed(0)} rps (${cpuMicros.toFixed(1)} us CPU a request)`)
      if (counting) {
        const allocated = await side.ask("alloc-off") as AllocAnswer
        seen.get(side.label)!.allocated.push(allocated.bytes / run.ok)
        line.push(`${side.label} ${(allocated.bytes / run.ok).toFixed(0)} bytes a request`)
        if (i === settings.rounds - 1) printSources(name, side.label, allocated, run.ok)
      }
    }
    console.log(`${name} round ${i + 1}: ${line.join(", ")}`)
  }
  const opsAfter = await Promise.all(counted.map((side) => side.ask("ops") as Promise<OpsAnswer>))
  const targets = [{ label: "simulator", url: simulator }, ...sides]
  for (let i = 0; i < settings.rounds; i++) {
    const line: Array<string> = []
    for (const target of targets) {
      const run = await load(target.url, stream, settings.seconds, settings.concurrency, latencyRate)
      const sorted = run.times.sort((a, b) => a - b)
      const p50 = percentile(sorted, 0.5)
      const p99 = percentile(sorted, 0.99)
      seen.get(target.label)!.p50.push(p50)
      seen.get(target.label)!.p99.push(p99)
      line.push(`${target.label} p50 ${p50.toFixed(3)} ms p99 ${p99.toFixed(3)} ms`)
    }
    console.log(`${name} at ${latencyRate} rps, round ${i + 1}: ${line.join(", ")}`)
  }
  const medians = (label: string): Medians => {
    const rounds = seen.get(label)!
    return {
      rps: median(rounds.rps),
      cpuMicros: median(rounds.cpuMicros),
      p50: median(rounds.p50),
      p99: median(rounds.p99)
    }
  }
  // A ratio of ours to the pass-through in each round of throughput.
  const perRound = (figure: (rounds: Rounds, i: number) => number) =>
    range(seen.get("ours")!.rps.map((_, i) => figure(seen.get("ours")!, i) / figure(seen.get("baseline")!, i)))
  const ours = medians("ours")
  const baseline = medians("baseline")
  const floor = medians("floor")
  const decoder = medians("decoder")
  const engine = medians("engine")
  const alone = medians("simulator")
  const result: GatewayResult = {
    name,
    ours_rps: Math.round(ours.rps),
    baseline_rps: Math.round(baseline.rps),
    ratio: round2(ours.rps / baseline.rps),
    ratio_range: perRound((rounds, i) => rounds.rps[i]!),
    ours_cpu_us: round2(ours.cpuMicros),
    baseline_cpu_us: round2(baseline.cpuMicros),
    cpu_ratio: round2(baseline.cpuMicros / ours.cpuMicros),
    cpu_ratio_range: perRound((rounds, i) => 1 / rounds.cpuMicros[i]!),
    floor_rps: Math.round(floor.rps),
    floor_ratio: round2(floor.rps / baseline.rps),
    ours_vs_floor: round2(ours.rps / floor.rps),
    floor_cpu_us: round2(floor.cpuMicros),
    decoder_rps: Math.round(decoder.rps),
    decoder_ratio: round2(decoder.rps / baseline.rps),
    ours_vs_decoder: round2(ours.rps / decoder.rps),
    decoder_cpu_us: round2(decoder.cpuMicros),
    engine_rps: Math.round(engine.rps),
    engine_ratio: round2(engine.rps / baseline.rps),
    ours_vs_engine: round2(ours.rps / engine.rps),
    engine_cpu_us: round2(engine.cpuMicros),
    ours_p50_added_ms: round3(ours.p50 - alone.p50),
    ours_p99_added_ms: round3(ours.p99 - alone.p99),
    baseline_p50_added_ms: round3(baseline.p50 - alone.p50),
    baseline_p99_added_ms: round3(baseline.p99 - alone.p99),
    floor_p50_added_ms: round3(floor.p50 - alone.p50),
    floor_p99_added_ms: round3(floor.p99 - alone.p99),
    engine_p50_added_ms: round3(engine.p50 - alone.p50),
    engine_p99_added_ms: round3(engine.p99 - alone.p99),
    ...(counting ? { allocated_bytes: allocatedBytes(sides, seen) } : {}),
    ...(counted.length === 0 ? {} : opsFigures(
      name,
      [opsBefore[0]!, opsAfter[0]!],
      [opsBefore[1]!, opsAfter[1]!],
      [served.get("ours")!, served.get("engine")!]
    ))
  }
  return result
}

/**
 * What each side runs with: `gateway/allocCounter` loaded when `GATEWAY_ALLOC` is set, `gateway/opsCounter` in `serve`
 * and the engine when `GATEWAY_OPS` is, `--cpu-prof` when asked.
 */
function sideVariant(label: SideLabel): ServeVariant {
  const profiles = process.env["GATEWAY_CPU_PROF"] ?? ""
  const ops = opsCounting !== "" && opsSides.includes(label)
  return {
    imports: [...(counting ? ["gateway/allocCounter"] : []), ...(ops ? ["gateway/opsCounter"] : [])],
    nodeArgs: [
      ...(ops && opsCounting === "breakdown" ? ["--enable-source-maps"] : []),
      ...(profiles === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${Path.join(profiles, label)}`])
    ]
  }
}

/** Runs the gateway case `settings.name`, its sides in processes of their own. */
export const measureGateway = async (settings: GatewaySettings): Promise<GatewayResult> => {
  const simulator = await settings.startSimulator(
    simulatorPace(settings.name, process.env["BENCH_TOKENS_PER_SECOND"])
  )
  const sides: Array<Side> = []
  pinSelf(0)
  try {
    for (const label of ["ours", "baseline", "floor", "decoder", "engine"] as const) {
      sides.push(await startSide(label, simulator.url, sideVariant(label)))
    }
    return await measureCase(settings, settings.name, settings.name === "gateway-stream", simulator.url, sides)
  } finally {
    await Promise.all([...sides.map((side) => side.stop()), simulator.stop()])
    pinSelf(1)
  }
}
