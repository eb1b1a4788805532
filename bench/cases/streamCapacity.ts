/**
 * `stream-capacity`: how many paced streams a gateway carries at once, this library's gateway (`serve`'s
 * `Gateway.make` over a provider.json with one deployment at the simulator) against a bare `node:http` + undici
 * pass-through in front of the same simulator, in the same run: each side a process of its own on core 1
 * (`cases/gateway.ts`'s sides), the simulator and this process (the client) on core 0.
 *
 * Each stream is a chat completion whose reply is 100 tokens paced 20 ms apart (the simulator's pace, 50 tokens a
 * second). For each count of concurrent streams (`STREAM_CAPACITY_COUNTS`, default `512,768`) and each side, after
 * a warm-up round of 128 streams: all the streams started at once, each read to its end with undici. A stream is
 * stall-free when no two reads of its body (from its first byte to its end) are more than 200 ms apart; its first
 * byte is the time from its request to the first read of its body. Per side: stall-free streams, first byte p50
 * and p99, the side process's CPU time over the round and its event loop's delay (p99 and max); as ratios, ours
 * over the pass-through's (stall-free the higher the better, first byte and CPU the lower).
 *
 * `bench/main.ts` runs it after the gateway cases, as `measureStreamCapacity`.
 */
import { Agent, request } from "undici"
import { pinSelf } from "../nodeArgs.js"
import { type LoopDelay, type SideLabel, startSide } from "./gateway.js"

export const streamCapacityResultName = "stream-capacity"

/** The simulator's reply: 100 tokens, one each 20 ms. */
export const reply = { tokens: 100, tokensPerSecond: 50 } as const

/** A gap between two reads of a stream longer than this is a stall. */
export const stallMillis = 200

const warmupStreams = 128

/** The counts of concurrent streams: `STREAM_CAPACITY_COUNTS` (a comma list), else 512 and 768. */
export const streamCounts = (given: string | undefined): ReadonlyArray<number> => {
  const counts = (given ?? "").split(",").map((part) => part.trim()).filter((part) => part !== "").map(Number)
  if (counts.some((count) => !(Number.isInteger(count) && count > 0))) {
    throw new Error(`STREAM_CAPACITY_COUNTS must list positive whole numbers, got "${given}"`)
  }
  return counts.length > 0 ? counts : [512, 768]
}

/** One stream as the client saw it: its first byte and longest gap, in milliseconds; or its failure. */
export type Seen =
  | { readonly _tag: "Read"; readonly firstByteMillis: number; readonly longestGapMillis: number }
  | { readonly _tag: "Failed"; readonly error: string }

