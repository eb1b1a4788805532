/**
 * Leases in Redis: what an instance holds of a capped resource (a key's
 * in-flight slots, a limiter's concurrency) as members of a sorted set per
 * resource, scored by when they expire. Holders renew theirs while their calls
 * run; an instance that dies stops renewing, and its leases stop counting
 * once their TTL has passed (the next release on the set drops them, and an
 * idle set expires whole). Counts are the live members, so every instance
 * reads the same in-flight numbers.
 *
 * Taking a lease is one script: read every candidate's state in one `HMGET`,
 * skip the disabled and cooling ones and those at their cap (live leases,
 * `ZCOUNT` past now), pick the least loaded (in flight over weight times
 * warm-up share, ties to the one picked longest ago), and add the lease, all
 * atomically.
 */
import * as Effect from "effect/Effect"
import * as Redis from "effect/persistence/Redis"
import * as Schedule from "effect/Schedule"
import type { StoreUnavailableError } from "../../Store.js"
import type { Connection } from "./connection.js"
import { overKeys } from "./script.js"

/** One candidate of `pick`. */
export interface Candidate {
  /** The member name in the state hash: a masked key id, never a key. */
  readonly id: string
  readonly weight: number
  /** `Infinity`: unbounded. */
  readonly maxConcurrency: number
}

// KEYS: the state hash, then one lease set per candidate. ARGV: ttl, lease id,
// slow start (ms), then id, weight, cap (-1: none) per candidate.
// State fields: off:<id> (disabled reason), cool:<id> (cooldown end, kept after
// it for the warm-up), pick:<id> (pick sequence), seq.
const pickScript = overKeys(
  (ttl: number, lease: string, slowStart: number, flat: ReadonlyArray<string | number>) => [ttl, lease, slowStart, ...flat],
  `
local ttl = tonumber(ARGV[1])
local lease = ARGV[2]
local slow = tonumber(ARGV[3])
local n = #KEYS - 1
-- The candidates' state read at once: off, cool and pick per candidate, then
-- seq, by HMGETs of at most 3,000 fields (what unpack takes).
local state, fields = {}, {}
local function read()
  local got = redis.call("HMGET", KEYS[1], unpack(fields))
  for i = 1, #got do state[#state + 1] = got[i] end
  fields = {}
end
for c = 1, n do
  local id = ARGV[4 + (c - 1) * 3]
  fields[#fields + 1] = "off:" .. id
  fields[#fields + 1] = "cool:" .. id
  fields[#fields + 1] = "pick:" .. id
  if #fields >= 3000 then read() end
end
fields[#fields + 1] = "seq"
read()
local best, bestIn, bestShare, bestPick = nil, 0, 1, 0
local earliest = -1
local releasable = 0
local enabled = 0
for c = 1, n do
  local base = 4 + (c - 1) * 3
  local share = tonumber(ARGV[base + 1])
  local cap = tonumber(ARGV[base + 2])
  if not state[c * 3 - 2] then
    enabled = enabled + 1
    local cool = tonumber(state[c * 3 - 1] or "0")
    if cool > now then
      if earliest < 0 or cool < earliest then earliest = cool end
    else
      -- The live leases: the expired ones do not count (a release drops them).
      local inflight = redis.call("ZCOUNT", KEYS[c + 1], "(" .. now, "+inf")
      if cap >= 0 and inflight >= cap then
        releasable = 1
      else
        if slow > 0 and cool > 0 and now - cool < slow then
          share = share * (1 + math.floor((now - cool) * 9 / slow)) / 10
        end
        local pick = tonumber(state[c * 3] or "0")
        local x = inflight * bestShare
        local y = bestIn * share
        if best == nil or x < y or (x == y and pick < bestPick) then
          best, bestIn, bestShare, bestPick = c, inflight, share, pick
        end
      end
    end
  end
end
if best == nil then
  return { 0, earliest, releasable, enabled, now }
end
redis.call("ZADD", KEYS[best + 1], now + ttl, lease)
redis.call("PEXPIRE", KEYS[best + 1], ttl * 2)
local seq = tonumber(state[n * 3 + 1] or "0") + 1
redis.call("HSET", KEYS[1], "seq", seq, "pick:" .. ARGV[4 + (best - 1) * 3], seq)
return { 1, best, 0, enabled, now }
`
).withReturnType<readonly [taken: 0 | 1, indexOrEarliest: number, releasable: 0 | 1, enabled: number, now: number]>()

// ARGV: ttl, then set and lease pairs. Only leases still held are renewed (XX).
const renewScript = Redis.script(
  (ttl: number, pairs: ReadonlyArray<string>) => [ttl, ...pairs],
  {
    numberOfKeys: 0,
    lua: `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call("ZADD", ARGV[i], "XX", now + ttl, ARGV[i + 1])
  redis.call("PEXPIRE", ARGV[i], ttl * 2)
end
return 0
`
  }
)

