/**
 * Where `ResponseCache` keeps replies: a key-value store of `ChatResponse`s with a time to live per entry.
 * `layerStoreMemory` keeps them in this process, bounded by a capacity with least-recently-used eviction;
 * `layerStoreRedis` in a `Store` (Redis), shared by every instance; another store implements the same `Service` (the
 * contract every backend keeps: `test/contract/cacheStore.ts`).
 *
 * The memory store is a `Map` kept in recency order (a read moves its entry to the end). Effect's `Cache` does not
 * fit: it computes values through a lookup with one time to live for the whole cache, while this store is written
 * after a call completes, with the caller's time to live.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ChatResponse } from "./ChatResponse.js"
import * as Redis from "./internal/cacheStore/redis.js"
import * as Invalid from "./internal/optionsError.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Store from "./Store.js"

/**
 * A store that could not be read or written (a network store unreachable).
 * `ResponseCache` treats it as a miss, never as a failed call.
 *
 * @deprecated since 0.3.0: a store fails with `Store.StoreUnavailableError`, as every store of the library does
 * (`layerStoreRedis` does). A store of your own may still fail with this until 0.4.0, which removes it.
 * @since 0.1.0
 * @category Errors
 */
export class CacheStoreError extends Schema.TaggedError<CacheStoreError>()("CacheStoreError", {
  operation: Schema.Literals(["get", "set", "delete", "size"]),
  detail: Schema.String
}) {
  override get message() {
    return `The response cache store failed to ${this.operation}: ${this.detail}`
  }
}

/**
 * What a store's step fails with: `Store.StoreUnavailableError` (the deprecated `CacheStoreError` from a store of
 * your own, until 0.4.0).
 *
 * @since 0.3.0
 * @category Errors
 */
export type StoreError = Store.StoreUnavailableError | CacheStoreError

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** The live entry under `key`, if any; reading it makes it the most recently used. */
  readonly get: (key: string) => Effect.Effect<Option.Option<ChatResponse>, StoreError>
  /** Stores `value` under `key` for `ttl`, replacing what was there. */
  readonly set: (key: string, value: ChatResponse, ttl: Duration.Input) => Effect.Effect<void, StoreError>
  /** Whether a live entry was removed. */
  readonly delete: (key: string) => Effect.Effect<boolean, StoreError>
  /** The number of live entries. */
  readonly size: Effect.Effect<number, StoreError>
}

/**
 * The service's tag: provide another `Service` under it to keep replies elsewhere.
 *
 * @example
 * ```ts
 * import { Duration, Effect, Layer, Option } from "effect"
 * import { CacheStore, type ChatResponse, Store } from "effect-llm-router"
 *
 * // A store over a key-value client of your own (Redis, a database).
 * declare const kv: {
 *   readonly get: (key: string) => Promise<ChatResponse.ChatResponse | undefined>
 *   readonly set: (key: string, value: ChatResponse.ChatResponse, ttlMillis: number) => Promise<void>
 *   readonly delete: (key: string) => Promise<boolean>
 *   readonly size: () => Promise<number>
 * }
 * const call = <A>(operation: "get" | "set" | "delete" | "size", run: () => Promise<A>) =>
 *   Effect.tryPromise({
 *     try: run,
 *     catch: (cause) => new Store.StoreUnavailableError({ address: "my kv", reason: `${operation}: ${cause}` })
 *   })
 *
 * const KvStore = Layer.succeed(CacheStore.CacheStore, {
 *   get: (key) => Effect.map(call("get", () => kv.get(key)), Option.fromUndefinedOr),
 *   set: (key, value, ttl) => call("set", () => kv.set(key, value, Duration.toMillis(ttl))),
 *   delete: (key) => call("delete", () => kv.delete(key)),
 *   size: call("size", () => kv.size())
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class CacheStore extends Context.Service<CacheStore, Service>()("effect-llm-router/CacheStore") {}

/**
 * @since 0.1.0
 * @category Models
 */
export interface MemoryOptions {
  /** The most live entries; storing one more evicts the least recently used. Default: 1000. */
  readonly capacity?: number
}

interface Entry {
  readonly value: ChatResponse
  readonly expiresAt: number
}

