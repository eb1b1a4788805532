/**
 * `CacheStore` in the shared store: each reply is a JSON string under its
 * key with Redis' own expiry, beside an index of the live keys by expiry
 * (a sorted set) that `size` counts. Writes and removals touch both in one
 * script. The store failing is a `CacheStoreError`, which `ResponseCache`
 * treats as a miss: a cache never fails a call, under either `onUnavailable`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { CacheStoreError, type Service } from "../../CacheStore.js"
import { ChatResponse } from "../../ChatResponse.js"
import type * as Store from "../../Store.js"
import { overKeys } from "./script.js"

// KEYS: the entry, the index. ARGV: the JSON, the time to live (ms).
const setScript = overKeys(
  (json: string, ttl: number) => [json, ttl],
  `
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
redis.call("ZADD", KEYS[2], now + tonumber(ARGV[2]), KEYS[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now)
return 0
`
)

// KEYS: the entry, the index. Whether a live entry was removed.
const deleteScript = overKeys(
  () => [],
  `
redis.call("ZREM", KEYS[2], KEYS[1])
return redis.call("DEL", KEYS[1])
`
).withReturnType<number>()

// KEYS: the index. The live entries.
const sizeScript = overKeys(
  () => [],
  `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
return redis.call("ZCARD", KEYS[1])
`
).withReturnType<number>()

const AsJson = Schema.fromJsonString(Schema.toCodecJson(ChatResponse))
const encode = Schema.encodeSync(AsJson)
const decode = Schema.decodeUnknownOption(AsJson)

/** A cache store under `shared.key` of `shared.store`. */
export const make = (shared: Store.Shared): Service => {
  const connection = shared.store.connection
  const base = `${connection.prefix}:cache:${shared.key}`
  const index = `${base}#index`
  const entry = (key: string) => `${base}:${key}`
  const failed = (operation: CacheStoreError["operation"]) => (error: Store.StoreUnavailableError) =>
    new CacheStoreError({ operation, detail: error.message })
  return {
    // An entry this version cannot read counts as a miss.
    get: (key) =>
      Effect.mapError(
        Effect.map(
          connection.send<string | null>("GET", entry(key)),
          (json) => json === null ? Option.none() : decode(json)
        ),
        failed("get")
      ),
    set: (key, value, ttl) =>
      Effect.mapError(
        Effect.asVoid(
          connection.eval(setScript)(
            [entry(key), index],
            encode(value),
            Math.max(1, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(ttl))))
          )
        ),
        failed("set")
      ),
    delete: (key) =>
      Effect.mapError(
        Effect.map(connection.eval(deleteScript)([entry(key), index]), (removed) => removed > 0),
        failed("delete")
      ),
    size: Effect.mapError(connection.eval(sizeScript)([index]), failed("size"))
  }
}