// KEYS: the lease set, the state hash. ARGV: lease, key id, verdict, then per
// verdict: "rate" asked-ms (or -1), initial, max, jitter factor, cap; "off" reason.
// Returns the cooldown end it set (0: none).
const releaseScript = Redis.script(
  (set: string, state: string, lease: string, id: string, verdict: ReadonlyArray<string | number>) => [
    set,
    state,
    lease,
    id,
    ...verdict
  ],
  {
    numberOfKeys: 2,
    lua: `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if ARGV[1] ~= "" then
  redis.call("ZREM", KEYS[1], ARGV[1])
  -- The set's expired leases (of instances that died) go with it.
  redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
end
local id = ARGV[2]
local verdict = ARGV[3]
if verdict == "success" then
  redis.call("HDEL", KEYS[2], "rl:" .. id)
elseif verdict == "off" then
  redis.call("HSET", KEYS[2], "off:" .. id, ARGV[4])
elseif verdict == "rate" then
  if redis.call("HEXISTS", KEYS[2], "off:" .. id) == 1 then return 0 end
  local cool = tonumber(redis.call("HGET", KEYS[2], "cool:" .. id) or "0")
  local limits = tonumber(redis.call("HGET", KEYS[2], "rl:" .. id) or "0")
  -- A rate limit reported while the key cools (a call sent before) does not count again.
  if cool <= now then
    limits = limits + 1
    redis.call("HSET", KEYS[2], "rl:" .. id, limits)
  end
  local asked = tonumber(ARGV[4])
  if asked < 0 then
    local initial, max = tonumber(ARGV[5]), tonumber(ARGV[6])
    asked = math.min(max, math.floor(math.min(max, initial * 2 ^ (limits - 1)) * tonumber(ARGV[7]) + 0.5))
  end
  local untilAt = now + math.min(tonumber(ARGV[8]), math.max(0, asked))
  -- A cooldown is only ever extended.
  if cool >= untilAt then return 0 end
  redis.call("HSET", KEYS[2], "cool:" .. id, untilAt)
  return untilAt
end
return 0
`
  }
).withReturnType<number>()

// KEYS: the state hash, then one lease set per key. ARGV: the key ids.
// Returns per key: in flight, cooldown end (0: none), disabled reason ("" none).
const statusScript = overKeys(
  (ids: ReadonlyArray<string>) => ids,
  `
local out = {}
for i = 2, #KEYS do
  local id = ARGV[i - 1]
  out[#out + 1] = redis.call("ZCOUNT", KEYS[i], "(" .. now, "+inf")
  out[#out + 1] = tonumber(redis.call("HGET", KEYS[1], "cool:" .. id) or "0")
  out[#out + 1] = redis.call("HGET", KEYS[1], "off:" .. id) or ""
end
out[#out + 1] = now
return out
`
).withReturnType<ReadonlyArray<number | string>>()

/** Members of sorted sets scored by expiry that this instance keeps alive. */
export interface Renewer {
  /** Renews `member` of each of `sets` until `drop`. */
  readonly hold: (member: string, ...sets: ReadonlyArray<string>) => void
  readonly drop: (member: string) => void
}

/**
 * A renewer whose fiber, in the store's scope, pushes the expiry of every held
 * member a TTL ahead every third of the TTL, in one script, while any is held.
 */
export const renewer = (connection: Connection): Effect.Effect<Renewer> =>
  Effect.gen(function*() {
    const ttl = connection.leaseTtlMillis
    const held = new Map<string, ReadonlyArray<string>>()
    const renew = Effect.suspend(() => {
      if (held.size === 0) return Effect.void
      const pairs: Array<string> = []
      for (const [member, sets] of held) for (const set of sets) pairs.push(set, member)
      return Effect.ignore(connection.eval(renewScript)(ttl, pairs))
    })
    yield* Effect.forkIn(Effect.repeat(renew, Schedule.spaced(Math.max(1, Math.floor(ttl / 3)))), connection.scope)
    return {
      hold: (member, ...sets) => {
        held.set(member, sets)
      },
      drop: (member) => {
        held.delete(member)
      }
    }
  })

/** A member name no other instance or call uses. */
export const uniqueId = (): string => `${instance}:${++counter}`

/** Why `pick` handed out nothing. */
export interface Blocked {
  readonly _tag: "Blocked"
  readonly allDisabled: boolean
  /** The earliest cooldown end (Redis epoch ms), when some enabled key cools. */
  readonly availableAt: number | undefined
  /** Some enabled key is at its cap, so a release may free one. */
  readonly releasable: boolean
  /** Redis' time when it looked (epoch ms), to measure `availableAt` against. */
  readonly now: number
}

