/**
 * `added-latency-c1-nonstream` and `added-latency-c1-stream`: what `serve` adds to one request at a time. Sequential
 * calls, each read to its end, straight to the simulator, through `serve` (the command line's, as users run it:
 * `gateway.ts`' `serveSide`, with its SQLite store in a data directory of its own, its request log written to a file
 * and one provider.json entry at the simulator) and through the engine side (`gateway.ts`' `engine`: the library's
 * call on `effect/http` with none of the gateway's layers, the floor `serve` is measured against), interleaved call by
 * call, the order of each round of three turning, so the machine's moments of load fall on all alike. Each path is one
 * kept-alive connection (undici's `Pool` of one), as a client that calls in turn holds it.
 *
 * A call's time runs from its request to the last byte of its answer (a stream's `[DONE]` included). The added p50
 * (p99) is the p50 (p99) through `serve` (or the engine) minus the simulator's own, over `ADDED_LATENCY_CALLS` rounds
 * (default 3,000) after `ADDED_LATENCY_WARMUP` rounds (default 500). The simulator writes its reply at once (unpaced
 * unless `BENCH_TOKENS_PER_SECOND` paces it), so what is timed is each side's own work, not the pace of a model. With
 * `taskset`, `serve` and the engine side share core 1 (one request at a time: never both at work at once); the
 * simulator and this process share core 0.
 *
 * The breakdown: after the timed rounds, `ADDED_LATENCY_TRACE_CALLS` rounds more (default 1,000) with both sides
 * tracing (`bench/gateway/criticalPath.ts`, loaded into each, subscribed to Node's and undici's diagnostics channels
 * only while asked), each of their calls' points joined with this process' own (its request sent, its answer's last
 * byte) on the machine's monotonic clock: the p50 and p99 of each gap of the critical path, by side. Then the same
 * against a bare `node:http` upstream (the `-node-upstream` lines: the simulator's answers replayed as bytes from this
 * process), where the upstream's own time is least and the sides' gaps stand out.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Pool } from "undici"
import type { PointName, TracePoints } from "../gateway/criticalPath.js"
import { pinSelf } from "../nodeArgs.js"
import { clientKey, type Side, startSide } from "./gateway.js"

export const addedLatencyCaseNames = [
  "added-latency-c1-nonstream",
  "added-latency-c1-stream",
  "added-latency-c1-nonstream-node-upstream",
  "added-latency-c1-stream-node-upstream"
] as const

/**
 * A gap of the critical path through a side: its p50 and p99 over the traced calls, microseconds, and the p50 of its
 * time the side's event loop spent idle (waiting on something outside it) when the gap is the side's own.
 */
export interface Gap {
  readonly gap: string
  readonly p50_us: number
  readonly p99_us: number
  readonly idle_p50_us?: number
}

/** One line of the case: the paths' percentiles over the same interleaved calls, and what `serve` and the engine add. */
export interface AddedLatencyResult {
  readonly name: string
  readonly calls: number
  readonly direct_p50_ms: number
  readonly direct_p99_ms: number
  readonly ours_p50_ms: number
  readonly ours_p99_ms: number
  /** ours minus direct, at the same percentile. */
  readonly p50_added_ms: number
  readonly p99_added_ms: number
  readonly engine_p50_ms: number
  readonly engine_p99_ms: number
  /** the engine minus direct, at the same percentile: the floor of what `serve` adds. */
  readonly engine_p50_added_ms: number
  readonly engine_p99_added_ms: number
  /** Each side's critical path, gap by gap, over the traced calls. */
  readonly ours_breakdown: ReadonlyArray<Gap>
  readonly engine_breakdown: ReadonlyArray<Gap>
}

/** What `bench/main.ts` lends the case: a simulator on the `node` server, pinned to core 0, its base URL with `/v1`. */
export interface AddedLatencySettings {
  readonly startSimulator: () => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
}

const count = (name: string, fallback: number) => {
  const given = Number(process.env[name])
  return Number.isInteger(given) && given > 0 ? given : fallback
}

const body = (stream: boolean) =>
  JSON.stringify({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: "Tell me about Effect in one paragraph." }],
    ...(stream ? { stream: true } : {})
  })

