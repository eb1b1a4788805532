/**
 * `stream-capacity-<count>`: how many paced streams a gateway carries at once: the gateway as users run it (the
 * command line's `serve` over a provider.json with one deployment at the simulator, its SQLite database and request
 * log; `gateway.ts`'s `startSide`) against a bare `node:http` + undici pass-through in front of the same simulator,
 * in the same run, with three floors beside them: the `floor`, the same pass-through on `effect/http`'s server (what
 * the platform's server costs), the `decoder`, the pass-through parsing each SSE event and writing a new one (what a
 * proxy that reads what it forwards costs), and the `engine`, the `floor`'s server answering through the deployment's
 * `Llm` with the gateway's encoder and none of the gateway's own layers (what a gateway on this library's stream
 * costs). Each side is a process of its own on core 1, the simulator and this process (the client) on core 0.
 *
 * Each stream is a chat completion whose reply is 100 tokens paced 20 ms apart (the simulator's pace, 50 tokens a
 * second). Every count is a unit of its own (`bench/main.ts`): a process of its own with its own simulator and
 * sides, so a count never meets the sockets or heap another count left. The sides are started and warmed up
 * (`STREAM_CAPACITY_WARMUP` rounds of the count each, default 5: the gateway's CPU a round falls over its first
 * rounds as V8 compiles its code; docs/performance.md), then each carries the count `STREAM_CAPACITY_REPEATS` times
 * (default 5), the sides in turn, the first rotating: all the streams started at once, each read to its end with
 * undici. Each figure is the median of the repeats, and each ratio's range over them is reported (`../stats.ts`).
 * A sixth side, the `control`, is a second pass-through process like the baseline: its ratios to the baseline are
 * what a ratio of this case reads when nothing differs, the bench's own noise at that count.
 *
 * A stream's first byte is the time from its request to the first event carrying text (the client parses the
 * events until it finds one): the simulator opens with an empty role event that the pass-through forwards and the
 * gateway, which writes no empty text, does not, so the first byte read would time different events. A stream is
 * stall-free when no two reads of its body (from its first byte to its end) are more than 200 ms apart. Per side:
 * stall-free streams, first byte p50 and p99, the side process's CPU time over the round and its event loop's delay
 * (p99 and max); as ratios over the pass-through's (stall-free the higher the better, first byte and CPU the lower).
 */
import { Agent, request } from "undici"
import { pinSelf } from "../nodeArgs.js"
import { median, range, round2 } from "../stats.js"
import { clientKey, type LoopDelay, type Side, type SideLabel, startSide } from "./gateway.js"

export const streamCapacityResultName = "stream-capacity"

/** The simulator's reply: 100 tokens, one each 20 ms. */
export const reply = { tokens: 100, tokensPerSecond: 50 } as const

/** A gap between two reads of a stream longer than this is a stall. */
export const stallMillis = 200

/** The sides of the case, in the order they are started. */
export const capacitySides = [
  "baseline",
  "ours",
  "floor",
  "decoder",
  "engine",
  "control"
] as const satisfies ReadonlyArray<
  SideLabel
>

/** A side of the case. */
export type CapacitySide = (typeof capacitySides)[number]

/** The counts of concurrent streams: `STREAM_CAPACITY_COUNTS` (a comma list), else 512 and 768. */
export const streamCounts = (given: string | undefined): ReadonlyArray<number> => {
  const counts = (given ?? "").split(",").map((part) => part.trim()).filter((part) => part !== "").map(Number)
  if (counts.some((count) => !(Number.isInteger(count) && count > 0))) {
    throw new Error(`STREAM_CAPACITY_COUNTS must list positive whole numbers, got "${given}"`)
  }
  return counts.length > 0 ? counts : [512, 768]
}

/** One stream as the client saw it: its first text and longest gap, in milliseconds; or its failure. */
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

