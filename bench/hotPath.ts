/**
 * How long a call's path is: the project files that run for one warm call, read with V8's precise coverage.
 *
 *   npm run hot-path
 *
 * Two calls, each against the simulator in a process of its own (so none of its files count):
 * - `library-stream`: `Llm.chatStream` over Chat Completions, with a key pool and a rate limiter, no router (the
 *   bench's `llm-stack-stream`);
 * - `gateway-stream`: `POST /v1/chat/completions` with `stream: true` to `Gateway.make` serving one Chat Completions
 *   deployment, no gateway keys, read with raw undici.
 *
 * For each: warm-up calls, then the coverage counters read (which resets them), one call, and the counters read again
 * once the call and what it leaves behind have settled. A file ran when one of its functions was called; the lines
 * counted are its TypeScript source's. The compiled library is measured, as users run it (`npm run bench`'s
 * `.bench-build/`). Prints each call's files and lines, then one JSON line.
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
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { filesRun, type ScriptCoverage } from "./coverageFiles.js"
import { firstLine, nodeArgs, spawnNode, stopChild } from "./nodeArgs.js"

const here = path.dirname(fileURLToPath(import.meta.url))
// The compiled `src/` beside this compiled script (`.bench-build/bench/` -> `.bench-build/src/`), and the project.
const compiledSrc = pathToFileURL(path.join(here, "..", "src")).href
const root = path.join(here, "..", "..")

const linesOf = (file: string) => readFileSync(path.join(root, file), "utf8").split("\n").length

const prompt = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
const warmups = 200

/** The simulator in a process of its own: its base URL (with `/v1`) and its stop. */
const startSimulator = async () => {
  const child = spawnNode({ args: nodeArgs("simulatorProcess"), core: 0 })
  const url = await firstLine(child, "the simulator")
  return { url, stop: () => stopChild(child) }
}

/** The library's streamed call: `Llm.chatStream` with a key pool and a rate limiter, read to its end. */
const libraryCall = (url: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Llm.layer({ model: "gpt-4o-mini" }).pipe(
        Layer.provide(Layer.mergeAll(
          OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini" }),
          KeyPool.layer({ providerId: "hot-path", keys: ["sk-hot-path-0123456789ab1", "sk-hot-path-0123456789ab2"] })
            .pipe(Layer.provide(KeyPool.KeyPoolRegistry.layer)),
          RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000 }).pipe(Layer.orDie)
        ))
      )
    )
    const llm = Context.get(context, Llm.Llm)
    return Stream.runDrain(llm.chatStream(prompt))
  })

/** The gateway's streamed call: a `POST /v1/chat/completions` read to its end with raw undici. */
const gatewayCall = (url: string) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: url, api_keys: ["sk-hot-path-0123456789ab1"] }]
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    const body = JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Hi" }] })
    return Effect.promise(async () => {
      const response = await undiciRequest(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body
      })
      const text = await response.body.text()
      if (response.statusCode !== 200 || !text.includes("[DONE]")) {
        throw new Error(`gateway-stream: HTTP ${response.statusCode}: ${text.slice(0, 200)}`)
      }
    })
  })

/** What one call's path is: the files that ran and their lines. */
interface PathResult {
  readonly name: string
  readonly files: number
  readonly lines: number
  readonly paths: ReadonlyArray<string>
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 200))

const measure = async (
  session: Session,
  name: string,
  build: (url: string) => Effect.Effect<Effect.Effect<unknown, unknown>, unknown, Scope.Scope | HttpClient.HttpClient>
): Promise<PathResult> => {
  const simulator = await startSimulator()
  const scope = Effect.runSync(Scope.make())
  try {
    // The HTTP client lives in the scope, as long as the call.
    const call = await Effect.runPromise(
      Effect.gen(function*() {
        const http = yield* Layer.build(UndiciHttpClient.layer())
        return yield* Effect.provide(build(simulator.url), http)
      }).pipe(Scope.provide(scope))
    )
    for (let i = 0; i < warmups; i++) await Effect.runPromise(call)
    await settle()
    await session.post("Profiler.takePreciseCoverage")
    await Effect.runPromise(call)
    await settle()
    const { result } = await session.post("Profiler.takePreciseCoverage")
    const paths = filesRun(result as ReadonlyArray<ScriptCoverage>, compiledSrc)
    const lines = paths.reduce((sum, file) => sum + linesOf(file), 0)
    console.log(`${name}: ${paths.length} project files, ${lines} lines`)
    for (const file of paths) console.log(`  ${file} (${linesOf(file)})`)
    return { name, files: paths.length, lines, paths }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await simulator.stop()
  }
}

const main = async () => {
  const session = new Session()
  session.connect()
  await session.post("Profiler.enable")
  await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: false })
  const results = [
    await measure(session, "library-stream", libraryCall),
    await measure(session, "gateway-stream", gatewayCall)
  ]
  session.disconnect()
  console.log(JSON.stringify({ results: results.map(({ files, lines, name }) => ({ name, files, lines })) }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
