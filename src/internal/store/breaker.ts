/**
 * A router deployment's circuit breaker and rate-limit hold in Redis, shared
 * by every router that names the same store, key and deployment: a hash (the
 * state, when an open breaker lets its probe go, the probe's lease, the hold)
 * and a list of the recent failures' times. Every transition is one Lua
 * script on Redis' clock (`TIME`), the same rules as the in-memory breaker
 * (internal/router/cooldown.ts): N failures within the window open it; once the
 * period is over, one `send` across all instances takes the probe (a lease of
 * the store's `leaseTtl`, so an instance that dies while probing frees it); the
 * probe's success closes it, its failure opens it again.
 *
 * Times come back as milliseconds from Redis' now, so each instance sets
 * its own clock's deadlines from them, whatever the instances' clocks say.
 */
import * as Effect from "effect/Effect"
import type { StoreUnavailableError } from "../../Store.js"
import type { Connection } from "../../Store.js"
import { overKeys } from "./script.js"

/**
 * A transition: `send` (an attempt goes out; takes the probe when one is due), `success`, `failure`, `release` (a probe
 * with no verdict), `hold`, `peek`.
 */
export type Op = "send" | "success" | "failure" | "release" | "hold" | "peek"

// KEYS: the state hash, the failures list. ARGV: op, failures, window, period,
// probe lease (ms), amount (failure: 1 when the probe failed; hold: its ms).
const breakerScript = overKeys(
  (op: Op, failures: number, windowMillis: number, periodMillis: number, probeMillis: number, amount: number) => [
    op,
    failures,
    windowMillis,
    periodMillis,
    probeMillis,
    amount
  ],
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
return { state, math.max(0, openUntil - now), probeUntil > now and 1 or 0, math.max(0, held - now), granted }
`
).withReturnType<
  readonly [
    state: "closed" | "open" | "half-open",
    openMillis: number,
    probing: 0 | 1,
    heldMillis: number,
    granted: 0 | 1
  ]
>()

/** The breaker as Redis has it after a transition, its times in milliseconds from now. */
export interface Reply {
  readonly state: "closed" | "open" | "half-open"
  /** While open: how long until the probe may go. */
  readonly openMillis: number
  /** While half-open: whether an instance is probing. */
  readonly probing: boolean
  /** How long the deployment is held back by a rate limit. */
  readonly heldMillis: number
  /** `send`: whether the attempt may go (a half-open breaker's probe taken, or no breaker in the way). */
  readonly granted: boolean
}

/** What the breaker's rules are, as `Cooldown.Settings`. */
export interface Rules {
  readonly failures: number
  readonly windowMillis: number
  readonly periodMillis: number
}

/** A deployment's breaker under `key` of the store. */
export type Breaker = (op: Op, amount?: number) => Effect.Effect<Reply, StoreUnavailableError>

export const make = (connection: Connection, key: string, rules: Rules): Breaker => {
  const keys = [`${connection.prefix}:breaker:${key}`, `${connection.prefix}:breaker:${key}:failures`]
  return (op, amount = 0) =>
    Effect.map(
      connection.eval(breakerScript)(
        keys,
        op,
        rules.failures,
        rules.windowMillis,
        rules.periodMillis,
        connection.leaseTtlMillis,
        amount
      ),
      ([state, openMillis, probing, heldMillis, granted]): Reply => ({
        state,
        openMillis: Number(openMillis),
        probing: probing === 1,
        heldMillis: Number(heldMillis),
        granted: granted === 1
      })
    )
}
