/**
 * `streams-10k-memory`: the memory of 10,000 `Llm.chatStream` calls held open
 * at once, versus raw undici holding the same 10,000 streams (`Sse.makeDecoder`
 * plus `JSON.parse` per event, as the `openai-chat-stream` baseline parses), and
 * versus the floor of an Effect stream: Effect's `HttpClient` (this library's
 * undici client) with each response's `stream` run by `Stream.runForEach`
 * through the same decoder and `JSON.parse`, a fiber per call and nothing else
 * (no key pool, limiter, retry, deadline or chunk type), the least an Effect
 * program holds for an open stream.
 *
 * Not a throughput pair: each side runs in a process of its own (so neither
 * the other side's garbage nor the throughput cases' heap is counted), against
 * a slow simulator in a third process (a token every two seconds, so every
 * stream stays open until it is stopped), the simulator on core 0 and the side
 * on core 1 when the machine allows. A side starts its streams, waits until
 * every one has brought its first text, keeps them open a little longer, then
 * stops them; its peak RSS and peak `heapUsed`, sampled throughout, are the
 * result. A stream that fails fails its side at once, with its own error.
 * `bench/main.ts` runs it after the throughput cases, as `measureStreamsMemory`;
 * alone:
 *
 *   node --import tsx bench/cases/streamsMemory.ts
 *
 * STREAMS_MEMORY_COUNT (default 10000) sets the number of streams.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Agent } from "undici"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Sse from "../../src/Sse.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { firstLine, nodeArgs, spawnNode, stopChild } from "../nodeArgs.js"
import { fail } from "./reply.js"

export const streamsMemoryResultName = "streams-10k-memory"

const count = Number(process.env["STREAMS_MEMORY_COUNT"] || 10_000)
const model = "gpt-4o-mini"
const prompt = "Tell me about Effect in one paragraph."
const keys = [
  "sk-bench-0123456789abcde1",
  "sk-bench-0123456789abcde2",
  "sk-bench-0123456789abcde3",
  "sk-bench-0123456789abcde4"
]
/** How long every stream is held open once all have started, sampling memory. */
const holdMillis = 2_000
/**
 * The slow simulator's reply: five minutes long, so nothing ends before the bench stops it, and slow enough
 * that 10,000 streams cost its one core little. Each token costs the simulator a fiber's wake-up and a socket
 * write and each stream a plan of its events; at a faster pace it cannot keep up (docs/performance.md), its
 * streams fall behind, and a client's 30-second limits (headers, idle) fail them.
 */
const slowReply = { replyTokens: 150, tokensPerSecond: 0.5 }
/** A side that cannot open every stream in this time fails. */
const openTimeoutMillis = 180_000

/** What one side reports, in bytes. */
export interface Sample {
  readonly startRss: number
  readonly startHeap: number
  readonly peakRss: number
  readonly peakHeap: number
  /** `heapUsed` right after a full GC with every stream open: what the streams hold. */
  readonly liveHeap: number
  readonly openMillis: number
}

/** The result line `bench/main.ts` prints: peaks in MB, ratios ours / baseline (lower is better for ours). */
export interface MemoryResult {
  readonly name: string
  readonly streams: number
  readonly ours_rss_mb: number
  readonly baseline_rss_mb: number
  readonly ratio: number
  readonly ours_heap_mb: number
  readonly baseline_heap_mb: number
  readonly heap_ratio: number
  readonly ours_live_heap_mb: number
  readonly baseline_live_heap_mb: number
  readonly live_heap_ratio: number
  /** The Effect floor's peak RSS and live heap, and its ratios to the baseline (what any Effect stream costs). */
  readonly floor_rss_mb: number
  readonly floor_ratio: number
  readonly floor_live_heap_mb: number
  readonly floor_live_heap_ratio: number
  /** Ours over the floor: what the library adds to an Effect stream. */
  readonly ours_vs_floor_rss: number
  readonly ours_vs_floor_live_heap: number
}

// ---------------------------------------------------------------------------
// Memory sampling, the same in both sides' processes.

const sampler = () => {
  const start = process.memoryUsage()
  let peakRss = start.rss
  let peakHeap = start.heapUsed
  const sample = () => {
    const now = process.memoryUsage()
    if (now.rss > peakRss) peakRss = now.rss
    if (now.heapUsed > peakHeap) peakHeap = now.heapUsed
  }
  const timer = setInterval(sample, 25)
  const t0 = performance.now()
  let openMillis = 0
  let liveHeap = 0
  return {
    opened: () => {
      openMillis = performance.now() - t0
      sample()
      // The child runs with --expose-gc.
      globalThis.gc?.()
      liveHeap = process.memoryUsage().heapUsed
    },
    stop: (): Sample => {
      sample()
      clearInterval(timer)
      return { startRss: start.rss, startHeap: start.heapUsed, peakRss, peakHeap, liveHeap, openMillis }
    }
  }
}

