/**
 * Every backend of a `RateLimiter` against one contract (`contract/rateLimiter.ts`): in memory, and in Redis
 * (`shared`, two instances each with its own connection, under the default `onUnavailable: "fail-closed"`).
 */
import { RateLimiter } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { rateLimiterContract } from "./contract/rateLimiter.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, untilShared } from "./utils/sharedStore.js"

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
          Effect.orDie(RateLimiter.make({ ...options, shared: { store, key } }))
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
