/**
 * Published counts: how a key pool's uncapped keys are shared. Such a key takes no lease in Redis; each instance counts
 * its own calls and, every `publishPeriod`, publishes its counts and reads the others' in one script: a field per
 * instance in the pool's counts hash, holding when it stops counting (`publishTtl` ahead). A dead instance's field is
 * dropped by the next publish once that time has passed, and the hash expires a TTL after the last publish. The script
 * also reads the keys' states from the state hash (`leases.ts`), but only when their version moved since the caller
 * last read them.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../../KeyPool.js"
import type { Connection } from "../../../Store.js"
import { argsOf, overKeys } from "../../persistence/script.js"
import { uniqueId } from "../../persistence/uniqueId.js"
import * as Leases from "./leases.js"
import { releaseScript, type Verdict, verdictArgs } from "./verdict.js"

// KEYS: the counts hash, the state hash. ARGV: instance, ttl, the state version last read, n, then the n key ids,
// then this instance's n counts. Returns now, the others' counts per key, the state version, then, when that moved,
// per key: disabled reason ("" none), cooldown end (0 none), rate limits since the last success.
const publishScript = overKeys(
  (instance: string, ttl: number, seen: string, ids: ReadonlyArray<string>, counts: ReadonlyArray<number>) => [
    instance,
    ttl,
    seen,
    ids.length,
    ...ids,
    ...counts
  ],
  `
local counts, state = KEYS[1], KEYS[2]
local me, ttl, seen, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local mine = { tostring(now + ttl) }
for c = 1, n do
  local k = ARGV[4 + n + c]
  if k ~= "0" then mine[#mine + 1] = ARGV[4 + c] .. "\\t" .. k end
end
redis.call("HSET", counts, me, table.concat(mine, "\\n"))
redis.call("PEXPIRE", counts, ttl)
local index = {}
for c = 1, n do index[ARGV[4 + c]] = c end
local out = { now }
for c = 1, n do out[c + 1] = 0 end
local all = redis.call("HGETALL", counts)
for i = 1, #all, 2 do
  if all[i] ~= me then
    local value = all[i + 1]
    local cut = string.find(value, "\\n", 1, true)
    local expiry = tonumber(cut and string.sub(value, 1, cut - 1) or value)
    if expiry <= now then
      redis.call("HDEL", counts, all[i])
    elseif cut then
      for id, k in string.gmatch(string.sub(value, cut), "\\n([^\\t]*)\\t(%d+)") do
        local c = index[id]
        if c then out[c + 1] = out[c + 1] + tonumber(k) end
      end
    end
  end
end
local version = redis.call("HGET", state, "ver") or "0"
out[n + 2] = version
if version ~= seen then
  for c = 1, n do
    local id = ARGV[4 + c]
    local got = redis.call("HMGET", state, "off:" .. id, "cool:" .. id, "rl:" .. id)
    out[#out + 1] = got[1] or ""
    out[#out + 1] = tonumber(got[2] or "0")
    out[#out + 1] = tonumber(got[3] or "0")
  end
end
return out
`
).withReturnType<ReadonlyArray<number | string>>()

export type View = KeyPool.LoadsView

/** The published counts under `key` (the key of the pool's lease group) for keys of masked ids `ids`. */
export const make = (connection: Connection, key: string, ids: ReadonlyArray<string>): KeyPool.Loads => {
  const { set, state } = Leases.keysOf(connection, key)
  const keys = [`${connection.prefix}:leases:${key}:counts`, state]
  const instance = uniqueId()
  const ttl = connection.publishTtlMillis
  let seen = ""
  const publishing = connection.bind(publishScript)
  const releasing = connection.bind(releaseScript)
  const releaseArgs = (index: number, verdict: Verdict) =>
    argsOf(releaseScript, [set, state, "", "", ids[index]!, verdictArgs(verdict)])

  const viewOf = (out: ReadonlyArray<number | string>): View => {
    const n = ids.length
    const version = String(out[n + 1])
    const changed = version !== seen
    seen = version
    const elsewhere = new Array<number>(n)
    for (let c = 0; c < n; c++) elsewhere[c] = Number(out[c + 1])
    if (!changed) return { now: Number(out[0]), elsewhere, keys: undefined }
    const states = new Array<KeyPool.PublishedKeyState>(n)
    for (let c = 0; c < n; c++) {
      const reason = String(out[n + 2 + c * 3])
      states[c] = {
        disabled: reason === "" ? undefined : reason,
        coolingUntil: Number(out[n + 3 + c * 3]),
        rateLimits: Number(out[n + 4 + c * 3])
      }
    }
    return { now: Number(out[0]), elsewhere, keys: states }
  }

  return {
    publish: (counts) =>
      Effect.suspend(() =>
        Effect.map(publishing.eval(argsOf(publishScript, [keys, instance, ttl, seen, ids, counts])), viewOf)
      ),
    tell: (index, verdict) => Effect.suspend(() => releasing.eval(releaseArgs(index, verdict))),
    post: (index, verdict) => Effect.suspend(() => releasing.post(releaseArgs(index, verdict))),
    every: (step) =>
      Effect.asVoid(
        Effect.forkIn(
          Effect.forever(Effect.andThen(Effect.sleep(Duration.millis(connection.publishPeriodMillis)), step)),
          connection.scope
        )
      )
  }
}
