/**
 * Leases in Redis: what an instance holds of a capped resource (a key's in-flight slots, a limiter's concurrency;
 * uncapped keys take none, `published.ts`), as members of one sorted set per group (`<lease>|n:<id>`) scored by expiry,
 * each key's count kept beside its other state (`n:<id>` in the group's state hash). Holders renew theirs while their
 * calls run; a dead instance's leases stop counting once their TTL has passed: the next pick drops them and takes them
 * off their keys' counts (a release finding its lease gone leaves the count alone), so every instance reads the same
 * in-flight numbers. A pick that finds no lease held at all sets every count back to none, so a set lost on its own
 * (evicted, deleted) frees its keys within the TTL.
 *
 * Taking a lease is one atomic script whose commands do not grow with the candidates (but for the pruning and a batched
 * `HMGET`): drop the expired leases, read every candidate's state and count, skip the disabled, cooling and capped
 * ones, pick the least loaded (in flight over weight times warm-up share, ties to the one picked longest ago) and add
 * the lease and its count; or decline, when the caller's best key elsewhere (an uncapped one) is no more loaded.
 */
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../../KeyPool.js"
import type { Connection, StoreUnavailableError } from "../../../Store.js"
import { argsOf, open, overKeys, template } from "../../persistence/script.js"
import { uniqueId } from "../../persistence/uniqueId.js"
import { renewer } from "../../store/renewal.js"
import { releaseScript, type Verdict, verdictArgs } from "./verdict.js"

// KEYS: the state hash, the lease set. ARGV: ttl, lease id, slow start (ms), the bar (the load of a key picked
// elsewhere, in flight and share; -1: none), candidates n, then weight and cap (-1: none) per candidate, then the state
// fields to read: off:<id> (disabled reason), cool:<id> (cooldown end, kept after it for the warm-up), pick:<id> (pick
// sequence), n:<id> (leases held) per candidate, then seq, due and ver (the keys' states' version, which each cooldown
// and disable bumps). The lease set's members are "<lease>|n:<id>". Every answer ends with that version.
const pickScript = overKeys(
  (
    ttl: number,
    lease: string,
    slowStart: number,
    barInFlight: number,
    barShare: number,
    flat: ReadonlyArray<string | number>
  ) => [ttl, lease, slowStart, barInFlight, barShare, ...flat],
  `
local state, held = KEYS[1], KEYS[2]
local ttl = tonumber(ARGV[1])
local slow = tonumber(ARGV[3])
local barIn, barShare = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[6])
-- The candidates' state read at once, by HMGETs of at most 3,000 fields (what unpack takes).
local first = 7 + 2 * n
local last = first + 4 * n + 2
local got = redis.call("HMGET", state, unpack(ARGV, first, math.min(last, first + 2999)))
for from = first + 3000, last, 3000 do
  local more = redis.call("HMGET", state, unpack(ARGV, from, math.min(last, from + 2999)))
  for i = 1, #more do got[#got + 1] = more[i] end
end
-- due: at most the earliest expiry in the lease set (renewals only push them later).
-- Once it has passed, the expired leases (of instances that died) are dropped, and
-- their keys' counts with them.
local due = tonumber(got[n * 4 + 2])
if due == nil or due <= now then
  local lapsed = redis.call("ZRANGEBYSCORE", held, "-inf", now)
  if #lapsed > 0 then
    redis.call("ZREMRANGEBYSCORE", held, "-inf", now)
    local gone = {}
    for i = 1, #lapsed do
      local count = string.sub(lapsed[i], string.find(lapsed[i], "|", 1, true) + 1)
      gone[count] = (gone[count] or 0) + 1
    end
    for count, k in pairs(gone) do redis.call("HINCRBY", state, count, -k) end
    for c = 1, n do
      local k = gone[ARGV[first + c * 4 - 1]]
      if k then got[c * 4] = tonumber(got[c * 4] or "0") - k end
    end
  end
  due = tonumber(redis.call("ZRANGE", held, 0, 0, "WITHSCORES")[2])
  if due == nil then
    redis.call("HDEL", state, "due")
    -- No lease held at all: a count left over is stale (the set lost on its own, to eviction or a DEL).
    for c = 1, n do
      if tonumber(got[c * 4] or "0") ~= 0 then
        redis.call("HDEL", state, ARGV[first + c * 4 - 1])
        got[c * 4] = false
      end
    end
  else
    redis.call("HSET", state, "due", due)
  end
end
local ver = got[n * 4 + 3] or "0"
local best, bestIn, bestShare, bestPick = nil, 0, 1, 0
local earliest = -1
local releasable = 0
local enabled = 0
for c = 1, n do
  if not got[c * 4 - 3] then
    enabled = enabled + 1
    local cool = tonumber(got[c * 4 - 2] or "0")
    if cool > now then
      if earliest < 0 or cool < earliest then earliest = cool end
    else
      -- Never below none (a count that lost its hash to eviction and then saw releases).
      local inflight = math.max(0, tonumber(got[c * 4] or "0"))
      local cap = tonumber(ARGV[6 + c * 2])
      if cap >= 0 and inflight >= cap then
        releasable = 1
      else
        local share = tonumber(ARGV[5 + c * 2])
        if slow > 0 and cool > 0 and now - cool < slow then
          share = share * (1 + math.floor((now - cool) * 9 / slow)) / 10
        end
        local pick = tonumber(got[c * 4 - 1] or "0")
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
  return { 0, earliest, releasable, enabled, now, ver }
end
-- The key picked elsewhere is no more loaded: the caller takes it instead.
if barIn >= 0 and barIn * bestShare <= bestIn * barShare then
  return { 2, best, 0, enabled, now, ver }
end
local count = ARGV[first + best * 4 - 1]
redis.call("ZADD", held, now + ttl, ARGV[2] .. "|" .. count)
local seq = tonumber(got[n * 4 + 1] or "0") + 1
if due == nil then
  redis.call("HSET", state, "seq", seq, ARGV[first + best * 4 - 2], seq, count, bestIn + 1, "due", now + ttl)
else
  redis.call("HSET", state, "seq", seq, ARGV[first + best * 4 - 2], seq, count, bestIn + 1)
end
return { 1, best, 0, enabled, now, ver }
`
).withReturnType<
  readonly [taken: 0 | 1 | 2, indexOrEarliest: number, releasable: 0 | 1, enabled: number, now: number, ver: string]
