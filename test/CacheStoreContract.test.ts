/**
 * Every `CacheStore` backend against one contract (`contract/cacheStore.ts`): in memory, and in Redis
 * (`layerStoreRedis`, a real redis-server behind a proxy that can hold its replies back, two instances each with its
 * own connection).
 */
import { CacheStore } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { cacheStoreContract } from "./contract/cacheStore.js"
import { redisInstances } from "./utils/sharedStore.js"

cacheStoreContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.sync(() => {
    const stores = new Map<string, CacheStore.Service>()
    return {
      instances: (namespace) =>
        Effect.gen(function*() {
          const store = stores.get(namespace) ?? (yield* Effect.orDie(CacheStore.makeMemory()))
          stores.set(namespace, store)
          return [store, store] as const
        }),
      elapse: TestClock.adjust,
      shortTtl: "1 minute",
      faults: undefined
    }
  })
})

cacheStoreContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: Effect.map(
    redisInstances((store, namespace: string) =>
      Effect.provide(Effect.service(CacheStore.CacheStore), CacheStore.layerStoreRedis(store, { key: namespace }))
    ),
    // Two seconds: the reads that come after a set come well within it, however loaded the machine.
    (backend) => ({ ...backend, shortTtl: "2 seconds" })
  )
})
