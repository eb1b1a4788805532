/**
 * Every backend of the gateway's `StoredResponses` against one contract (`contract/responsesStore.ts`): in memory
 * (`layerStoreMemory`, on the `Clock`, one store for both instances, as the gateway makes it), and in Redis
 * (`layerStoreRedis`, a real redis-server behind a proxy that can hold its replies back, two instances each with its
 * own connection).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import {
  layerStoreMemory,
  type Service,
  StoredResponses,
  type StoreOptions
} from "../../src/internal/gateway/responses/store.js"
import { layerStoreRedis } from "../../src/internal/gateway/responses/storeRedis.js"
import { responsesStoreContract } from "../contract/responsesStore.js"
import { redisInstances } from "../utils/sharedStore.js"

function built<E, R>(layer: Layer.Layer<StoredResponses, E, R>): Effect.Effect<Service, E, R | Scope.Scope> {
  return Effect.map(Layer.build(layer), (context) => Context.get(context, StoredResponses))
}

responsesStoreContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) => Effect.map(built(layerStoreMemory(options)), (store) => [store, store] as const),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

responsesStoreContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: redisInstances((store, options: StoreOptions) => built(layerStoreRedis(store, options)))
})
