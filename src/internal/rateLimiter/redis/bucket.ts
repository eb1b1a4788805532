/**
 * A token bucket in Redis: the level and when it was last read, in one hash changed only by one Lua script that reads
 * Redis' time (`TIME`), so every instance sees one bucket on one clock.
 *
 * A `take` reserves: it takes its tokens at once, the level going below zero, and waits until they would have refilled,
 * so tokens go out in the order the takes reached Redis and no window `t` sees more than `capacity + rate * t` of them,
 * whichever instance asks. effect/persistence's `RateLimiter` store refills in whole tokens on the caller's clock,
 * which would make the bound depend on the instances' clocks.
 */
import * as Effect from "effect/Effect"
import * as Redis from "effect/persistence/Redis"
import type * as RateLimiter from "../../../RateLimiter.js"
import type { Connection } from "../../../Store.js"
import { open, template } from "../../persistence/script.js"
import { bucketOf, type Step } from "../level.js"

const bucketScript = Redis.script(
  (key: string, op: Step, capacity: number, perMilli: number, amount: number) => [key, op, capacity, perMilli, amount],
  {
    numberOfKeys: 1,
    lua: `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local op = ARGV[1]
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local read = redis.call("HMGET", KEYS[1], "level", "at", "exp")
local level = tonumber(read[1])
local at = tonumber(read[2])
if level == nil or at == nil then
  level = capacity
  at = now
end
if now > at then
  level = math.min(capacity, level + (now - at) * rate)
  at = now
end
local granted = 1
local wait = 0
if op == "take" then
  level = level - amount
  if level < -1e-9 then wait = -level / rate end
elseif op == "try" then
  if level >= amount - 1e-9 then
    level = level - amount
  else
    granted = 0
    wait = (amount - level) / rate
  end
elseif op == "give" then
  level = math.min(capacity, level + amount)
elseif op == "charge" then
  level = level - amount
elseif op == "reset" then
  level = capacity
end
if op ~= "peek" then
  -- A full bucket is what a missing one reads as: it may go once it would be full, and not before. Its expiry (kept
  -- in "exp") is pushed only when due, to twice what it needs. "at" is written with a trailing space (read as the same
  -- number): the earlier layout's script, which pushed the expiry at every write, to what that write needed, rewrites
  -- it without one, so after such a write "exp" is not trusted and the expiry is pushed again.
  local ttl = math.ceil((capacity - level) / rate) + 1000
  local stamp = string.format("%.17g ", at)
  local exp = tonumber(read[3])
  if exp == nil or exp < now + ttl or not read[2] or string.byte(read[2], -1) ~= 32 then
    redis.call("HSET", KEYS[1], "level", level, "at", stamp, "exp", math.floor(now) + 2 * ttl)
    redis.call("PEXPIRE", KEYS[1], 2 * ttl)
  else
    redis.call("HSET", KEYS[1], "level", level, "at", stamp)
  end
end
-- Integers, not formatted numbers: the level in millionths of a token, the wait in whole microseconds (rounded up).
return { granted, math.floor(level * 1000000 + 0.5), math.ceil(wait * 1000) }
`
  }
).withReturnType<readonly [granted: 0 | 1, microLevel: number, waitMicros: number]>()

const parse = ([granted, microLevel, waitMicros]: readonly [0 | 1, number, number]): RateLimiter.BucketResult => ({
  granted: granted === 1,
  level: microLevel / 1_000_000,
  waitMillis: waitMicros / 1000
})

/** The bucket under `key` of the store: `RateLimiter.layerStoreRedis`'s `BucketStore`. */
export const make = (connection: Connection, options: RateLimiter.BucketOptions): RateLimiter.Bucket => {
  const fullKey = `${connection.prefix}:bucket:${options.key}`
  const script = connection.bind(bucketScript)
  // Each operation's arguments made strings once, the amount left open.
  return bucketOf((name) => {
    const args = template(bucketScript, fullKey, name, options.capacity, options.refillRate / 1000, open)
    return (amount) => Effect.map(script.eval(args(String(amount))), parse)
  })
}
