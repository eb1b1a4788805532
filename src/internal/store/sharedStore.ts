/**
 * The store a gateway's instances share, as a service: the one connection `Store.make` made for the gateway's life,
 * which every gateway store kept in Redis needs (its `layerRedis`); the gateway gives it once, for all of them.
 */
import * as Context from "effect/Context"
import type * as Store from "../../Store.js"

/** The Redis store the instances share. */
export class SharedStore extends Context.Service<SharedStore, Store.Store>()("effect-llm-router/store/SharedStore") {}