/** A lease `pick` took. */
export interface Taken {
  readonly _tag: "Taken"
  readonly index: number
  readonly lease: string
}

/** A rate limit reported with a lease: the cooldown it asks for, and how one without `askedMillis` is drawn. */
export interface RateLimited {
  readonly askedMillis: number | undefined
  readonly initialMillis: number
  readonly maxMillis: number
  readonly jitterFactor: number
  readonly capMillis: number
}

/** What `release` tells of the key besides dropping the lease; `undefined`: nothing. */
export type Verdict = "success" | { readonly disabled: string } | RateLimited

/** One candidate's shared state, as `status` reads it. */
interface KeyState {
  readonly inFlight: number
  readonly coolingUntil: number
  readonly disabled: string | undefined
}

/** The leases of one group of candidates (a key pool's keys, or a limiter's one slot) under `key`. */
export interface Group {
  readonly pick: Effect.Effect<Taken | Blocked, StoreUnavailableError>
  /**
   * Drops the lease (if any, `""` for none) and applies the verdict to
   * candidate `index`. A lease of a candidate without a cap, given back with
   * nothing to tell of it (no verdict, or a success), is posted, not waited
   * for: no instance is refused for counting it a round trip longer, and one
   * lost lapses within the TTL.
   */
  readonly release: (index: number, lease: string, verdict: Verdict | undefined) => Effect.Effect<void, StoreUnavailableError>
  readonly status: Effect.Effect<{ readonly now: number; readonly keys: ReadonlyArray<KeyState> }, StoreUnavailableError>
}

const noVerdict = ["none"]
const succeeded = ["success"]

let counter = 0
const instance = globalThis.crypto.randomUUID()

/**
 * A group over `candidates`, whose held leases a fiber in the store's scope
 * renews every third of the TTL while any is held.
 */
export const group = (
  connection: Connection,
  key: string,
  candidates: ReadonlyArray<Candidate>,
  slowStartMillis: number
): Effect.Effect<Group> =>
  Effect.gen(function*() {
    const ttl = connection.leaseTtlMillis
    const state = `${connection.prefix}:leases:${key}:state`
    const sets = candidates.map((candidate) => `${connection.prefix}:leases:${key}:${candidate.id}`)
    const keys = [state, ...sets]
    const ids = candidates.map((candidate) => candidate.id)
    const flat = candidates.flatMap((candidate) => [
      candidate.id,
      candidate.weight,
      candidate.maxConcurrency === Infinity ? -1 : candidate.maxConcurrency
    ])
    const held = yield* renewer(connection)

    const pick = Effect.suspend(() => {
      const lease = uniqueId()
      return Effect.map(
        connection.eval(pickScript)(keys, ttl, lease, slowStartMillis, flat),
        ([taken, index, releasable, enabled, now]): Taken | Blocked => {
          if (taken === 1) {
            held.hold(lease, sets[index - 1]!)
            return { _tag: "Taken", index: index - 1, lease }
          }
          return { _tag: "Blocked", allDisabled: enabled === 0, availableAt: index < 0 ? undefined : index, releasable: releasable === 1, now }
        }
      )
    })

    const release = (index: number, lease: string, verdict: Verdict | undefined) =>
      Effect.suspend(() => {
        held.drop(lease)
        if ((verdict === undefined || verdict === "success") && candidates[index]!.maxConcurrency === Infinity) {
          return connection.post(releaseScript)(sets[index]!, state, lease, ids[index]!, verdict === undefined ? noVerdict : succeeded)
        }
        const args: ReadonlyArray<string | number> = verdict === undefined
          ? noVerdict
          : verdict === "success"
          ? succeeded
          : "disabled" in verdict
          ? ["off", verdict.disabled]
          : ["rate", verdict.askedMillis ?? -1, verdict.initialMillis, verdict.maxMillis, verdict.jitterFactor, verdict.capMillis]
        return Effect.asVoid(connection.eval(releaseScript)(sets[index]!, state, lease, ids[index]!, args))
      })

    const status = Effect.map(connection.eval(statusScript)(keys, ids), (out) => {
      const list: Array<KeyState> = []
      for (let i = 0; i < candidates.length; i++) {
        const reason = String(out[i * 3 + 2])
        list.push({ inFlight: Number(out[i * 3]), coolingUntil: Number(out[i * 3 + 1]), disabled: reason === "" ? undefined : reason })
      }
      return { now: Number(out[out.length - 1]), keys: list }
    })

    return { pick, release, status }
  })