>()

// KEYS: the state hash, the lease set. ARGV: ttl, lease id, the candidate's id, its cap (-1: none). The lease of that
// candidate when it is enabled, not cooling and below its cap (its count as `pick` left it), else none: 1 or 0.
const pickOneScript = overKeys(
  (ttl: number, lease: string, id: string, cap: number) => [ttl, lease, id, cap],
  `
local state, held = KEYS[1], KEYS[2]
local id = ARGV[3]
local got = redis.call("HMGET", state, "off:" .. id, "cool:" .. id, "n:" .. id, "seq", "due")
if got[1] or tonumber(got[2] or "0") > now then return 0 end
local inflight = math.max(0, tonumber(got[3] or "0"))
local cap = tonumber(ARGV[4])
if cap >= 0 and inflight >= cap then return 0 end
local ttl = tonumber(ARGV[1])
redis.call("ZADD", held, now + ttl, ARGV[2] .. "|n:" .. id)
local seq = tonumber(got[4] or "0") + 1
redis.call("HSET", state, "seq", seq, "pick:" .. id, seq, "n:" .. id, inflight + 1)
if not got[5] then redis.call("HSET", state, "due", now + ttl) end
return 1
`
).withReturnType<0 | 1>()

// KEYS: the state hash, the lease set. ARGV: the key ids. Returns per key: in flight (its leases not yet expired),
// cooldown end (0: none), disabled reason ("" none); then now.
const statusScript = overKeys(
  (ids: ReadonlyArray<string>) => ids,
  `
local lapsed = {}
for _, member in ipairs(redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", now)) do
  local count = string.sub(member, string.find(member, "|", 1, true) + 1)
  lapsed[count] = (lapsed[count] or 0) + 1
end
local out = {}
for i = 1, #ARGV do
  local id = ARGV[i]
  local got = redis.call("HMGET", KEYS[1], "n:" .. id, "cool:" .. id, "off:" .. id)
  out[#out + 1] = math.max(0, tonumber(got[1] or "0") - (lapsed["n:" .. id] or 0))
  out[#out + 1] = tonumber(got[2] or "0")
  out[#out + 1] = got[3] or ""
end
out[#out + 1] = now
return out
`
).withReturnType<ReadonlyArray<number | string>>()

const declined: KeyPool.LeaseDeclined = { _tag: "Declined" }

/** The state hash and the lease set of the group under `key`. */
export const keysOf = (connection: Connection, key: string) => ({
  state: `${connection.prefix}:leases:${key}:state`,
  set: `${connection.prefix}:leases:${key}:held`
})

