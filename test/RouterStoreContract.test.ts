/**
 * Every backend of the router's stores (`Router.BreakerStore`, `Router.AffinityStore`, `Router.LearnedLimitStore`)
 * against one contract (`contract/routerStores.ts`): in memory (`layerStoreMemory`, one store for both instances, as
 * routers of one process), and in Redis (`layerStoreRedis`, two instances each with its own connection).
 * `RouterShared.test.ts` runs routers over them, and the deprecated `shared` option; `RouterLearnedLimits.test.ts`
 * routers sharing what they learned.
 */
import { Router } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { routerStoresContract } from "./contract/routerStores.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, proxiedOne } from "./utils/sharedStore.js"

routerStoresContract({
  name: "memory",
  clock: "test",
  connect: Effect.succeed({
    instances: Effect.map(Layer.build(Router.layerStoreMemory), (stores) => [stores, stores] as const),
    elapse: TestClock.adjust,
    faulty: undefined
  })
})

routerStoresContract({
  name: "Redis",
  clock: "live",
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const storesOn = (url: string) =>
      Effect.flatMap(Effect.orDie(connected(url)), (store) => Layer.build(Router.layerStoreRedis(store)))
    return {
      instances: Effect.all([storesOn(redis.url), storesOn(redis.url)]),
      elapse: Effect.sleep,
      // Through a proxy that can hold Redis' replies back.
      faulty: Effect.gen(function*() {
        const { faults, store } = yield* proxiedOne(redis)
        return { stores: yield* Layer.build(Router.layerStoreRedis(store)), faults }
      })
    }
  })
})
