/**
 * Every backend of a `KeyPool` against one contract (`contract/keyPool.ts`): in memory (two pools of one
 * `KeyPoolRegistry`, as two models of one process share a provider's keys), and in Redis (`layerStoreRedis`, two
 * instances each with its own connection through a proxy that can hold Redis' replies back, under the default
 * `onUnavailable: "fail-closed"`); and the store under it (`LeaseStore`) against one contract of its steps, in memory
 * and in Redis.
 */
import { KeyPool, type Store } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { type ContractOptions, keyPoolContract, leaseStoreContract } from "./contract/keyPool.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, proxiedOne, redisInstances } from "./utils/sharedStore.js"

keyPoolContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const one = Effect.orDie(registry.pool(options))
        return [yield* one, yield* one] as const
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

keyPoolContract({
  name: "memory, two pools on one key of layerStoreMemory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.gen(function*() {
        const store = yield* Layer.build(KeyPool.layerStoreMemory)
        const key = randomUUID()
        const one = Effect.orDie(Effect.provide(KeyPool.make({ ...options, key }), store))
        return [yield* one, yield* one] as const
      }),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

keyPoolContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: redisInstances((store, options: ContractOptions, key) =>
    Effect.orDie(KeyPool.make({ ...options, key }).pipe(Effect.provide(KeyPool.layerStoreRedis(store))))
  )
})

leaseStoreContract({
  name: "memory",
  clock: "test",
  connect: Effect.sync(() => ({
    // One store in memory: both instances are pools of one process.
    instances: Effect.map(
      Layer.build(KeyPool.layerStoreMemory),
      (context) => [Context.get(context, KeyPool.LeaseStore), Context.get(context, KeyPool.LeaseStore)] as const
    ),
    faulty: undefined
  }))
})

leaseStoreContract({
  name: "Redis",
  clock: "live",
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const storeOn = (store: Store.Store) =>
      Effect.map(Layer.build(KeyPool.layerStoreRedis(store)), (context) => Context.get(context, KeyPool.LeaseStore))
    return {
      instances: Effect.all([
        Effect.flatMap(Effect.orDie(connected(redis.url)), storeOn),
        Effect.flatMap(Effect.orDie(connected(redis.url)), storeOn)
      ]),
      faulty: (options) =>
        Effect.gen(function*() {
          const { faults, store } = yield* proxiedOne(redis, options)
          return { store: yield* storeOn(store), faults }
        })
    }
  })
})
