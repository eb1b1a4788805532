/**
 * The token bucket's script as the layout before this one wrote it (the expiry pushed at every write, to what that
 * write needed), for the test of a rolling upgrade: old and new instances sharing one bucket in one Redis.
 * KEYS: the bucket. ARGV: operation, capacity, tokens per millisecond, amount.
 */
export const earlierBucketScript = `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local op = ARGV[1]
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local read = redis.call("HMGET", KEYS[1], "level", "at")
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
  -- Redis writes a number argument with all its digits (%.17g).
  redis.call("HSET", KEYS[1], "level", level, "at", at)
  -- A full bucket is what a missing one reads as: let it go once it would be full.
  redis.call("PEXPIRE", KEYS[1], math.ceil((capacity - level) / rate) + 1000)
end
-- Integers, not formatted numbers: the level in millionths of a token, the wait in whole microseconds (rounded up).
return { granted, math.floor(level * 1000000 + 0.5), math.ceil(wait * 1000) }
`
