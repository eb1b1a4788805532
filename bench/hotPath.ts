/**
 * How long a call's path is: the project files that run for one warm call, read with V8's precise coverage.
 *
 *   npm run hot-path
 *
 * Four calls, each against the simulator in a process of its own (so none of its files count):
 * - `library-stream`: `Llm.chatStream` over Chat Completions, with a key pool and a rate limiter, no router (the
 *   bench's `llm-stack-stream`);
 * - `gateway-stream`: `POST /v1/chat/completions` with `stream: true` to `Gateway.make` serving one Chat Completions
 *   deployment, no gateway keys, read with raw undici;
 * - `library-whole` and `gateway-whole`: the same, not streamed (`Llm.chat`; `stream: false`), made once, unpaced:
 *   what the gateway's layers cost a whole reply past the library's call.
 *
 * For each: warm-up calls, then the coverage counters read (which resets them), one call, and the counters read again
 * once the call and what it leaves behind have settled. A file ran when one of its functions was called; the lines
 * counted are its TypeScript source's. Over the same call, the Effect operations and fiber turns it ran
 * (`effectOps.ts`). Each call is made twice: against a simulator that writes its 64-token reply at once (one read),
 * and against one that paces it at 250 tokens a second (a read a token); the difference over the 63 more reads is
 * what a streamed token costs, the first what a call costs besides its tokens (a whole call is made once). The compiled library is measured, as
 * users run it (`npm run bench`'s `.bench-build/`). Prints each call's files and lines, then one JSON line.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { Session } from "node:inspector/promises"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { request as undiciRequest } from "undici"
import * as Gateway from "../src/Gateway.js"
import * as KeyPool from "../src/KeyPool.js"
import * as Llm from "../src/Llm.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as Router from "../src/Router.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { filesRun, type ScriptCoverage } from "./coverageFiles.js"
import { countOps, type OpsCount } from "./effectOps.js"
import { firstLine, nodeArgs, spawnNode, stopChild } from "./nodeArgs.js"

const here = path.dirname(fileURLToPath(import.meta.url))
// The compiled `src/` beside this compiled script (`.bench-build/bench/` -> `.bench-build/src/`), and the project.
const compiledSrc = pathToFileURL(path.join(here, "..", "src")).href
const root = path.join(here, "..", "..")

const linesOf = (file: string) => readFileSync(path.join(root, file), "utf8").split("\n").length

const prompt = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
// Warm-up calls before the call measured; fewer for the paced pass, which follows the whole one's warm-up in the same
// process (its code compiled already) and takes a quarter of a second a call.
const warmups = 200
const pacedWarmups = 20

/** The simulator's reply, in tokens, and the pace of the paced pass. */
const replyTokens = 64
const pacedTokensPerSecond = 250

/**
 * The simulator in a process of its own, its reply of `replyTokens`, paced when `paced` (and only then, whatever the
 * environment says): its base URL (with `/v1`) and its stop.
 */
const startSimulator = async (paced: boolean) => {
  const { BENCH_TOKENS_PER_SECOND: _, ...unpaced } = process.env
  const reply = { ...unpaced, BENCH_REPLY_TOKENS: String(replyTokens) }
  const env = paced ? { ...reply, BENCH_TOKENS_PER_SECOND: String(pacedTokensPerSecond) } : reply
  const child = spawnNode({ args: nodeArgs("simulatorProcess"), core: 0, env })
  const url = await firstLine(child, "the simulator")
  return { url, stop: () => stopChild(child) }
}

/** An `Llm` over Chat Completions at `url`, with a pool of `keys` and a rate limiter that never binds, or none. */
const deployment = (url: string, providerId: string, keys: number, limited: boolean) =>
  Llm.layer({ model: "gpt-4o-mini" }).pipe(
    Layer.provide(Layer.mergeAll(
      OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini" }),
      KeyPool.layer({
        providerId,
        keys: Array.from({ length: keys }, (_, i) => `sk-hot-path-${providerId}-0123456789ab${i + 1}`)
      }).pipe(Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])),
      limited
        ? RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000 }).pipe(
          Layer.provide(RateLimiter.layerStoreMemory),
          Layer.orDie
        )
        : RateLimiter.unlimited
    ))
  )