/**
 * An in-memory store. A capacity that is not a positive whole number fails with `OptionsError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CacheStore, Llm, Message } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* CacheStore.makeMemory({ capacity: 100 })
 *   const reply = yield* Llm.chat({ messages: [Message.user("Hi")] })
 *   yield* store.set("greeting", reply, "10 minutes")
 *   return yield* store.get("greeting") // Option.some(reply) for the next 10 minutes
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<Service, OptionsError> =>
  Effect.suspend(() => {
    const capacity = options?.capacity ?? 1000
    const invalid = Invalid.positive("CacheStore", "capacity", capacity, { integer: true })
    if (invalid !== undefined) return Effect.fail(invalid)
    const entries = new Map<string, Entry>()
    const sweep = (now: number) => {
      for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
    }
    const live = (key: string, now: number) => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry.expiresAt <= now) {
        entries.delete(key)
        return undefined
      }
      return entry
    }
    return Effect.succeed(CacheStore.of({
      get: (key) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          const entry = live(key, now)
          if (entry === undefined) return Option.none()
          entries.delete(key)
          entries.set(key, entry)
          return Option.some(entry.value)
        }),
      set: (key, value, ttl) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          entries.delete(key)
          if (entries.size >= capacity) sweep(now)
          if (entries.size >= capacity) entries.delete(entries.keys().next().value!)
          entries.set(key, { value, expiresAt: now + Duration.toMillis(ttl) })
        }),
      delete: (key) =>
        Effect.map(Clock.currentTimeMillis, (now) => live(key, now) !== undefined && entries.delete(key)),
      size: Effect.map(Clock.currentTimeMillis, (now) => {
        sweep(now)
        return entries.size
      })
    }))
  })

/**
 * A `CacheStore` in this process' memory, on the `Clock` (`TestClock` drives its expiry). A capacity that is not a
 * positive whole number fails with `OptionsError`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { CacheStore, type Llm, ResponseCache } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 *
 * // The 10,000 replies used most recently, each for a day.
 * const Cached = ResponseCache.layer({ ttl: "1 day" }).pipe(
 *   Layer.provide(OpenAi),
 *   Layer.provide(CacheStore.layerStoreMemory({ capacity: 10_000 }))
 * )
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreMemory = (options?: MemoryOptions): Layer.Layer<CacheStore, OptionsError> =>
  Layer.effect(CacheStore, makeMemory(options))

/**
 * An in-memory `CacheStore`.
 *
 * @deprecated since 0.3.0: use `layerStoreMemory`, which this is. Removed in 0.4.0.
 * @since 0.1.0
 * @category Layers
 */
export const layerMemory: (options?: MemoryOptions) => Layer.Layer<CacheStore, OptionsError> = layerStoreMemory

/**
 * Options of `layerStoreRedis`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface RedisStoreOptions {
  /** The name the replies are kept under: stores naming the same key of one `Store` share them. Default `"default"`. */
  readonly key?: string | undefined
}

/**
 * A `CacheStore` in a shared `Store` (Redis): every instance naming the same store and key reads the replies any of
 * them stored. Entries expire in Redis (no capacity: Redis' own memory policy bounds it). A step Redis does not answer
 * in time fails with `Store.StoreUnavailableError`, whatever `onUnavailable`: `ResponseCache` counts it as a miss.

 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { CacheStore, type Llm, ResponseCache, Store } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 *
 * // Replies cached for an hour, shared by every instance.
 * const Cached = Layer.unwrap(Effect.map(Store.make({ redis: "redis://127.0.0.1:6379" }), (store) =>
 *   ResponseCache.layer({ ttl: "1 hour" }).pipe(
 *     Layer.provide(OpenAi),
 *     Layer.provide(CacheStore.layerStoreRedis(store, { key: "replies" }))
 *   )))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreRedis = (store: Store.Store, options?: RedisStoreOptions): Layer.Layer<CacheStore> =>
  Layer.succeed(CacheStore, Redis.make(store, options?.key ?? "default"))

/**
 * A store in `shared.store` under `shared.key`.
 *
 * @deprecated since 0.3.0: use `layerStoreRedis(store, { key })`, which this calls. Removed in 0.4.0.
 * @since 0.3.0
 * @category Layers
 */
export const layerShared = (shared: Store.Shared): Layer.Layer<CacheStore> =>
  layerStoreRedis(shared.store, { key: shared.key })
