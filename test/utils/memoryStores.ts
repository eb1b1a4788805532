/**
 * Library services each over a memory store of its own, as a test that shares no state names them: the store
 * required in `R` provided by its memory layer.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../src/Budget.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Router from "../../src/Router.js"

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

/** `KeyPool.make` over a memory lease store of its own. */
export const poolInMemory = (options: KeyPool.Options) =>
  Effect.provide(KeyPool.make(options), KeyPool.layerStoreMemory)

/** A key-pool registry over a memory lease store: what `KeyPool.layer` and a registry's pools require. */
export const registryInMemory: Layer.Layer<KeyPool.KeyPoolRegistry | KeyPool.LeaseStore> = Layer.merge(
  KeyPool.KeyPoolRegistry.layer,
  KeyPool.layerStoreMemory
)

/** `Router.make` over memory stores of its own. */
export const routerInMemory = <D extends Router.Deployment<unknown, unknown>>(options: Router.Options<D>) =>
  Effect.provide(Router.make(options), Router.layerStoreMemory)

/** `Router.layer` over memory stores of its own. */
export const routerLayerInMemory = <D extends Router.Deployment<unknown, unknown>>(options: Router.Options<D>) =>
  Router.layer(options).pipe(Layer.provide(Router.layerStoreMemory))
