/** The keys' limits of a gateway without a store or a database: every key's limiter and budget in memory. */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../src/Budget.js"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"
import * as RateLimiter from "../../src/RateLimiter.js"

export const memoryKeyLimits = Effect.gen(function*() {
  const stores = yield* Layer.build(
    KeyLimits.layerBudgetStore.pipe(Layer.provide(Layer.merge(RateLimiter.layerStoreMemory, Budget.layerStoreMemory)))
  )
  return yield* KeyLimits.make(Context.get(stores, KeyLimits.KeyLimitStores))
})
