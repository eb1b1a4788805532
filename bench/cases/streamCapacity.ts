/**
 * `stream-capacity`: how many paced streams a gateway carries at once, this library's gateway (`serve`'s
 * `Gateway.make` over a provider.json with one deployment at the simulator) against a bare `node:http` + undici
 * pass-through in front of the same simulator, in the same run: each side a process of its own on core 1
 * (`cases/gateway.ts`'s sides), the simulator and this process (the client) on core 0.
 *
 * Each stream is a chat completion whose reply is 100 tokens paced 20 ms apart (the simulator's pace, 50 tokens a
 * second). Both sides are started and warmed up (a round of 128 streams each); then for each count of concurrent
 * streams (`STREAM_CAPACITY_COUNTS`, default `512,768`), `STREAM_CAPACITY_REPEATS` times (default 3), each side in
 * turn, the first alternating: all the streams started at once, each read to its end with undici. Each figure is
 * the median of the repeats, and each ratio's range over them is reported (`../stats.ts`). A stream is stall-free when no two reads of its body (from its first byte to its end) are more than 200 ms apart; its first
 * byte is the time from its request to the first read of its body. Per side: stall-free streams, first byte p50
 * and p99, the side process's CPU time over the round and its event loop's delay (p99 and max); as ratios, ours
 * over the pass-through's (stall-free the higher the better, first byte and CPU the lower).
 *
 * `bench/main.ts` runs it after the gateway cases, as `measureStreamCapacity`.
 */
import { Agent, request } from "undici"
import { pinSelf } from "../nodeArgs.js"
import { median, range, round2 } from "../stats.js"
import { type LoopDelay, type Side, startSide } from "./gateway.js"

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

