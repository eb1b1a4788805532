/**
 * `added-latency-c1-nonstream` and `added-latency-c1-stream`: what `serve` adds to one request at a time. Sequential
 * calls, each read to its end, straight to the simulator and through `serve` (the command line's, as users run it:
 * `gateway.ts`' `serveSide`, with its SQLite store in a data directory of its own, its request log written to a file
 * and one provider.json entry at the simulator), interleaved call by call, the first of each pair alternating, so the
 * machine's moments of load fall on both alike. Each path is one kept-alive connection (undici's `Pool` of one), as a
 * client that calls in turn holds it.
 *
 * A call's time runs from its request to the last byte of its answer (a stream's `[DONE]` included). The added p50
 * (p99) is the p50 (p99) through `serve` minus the simulator's own, over `ADDED_LATENCY_CALLS` pairs (default 3,000)
 * after `ADDED_LATENCY_WARMUP` pairs (default 500). The simulator writes its reply at once (unpaced unless
 * `BENCH_TOKENS_PER_SECOND` paces it), so what is timed is each side's own work, not the pace of a model. With
 * `taskset`, `serve` has core 1 to itself; the simulator and this process share core 0.
 */
import { Pool } from "undici"
import { pinSelf } from "../nodeArgs.js"
import { clientKey, startSide } from "./gateway.js"

export const addedLatencyCaseNames = ["added-latency-c1-nonstream", "added-latency-c1-stream"] as const

/** One line of the case: the two paths' percentiles over the same interleaved calls, and what `serve` adds. */
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

/** `pairs` interleaved calls on the two paths, the first of each pair alternating; each path's times. */
async function interleaved(
  direct: () => Promise<number>,
  ours: () => Promise<number>,
  pairs: number
): Promise<{ readonly direct: Array<number>; readonly ours: Array<number> }> {
  const times = { direct: [] as Array<number>, ours: [] as Array<number> }
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      times.direct.push(await direct())
      times.ours.push(await ours())
    } else {
      times.ours.push(await ours())
      times.direct.push(await direct())
    }
  }
  return times
}

async function measureOne(name: string, stream: boolean, simulator: string, serve: string) {
  const direct = path(simulator, stream)
  const ours = path(serve, stream)
  try {
    await interleaved(direct.call, ours.call, count("ADDED_LATENCY_WARMUP", 500))
    const calls = count("ADDED_LATENCY_CALLS", 3_000)
    const times = await interleaved(direct.call, ours.call, calls)
    const directSorted = times.direct.sort((a, b) => a - b)
    const oursSorted = times.ours.sort((a, b) => a - b)
    const at = (sorted: ReadonlyArray<number>, p: number) => round3(percentile(sorted, p))
    const result: AddedLatencyResult = {
      name,
      calls,
      direct_p50_ms: at(directSorted, 0.5),
      direct_p99_ms: at(directSorted, 0.99),
      ours_p50_ms: at(oursSorted, 0.5),
      ours_p99_ms: at(oursSorted, 0.99),
      p50_added_ms: round3(percentile(oursSorted, 0.5) - percentile(directSorted, 0.5)),
      p99_added_ms: round3(percentile(oursSorted, 0.99) - percentile(directSorted, 0.99))
    }
    console.log(
      `${name}: ${calls} calls each; direct p50 ${result.direct_p50_ms} ms p99 ${result.direct_p99_ms} ms; ` +
        `through serve p50 ${result.ours_p50_ms} ms p99 ${result.ours_p99_ms} ms; ` +
        `added p50 ${result.p50_added_ms} ms, p99 ${result.p99_added_ms} ms`
    )
    return result
  } finally {
    await Promise.all([direct.close(), ours.close()])
  }
}

/** Both of the case's lines: non-streamed, then streamed, against one simulator and one `serve`. */
export async function measureAddedLatency(settings: AddedLatencySettings): Promise<ReadonlyArray<AddedLatencyResult>> {
  const simulator = await settings.startSimulator()
  pinSelf(0)
  try {
    const serve = await startSide("ours", simulator.url)
    try {
      const results: Array<AddedLatencyResult> = []
      for (const [i, name] of addedLatencyCaseNames.entries()) {
        results.push(await measureOne(name, i === 1, simulator.url, serve.url))
      }
      return results
    } finally {
      await serve.stop()
    }
  } finally {
    await simulator.stop()
    pinSelf(1)
  }
}
