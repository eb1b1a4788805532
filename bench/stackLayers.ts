/**
 * What each layer of the `llm-stack-stream` stack costs a streamed call, in CPU, measured in one process, the sides
 * interleaved so that the machine's load falls on all of them alike.
 *
 *   npm run stack-layers
 *
 * Against one simulator (its 64-token reply at once), at `BENCH_CONCURRENCY` (32) calls at a time, each side in turn
 * for `BENCH_SECONDS` (2) a round over `BENCH_ROUNDS` (7) rounds, after a warm-up of each; a figure is the median of
 * its rounds' CPU a call (user and system time of this process over the calls it finished), and each side's ratio to
 * raw undici the median of its rounds' (undici's CPU a call over the side's, in the same round); and the least of
 * each side's rounds. The sides:
 * - `undici`: raw undici, `Sse.makeDecoder` and `JSON.parse` an event (the `openai-chat-stream` baseline);
 * - `client`: `OpenAiChat`'s `chatStream` alone (`openai-chat-stream`);
 * - `llm`: `Llm` over it, with a pool of one key and `RateLimiter.unlimited`;
 * - `pool`: with a pool of four keys instead;
 * - `limiter`: one key, and the rate limiter of `llm-stack-stream` (a capacity that never binds);
 * - `stack`: four keys and that limiter (`llm-stack-stream`);
 * - with `STACK_LAYERS_ROUTER=1`, `single` and `router` (`router-overhead`'s sides: one `Llm` of two keys and a
 *   limiter, called whole, against a `Router` over two such).
 * `STACK_LAYERS_SIDES=llm,stack` measures the sides named only. Prints each round, then one JSON line.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Scope from "effect/Scope"
import { Agent } from "undici"
import * as KeyPool from "../src/KeyPool.js"
import * as Llm from "../src/Llm.js"
import type { OptionsError } from "../src/OptionsError.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { request } from "./cases/call.js"
import { openAiChatStream, rawStream } from "./cases/openAiChat.js"
import { drainReply } from "./cases/reply.js"
import { routerOverhead } from "./cases/router.js"
import { envNumber } from "./env.js"
import { pinSelf } from "./nodeArgs.js"
import { startSimulator } from "./simulatorChild.js"
import { median } from "./stats.js"

const concurrency = envNumber("BENCH_CONCURRENCY", 32)
const seconds = envNumber("BENCH_SECONDS", 2)
const rounds = envNumber("BENCH_ROUNDS", 7)
const warmupSeconds = envNumber("BENCH_WARMUP_SECONDS", 4)

const model = "gpt-4o-mini"
const keys = (n: number) => Array.from({ length: n }, (_, i) => `sk-bench-0123456789abcde${i + 1}`)

/** A side's call, built once against the simulator at `url` in the scope. */
type Build = (
  url: string
) => Effect.Effect<Effect.Effect<unknown, unknown>, unknown, Scope.Scope | HttpClient.HttpClient>

/** `Llm` over `OpenAiChat` with a pool of `keyCount` keys and `limiter`, its stream drained a call. */
const stacked = (keyCount: number, limiter: Layer.Layer<RateLimiter.RateLimiter>): Build => (url) =>
  Layer.build(
    Llm.layer({ model }).pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: url, model }),
        KeyPool.layer({ providerId: `layers-${keyCount}`, keys: keys(keyCount) }).pipe(
          Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
        ),
        limiter
      ))
    )
  ).pipe(Effect.map((context) => drainReply(Context.get(context, Llm.Llm).chatStream(request))))

const bucket = RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000 }).pipe(
  Layer.provide(RateLimiter.layerStoreMemory),
  Layer.orDie
)

const effectSides: ReadonlyArray<readonly [string, Build]> = [
  ["client", openAiChatStream.ours as Build],
  ["llm", stacked(1, RateLimiter.unlimited)],
  ["pool", stacked(4, RateLimiter.unlimited)],
  ["limiter", stacked(1, bucket)],
  ["stack", stacked(4, bucket)],
  ...(process.env["STACK_LAYERS_ROUTER"] === "1"
    ? [
      ["single", (routerOverhead.baseline as { readonly effect: Build }).effect] as const,
      ["router", routerOverhead.ours as Build] as const
    ]
    : [])
]

const wanted = (process.env["STACK_LAYERS_SIDES"] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
const chosen = (name: string) => wanted.length === 0 || wanted.includes(name)

/** Runs `call` at `concurrency` calls at a time for `millis`: the calls finished; throws at the first failure. */
type Measure = (millis: number) => Promise<number>

const measureEffect = (
  runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>,
  call: Effect.Effect<unknown, unknown>
): Measure =>
(millis) => {
  let ok = 0
  const deadline = performance.now() + millis
  const worker = Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => call,
    step: () => {
      ok++
    }
  })
  return runtime.runPromise(
    Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  ).then(() => ok)
}

const measurePromise = (call: () => Promise<unknown>): Measure => async (millis) => {
  let ok = 0
  const deadline = performance.now() + millis
  const worker = async () => {
    while (performance.now() < deadline) {
      await call()
      ok++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return ok
}

/** CPU microseconds a call over one round of `measure`. */
const cpuPerCall = async (measure: Measure): Promise<number> => {
  const before = process.cpuUsage()
  const calls = await measure(seconds * 1000)
  const cpu = process.cpuUsage(before)
  return (cpu.user + cpu.system) / calls
}

const main = async () => {
  pinSelf(1)
  const simulator = await startSimulator("node")
  const runtime = ManagedRuntime.make(UndiciHttpClient.layer())
  const dispatcher = new Agent()
  const scope = await runtime.runPromise(Scope.make())
  try {
    const sides: Array<readonly [string, Measure]> = []
    if (chosen("undici")) sides.push(["undici", measurePromise(rawStream(simulator.url, dispatcher))])
    for (const [name, build] of effectSides) {
      if (!chosen(name)) continue
      const call = await runtime.runPromise(Scope.provide(build(simulator.url), scope))
      sides.push([name, measureEffect(runtime, call)])
    }
    for (const [, measure] of sides) await measure(warmupSeconds * 1000)
    const perSide = new Map<string, Array<number>>(sides.map(([name]) => [name, []]))
    for (let round = 1; round <= rounds; round++) {
      const line: Array<string> = []
      for (const [name, measure] of sides) {
        const micros = await cpuPerCall(measure)
        perSide.get(name)!.push(micros)
        line.push(`${name} ${micros.toFixed(0)}`)
      }
      console.log(`round ${round}: ${line.join(", ")} us CPU a call`)
    }
    const results = Object.fromEntries([...perSide].map(([name, all]) => [name, Math.round(median(all))]))
    // Each side against raw undici in the same round (undici's CPU a call over the side's), the median of the rounds'.
    const undici = perSide.get("undici")
    const ratios = undici === undefined ? {} : Object.fromEntries(
      [...perSide].map(([name, all]) => [name, Math.round(median(all.map((us, i) => undici[i]! / us)) * 100) / 100])
    )
    // The least of a side's rounds: the round the machine's other load disturbed least.
    const least = Object.fromEntries([...perSide].map(([name, all]) => [name, Math.round(Math.min(...all))]))
    console.log(JSON.stringify({
      concurrency,
      seconds,
      rounds,
      cpu_us_median: results,
      cpu_us_least: least,
      cpu_ratio_to_undici: ratios
    }))
  } finally {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
    await dispatcher.close()
    await simulator.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