/** A call's own points in this process, `process.hrtime` microseconds: its request sent and its answer's last byte. */
interface ClientPoints {
  readonly sent: number
  readonly received: number
}

/** One path: a connection of its own to `base` (its `/v1` optional), and one call on it timed in milliseconds. */
function path(base: string, stream: boolean) {
  const url = new URL(`${base.replace(/\/v1$/, "")}/v1/chat/completions`)
  const pool = new Pool(url.origin, { connections: 1 })
  const request = {
    path: url.pathname,
    method: "POST" as const,
    headers: { "content-type": "application/json", authorization: `Bearer ${clientKey}` },
    body: body(stream)
  }
  let traced: Array<ClientPoints> | undefined
  async function call(): Promise<number> {
    const start = process.hrtime.bigint()
    const response = await pool.request(request)
    const text = await response.body.text()
    const end = process.hrtime.bigint()
    if (response.statusCode !== 200 || (stream && !text.includes("[DONE]"))) {
      throw new Error(`${base}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`)
    }
    traced?.push({ sent: Number(start / 1000n), received: Number(end / 1000n) })
    return Number(end - start) / 1e6
  }
  /** Starts keeping each call's points, or stops and hands them over. */
  function trace(on: boolean): Array<ClientPoints> {
    const kept = traced ?? []
    traced = on ? [] : undefined
    return kept
  }
  return { call, trace, close: () => pool.close() }
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const round3 = (n: number) => Math.round(n * 1000) / 1000

/** The paths of the case, in the order of its first round. */
const pathNames = ["direct", "ours", "engine"] as const
type PathName = (typeof pathNames)[number]

/** `rounds` rounds of one call on each path, the order turning by one each round; each path's times. */
async function interleaved(
  calls: Readonly<Record<PathName, () => Promise<number>>>,
  rounds: number
): Promise<Record<PathName, Array<number>>> {
  const times: Record<PathName, Array<number>> = { direct: [], ours: [], engine: [] }
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < pathNames.length; j++) {
      const name = pathNames[(i + j) % pathNames.length]!
      times[name].push(await calls[name]())
    }
  }
  return times
}

/** A call's points: the side's and this process' own. */
type CallPoints = TracePoints & Partial<ClientPoints>

/** A point of a call: the side's or this process' own. */
type CallPoint = PointName | keyof ClientPoints

/**
 * The critical path's gaps, each from one point to the next that a call reaches, with the cause it names. A streamed
 * answer's first write comes before its upstream's last byte, so its gaps are told from its first chunk.
 */
const gaps = (stream: boolean): ReadonlyArray<readonly [string, CallPoint, CallPoint]> => [
  ["sent → arrival (client write, loopback, the side's read and parse)", "sent", "arrival"],
  ["arrival → body read (the body's read)", "arrival", "bodyRead"],
  ["body read → upstream made (decode, checks, route, the call's steps)", "bodyRead", "upstreamMade"],
  ["upstream made → connect (a new connection)", "upstreamMade", "connectStart"],
  ["upstream made → headers sent (undici's dispatch and write)", "upstreamMade", "upstreamHeadersSent"],
  ["headers sent → body sent", "upstreamHeadersSent", "upstreamBodySent"],
  ["body sent → upstream headers (the upstream and the network)", "upstreamBodySent", "upstreamHeaders"],
  ["upstream headers → first chunk", "upstreamHeaders", "upstreamFirstChunk"],
  ...(stream
    ? [
      ["upstream first chunk → first write (decode, the answer's first event)", "upstreamFirstChunk", "firstWrite"],
      ["first write → upstream last byte", "firstWrite", "upstreamLastByte"],
      ["upstream last byte → response end (the stream's end)", "upstreamLastByte", "responseEnd"]
    ] as const
    : [
      ["first chunk → upstream last byte", "upstreamFirstChunk", "upstreamLastByte"],
      ["upstream last byte → first write (decode, render, the answer's steps)", "upstreamLastByte", "firstWrite"],
      ["first write → response end", "firstWrite", "responseEnd"]
    ] as const),
  ["response end → flushed (to the socket)", "responseEnd", "flushed"],
  ["flushed → received (loopback, the client's read)", "flushed", "received"],
  ["sent → received (the whole call)", "sent", "received"]
]

