/**
 * The Redis backend of `Router.BreakerStore`: a deployment's circuit breaker and rate-limit hold, shared by every
 * router naming the same store, key and deployment. Every transition is one Lua script on Redis' clock (`TIME`), with
 * the rules of the in-memory breaker (`router/breaker.ts`); the probe is a lease of the store's `leaseTtl`, so an
 * instance that dies while probing frees it.
 *
 * Times come back as milliseconds from Redis' now, so each instance sets its own clock's deadlines from them, whatever
 * the instances' clocks say.
 */
import * as Effect from "effect/Effect"
import type { Breaker, BreakerOptions, BreakerReply } from "../../../../Router.js"
import type { Connection } from "../../../../Store.js"
import type { Shared } from "../../../persistence/failOpen.js"
import { overKeys } from "../../../persistence/script.js"

/** A transition; `send` takes the probe when one is due, `release` ends a probe with no verdict. */
type Op = "send" | "success" | "failure" | "release" | "hold" | "peek"

// KEYS: the state hash, the failures list. ARGV: op, failures, window, period, probe lease (ms), amount (failure: 1
// when the probe failed; hold: its ms).
const breakerScript = overKeys(
  (
    ...argv: [op: Op, failures: number, windowMillis: number, periodMillis: number, probeMillis: number, amount: number]
  ) => argv,
  `
local op = ARGV[1]
local failures = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local probeTtl = tonumber(ARGV[5])
local amount = tonumber(ARGV[6])
local state = redis.call("HGET", KEYS[1], "state") or "closed"
local openUntil = tonumber(redis.call("HGET", KEYS[1], "until") or "0")
local probeUntil = tonumber(redis.call("HGET", KEYS[1], "probe") or "0")
local held = tonumber(redis.call("HGET", KEYS[1], "held") or "0")
local granted = 1
local function open()
  state = "open"
  openUntil = now + period
  probeUntil = 0
  redis.call("DEL", KEYS[2])
end
if op == "send" then
  if state == "open" and now >= openUntil then
    state = "half-open"
    probeUntil = 0
  end
  if state == "open" or (state == "half-open" and probeUntil > now) then
    granted = 0
  elseif state == "half-open" then
    probeUntil = now + probeTtl
  end
elseif op == "success" then
  state = "closed"
  probeUntil = 0
  redis.call("DEL", KEYS[2])
elseif op == "failure" then
  if amount == 1 or state == "half-open" then
    open()
  elseif state == "closed" then
    redis.call("RPUSH", KEYS[2], now)
    while true do
      local first = tonumber(redis.call("LINDEX", KEYS[2], 0))
      if first == nil or first > now - window then break end
      redis.call("LPOP", KEYS[2])
    end
    if redis.call("LLEN", KEYS[2]) >= failures then open() else redis.call("PEXPIRE", KEYS[2], window) end
  end
elseif op == "release" then
  if state == "half-open" then probeUntil = 0 end
elseif op == "hold" then
  held = math.max(held, now + amount)
end
if op ~= "peek" then
  if state == "closed" and held <= now then
    redis.call("DEL", KEYS[1])
  else
    redis.call("HSET", KEYS[1], "state", state, "until", openUntil, "probe", probeUntil, "held", held)
    -- Read as closed once nothing is left to say: the period and the window after the last deadline.
    redis.call("PEXPIRE", KEYS[1], math.max(openUntil, probeUntil, held, now) - now + period + window)
  end
end
local counted = 0
if state == "closed" then counted = redis.call("LLEN", KEYS[2]) end
local openMillis = 0
if state == "open" then openMillis = math.max(0, openUntil - now) end
local probing = 0
if state == "half-open" and probeUntil > now then probing = 1 end
return { state, openMillis, probing, counted, math.max(0, held - now), granted }
`
).withReturnType<
  readonly [
    state: "closed" | "open" | "half-open",
    openMillis: number,
    probing: 0 | 1,
    failures: number,
    heldMillis: number,
    granted: 0 | 1
  ]
>()

/** The breaker of `options.key` in the store. */
export const make = (connection: Connection, options: BreakerOptions): Shared<Breaker> => {
  const keys = [`${connection.prefix}:breaker:${options.key}`, `${connection.prefix}:breaker:${options.key}:failures`]
  const step = (op: Op, amount: number) =>
    Effect.map(
      connection.eval(breakerScript)(
        keys,
        op,
        options.failures,
        options.windowMillis,
        options.periodMillis,
        connection.leaseTtlMillis,
        amount
      ),
      ([state, openMillis, probing, failures, heldMillis, granted]): BreakerReply => ({
        state,
        openMillis: Number(openMillis),
        probing: probing === 1,
        failures: Number(failures),
        heldMillis: Number(heldMillis),
        granted: granted === 1
      })
    )
  return {
    send: step("send", 0),
    success: step("success", 0),
    failure: (probe) => step("failure", probe ? 1 : 0),
    release: step("release", 0),
    hold: (millis) => step("hold", millis),
    peek: step("peek", 0)
  }
}