/**
 * The library's call: `Llm.chatStream` (read to its end) or `Llm.chat`, with a key pool of `keys` and a rate limiter
 * (`RateLimiter.unlimited` when not `limited`).
 */
const libraryCall = (streamed: boolean, keys = 2, limited = true) => (url: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(deployment(url, "hot-path", keys, limited))
    const llm = Context.get(context, Llm.Llm)
    return streamed ? Stream.runDrain(llm.chatStream(prompt)) : llm.chat(prompt)
  })

/** `OpenAiChat`'s own call, no `Llm` over it. */
const clientCall = (streamed: boolean) => (url: string) =>
  Effect.map(OpenAiChat.make({ baseUrl: url, model: "gpt-4o-mini" }), (client) => {
    const credentials = ProviderClient.credentials("sk-hot-path-0123456789ab1")
    return streamed ? Stream.runDrain(client.chatStream(prompt, credentials)) : client.chat(prompt, credentials)
  })

/** A `Router` over two deployments as `libraryCall` builds them (the bench's `router-overhead`). */
const routerCall = (streamed: boolean) => (url: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Router.layer({
        deployments: [
          { name: "one", model: "gpt-4o-mini", llm: deployment(url, "one", 2, true) },
          { name: "two", model: "gpt-4o-mini", llm: deployment(url, "two", 2, true) }
        ]
      }).pipe(Layer.provide(Router.layerStoreMemory))
    )
    const llm = Context.get(context, Llm.Llm)
    const request = { ...prompt, model: "gpt-4o-mini" }
    return streamed ? Stream.runDrain(llm.chatStream(request)) : llm.chat(request)
  })

/** The gateway's call: a `POST /v1/chat/completions`, streamed or not, read to its end with raw undici. */
const gatewayCall = (streamed: boolean) => (url: string) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: url, api_keys: ["sk-hot-path-0123456789ab1"] }]
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    const body = JSON.stringify({ model: "gpt-4o-mini", stream: streamed, messages: [{ role: "user", content: "Hi" }] })
    return Effect.promise(async () => {
      const response = await undiciRequest(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body
      })
      const text = await response.body.text()
      if (response.statusCode !== 200 || (streamed && !text.includes("[DONE]"))) {
        throw new Error(`gateway: HTTP ${response.statusCode}: ${text.slice(0, 200)}`)
      }
    })
  })

/** What one call's path is: the files that ran and their lines, and the Effect operations and turns it ran. */
interface PathResult {
  readonly name: string
  readonly files: number
  readonly lines: number
  readonly paths: ReadonlyArray<string>
  readonly ops: OpsCount
  /** Each operation's label and its count in the call, with `HOT_PATH_BREAKDOWN=1`. */
  readonly steps: ReadonlyMap<string, number>
}

// `HOT_PATH_BREAKDOWN=1`: each call's operations by label too, and a token's printed (the counts stay the same).
const breakdown = process.env.HOT_PATH_BREAKDOWN === "1" ? new Map<string, number>() : undefined
const countedOps = countOps({ steps: breakdown })

const stepsSince = (before: ReadonlyMap<string, number>): ReadonlyMap<string, number> => {
  const steps = new Map<string, number>()
  for (const [label, count] of breakdown ?? []) {
    const added = count - (before.get(label) ?? 0)
    if (added !== 0) steps.set(label, added)
  }
  return steps
}

// A call's operations by label, the most first.
const printCallSteps = (name: string, call: PathResult) => {
  console.log(`${name}: a call's operations by step`)
  for (const [label, count] of [...call.steps].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${String(count).padStart(6)}  ${label}`)
  }
}

// A token's operations by label, the most first: the paced call's past the whole one's, over its 63 more reads.
const printTokenSteps = (name: string, whole: PathResult, paced: PathResult) => {
  const rows = [...paced.steps].map(([label, count]) =>
    [label, (count - (whole.steps.get(label) ?? 0)) / (replyTokens - 1)] as const
  )
    .filter(([, perToken]) => Math.abs(perToken) >= 0.05)
    .sort((a, b) => b[1] - a[1])
  console.log(`${name}: a token's operations by step`)
  for (const [label, perToken] of rows) console.log(`  ${perToken.toFixed(2).padStart(6)}  ${label}`)
}

const opsSince = (before: OpsCount): OpsCount => {
  const now = countedOps()
  return { ops: now.ops - before.ops, turns: now.turns - before.turns }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200))

