/**
 * `redis-limiter-overhead`: the `llm-stack` call (`Llm` over `OpenAiChat`, a
 * 4-key pool and a rate limiter set high enough not to bind) with the limiter
 * and the key pool kept in a shared `Store`, a real `redis-server` the case
 * starts on a free port, versus the same stack in memory, in the same run,
 * against the simulator, non-streamed. Each call then costs the Redis round
 * trips of the permit and the key lease (each one Lua script) on top of the
 * in-memory stack; the ratio is ours (Redis) / baseline (memory). Skipped,
 * not failed, where `redis-server` is not installed.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Store from "../../src/Store.js"
import { redisServer } from "../../test/utils/redisServer.js"
import type { BenchCase } from "./types.js"

const request = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
const keys = ["sk-bench-0123456789abcde1", "sk-bench-0123456789abcde2", "sk-bench-0123456789abcde3", "sk-bench-0123456789abcde4"]

const llm = (url: string, shared: Store.Shared | undefined) =>
  Layer.build(
    Llm.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini" }),
        KeyPool.layer({ providerId: "bench", keys, shared }).pipe(Layer.provide(KeyPool.KeyPoolRegistry.layer)),
        RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000, shared }).pipe(Layer.orDie)
      ))
    )
  ).pipe(Effect.map(Context.get(Llm.Llm)))

const calling = (service: Llm.Service) =>
  Effect.map(service.chat(request), (response) => {
    if (response.text.length === 0) throw new Error("bench: empty reply")
  })

const redisMissing = (): string | undefined => {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" })
    return undefined
  } catch {
    return "redis-server is not installed (apt-get install redis-server)"
  }
}

export const redisLimiterOverhead: BenchCase = {
  name: "redis-limiter-overhead",
  unavailable: redisMissing,
  ours: (url) =>
    Effect.gen(function*() {
      const server = yield* redisServer
      const store = yield* Store.make({ redis: server.url })
      return calling(yield* llm(url, { store, key: "bench" }))
    }),
  baseline: { effect: (url) => Effect.map(llm(url, undefined), calling) }
}
