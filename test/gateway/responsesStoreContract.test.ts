/**
 * Every backend of the gateway's `ResponsesStore` against one contract (`contract/responsesStore.ts`): in memory (on
 * the `Clock`, as the gateway makes it), and in Redis (two instances, each with its own connection).
 */
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as ResponsesStore from "../../src/internal/gateway/responses/store.js"
import * as ResponsesStoreRedis from "../../src/internal/gateway/responses/storeRedis.js"
import { responsesStoreContract } from "../contract/responsesStore.js"
import { redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"

responsesStoreContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.clockWith((clock) => {
        const store = ResponsesStore.make(() => clock.currentTimeMillisUnsafe(), options)
        return Effect.succeed([store, store] as const)
      }),
    elapse: TestClock.adjust,
    stop: undefined
  })
})

responsesStoreContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const stores = [yield* Effect.orDie(connected(redis.url)), yield* Effect.orDie(connected(redis.url))] as const
    return {
      instances: (options) =>
        Effect.succeed(
          [ResponsesStoreRedis.make(stores[0], options), ResponsesStoreRedis.make(stores[1], options)] as const
        ),
      elapse: Effect.sleep,
      stop: redis.stop
    }
  })
})
