/**
 * What a key's outcome writes in its pool's state hash (`leases.ts`): a success clears its rate-limit count, a rate
 * limit counts and extends its cooldown, an auth failure disables it; the same script gives back the key's lease.
 */
import * as Redis from "effect/persistence/Redis"
import type * as KeyPool from "../../../KeyPool.js"

// KEYS: the lease set, the state hash. ARGV: lease member ("" none), its key's count field, key id, verdict, then per
// verdict: "rate" asked-ms (or -1), initial, max, jitter factor, cap; "off" reason. Returns the key's cooldown end (0:
// none) and Redis' time. The count goes down only when the lease was still there (a pick may have dropped it as
// expired). A cooldown or a disable bumps the hash's "ver", so readers of the keys' states (`published.ts`) know to
// read them again.
export const releaseScript = Redis.script(
  (set: string, state: string, lease: string, count: string, id: string, verdict: ReadonlyArray<string | number>) => [
    set,
    state,
    lease,
    count,
    id,
    ...verdict
  ],
  {
    numberOfKeys: 2,
    lua: `
if ARGV[1] ~= "" and redis.call("ZREM", KEYS[1], ARGV[1]) == 1 then
  redis.call("HINCRBY", KEYS[2], ARGV[2], -1)
end
local id = ARGV[3]
local verdict = ARGV[4]
if verdict == "success" then
  redis.call("HDEL", KEYS[2], "rl:" .. id)
elseif verdict == "off" then
  redis.call("HSET", KEYS[2], "off:" .. id, ARGV[5])
  redis.call("HINCRBY", KEYS[2], "ver", 1)
elseif verdict == "rate" then
  local time = redis.call("TIME")
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if redis.call("HEXISTS", KEYS[2], "off:" .. id) == 1 then return { 0, now } end
  redis.call("HINCRBY", KEYS[2], "ver", 1)
  local cool = tonumber(redis.call("HGET", KEYS[2], "cool:" .. id) or "0")
  local limits = tonumber(redis.call("HGET", KEYS[2], "rl:" .. id) or "0")
  -- A rate limit reported while the key cools (a call sent before) does not count again.
  if cool <= now then
    limits = limits + 1
    redis.call("HSET", KEYS[2], "rl:" .. id, limits)
  end
  local asked = tonumber(ARGV[5])
  if asked < 0 then
    local initial, max = tonumber(ARGV[6]), tonumber(ARGV[7])
    asked = math.min(max, math.floor(math.min(max, initial * 2 ^ (limits - 1)) * tonumber(ARGV[8]) + 0.5))
  end
  local untilAt = now + math.min(tonumber(ARGV[9]), math.max(0, asked))
  -- A cooldown is only ever extended.
  if cool >= untilAt then return { cool, now } end
  redis.call("HSET", KEYS[2], "cool:" .. id, untilAt)
  return { untilAt, now }
end
return { 0, 0 }
`
  }
).withReturnType<readonly [coolingUntil: number, now: number]>()

/** What `release` tells of the key besides dropping the lease; `undefined`: nothing. */
export type Verdict = KeyPool.LeaseVerdict

const noVerdict = ["none"]
const succeeded = ["success"]

/** What `releaseScript` is told of a verdict, after the key's id. */
export const verdictArgs = (verdict: Verdict | undefined): ReadonlyArray<string | number> =>
  verdict === undefined
    ? noVerdict
    : verdict === "success"
    ? succeeded
    : "disabled" in verdict
    ? ["off", verdict.disabled]
    : [
      "rate",
      verdict.askedMillis ?? -1,
      verdict.initialMillis,
      verdict.maxMillis,
      verdict.jitterFactor,
      verdict.capMillis
    ]
