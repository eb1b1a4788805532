/**
 * `redis-limiter-overhead`: the `llm-stack` call (`Llm` over `OpenAiChat`, a
 * 4-key pool and a rate limiter set high enough not to bind) with the limiter
 * and the key pool kept in a shared `Store`, a real `redis-server` the case
 * starts on a free port, versus the same stack in memory, in the same run,
 * against the simulator, non-streamed. Each call then costs the Redis round
 * trips of the permit and the key lease (each one Lua script) on top of the
 * in-memory stack; the ratio is ours (Redis) / baseline (memory).
 *
 * The floor, a third side: the in-memory stack plus the Redis traffic of our
 * protocol with no work in it (not the least any exact design must make:
 * uncapped keys could go without leases), on a `redis-server` of its own: before the call, two scripts sent in one
 * write and both awaited (the permit and the key), after it, one sent without
 * waiting for its reply (the key's release). The scripts are `return 1`, run
 * by `EVALSHA`, over a node-redis client with the store's per-command
 * settings, so the floor pays the round trip and each command's cost, and none
 * of the scripts' work. Its ratio to the baseline is the most our protocol
 * reaches on this machine; ours / floor is what our scripts and code cost on
 * top of it.
 *
 * Ours and the floor each report their `redis-server`'s CPU (from `INFO cpu`)
 * for the bench to read around each round. Skipped, not failed, where
 * `redis-server` is not installed.
 */
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import { commandSettings } from "../../src/internal/store/connection.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Store from "../../src/Store.js"
import { redisServer } from "../../test/utils/redisServer.js"
import type { BenchCase } from "./types.js"

const request = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
const keys = [
  "sk-bench-0123456789abcde1",
  "sk-bench-0123456789abcde2",
  "sk-bench-0123456789abcde3",
  "sk-bench-0123456789abcde4"
]

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

type Client = NodeRedis.NodeRedis["Service"]["client"]

// The CPU time redis-server has spent so far (system and user), in microseconds.
const cpuMicros = (client: Client) =>
  Effect.map(Effect.promise(() => client.sendCommand<string>(["INFO", "cpu"])), (info) => {
    const seconds = (field: string) => {
      const value = new RegExp(`^${field}:([0-9.]+)`, "m").exec(String(info))?.[1]
      if (value === undefined) throw new Error(`bench: no ${field} in INFO cpu`)
      return Number(value)
    }
    return (seconds("used_cpu_sys") + seconds("used_cpu_user")) * 1e6
  })

// A redis-server of the side's own and a client of it made with the store's per-command settings
// (`internal/store/connection.ts`): no offline queue, no per-command timeout.
const redisSide: Effect.Effect<{ readonly url: string; readonly client: Client }, never, Scope.Scope> = Effect.gen(
  function*() {
    const server = yield* redisServer
    const context = yield* Layer.build(
      NodeRedis.layer({ url: server.url, ...commandSettings })
    ).pipe(Effect.orDie)
    return { url: server.url, client: Context.get(context, NodeRedis.NodeRedis).client }
  }
)

const ignore = () => {}

// The floor's traffic around one in-memory call: two trivial scripts in one write (node-redis
// writes the commands of one turn of the event loop together), both awaited; one after, posted.
const aroundCall = (client: Client, sha: string, call: Effect.Effect<void, unknown>) => {
  const evalsha = () => client.sendCommand(["EVALSHA", sha, "0"])
  return Effect.andThen(
    Effect.promise(() => Promise.all([evalsha(), evalsha()])),
    Effect.ensuring(
      call,
      Effect.sync(() => {
        evalsha().then(ignore, ignore)
      })
    )
  )
}

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
      const redis = yield* redisSide
      const store = yield* Store.make({ redis: redis.url })
      return { call: calling(yield* llm(url, { store, key: "bench" })), redisCpuMicros: cpuMicros(redis.client) }
    }),
  baseline: { effect: (url) => Effect.map(llm(url, undefined), calling) },
  floor: (url) =>
    Effect.gen(function*() {
      const redis = yield* redisSide
      const sha = yield* Effect.promise(() => redis.client.sendCommand<string>(["SCRIPT", "LOAD", "return 1"]))
      return {
        call: aroundCall(redis.client, sha, calling(yield* llm(url, undefined))),
        redisCpuMicros: cpuMicros(redis.client)
      }
    })
}