/** Resolves once `count` streams have called `started`; rejects with the first error a stream reports. */
const allStarted = () => {
  let started = 0
  let resolve: () => void = () => {}
  let reject: (error: unknown) => void = () => {}
  const done = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return {
    done,
    started: () => {
      if (++started === count) resolve()
    },
    failed: (error: unknown) => reject(error),
    get count() {
      return started
    }
  }
}

const waitOrTimeout = (done: Promise<void>, progress: () => number) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`bench: only ${progress()} of ${count} streams started in ${openTimeoutMillis / 1000} s`)),
      openTimeoutMillis
    )
    void done.then(
      () => {
        clearTimeout(timer)
        resolve()
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

// ---------------------------------------------------------------------------
// The three sides.

/**
 * An Effect side: `count` calls of `one` at once, each telling `started` at its first text, held open for
 * `holdMillis` once all have started, then interrupted (which aborts the requests). A call that fails fails the side
 * at once, with its own error.
 */
const effectSide = async <R, E>(
  one: (started: () => void) => Effect.Effect<void, unknown, R>,
  layer: Layer.Layer<R, E>
): Promise<Sample> => {
  const progress = allStarted()
  const memory = sampler()
  const call = Effect.suspend(() => one(progress.started)).pipe(
    Effect.tapCause((cause) =>
      Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => progress.failed(Cause.squash(cause)))
    )
  )
  const program = Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(
      Effect.forEach(Array.from({ length: count }), () => call, { concurrency: "unbounded", discard: true })
    )
    yield* Effect.promise(() => waitOrTimeout(progress.done, () => progress.count))
    memory.opened()
    yield* Effect.sleep(holdMillis)
    yield* Fiber.interrupt(fiber)
  })
  await Effect.runPromise(Effect.provide(program, layer))
  return memory.stop()
}

/** The request body every side sends (the floor's and the baseline's as JSON, ours through `Llm`). */
const body = {
  model,
  messages: [{ role: "user", content: prompt }],
  stream: true,
  stream_options: { include_usage: true }
}

const ours = (url: string): Promise<Sample> => {
  const request = { messages: [Message.user(prompt)] }
  return effectSide(
    (started) => {
      let first = true
      return Llm.chatStream(request).pipe(
        Stream.runForEach((chunk) =>
          Effect.sync(() => {
            if (first && chunk._tag === "TextDelta") {
              first = false
              started()
            }
          })
        )
      )
    },
    Llm.layer({ model }).pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: url, model }),
        KeyPool.layer({ providerId: "bench", keys }).pipe(
          Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
        ),
        RateLimiter.unlimited
      )),
      Layer.provide(UndiciHttpClient.layer())
    )
  )
}

/** Counts a stream as started at its first non-empty text (the first event's content is ""). */
const firstText = (data: string): boolean => {
  const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> }
  const content = chunk.choices?.[0]?.delta?.content
  return typeof content === "string" && content !== ""
}

const floor = (url: string): Promise<Sample> =>
  effectSide(
    (started) =>
      Effect.flatMap(HttpClient.HttpClient, (client) => {
        const decoder = Sse.makeDecoder()
        let first = true
        const request = HttpClientRequest.post(`${url}/chat/completions`).pipe(
          HttpClientRequest.setHeader("authorization", `Bearer ${keys[0]}`),
          HttpClientRequest.bodyJsonUnsafe(body)
        )
        return Effect.scoped(Effect.flatMap(client.execute(request), (response) =>
          Stream.runForEach(response.stream, (bytes) =>
            Effect.sync(() => {
              for (const event of decoder.push(bytes)) {
                if (first && firstText(event.data)) {
                  first = false
                  started()
                }
              }
            }))))
      }),
    UndiciHttpClient.layer()
  )

const baseline = async (url: string): Promise<Sample> => {
  const agent = new Agent()
  const target = new URL(`${url}/chat/completions`)
  const headers = { "content-type": "application/json", authorization: `Bearer ${keys[0]}` }
  const controller = new AbortController()
  const progress = allStarted()
  const memory = sampler()
  const one = async () => {
    const response = await agent.request({
      origin: target.origin,
      path: target.pathname,
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: controller.signal
    })
    if (response.statusCode !== 200) fail(`HTTP ${response.statusCode}`)
    const decoder = Sse.makeDecoder()
    let first = true
    for await (const bytes of response.body) {
      for (const event of decoder.push(bytes as Uint8Array)) {
        if (event.data.startsWith("[DONE]")) return
        // Counted on the first text, as ours counts its first TextDelta.
        if (first && firstText(event.data)) {
          first = false
          progress.started()
        }
      }
    }
  }
  const calls = Array.from({ length: count }, () =>
    one().catch((error: unknown) => {
      // Only the abort below is expected.
      if (!controller.signal.aborted) throw error
    }))
  const all = Promise.all(calls)
  // A call that fails before every stream started fails the side at once.
  await Promise.race([waitOrTimeout(progress.done, () => progress.count), all])
  memory.opened()
  await new Promise((resolve) => setTimeout(resolve, holdMillis))
  controller.abort()
  await all
  const sample = memory.stop()
  await agent.close()
  return sample
}