/** Each gap's p50 and p99 over the calls that reached both its points; then the turns and timers a call asked for. */
function breakdown(calls: ReadonlyArray<CallPoints>, stream: boolean): Array<Gap> {
  const result: Array<Gap> = []
  const counted = (name: string, of: (points: CallPoints) => number) => {
    const counts = calls.map(of).sort((a, b) => a - b)
    result.push({ gap: name, p50_us: percentile(counts, 0.5), p99_us: percentile(counts, 0.99) })
  }
  for (const [gap, from, to] of gaps(stream)) {
    const spans = calls.flatMap((points) => {
      const a = points[from]
      const b = points[to]
      return a === undefined || b === undefined ? [] : [b - a]
    }).sort((a, b) => a - b)
    const idles = calls.flatMap((points) => {
      const a = points.idle[from as PointName]
      const b = points.idle[to as PointName]
      return a === undefined || b === undefined ? [] : [b - a]
    }).sort((a, b) => a - b)
    if (spans.length === 0) continue
    result.push({
      gap,
      p50_us: percentile(spans, 0.5),
      p99_us: percentile(spans, 0.99),
      ...(idles.length > 0 ? { idle_p50_us: percentile(idles, 0.5) } : {})
    })
  }
  counted("setImmediate calls (a count, not µs)", (points) => points.immediates)
  counted("timers set (a count, not µs)", (points) => points.timers)
  return result
}

/** The side's points of each call joined with this process' own, call by call (one in flight at a time). */
function joined(side: ReadonlyArray<TracePoints>, client: ReadonlyArray<ClientPoints>): Array<CallPoints> {
  if (side.length !== client.length) {
    throw new Error(`the trace saw ${side.length} requests, the client made ${client.length}`)
  }
  return side.map((points, i) => ({ ...points, ...client[i]! }))
}

/** A breakdown as lines, one a gap: its p50 and p99 through `serve` and through the engine. */
function printBreakdown(name: string, ours: ReadonlyArray<Gap>, engine: ReadonlyArray<Gap>): void {
  console.log(`${name}: the critical path, p50 / p99 µs (p50 of it idle), through serve | through the engine`)
  const text = (gap: Gap | undefined) =>
    gap === undefined
      ? "-"
      : `${gap.p50_us} / ${gap.p99_us}${gap.idle_p50_us === undefined ? "" : ` (${gap.idle_p50_us} idle)`}`
  for (const gap of ours) console.log(`  ${gap.gap}: ${text(gap)} | ${text(engine.find((g) => g.gap === gap.gap))}`)
}

/** Traced rounds: each side's calls' points, joined with this process' own. */
async function traced(
  paths: Readonly<Record<PathName, ReturnType<typeof path>>>,
  sides: { readonly ours: Side; readonly engine: Side },
  stream: boolean
) {
  await Promise.all([sides.ours.ask("trace-on"), sides.engine.ask("trace-on")])
  paths.ours.trace(true)
  paths.engine.trace(true)
  await interleaved(
    { direct: paths.direct.call, ours: paths.ours.call, engine: paths.engine.call },
    count("ADDED_LATENCY_TRACE_CALLS", 1_000)
  )
  const pointsOf = async (side: Side) => ((await side.ask("trace-off")) as { trace: Array<TracePoints> }).trace
  const [ours, engine] = [await pointsOf(sides.ours), await pointsOf(sides.engine)]
  return {
    ours: breakdown(joined(ours, paths.ours.trace(false)), stream),
    engine: breakdown(joined(engine, paths.engine.trace(false)), stream)
  }
}

