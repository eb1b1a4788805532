/**
 * Every backend of a `RateLimiter` against one contract (`contract/rateLimiter.ts`): in memory (one limiter, and two
 * on one key of one memory store), and in Redis (`layerStoreRedis`, two instances each with its own connection
 * through a proxy that can hold Redis' replies back, under the default `onUnavailable: "fail-closed"`; `Store.test.ts`
 * runs the deprecated `shared` option); and the stores under it (`BucketStore`, `SlotStore`) against one contract of
 * their steps, in memory and in Redis.
 */
import { RateLimiter, type Store } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { bucketStoreContract, type ContractOptions, rateLimiterContract } from "./contract/rateLimiter.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, proxiedOne, redisInstances } from "./utils/sharedStore.js"

rateLimiterContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.map(Effect.orDie(RateLimiter.make(options)), (limiter) => [limiter, limiter] as const),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

rateLimiterContract({
  name: "memory, two limiters on one key of layerStoreMemory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.gen(function*() {
        const stores = yield* Layer.build(RateLimiter.layerStoreMemory)
        const key = randomUUID()
        const one = Effect.orDie(Effect.provide(RateLimiter.make({ ...options, key }), stores))
        return [yield* one, yield* one] as const
      }),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

rateLimiterContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: redisInstances((store, options: ContractOptions, key) =>
    Effect.orDie(RateLimiter.make({ ...options, key }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store))))
  )
})

bucketStoreContract({
  name: "memory",
  clock: "test",
  connect: Effect.sync(() => ({
    // One store in memory: both instances are limiters of one process.
    instances: Effect.map(Layer.build(RateLimiter.layerStoreMemory), (stores) => [stores, stores] as const),
    elapse: TestClock.adjust,
    faulty: undefined
  }))
})

bucketStoreContract({
  name: "Redis",
  clock: "live",
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const storesOn = (store: Store.Store) => Layer.build(RateLimiter.layerStoreRedis(store))
    return {
      instances: Effect.all([
        Effect.flatMap(Effect.orDie(connected(redis.url)), storesOn),
        Effect.flatMap(Effect.orDie(connected(redis.url)), storesOn)
      ]),
      elapse: Effect.sleep,
      faulty: (options) =>
        Effect.gen(function*() {
          const { faults, store } = yield* proxiedOne(redis, options)
          return { stores: yield* storesOn(store), faults }
        })
    }
  })
})
