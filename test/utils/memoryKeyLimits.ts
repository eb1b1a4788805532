/** The keys' limits of a gateway without a store or a database: every key's limiter and budget in memory. */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../src/Budget.js"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"
import * as RateLimiter from "../../src/RateLimiter.js"

export const memoryKeyLimits = Effect.gen(function*() {
  const limiters = yield* Layer.build(RateLimiter.layerStoreMemory)
  const budgets = yield* Layer.build(Budget.layerStoreMemory)
  return yield* KeyLimits.make(KeyLimits.inStore(limiters, Context.get(budgets, Budget.BudgetStore)))
})
