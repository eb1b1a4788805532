/**
 * The chaos run (issue 14): calls through a `Router` of three deployments, each
 * on a simulator of its own that injects a seeded share of every fault it
 * knows (`chaos=<rate>`, `Simulator.chaosFaults`), each call's outcome
 * classified, what is left in flight read at the end, memory sampled through
 * the run. `npm run chaos` (`bench/chaos.ts`) and `test/e2e/Chaos.test.ts` run it.
 *
 * Outcomes:
 * - answered: the reply's text is the whole text the simulator gives that
 *   prompt (read once, before the run, from a simulator without faults);
 * - failed: the call failed with an `LlmError` (counted by tag);
 * - truncated: the call succeeded with another text (shorter, or cut and
 *   restarted wrongly): a success that is not one;
 * - lost: neither: a defect, an error that is not an `LlmError`, an
 *   interruption, or no end within `hangAfter`.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as ChatChunk from "../../src/ChatChunk.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as LlmError from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

export interface Options {
  /** Calls in all; even ones streamed, odd ones not. */
  readonly calls: number
  /** Calls at once. */
  readonly concurrency: number
  /** The share of requests (attempts) each simulator faults, 0 to 1. */
  readonly rate: number
  /** The first simulator's chaos seed; the others take the next two. */
  readonly seed: number
  /** A call not ended after this is lost (a hang). Default 30 seconds. */
  readonly hangAfter?: Duration.Input
  /** Milliseconds between memory samples. Default 100. */
  readonly sampleEvery?: number
  /**
   * Each deployment's limit on the wait for headers, for a stream's first token and between its chunks: what ends the
   * injected silences and stalls. A healthy reply must come well within it, and its wait grows with `concurrency`
   * over the CPU the process gets. Default 300 milliseconds.
   */
  readonly phaseLimit?: Duration.Input
}

export interface MemorySample {
  readonly rss: number
  readonly heapUsed: number
}

export interface Report {
  readonly calls: number
  readonly streamed: number
  readonly answered: number
  readonly failed: number
  readonly failedByTag: Readonly<Record<string, number>>
  readonly lost: number
  readonly truncated: number
  /** The first few lost and truncated calls, described. */
  readonly examples: ReadonlyArray<string>
  /** The first few failed calls, with their error's message (which lists the router's attempts). */
  readonly failedExamples: ReadonlyArray<string>
  /** Requests the simulators received (attempts, retries included), and the faults they injected by kind. */
  readonly requests: number
  readonly injected: Readonly<Record<string, number>>
  /**
   * Left over at the end: the router's calls in flight, key leases, limiter slots and waiters, and the simulators' open
   * requests.
   */
  readonly leftover: {
    readonly routerInFlight: number
    readonly keyLeases: number
    readonly limiterInFlight: number
    readonly limiterWaiting: number
    readonly simulatorInFlight: number
  }
  readonly memory: {
    readonly peakRssMb: number
    readonly peakHeapMb: number
    /** Means of the samples of the run's first and last quarters. */
    readonly firstQuarterHeapMb: number
    readonly lastQuarterHeapMb: number
    readonly firstQuarterRssMb: number
    readonly lastQuarterRssMb: number
    readonly samples: number
    /**
     * With `--expose-gc`: the heap after a full collection as each quarter of
     * the calls ends (what is still reachable); else empty.
     */
    readonly settledHeapMb: ReadonlyArray<number>
    /** The same moments: memory outside the heap (buffers), and the RSS. */
    readonly settledExternalMb: ReadonlyArray<number>
    readonly settledRssMb: ReadonlyArray<number>
  }
  readonly durationMs: number
}

const keys = (n: number) => [`sk-chaos-${n}-0000000000a1`, `sk-chaos-${n}-0000000000b2`, `sk-chaos-${n}-0000000000c3`]

/** Distinct prompts; the simulator's reply to each is deterministic. */
const prompts = 32
const promptOf = (i: number) => `Chaos question ${i % prompts}?`

/**
 * One deployment: an `Llm` over a key pool of three keys and a limiter, on a simulator of its own, with short phase
 * limits.
 */