/** What a side did with one round of streams. */
export interface Round {
  readonly streams: number
  readonly stallFree: number
  readonly failed: number
  readonly firstByteP50: number
  readonly firstByteP99: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** A round's figures from what the client saw of each stream: a failed stream is neither stall-free nor timed. */
export const roundOf = (seen: ReadonlyArray<Seen>): Round => {
  const read = seen.flatMap((one) => one._tag === "Read" ? [one] : [])
  const firstBytes = read.map((one) => one.firstByteMillis).sort((a, b) => a - b)
  return {
    streams: seen.length,
    stallFree: read.filter((one) => one.longestGapMillis <= stallMillis).length,
    failed: seen.length - read.length,
    firstByteP50: percentile(firstBytes, 0.5),
    firstByteP99: percentile(firstBytes, 0.99)
  }
}

const body = JSON.stringify({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Tell me about Effect in one paragraph." }],
  stream: true
})

/** One stream through the side at `base`, read to its end. */
const stream = async (dispatcher: Agent, base: string): Promise<Seen> => {
  const started = performance.now()
  try {
    const response = await request(`${base}/v1/chat/completions`, {
      method: "POST",
      dispatcher,
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench-client-0123456789" },
      body
    })
    if (response.statusCode !== 200) {
      const text = await response.body.text()
      return { _tag: "Failed", error: `${response.statusCode}: ${text.slice(0, 200)}` }
    }
    let first: number | undefined
    let last = 0
    let longest = 0
    for await (const _chunk of response.body) {
      const now = performance.now()
      if (first === undefined) first = now
      else longest = Math.max(longest, now - last)
      last = now
    }
    return { _tag: "Read", firstByteMillis: (first ?? last) - started, longestGapMillis: longest }
  } catch (error) {
    return { _tag: "Failed", error: error instanceof Error ? error.message : String(error) }
  }
}

/** `count` streams through `base` at once. */
const round = async (base: string, count: number): Promise<ReadonlyArray<Seen>> => {
  const dispatcher = new Agent({ connections: count, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 })
  try {
    return await Promise.all(Array.from({ length: count }, () => stream(dispatcher, base)))
  } finally {
    await dispatcher.close()
  }
}

/** One count's figures for both sides, and their ratios. */
export interface StreamCapacityResult {
  readonly name: string
  readonly streams: number
  readonly ours_stall_free: number
  readonly baseline_stall_free: number
  /** ours / baseline stall-free streams: the higher the better (goal at 768: at least 0.98). */
  readonly stall_free_ratio: number
  readonly ours_failed: number
  readonly baseline_failed: number
  readonly ours_first_byte_p50_ms: number
  readonly baseline_first_byte_p50_ms: number
  /** ours / baseline first byte p50: the lower the better (goal at 512: at most 1.3). */
  readonly first_byte_p50_ratio: number
  readonly ours_first_byte_p99_ms: number
  readonly baseline_first_byte_p99_ms: number
  readonly ours_cpu_s: number
  readonly baseline_cpu_s: number
  /** ours / baseline CPU seconds over the round: the lower the better (goal at 512: at most 1.25). */
  readonly cpu_ratio: number
  /** The side's event loop delay over the round, p99 and max, milliseconds. */
  readonly ours_loop_delay_p99_ms: number
  readonly ours_loop_delay_max_ms: number
  readonly baseline_loop_delay_p99_ms: number
  readonly baseline_loop_delay_max_ms: number
}

/** What `bench/main.ts` lends the case. */
export interface StreamCapacitySettings {
  /** Starts a simulator on the `node` server, pinned to core 0, its reply `reply`; its base URL ends in `/v1`. */
  readonly startSimulator: () => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
}

const round2 = (n: number) => Math.round(n * 100) / 100

/** A side's round at one count: what the client saw, the side's CPU time and its event loop's delay. */
interface Measured {
  readonly round: Round
  readonly cpuMicros: number
  readonly delay: LoopDelay
}

/** Each count's round on each side, the pass-through first, each after a warm-up round; one result per count. */
export const measureStreamCapacity = async (
  settings: StreamCapacitySettings
): Promise<ReadonlyArray<StreamCapacityResult>> => {
  const counts = streamCounts(process.env["STREAM_CAPACITY_COUNTS"])
  const simulator = await settings.startSimulator()
  pinSelf(0)
  try {
    const measured = new Map<SideLabel, Map<number, Measured>>()
    for (const label of ["baseline", "ours"] as const) {
      const side = await startSide(label, simulator.url)
      try {
        await round(side.url, warmupStreams)
        const byCount = new Map<number, Measured>()
        for (const count of counts) {
          await side.delay()
          const before = await side.cpu()
          const seen = await round(side.url, count)
          const cpuMicros = (await side.cpu()) - before
          const delay = await side.delay()
          const figures = roundOf(seen)
          console.log(
            `${streamCapacityResultName} ${count} ${label}: ${figures.stallFree} stall-free, ${figures.failed} failed, ` +
              `first byte p50 ${Math.round(figures.firstByteP50)} ms p99 ${Math.round(figures.firstByteP99)} ms, ` +
              `CPU ${round2(cpuMicros / 1e6)} s, event loop delay p50 ${delay.p50} p99 ${delay.p99} max ${delay.max} ms`
          )
          const failure = seen.find((one) => one._tag === "Failed")
          if (failure !== undefined) console.log(`  first failure: ${failure.error}`)
          byCount.set(count, { round: figures, cpuMicros, delay })
        }
        measured.set(label, byCount)
      } finally {
        await side.stop()
      }
    }
    return counts.map((count) => {
      const ours = measured.get("ours")!.get(count)!
      const baseline = measured.get("baseline")!.get(count)!
      return {
        name: `${streamCapacityResultName}-${count}`,
        streams: count,
        ours_stall_free: ours.round.stallFree,
        baseline_stall_free: baseline.round.stallFree,
        stall_free_ratio: round2(ours.round.stallFree / baseline.round.stallFree),
        ours_failed: ours.round.failed,
        baseline_failed: baseline.round.failed,
        ours_first_byte_p50_ms: Math.round(ours.round.firstByteP50),
        baseline_first_byte_p50_ms: Math.round(baseline.round.firstByteP50),
        first_byte_p50_ratio: round2(ours.round.firstByteP50 / baseline.round.firstByteP50),
        ours_first_byte_p99_ms: Math.round(ours.round.firstByteP99),
        baseline_first_byte_p99_ms: Math.round(baseline.round.firstByteP99),
        ours_cpu_s: round2(ours.cpuMicros / 1e6),
        baseline_cpu_s: round2(baseline.cpuMicros / 1e6),
        cpu_ratio: round2(ours.cpuMicros / baseline.cpuMicros),
        ours_loop_delay_p99_ms: ours.delay.p99,
        ours_loop_delay_max_ms: ours.delay.max,
        baseline_loop_delay_p99_ms: baseline.delay.p99,
        baseline_loop_delay_max_ms: baseline.delay.max
      }
    })
  } finally {
    await simulator.stop()
    pinSelf(1)
  }
}
