/**
 * Every backend of a `KeyPool` against one contract (`contract/keyPool.ts`): in memory (two pools of one
 * `KeyPoolRegistry`, as two models of one process share a provider's keys), and in Redis (`shared`, two instances
 * each with its own connection, under the default `onUnavailable: "fail-closed"`).
 */
import { KeyPool } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { keyPoolContract } from "./contract/keyPool.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, untilShared } from "./utils/sharedStore.js"

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
      }),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

keyPoolContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const stores = [yield* Effect.orDie(connected(redis.url)), yield* Effect.orDie(connected(redis.url))] as const
    return {
      instances: (options) => {
        const key = randomUUID()
        const one = (store: (typeof stores)[number]) =>
          Effect.orDie(KeyPool.make({ ...options, shared: { store, key } }))
        return Effect.all([one(stores[0]), one(stores[1])])
      },
      elapse: Effect.sleep,
      faults: {
        stop: redis.stop,
        start: Effect.andThen(
          redis.start,
          Effect.orDie(Effect.scoped(Effect.forEach(stores, untilShared, { discard: true })))
        )
      }
    }
  })
})