const deployment = (simulator: Simulator.Simulator, n: number, phaseLimit: Duration.Input) =>
  Llm.layer({ model: "gpt-4o-mini" }).pipe(
    Layer.provideMerge(Layer.mergeAll(
      KeyPool.layer({ providerId: `chaos-${n}`, keys: keys(n) }).pipe(
        Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
      ),
      RateLimiter.layer({ capacity: 100_000, refillRate: 100_000, maxConcurrency: 64 }).pipe(
        Layer.provide(RateLimiter.layerStoreMemory)
      )
    )),
    Layer.provide(OpenAiChat.layer({
      baseUrl: `${simulator.url}/v1`,
      model: "gpt-4o-mini",
      timeout: "5 seconds",
      headersTimeout: phaseLimit,
      firstTokenTimeout: phaseLimit,
      idleTimeout: phaseLimit
    }))
  )

const isLlmError = Schema.is(LlmError.LlmError)

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024 * 10) / 10
const mean = (values: ReadonlyArray<number>) =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length

/**
 * Runs the chaos run and reports; the simulators, the router and the client
 * live and die with it. Logs below `Error` are dropped.
 */
export const run = (options: Options): Effect.Effect<Report, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const hangAfter = Duration.fromInputUnsafe(options.hangAfter ?? "30 seconds")
    const phaseLimit = options.phaseLimit ?? "300 millis"
    const http = UndiciHttpClient.layer()

    // The whole text of each prompt's reply, from a simulator without faults.
    const clean = yield* Simulator.make()
    const reference = yield* Layer.build(deployment(clean, 0, phaseLimit).pipe(Layer.provide(http)))
    const expected = yield* Effect.forEach(
      Array.from({ length: prompts }, (_, i) => promptOf(i)),
      (prompt) =>
        Effect.map(
          Context.get(reference, Llm.Llm).chat({ messages: [Message.user(prompt)] }),
          (response) => response.text
        )
    )

    const simulators = yield* Effect.forEach([1, 2, 3], (n) =>
      Simulator.make({ apiKeys: keys(n), fault: `chaos=${options.rate};seed=${options.seed + n - 1}` }))
    const context = yield* Layer.build(
      Router.layer({
        deployments: simulators.map((simulator, i) => ({
          name: `sim-${i + 1}`,
          model: "gpt-4o-mini",
          llm: deployment(simulator, i + 1, phaseLimit)
        })),
        strategy: "least-busy",
        // A breaker that opens on a burst of failures and probes again soon, so a
        // deployment's bad luck does not leave the run without deployments.
        cooldown: { failures: 10, window: "1 second", period: "250 millis" },
        deadline: "10 seconds"
      }).pipe(Layer.provide(Router.layerStoreMemory)).pipe(Layer.provide(http))
    )
    const router = Context.get(context, Router.Router)

    const samples: Array<MemorySample> = []
    const sample = Effect.sync(() => {
      const { heapUsed, rss } = process.memoryUsage()
      samples.push({ rss, heapUsed })
    })
    const sampler = yield* Effect.forkChild(
      sample.pipe(Effect.repeat(Schedule.spaced(Duration.millis(options.sampleEvery ?? 100))))
    )

    let answered = 0
    let truncated = 0
    let lost = 0
    const failedByTag: Record<string, number> = {}
    const examples: Array<string> = []
    const note = (text: string) => {
      if (examples.length < 10) {
        examples.push(text)
      }
    }
    const failedExamples: Array<string> = []

    // With `--expose-gc`: the heap still reachable after a full collection, as each quarter of the calls ends.
    const collect = (globalThis as { gc?: () => void }).gc
    const settledHeap: Array<number> = []
    const settledExternal: Array<number> = []
    const settledRss: Array<number> = []
    let ended = 0
    const quarterEnded = () => {
      ended++
      if (collect !== undefined && ended % Math.max(1, Math.floor(options.calls / 4)) === 0 && settledHeap.length < 4) {
        collect()
        const { external, heapUsed, rss } = process.memoryUsage()
        settledHeap.push(mb(heapUsed))
        settledExternal.push(mb(external))
        settledRss.push(mb(rss))
      }
    }

    const call = (i: number) => {
      const request = { messages: [Message.user(promptOf(i))] }
      const streamed = i % 2 === 0
      const reply = streamed ? ChatChunk.collect(router.chatStream(request)) : router.chat(request)
      return reply.pipe(
        Effect.timeoutOption(hangAfter),
        Effect.exit,
        Effect.map((exit) => {
          quarterEnded()
          const what = `call ${i} (${streamed ? "streamed" : "whole"})`
          if (Exit.isSuccess(exit)) {
            if (exit.value._tag === "None") {
              lost++
              note(`${what}: no end after ${Duration.format(hangAfter)}`)
            } else if (exit.value.value.text === expected[i % prompts]) {
              answered++
            } else {
              truncated++
              note(
                `${what}: succeeded with ${JSON.stringify(exit.value.value.text)}, expected ${
                  JSON.stringify(expected[i % prompts])
                }`
              )
            }
            return
          }
          const cause = exit.cause
          const typed = cause.reasons.length > 0 &&
            cause.reasons.every((reason) =>
              Cause.isFailReason(reason) && isLlmError(reason.error)
            )
          if (typed) {
            const error = (cause.reasons[0] as Cause.Fail<LlmError.LlmError>).error
            failedByTag[error._tag] = (failedByTag[error._tag] ?? 0) + 1
            if (failedExamples.length < 5) failedExamples.push(`${what}: ${error.message}`)
          } else {
            lost++
            note(`${what}: ${Cause.pretty(cause)}`)
          }
        })
      )
    }

    const started = performance.now()
    yield* Effect.forEach(Array.from({ length: options.calls }, (_, i) => i), call, {
      concurrency: options.concurrency,
      discard: true
    })
    const durationMs = performance.now() - started
    yield* sample
    yield* Fiber.interrupt(sampler)

    // What the library holds at once, with every call ended.
    const { details } = yield* router.status
    const loads = Object.values(details)
    const routerInFlight = loads.reduce((n, load) => n + load.inFlight, 0)
    const keyLeases = loads.reduce((n, load) => n + load.keys.reduce((k, key) => k + key.current, 0), 0)
    const limiterInFlight = loads.reduce((n, load) => n + (load.rateLimit?.inFlight ?? 0), 0)
    const limiterWaiting = loads.reduce((n, load) => n + (load.rateLimit?.waiting ?? 0), 0)
    // The simulators see a connection the client dropped once its close arrives: a moment.
    const stats = yield* Effect.forEach(simulators, (simulator) => simulator.stats)
    const settled = yield* Effect.forEach(simulators, (simulator) =>
      simulator.stats.pipe(
        Effect.filterOrFail((s) => s.inFlight === 0),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "2 seconds" }))),
        Effect.catchCause(() => simulator.stats)
      ))
    const injected: Record<string, number> = {}
    for (const s of stats) {
      for (const [fault, n] of Object.entries(s.injected)) injected[fault] = (injected[fault] ?? 0) + n
    }

    const quarter = Math.max(1, Math.floor(samples.length / 4))
    const first = samples.slice(0, quarter)
    const last = samples.slice(-quarter)
    const failed = Object.values(failedByTag).reduce((a, b) => a + b, 0)
    return {
      calls: options.calls,
      streamed: Math.ceil(options.calls / 2),
      answered,
      failed,
      failedByTag,
      lost,
      truncated,
      examples,
      failedExamples,
      requests: stats.reduce((n, s) => n + s.requests, 0),
      injected,
      leftover: {
        routerInFlight,
        keyLeases,
        limiterInFlight,
        limiterWaiting,
        simulatorInFlight: settled.reduce((n, s) => n + s.inFlight, 0)
      },
      memory: {
        peakRssMb: mb(Math.max(...samples.map((s) => s.rss))),
        peakHeapMb: mb(Math.max(...samples.map((s) => s.heapUsed))),
        firstQuarterHeapMb: mb(mean(first.map((s) => s.heapUsed))),
        lastQuarterHeapMb: mb(mean(last.map((s) => s.heapUsed))),
        firstQuarterRssMb: mb(mean(first.map((s) => s.rss))),
        lastQuarterRssMb: mb(mean(last.map((s) => s.rss))),
        samples: samples.length,
        settledHeapMb: settledHeap,
        settledExternalMb: settledExternal,
        settledRssMb: settledRss
      },
      durationMs: Math.round(durationMs)
    }
  })).pipe(
    // The adapters warn of each malformed event they skip: dozens of lines that say what `injected` counts.
    Effect.provideService(References.MinimumLogLevel, "Error")
  )