const measure = async (
  session: Session,
  name: string,
  build: (url: string) => Effect.Effect<Effect.Effect<unknown, unknown>, unknown, Scope.Scope | HttpClient.HttpClient>,
  paced: boolean
): Promise<PathResult> => {
  const simulator = await startSimulator(paced)
  const scope = Effect.runSync(Scope.make())
  try {
    // The HTTP client lives in the scope, as long as the call.
    const call = await Effect.runPromise(
      Effect.gen(function*() {
        const http = yield* Layer.build(UndiciHttpClient.layer())
        return yield* Effect.provide(build(simulator.url), http)
      }).pipe(Scope.provide(scope))
    )
    for (let i = 0; i < (paced ? pacedWarmups : warmups); i++) await Effect.runPromise(call)
    await settle()
    await session.post("Profiler.takePreciseCoverage")
    const stepsBefore = new Map(breakdown)
    const before = countedOps()
    await Effect.runPromise(call)
    await settle()
    const ops = opsSince(before)
    const steps = stepsSince(stepsBefore)
    const { result } = await session.post("Profiler.takePreciseCoverage")
    const paths = filesRun(result as ReadonlyArray<ScriptCoverage>, compiledSrc)
    const lines = paths.reduce((sum, file) => sum + linesOf(file), 0)
    console.log(
      `${name}${paced ? " (paced)" : ""}: ${paths.length} project files, ${lines} lines; ` +
        `${ops.ops} Effect operations in ${ops.turns} fiber turns`
    )
    if (!paced) { for (const file of paths) console.log(`  ${file} (${linesOf(file)})`) }
    return { name, files: paths.length, lines, paths, ops, steps }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await simulator.stop()
  }
}

// `HOT_PATH_LAYERS=1`: the library's call a layer at a time, in place of the four calls: the provider client alone,
// `Llm` over it with one key and no limit, with four keys, with one key and the rate limiter, with both (the bench's
// `llm-stack-stream`), each streamed; and whole, one such `Llm` of two keys and a limiter against a `Router` over two.
const layerCalls = [
  ["client-stream", clientCall(true)],
  ["llm-stream", libraryCall(true, 1, false)],
  ["pool-stream", libraryCall(true, 4, false)],
  ["limiter-stream", libraryCall(true, 1, true)],
  ["stack-stream", libraryCall(true, 4, true)],
  ["single-whole", libraryCall(false)],
  ["router-whole", routerCall(false)]
] as const

const main = async () => {
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: false })
  const calls = process.env.HOT_PATH_LAYERS === "1" ? layerCalls : [
    ["library-stream", libraryCall(true)],
    ["gateway-stream", gatewayCall(true)],
    ["library-whole", libraryCall(false)],
    ["gateway-whole", gatewayCall(false)]
  ] as const
  const results = []
  for (const [name, call] of calls) {
    const whole = await measure(session, name, call, false)
    if (breakdown !== undefined) printCallSteps(name, whole)
    if (name.endsWith("-whole")) {
      results.push({ name, files: whole.files, lines: whole.lines, ops: whole.ops.ops, turns: whole.ops.turns })
      continue
    }
    const paced = await measure(session, name, call, true)
    if (breakdown !== undefined) printTokenSteps(name, whole, paced)
    // A token's own reads: the paced reply's 63 reads past the one of the whole reply.
    const perToken = (figure: keyof OpsCount) =>
      Math.round((paced.ops[figure] - whole.ops[figure]) / (replyTokens - 1) * 10) / 10
    results.push({
      name,
      files: whole.files,
      lines: whole.lines,
      ops: whole.ops.ops,
      turns: whole.ops.turns,
      ops_per_token: perToken("ops"),
      turns_per_token: perToken("turns")
    })
  }
  session.disconnect()
  console.log(JSON.stringify({ results }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
