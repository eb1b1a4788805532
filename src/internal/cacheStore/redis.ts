/**
 * `CacheStore` in the shared store: each reply a JSON string under its key with Redis' own expiry, beside a sorted-set
 * index of live keys by expiry that `size` counts; writes and removals touch both in one script. A failing store is
 * `StoreUnavailableError`, which `ResponseCache` treats as a miss: a cache never fails a call, whatever
 * `onUnavailable` says.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Service } from "../../CacheStore.js"
import { ChatResponse } from "../../ChatResponse.js"
import type * as Store from "../../Store.js"
import { overKeys } from "../persistence/script.js"

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

export const make = (store: Store.Store, key: string): Service => {
  const connection = store.connection
  const base = `${connection.prefix}:cache:${key}`
  const index = `${base}#index`
  const entry = (name: string) => `${base}:${name}`
  return {
    // An entry this version cannot read counts as a miss.
    get: (name) =>
      Effect.map(
        connection.send<string | null>("GET", entry(name)),
        (json) => json === null ? Option.none() : decode(json)
      ),
    set: (name, value, ttl) =>
      Effect.asVoid(
        connection.eval(setScript)(
          [entry(name), index],
          encode(value),
          Math.max(1, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(ttl))))
        )
      ),
    delete: (name) => Effect.map(connection.eval(deleteScript)([entry(name), index]), (removed) => removed > 0),
    size: connection.eval(sizeScript)([index])
  }
}