/**
 * Reads a chat stream's events as they come, until one carries text: `push` takes each read of the body and says
 * whether the text has come (with it or before it). Events are split on blank lines; only `data:` lines are read.
 */
export function firstTextOf(): (chunk: string) => boolean {
  let buffered = ""
  let found = false
  return (chunk) => {
    if (found) return true
    buffered += chunk
    let end: number
    while (!found && (end = buffered.indexOf("\n\n")) >= 0) {
      const event = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue
        const data = line.slice("data:".length).trim()
        if (data === "[DONE]") continue
        const content: unknown = JSON.parse(data)?.choices?.[0]?.delta?.content
        if (typeof content === "string" && content !== "") found = true
      }
    }
    return found
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
      headers: { "content-type": "application/json", authorization: `Bearer ${clientKey}` },
      body
    })
    if (response.statusCode !== 200) {
      const text = await response.body.text()
      return { _tag: "Failed", error: `${response.statusCode}: ${text.slice(0, 200)}` }
    }
    response.body.setEncoding("utf8")
    const push = firstTextOf()
    let firstText: number | undefined
    let first: number | undefined
    let last = 0
    let longest = 0
    for await (const chunk of response.body) {
      const now = performance.now()
      if (firstText === undefined && push(chunk as string)) firstText = now
      if (first === undefined) first = now
      else longest = Math.max(longest, now - last)
      last = now
    }
    if (firstText === undefined) return { _tag: "Failed", error: "the stream ended without text" }
    return { _tag: "Read", firstByteMillis: firstText - started, longestGapMillis: longest }
  } catch (error) {
    return { _tag: "Failed", error: error instanceof Error ? error.message : String(error) }
  }
}

/** `count` streams through `base` at once. */
export const round = async (base: string, count: number): Promise<ReadonlyArray<Seen>> => {
  const dispatcher = new Agent({ connections: count, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 })
  try {
    return await Promise.all(Array.from({ length: count }, () => stream(dispatcher, base)))
  } finally {
    await dispatcher.close()
  }
}

/** A side's figures at one count, each the median of its repeats. */
interface SideFigures {
  readonly stall_free: number
  readonly failed: number
  readonly first_byte_p50_ms: number
  readonly first_byte_p99_ms: number
  readonly cpu_s: number
  /**
   * The side's CPU time over the round's length: near 1 the side's core was saturated, and its CPU time (and so its
   * CPU ratio) reads how long the round lasted more than the work done: a count to read below saturation.
   */
  readonly busy: number
  /** The side's event loop delay over a round, p99 and max, milliseconds. */
  readonly loop_delay_p99_ms: number
  readonly loop_delay_max_ms: number
}

/** A side's figures over the pass-through's, medians, each with its range over the repeats' own ratios. */
interface Ratios {
  /**
   * Stall-free streams: the higher the better (goal for ours at 768: at least 0.98); with none of the pass-through's
   * stall-free, no number (`null` in the JSON line).
   */
  readonly stall_free_ratio: number
  readonly stall_free_ratio_range: readonly [number, number]
  /** First byte p50: the lower the better (goal for ours at 512: at most 1.3). */
  readonly first_byte_p50_ratio: number
  readonly first_byte_p50_ratio_range: readonly [number, number]
  readonly first_byte_p99_ratio: number
  readonly first_byte_p99_ratio_range: readonly [number, number]
  /** CPU seconds over a round: the lower the better (goal for ours at 512: at most 1.25). */
  readonly cpu_ratio: number
  readonly cpu_ratio_range: readonly [number, number]
}

/** One count's result: the pass-through's figures, and every other side's with its ratios to them. */
export interface StreamCapacityResult {
  readonly name: string
  readonly streams: number
  /** How many times each side carried the count (`STREAM_CAPACITY_REPEATS`). */
  readonly repeats: number
  readonly baseline: SideFigures
  readonly ours: SideFigures & Ratios
  readonly floor: SideFigures & Ratios
  readonly decoder: SideFigures & Ratios
  /** The library's `Llm` stream answered on `effect/http` with the gateway's encoder: the floor of a gateway on it. */
  readonly engine: SideFigures & Ratios
  /** A second pass-through: its ratios are the bench's own noise (what a ratio reads when nothing differs). */
  readonly control: SideFigures & Ratios
}