// ---------------------------------------------------------------------------
// The slow simulator, and the runner that puts each side in a process of its own.

const serveSimulator = async () => {
  const { Exit, Scope } = await import("effect")
  const Simulator = await import("../../src/simulator/Simulator.js")
  const scope = Effect.runSync(Scope.make())
  const simulator = await Effect.runPromise(Scope.provide(Simulator.make(slowReply), scope))
  console.log(`${simulator.url}/v1`)
  const stop = () => {
    void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
}

const script = fileURLToPath(import.meta.url)

// A server on core 0 and what loads it on core 1, as the throughput cases run (`bench/nodeArgs.ts`).
const cores = { simulator: 0, ours: 1, floor: 1, baseline: 1 } as const

/** Runs this file with `mode` (and `args`) in a child process on its core. */
const child = (mode: keyof typeof cores, args: ReadonlyArray<string> = []): ChildProcess =>
  spawnNode({ args: ["--expose-gc", ...nodeArgs("cases/streamsMemory"), mode, ...args], core: cores[mode] })

/** A side's line: its sample, or why it failed. */
type Report = Sample | { readonly error: string }

type Side = "ours" | "floor" | "baseline"

const sides: Record<Side, (url: string) => Promise<Sample>> = { ours, floor, baseline }

const side = async (name: Side, url: string): Promise<Sample> => {
  const proc = child(name, [url])
  try {
    const report = JSON.parse(await firstLine(proc, `bench: ${name}`)) as Report
    if ("error" in report) throw new Error(`${name}: ${report.error}`)
    return report
  } finally {
    await stopChild(proc)
  }
}

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024)
const round2 = (n: number) => Math.round(n * 100) / 100

/**
 * Runs each side in turn, each in its own process against a slow simulator of its own;
 * prints one line per side and gives the result.
 */
export const measureStreamsMemory = async (): Promise<MemoryResult> => {
  // Each side meets a fresh simulator of its own, so neither inherits the other's warm-up or load.
  const withSimulator = async (name: Side): Promise<Sample> => {
    const simulator = child("simulator")
    try {
      return await side(name, await firstLine(simulator, "bench: the simulator"))
    } finally {
      await stopChild(simulator)
    }
  }
  const o = await withSimulator("ours")
  const f = await withSimulator("floor")
  const b = await withSimulator("baseline")
  for (const [label, s] of [["ours", o], ["floor", f], ["baseline", b]] as const) {
    console.log(
      `${streamsMemoryResultName} ${label}: ${count} streams open in ${(s.openMillis / 1000).toFixed(1)} s; ` +
        `RSS ${mb(s.startRss)} -> peak ${mb(s.peakRss)} MB, heap ${mb(s.startHeap)} -> peak ${mb(s.peakHeap)} MB ` +
        `(${mb(s.liveHeap)} MB live after a GC with all open)`
    )
  }
  return {
    name: streamsMemoryResultName,
    streams: count,
    ours_rss_mb: mb(o.peakRss),
    baseline_rss_mb: mb(b.peakRss),
    ratio: round2(o.peakRss / b.peakRss),
    ours_heap_mb: mb(o.peakHeap),
    baseline_heap_mb: mb(b.peakHeap),
    heap_ratio: round2(o.peakHeap / b.peakHeap),
    ours_live_heap_mb: mb(o.liveHeap),
    baseline_live_heap_mb: mb(b.liveHeap),
    live_heap_ratio: round2(o.liveHeap / b.liveHeap),
    floor_rss_mb: mb(f.peakRss),
    floor_ratio: round2(f.peakRss / b.peakRss),
    floor_live_heap_mb: mb(f.liveHeap),
    floor_live_heap_ratio: round2(f.liveHeap / b.liveHeap),
    ours_vs_floor_rss: round2(o.peakRss / f.peakRss),
    ours_vs_floor_live_heap: round2(o.liveHeap / f.liveHeap)
  }
}

if (process.argv[1] === script) {
  const [mode, url] = process.argv.slice(2)
  const run = mode === "simulator"
    ? serveSimulator()
    : mode === "ours" || mode === "floor" || mode === "baseline"
    // A side reports on its one line, its sample or its error, then exits.
    ? sides[mode](url ?? fail("no simulator URL")).then(
      (sample) => console.log(JSON.stringify(sample)),
      (error: unknown) => {
        console.error(error)
        console.log(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }))
      }
    ).then(() => process.exit(0))
    : measureStreamsMemory().then((result) => console.log(JSON.stringify(result)))
  run.catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