/** One count's figures for both sides, each the median of its repeats, and their ratios. */
export interface StreamCapacityResult {
  readonly name: string
  readonly streams: number
  /** How many times each side carried the count (`STREAM_CAPACITY_REPEATS`). */
  readonly repeats: number
  readonly ours_stall_free: number
  readonly baseline_stall_free: number
  /** ours / baseline stall-free streams, medians: the higher the better (goal at 768: at least 0.98). */
  readonly stall_free_ratio: number
  /** The lowest and highest of the repeats' own ratios. */
  readonly stall_free_ratio_range: readonly [number, number]
  readonly ours_failed: number
  readonly baseline_failed: number
  readonly ours_first_byte_p50_ms: number
  readonly baseline_first_byte_p50_ms: number
  /** ours / baseline first byte p50, medians: the lower the better (goal at 512: at most 1.3). */
  readonly first_byte_p50_ratio: number
  readonly first_byte_p50_ratio_range: readonly [number, number]
  readonly ours_first_byte_p99_ms: number
  readonly baseline_first_byte_p99_ms: number
  readonly ours_cpu_s: number
  readonly baseline_cpu_s: number
  /** ours / baseline CPU seconds over a round, medians: the lower the better (goal at 512: at most 1.25). */
  readonly cpu_ratio: number
  readonly cpu_ratio_range: readonly [number, number]
  /** The side's event loop delay over a round, p99 and max, milliseconds, medians. */
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

/** A side's round at one count: what the client saw, the side's CPU time and its event loop's delay. */
export interface Measured {
  readonly round: Round
  readonly cpuMicros: number
  readonly delay: LoopDelay
}

/** One repeat of a count: both sides' rounds. */
export interface Pair {
  readonly ours: Measured
  readonly baseline: Measured
}

/** The times each side carries each count: `STREAM_CAPACITY_REPEATS`, else 3. */
export const repeatsOf = (given: string | undefined): number => {
  if (given === undefined || given.trim() === "") return 3
  const repeats = Number(given)
  if (!(Number.isInteger(repeats) && repeats > 0)) {
    throw new Error(`STREAM_CAPACITY_REPEATS must be a positive whole number, got "${given}"`)
  }
  return repeats
}

/** A count's result from its repeats: each figure the median of its repeats, each ratio's range over them. */
export const resultOf = (count: number, pairs: ReadonlyArray<Pair>): StreamCapacityResult => {
  const of = (side: keyof Pair, figure: (measured: Measured) => number) =>
    median(pairs.map((pair) => figure(pair[side])))
  const ratios = (figure: (measured: Measured) => number) =>
    range(pairs.map((pair) => figure(pair.ours) / figure(pair.baseline)))
  const stallFree = (measured: Measured) => measured.round.stallFree
  const firstByte = (measured: Measured) => measured.round.firstByteP50
  const cpu = (measured: Measured) => measured.cpuMicros
  return {
    name: `${streamCapacityResultName}-${count}`,
    streams: count,
    repeats: pairs.length,
    ours_stall_free: of("ours", stallFree),
    baseline_stall_free: of("baseline", stallFree),
    stall_free_ratio: round2(of("ours", stallFree) / of("baseline", stallFree)),
    stall_free_ratio_range: ratios(stallFree),
    ours_failed: of("ours", (measured) => measured.round.failed),
    baseline_failed: of("baseline", (measured) => measured.round.failed),
    ours_first_byte_p50_ms: Math.round(of("ours", firstByte)),
    baseline_first_byte_p50_ms: Math.round(of("baseline", firstByte)),
    first_byte_p50_ratio: round2(of("ours", firstByte) / of("baseline", firstByte)),
    first_byte_p50_ratio_range: ratios(firstByte),
    ours_first_byte_p99_ms: Math.round(of("ours", (measured) => measured.round.firstByteP99)),
    baseline_first_byte_p99_ms: Math.round(of("baseline", (measured) => measured.round.firstByteP99)),
    ours_cpu_s: round2(of("ours", cpu) / 1e6),
    baseline_cpu_s: round2(of("baseline", cpu) / 1e6),
    cpu_ratio: round2(of("ours", cpu) / of("baseline", cpu)),
    cpu_ratio_range: ratios(cpu),
    ours_loop_delay_p99_ms: of("ours", (measured) => measured.delay.p99),
    ours_loop_delay_max_ms: of("ours", (measured) => measured.delay.max),
    baseline_loop_delay_p99_ms: of("baseline", (measured) => measured.delay.p99),
    baseline_loop_delay_max_ms: of("baseline", (measured) => measured.delay.max)
  }
}

/** One round of `count` streams through `side`, with its CPU time and event loop delay, logged. */
const measureOnce = async (side: Side, count: number): Promise<Measured> => {
  await side.delay()
  const before = await side.cpu()
  const seen = await round(side.url, count)
  const cpuMicros = (await side.cpu()) - before
  const delay = await side.delay()
  const figures = roundOf(seen)
  console.log(
    `${streamCapacityResultName} ${count} ${side.label}: ${figures.stallFree} stall-free, ${figures.failed} failed, ` +
      `first byte p50 ${Math.round(figures.firstByteP50)} ms p99 ${Math.round(figures.firstByteP99)} ms, ` +
      `CPU ${round2(cpuMicros / 1e6)} s, event loop delay p50 ${delay.p50} p99 ${delay.p99} max ${delay.max} ms`
  )
  const failure = seen.find((one) => one._tag === "Failed")
  if (failure !== undefined) console.log(`  first failure: ${failure.error}`)
  return { round: figures, cpuMicros, delay }
}

/**
 * Both sides started and warmed up, then each count carried by each side `STREAM_CAPACITY_REPEATS` times, the sides
 * alternating which goes first; one result per count, of medians (`resultOf`).
 */
export const measureStreamCapacity = async (
  settings: StreamCapacitySettings
): Promise<ReadonlyArray<StreamCapacityResult>> => {
  const counts = streamCounts(process.env["STREAM_CAPACITY_COUNTS"])
  const repeats = repeatsOf(process.env["STREAM_CAPACITY_REPEATS"])
  const simulator = await settings.startSimulator()
  const sides: Array<Side> = []
  pinSelf(0)
  try {
    const baseline = await startSide("baseline", simulator.url)
    sides.push(baseline)
    const ours = await startSide("ours", simulator.url)
    sides.push(ours)
    for (const side of sides) await round(side.url, warmupStreams)
    const pairs = new Map<number, Array<Pair>>(counts.map((count) => [count, []]))
    for (let repeat = 0; repeat < repeats; repeat++) {
      for (const count of counts) {
        const first = repeat % 2 === 0 ? baseline : ours
        const firstMeasured = await measureOnce(first, count)
        const secondMeasured = await measureOnce(first === baseline ? ours : baseline, count)
        pairs.get(count)!.push(
          first === baseline
            ? { baseline: firstMeasured, ours: secondMeasured }
            : { ours: firstMeasured, baseline: secondMeasured }
        )
      }
    }
    return counts.map((count) => resultOf(count, pairs.get(count)!))
  } finally {
    await Promise.all([...sides.map((side) => side.stop()), simulator.stop()])
    pinSelf(1)
  }
}