/**
 * The leases of a group over `candidates` (a key pool's keys, or a limiter's one slot) under `key`, each candidate's
 * member name in the state hash a masked key id, never a key; its held leases a fiber in the store's scope renews
 * every third of the TTL.
 */
export const group = (
  connection: Connection,
  key: string,
  candidates: ReadonlyArray<KeyPool.LeaseCandidate>,
  slowStartMillis: number
): Effect.Effect<KeyPool.Leases> =>
  Effect.gen(function*() {
    const ttl = connection.leaseTtlMillis
    const { set, state } = keysOf(connection, key)
    const keys = [state, set]
    const ids = candidates.map((candidate) => candidate.id)
    const counts = ids.map((id) => `n:${id}`)
    const flat = [
      candidates.length,
      ...candidates.flatMap((
        candidate
      ) => [candidate.weight, candidate.maxConcurrency === Infinity ? -1 : candidate.maxConcurrency]),
      ...candidates.flatMap((
        candidate,
        i
      ) => [`off:${candidate.id}`, `cool:${candidate.id}`, `pick:${candidate.id}`, counts[i]!]),
      "seq",
      "due",
      "ver"
    ]
    // The lease set never expires whole: a key's count in the state hash counts its members.
    const held = yield* renewer(connection, false)

    // A pick's arguments made strings once, its lease id left open.
    const picking = connection.bind(pickScript)
    const pickArgs = template(pickScript, keys, ttl, open, slowStartMillis, -1, 0, flat)
    const releasing = connection.bind(releaseScript)
    const releaseArgs = (index: number, lease: string, verdict: ReadonlyArray<string | number>) =>
      argsOf(releaseScript, [set, state, lease, counts[index]!, ids[index]!, verdict])

    const picked =
      (lease: string) =>
      ([taken, index, releasable, enabled, now, ver]: readonly [0 | 1 | 2, number, 0 | 1, number, number, string]):
        | KeyPool.LeaseTaken
        | KeyPool.LeaseBlocked
        | KeyPool.LeaseDeclined =>
      {
        if (taken === 2) return declined
        if (taken === 1) {
          const member = `${lease}|${counts[index - 1]!}`
          held.hold(member, set)
          return { _tag: "Taken", index: index - 1, lease: member, stateVersion: String(ver) }
        }
        return {
          _tag: "Blocked",
          allDisabled: enabled === 0,
          availableAt: index < 0 ? undefined : index,
          releasable: releasable === 1,
          now,
          stateVersion: String(ver)
        }
      }

    // Without a bar the script never declines.
    const pick = Effect.suspend(() => {
      const lease = uniqueId()
      return Effect.map(picking.eval(pickArgs(lease)), picked(lease)) as Effect.Effect<
        KeyPool.LeaseTaken | KeyPool.LeaseBlocked,
        StoreUnavailableError
      >
    })

    const pickBelow = (bar: KeyPool.LeaseLoad) =>
      Effect.suspend(() => {
        const lease = uniqueId()
        return Effect.map(
          picking.eval(argsOf(pickScript, [keys, ttl, lease, slowStartMillis, bar.inFlight, bar.share, flat])),
          picked(lease)
        )
      })

    const pickOne = (index: number) =>
      Effect.suspend(() => {
        const lease = uniqueId()
        const candidate = candidates[index]!
        const cap = candidate.maxConcurrency === Infinity ? -1 : candidate.maxConcurrency
        return Effect.map(connection.eval(pickOneScript)(keys, ttl, lease, candidate.id, cap), (taken) => {
          if (taken !== 1) return undefined
          const member = `${lease}|${counts[index]!}`
          held.hold(member, set)
          return { _tag: "Taken", index, lease: member } satisfies KeyPool.LeaseTaken
        })
      })

    const release = (index: number, lease: string, verdict: Verdict | undefined) =>
      Effect.suspend(() => {
        held.drop(lease)
        return releasing.eval(releaseArgs(index, lease, verdictArgs(verdict)))
      })

    const status = Effect.map(connection.eval(statusScript)(keys, ids), (out) => ({
      now: Number(out[out.length - 1]),
      keys: ids.map((_, i): KeyPool.LeaseKeyState => {
        const reason = String(out[i * 3 + 2])
        return { inFlight: Number(out[i * 3]), coolingUntil: Number(out[i * 3 + 1]), disabled: reason || undefined }
      })
    }))

    return { pick, pickBelow, pickOne, release, status }
  })