/** What `bench/main.ts` lends the case. */
export interface StreamCapacitySettings {
  readonly count: number
  /** Starts a simulator on the `node` server, pinned to core 0, its reply `reply`; its base URL ends in `/v1`. */
  readonly startSimulator: () => Promise<{ readonly url: string; readonly stop: () => Promise<void> }>
}

/** A side's round at one count: what the client saw, the side's CPU time and its event loop's delay. */
export interface Measured {
  readonly round: Round
  readonly cpuMicros: number
  /** The round's length, from its first request to its last stream's end. */
  readonly wallMicros: number
  readonly delay: LoopDelay
}

/** One repeat of a count: every side's round. */
export type Repeat = Readonly<Record<CapacitySide, Measured>>

/** The whole number `given` in the environment variable `name`, at least `least`; `fallback` when unset. */
const wholeOf = (name: string, given: string | undefined, fallback: number, least: number): number => {
  if (given === undefined || given.trim() === "") return fallback
  const value = Number(given)
  if (!(Number.isInteger(value) && value >= least)) {
    throw new Error(`${name} must be a whole number, at least ${least}, got "${given}"`)
  }
  return value
}

/** The times each side carries each count: `STREAM_CAPACITY_REPEATS`, else 5. */
export const repeatsOf = (given: string | undefined): number => wholeOf("STREAM_CAPACITY_REPEATS", given, 5, 1)

/** The rounds each side carries each count before the repeats: `STREAM_CAPACITY_WARMUP`, else 5. */
export const warmupsOf = (given: string | undefined): number => wholeOf("STREAM_CAPACITY_WARMUP", given, 5, 0)

function stallFree(measured: Measured): number {
  return measured.round.stallFree
}

function firstByteP50(measured: Measured): number {
  return measured.round.firstByteP50
}

function firstByteP99(measured: Measured): number {
  return measured.round.firstByteP99
}

function cpu(measured: Measured): number {
  return measured.cpuMicros
}

// The share of the round the side's core was busy: near 1, the side was saturated, and its CPU time is the round's
// length (which its lag stretches) more than the work it did.
function busy(measured: Measured): number {
  return measured.cpuMicros / measured.wallMicros
}

/** A count's result from its repeats: each figure the median of its repeats, each ratio's range over them. */
export const resultOf = (count: number, repeats: ReadonlyArray<Repeat>): StreamCapacityResult => {
  const of = (side: CapacitySide, figure: (measured: Measured) => number) =>
    median(repeats.map((repeat) => figure(repeat[side])))
  const figures = (side: CapacitySide): SideFigures => ({
    stall_free: of(side, stallFree),
    failed: of(side, (measured) => measured.round.failed),
    first_byte_p50_ms: Math.round(of(side, firstByteP50)),
    first_byte_p99_ms: Math.round(of(side, firstByteP99)),
    cpu_s: round2(of(side, cpu) / 1e6),
    busy: round2(of(side, busy)),
    loop_delay_p99_ms: of(side, (measured) => measured.delay.p99),
    loop_delay_max_ms: of(side, (measured) => measured.delay.max)
  })
  const ratio = (side: CapacitySide, figure: (measured: Measured) => number) => ({
    median: round2(of(side, figure) / of("baseline", figure)),
    range: range(repeats.map((repeat) => figure(repeat[side]) / figure(repeat.baseline)))
  })
  const withRatios = (side: CapacitySide): SideFigures & Ratios => {
    const [stall, p50, p99, seconds] = [stallFree, firstByteP50, firstByteP99, cpu].map((figure) => ratio(side, figure))
    return {
      ...figures(side),
      stall_free_ratio: stall!.median,
      stall_free_ratio_range: stall!.range,
      first_byte_p50_ratio: p50!.median,
      first_byte_p50_ratio_range: p50!.range,
      first_byte_p99_ratio: p99!.median,
      first_byte_p99_ratio_range: p99!.range,
      cpu_ratio: seconds!.median,
      cpu_ratio_range: seconds!.range
    }
  }
  return {
    name: `${streamCapacityResultName}-${count}`,
    streams: count,
    repeats: repeats.length,
    baseline: figures("baseline"),
    ours: withRatios("ours"),
    floor: withRatios("floor"),
    decoder: withRatios("decoder"),
    engine: withRatios("engine"),
    control: withRatios("control")
  }
}

