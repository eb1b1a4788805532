/**
 * Library services each over a memory store of its own, as a test that shares no state names them: the store
 * required in `R` provided by its memory layer.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../src/Budget.js"
import * as RateLimiter from "../../src/RateLimiter.js"

/** `Budget.make` over a memory store of its own. */
export const budgetInMemory = (options: Budget.Options) => Effect.provide(Budget.make(options), Budget.layerStoreMemory)

/** `Budget.layer` over a memory store of its own. */
export const budgetLayerInMemory = (options: Budget.Options) =>
  Budget.layer(options).pipe(Layer.provide(Budget.layerStoreMemory))

/** `RateLimiter.make` over memory stores of its own. */
export const limiterInMemory = (options: RateLimiter.Options) =>
  Effect.provide(RateLimiter.make(options), RateLimiter.layerStoreMemory)

/** `RateLimiter.layer` over memory stores of its own. */
export const limiterLayerInMemory = (options: RateLimiter.Options) =>
  RateLimiter.layer(options).pipe(Layer.provide(Layer.fresh(RateLimiter.layerStoreMemory)))
