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
 */
import { Pool } from "undici"
import { pinSelf } from "../nodeArgs.js"
import { clientKey, startSide } from "./gateway.js"

export const addedLatencyCaseNames = ["added-latency-c1-nonstream", "added-latency-c1-stream"] as const

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
  async function call(): Promise<number> {
    const start = process.hrtime.bigint()
    const response = await pool.request(request)
    const text = await response.body.text()
    const millis = Number(process.hrtime.bigint() - start) / 1e6
    if (response.statusCode !== 200 || (stream && !text.includes("[DONE]"))) {
      throw new Error(`${base}: HTTP ${response.statusCode}: ${text.slice(0, 200)}`)
    }
    return millis
  }
  return { call, close: () => pool.close() }
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

async function measureOne(
  name: string,
  stream: boolean,
  bases: Readonly<Record<PathName, string>>
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
      engine_p99_added_ms: added(engine, 0.99)
    }
    console.log(
      `${name}: ${rounds} calls each; direct p50 ${result.direct_p50_ms} ms p99 ${result.direct_p99_ms} ms; ` +
        `through serve p50 ${result.ours_p50_ms} ms p99 ${result.ours_p99_ms} ms, ` +
        `added p50 ${result.p50_added_ms} ms, p99 ${result.p99_added_ms} ms; ` +
        `through the engine p50 ${result.engine_p50_ms} ms p99 ${result.engine_p99_ms} ms, ` +
        `added p50 ${result.engine_p50_added_ms} ms, p99 ${result.engine_p99_added_ms} ms`
    )
    return result
  } finally {
    await Promise.all([paths.direct.close(), paths.ours.close(), paths.engine.close()])
  }
}

/** Both of the case's lines: non-streamed, then streamed, against one simulator, one `serve` and one engine side. */
export async function measureAddedLatency(settings: AddedLatencySettings): Promise<ReadonlyArray<AddedLatencyResult>> {
  const simulator = await settings.startSimulator()
  pinSelf(0)
  try {
    const serve = await startSide("ours", simulator.url)
    try {
      const engine = await startSide("engine", simulator.url)
      try {
        const bases = { direct: simulator.url, ours: serve.url, engine: engine.url }
        const results: Array<AddedLatencyResult> = []
        for (const [i, name] of addedLatencyCaseNames.entries()) {
          results.push(await measureOne(name, i === 1, bases))
        }
        return results
      } finally {
        await engine.stop()
      }
    } finally {
      await serve.stop()
    }
  } finally {
    await simulator.stop()
    pinSelf(1)
  }
}