/** One round of `count` streams through `side`, with its CPU time and event loop delay, logged as `phase`'s. */
const measureOnce = async (side: Side, count: number, phase: "warm-up" | "repeat"): Promise<Measured> => {
  await side.delay()
  const before = await side.cpu()
  const started = performance.now()
  const seen = await round(side.url, count)
  const wallMicros = (performance.now() - started) * 1000
  const cpuMicros = (await side.cpu()) - before
  const delay = await side.delay()
  const figures = roundOf(seen)
  console.log(
    `${streamCapacityResultName} ${count} ${phase} ${side.label}: ` +
      `${figures.stallFree} stall-free, ${figures.failed} failed, ` +
      `first text p50 ${Math.round(figures.firstByteP50)} ms p99 ${Math.round(figures.firstByteP99)} ms, ` +
      `CPU ${round2(cpuMicros / 1e6)} s of ${
        round2(wallMicros / 1e6)
      } s, event loop delay p50 ${delay.p50} p99 ${delay.p99} max ${delay.max} ms`
  )
  const failure = seen.find((one) => one._tag === "Failed")
  if (failure !== undefined) console.log(`  first failure: ${failure.error}`)
  return { round: figures, cpuMicros, wallMicros, delay }
}

/** Each side carries `count` once, in turn, the first `first` (rotating between repeats). */
const roundOfSides = async (
  sides: ReadonlyArray<Side>,
  count: number,
  first: number,
  phase: "warm-up" | "repeat"
): Promise<Repeat> => {
  const one: Partial<Record<CapacitySide, Measured>> = {}
  for (let i = 0; i < sides.length; i++) {
    const side = sides[(first + i) % sides.length]!
    one[side.label as CapacitySide] = await measureOnce(side, count, phase)
  }
  return one as Repeat
}

/**
 * Every side started and warmed up (`STREAM_CAPACITY_WARMUP` rounds of the count each, the sides in turn), then the
 * count carried by each side `STREAM_CAPACITY_REPEATS` times, the sides in turn, the first rotating; the result, of
 * medians (`resultOf`).
 */
export const measureStreamCapacity = async (settings: StreamCapacitySettings): Promise<StreamCapacityResult> => {
  const { count } = settings
  const repeats = repeatsOf(process.env["STREAM_CAPACITY_REPEATS"])
  const warmups = warmupsOf(process.env["STREAM_CAPACITY_WARMUP"])
  const simulator = await settings.startSimulator()
  const started: Array<Side> = []
  pinSelf(0)
  try {
    for (const label of capacitySides) started.push(await startSide(label, simulator.url))
    for (let warmup = 0; warmup < warmups; warmup++) await roundOfSides(started, count, warmup, "warm-up")
    const measured: Array<Repeat> = []
    for (let repeat = 0; repeat < repeats; repeat++) measured.push(await roundOfSides(started, count, repeat, "repeat"))
    return resultOf(count, measured)
  } finally {
    await Promise.all([...started.map((side) => side.stop()), simulator.stop()])
    pinSelf(1)
  }
}
