/**
 * `redis-limiter-overhead`: the `llm-stack` call (`Llm` over `OpenAiChat`, a
 * 4-key pool and a rate limiter set high enough not to bind) with the limiter
 * and the key pool kept in a shared `Store`, a real `redis-server` the case
 * starts on a free port, versus the same stack in memory, in the same run,
 * against the simulator, non-streamed. The keys have no cap, so each call
 * costs one Redis round trip on top of the in-memory stack: the permit (one
 * Lua script); the key is picked over the counts each instance publishes. The
 * ratio is ours (Redis) / baseline (memory).
 *
 * `redis-limiter-overhead-capped`: the same with every key capped (far above
 * what the bench holds), so each call also takes a lease in Redis after its
 * permit, and gives it back after the call: three round trips.
 *
 * The floor, a third side of each: the in-memory stack plus the Redis traffic
 * of the case's protocol with no work in it, on a `redis-server` of its own:
 * the same round trips made with a script that is `return 1`, run by
 * `EVALSHA` over a node-redis client with the store's per-command settings,
 * so the floor pays the round trips and each command's cost, and none of the
 * scripts' work. Its ratio to the baseline is the most the protocol reaches on
 * this machine; ours / floor is what our scripts and code cost on top of it.
 *
 * Ours and the floor each report their `redis-server`'s CPU (from `INFO cpu`)
 * for the bench to read around each round, so the ratio in CPU a call can
 * count Redis' CPU too. Skipped, not failed, where `redis-server` is not
 * installed.
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

const cappedKeys = keys.map((key) => ({ key, maxConcurrency: 1_000 }))

// The stack over the store's Redis layers (the pool's leases and the limiter's buckets), or in memory without one.
const llm = (url: string, store: Store.Store | undefined, poolKeys: KeyPool.Options["keys"] = keys) => {
  const pool = KeyPool.layer({ providerId: "bench", keys: poolKeys, key: "bench" }).pipe(
    Layer.provide(KeyPool.KeyPoolRegistry.layer)
  )
  const limiter = RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000, key: "bench" }).pipe(Layer.orDie)
  return Layer.build(
    Llm.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini" }),
        Layer.provide(pool, store === undefined ? KeyPool.layerStoreMemory : KeyPool.layerStoreRedis(store)),
        Layer.provide(limiter, store === undefined ? RateLimiter.layerStoreMemory : RateLimiter.layerStoreRedis(store))
      ))
    )
  ).pipe(Effect.map(Context.get(Llm.Llm)))
}

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

/** The Redis traffic of a protocol around one call: scripts awaited one after another before it, and after it. */
interface Traffic {
  readonly before: number
  readonly after: number
}

// The floor's traffic around one in-memory call, each script a trivial one.
const aroundCall = (client: Client, sha: string, traffic: Traffic, call: Effect.Effect<void, unknown>) => {
  const evalsha = Effect.promise(() => client.sendCommand(["EVALSHA", sha, "0"]))
  const times = (n: number) => Effect.repeat(evalsha, { times: n - 1 })
  return Effect.andThen(
    traffic.before === 0 ? Effect.void : times(traffic.before),
    Effect.ensuring(call, traffic.after === 0 ? Effect.void : Effect.asVoid(times(traffic.after)))
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

const redisCase = (name: string, poolKeys: KeyPool.Options["keys"], traffic: Traffic): BenchCase => ({
  name,
  unavailable: redisMissing,
  ours: (url) =>
    Effect.gen(function*() {
      const redis = yield* redisSide
      const store = yield* Store.make({ redis: redis.url })
      return {
        call: calling(yield* llm(url, store, poolKeys)),
        redisCpuMicros: cpuMicros(redis.client)
      }
    }),
  baseline: { effect: (url) => Effect.map(llm(url, undefined, poolKeys), calling) },
  floor: (url) =>
    Effect.gen(function*() {
      const redis = yield* redisSide
      const sha = yield* Effect.promise(() => redis.client.sendCommand<string>(["SCRIPT", "LOAD", "return 1"]))
      return {
        call: aroundCall(redis.client, sha, traffic, calling(yield* llm(url, undefined, poolKeys))),
        redisCpuMicros: cpuMicros(redis.client)
      }
    })
})

/** Keys without a cap: the permit before the call, nothing after. */
export const redisLimiterOverhead = redisCase("redis-limiter-overhead", keys, { before: 1, after: 0 })

/** Capped keys: the permit, then the key's lease, before the call; the lease's release after it. */
export const redisLimiterOverheadCapped = redisCase("redis-limiter-overhead-capped", cappedKeys, {
  before: 2,
  after: 1
})