async function measureOne(
  name: string,
  stream: boolean,
  bases: Readonly<Record<PathName, string>>,
  sides: { readonly ours: Side; readonly engine: Side }
) {
  const paths = {
    direct: path(bases.direct, stream),
    ours: path(bases.ours, stream),
    engine: path(bases.engine, stream)
  }
  const calls = { direct: paths.direct.call, ours: paths.ours.call, engine: paths.engine.call }
  try {
    await interleaved(calls, count("ADDED_LATENCY_WARMUP", 500))
    const rounds = count("ADDED_LATENCY_CALLS", 3_000)
    const times = await interleaved(calls, rounds)
    const direct = times.direct.sort((a, b) => a - b)
    const ours = times.ours.sort((a, b) => a - b)
    const engine = times.engine.sort((a, b) => a - b)
    const at = (sorted: ReadonlyArray<number>, p: number) => round3(percentile(sorted, p))
    const added = (sorted: ReadonlyArray<number>, p: number) => round3(percentile(sorted, p) - percentile(direct, p))
    const trace = await traced(paths, sides, stream)
    const result: AddedLatencyResult = {
      name,
      calls: rounds,
      direct_p50_ms: at(direct, 0.5),
      direct_p99_ms: at(direct, 0.99),
      ours_p50_ms: at(ours, 0.5),
      ours_p99_ms: at(ours, 0.99),
      p50_added_ms: added(ours, 0.5),
      p99_added_ms: added(ours, 0.99),
      engine_p50_ms: at(engine, 0.5),
      engine_p99_ms: at(engine, 0.99),
      engine_p50_added_ms: added(engine, 0.5),
      engine_p99_added_ms: added(engine, 0.99),
      ours_breakdown: trace.ours,
      engine_breakdown: trace.engine
    }
    console.log(
      `${name}: ${rounds} calls each; direct p50 ${result.direct_p50_ms} ms p99 ${result.direct_p99_ms} ms; ` +
        `through serve p50 ${result.ours_p50_ms} ms p99 ${result.ours_p99_ms} ms, ` +
        `added p50 ${result.p50_added_ms} ms, p99 ${result.p99_added_ms} ms; ` +
        `through the engine p50 ${result.engine_p50_ms} ms p99 ${result.engine_p99_ms} ms, ` +
        `added p50 ${result.engine_p50_added_ms} ms, p99 ${result.engine_p99_added_ms} ms`
    )
    printBreakdown(name, trace.ours, trace.engine)
    return result
  } finally {
    await Promise.all([paths.direct.close(), paths.ours.close(), paths.engine.close()])
  }
}

/**
 * A bare `node:http` upstream in this process: each body the case sends answered with the bytes the simulator at
 * `simulator` answered it with, and its content type.
 */
async function replayUpstream(simulator: string) {
  const answers = new Map<string, { readonly type: string; readonly bytes: Buffer }>()
  for (const stream of [false, true]) {
    const response = await fetch(`${simulator.replace(/\/v1$/, "")}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${clientKey}` },
      body: body(stream)
    })
    const type = response.headers.get("content-type") ?? "application/json"
    answers.set(body(stream), { type, bytes: Buffer.from(await response.arrayBuffer()) })
  }
  const server = Http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const sent = JSON.parse(Buffer.concat(chunks).toString()) as { readonly stream?: boolean }
      const answer = answers.get(body(sent.stream === true))!
      response.writeHead(200, { "content-type": answer.type, "content-length": answer.bytes.length })
      response.end(answer.bytes)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** Both of a pair of lines, non-streamed then streamed, against the upstream at `upstream`. */
async function measureAgainst(upstream: string, names: readonly [string, string]) {
  const serve = await startSide("ours", upstream, { imports: ["gateway/criticalPath"] })
  try {
    const engine = await startSide("engine", upstream, { imports: ["gateway/criticalPath"] })
    try {
      const bases = { direct: upstream, ours: serve.url, engine: engine.url }
      const sides = { ours: serve, engine }
      return [
        await measureOne(names[0], false, bases, sides),
        await measureOne(names[1], true, bases, sides)
      ]
    } finally {
      await engine.stop()
    }
  } finally {
    await serve.stop()
  }
}

/**
 * The case's lines: non-streamed, then streamed, against one simulator, one `serve` and one engine side; then both
 * again against a bare `node:http` upstream replaying the simulator's answers.
 */
export async function measureAddedLatency(settings: AddedLatencySettings): Promise<ReadonlyArray<AddedLatencyResult>> {
  const simulator = await settings.startSimulator()
  pinSelf(0)
  try {
    const [nonstream, stream, nonstreamBare, streamBare] = addedLatencyCaseNames
    const results = await measureAgainst(simulator.url, [nonstream, stream])
    const bare = await replayUpstream(simulator.url)
    try {
      results.push(...await measureAgainst(bare.url, [nonstreamBare, streamBare]))
    } finally {
      await bare.stop()
    }
    return results
  } finally {
    await simulator.stop()
    pinSelf(1)
  }
}
