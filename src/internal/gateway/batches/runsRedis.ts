/**
 * The batches the gateway runs as calls (`runs.ts`' `RunStore`) in the shared Redis, for instances that share no
 * database: any instance answers a run's retrieve, cancel and result files, and takes up the running of one whose
 * instance stopped. Each writing step is one Lua script, so it is atomic as the SQL store's statements are, and keeps
 * the same bounds (`runs.ts`) as `persistence/bounded.ts` does over the other stores.
 *
 * Under `<prefix>:batches:`: a run's hash (`run:<id>`, with its answers' counts, so its progress is read without its
 * answers), its unanswered custom ids (`run:<id>:ids`), its answers by custom id (`run:<id>:answers`, each the JSON the
 * SQL store keeps); the runs in start order, all (`runs:order`) and each maker's (`runs:owner:<owner>`), the ended ones
 * (`runs:ended`, `runs:ended:<owner>`), and the bytes of all (`"*"`) and of each maker (the hash `runs:bytes`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Leases from "../../persistence/lease.js"
import { overArgv, overArgvOf } from "../../persistence/script.js"
import { SharedStore } from "../../store/sharedStore.js"
import {
  answerJson,
  answerOf,
  customIdsOf,
  decodeLines,
  encodeAnswer,
  type Lease,
  outcomeOf,
  refusedBy,
  type Run,
  type Runs,
  type RunsFull,
  RunStore
} from "./runs.js"
import { pairsOf } from "./settlementsRedis.js"
import { bounds } from "./store.js"

// The runs' index, and a run dropped from it with its keys. ARGV[1]: the prefix.
const runsIndex = `
local prefix = ARGV[1]
local order, ended, totals = prefix .. "runs:order", prefix .. "runs:ended", prefix .. "runs:bytes"
local function ownerOrder(owner) return prefix .. "runs:owner:" .. owner end
local function ownerEnded(owner) return prefix .. "runs:ended:" .. owner end
local function dropRun(gone)
  local key = prefix .. "run:" .. gone
  local kept = redis.call("HMGET", key, "owner", "bytes")
  redis.call("DEL", key, key .. ":ids", key .. ":answers")
  redis.call("ZREM", order, gone)
  redis.call("ZREM", ended, gone)
  if kept[1] then
    redis.call("ZREM", ownerOrder(kept[1]), gone)
    redis.call("ZREM", ownerEnded(kept[1]), gone)
    local bytes = tonumber(kept[2] or "0")
    redis.call("HINCRBY", totals, "*", -bytes)
    if redis.call("HINCRBY", totals, kept[1], -bytes) <= 0 then redis.call("HDEL", totals, kept[1]) end
  end
end
`

/** A run's fields, and what bounds it, as the start script takes them. */
interface Start extends Run {
  readonly lines: string
  /** Its custom ids, one a line of the text. */
  readonly ids: string
  readonly customIds: string
  readonly bytes: number
  readonly total: number
  /** The runs kept are those started from this instant on. */
  readonly since: number
}

// ARGV: the prefix, the run's id, model, maker, lines' JSON, start, custom ids (one a line), their JSON, bytes, count,
// the first start kept, how long Redis keeps it at most (ms: past its time, a run nobody starts after is let go of all
// the same), then the maker's count and bytes bounds and all's. Its reply: "started", "kept" (started already), or the
// name of the bound that refused it.
const startScript = overArgvOf(
  (prefix: string, run: Start) => [
    prefix,
    run.id,
    run.model,
    run.owner,
    run.lines,
    run.startedAt,
    run.ids,
    run.customIds,
    run.bytes,
    run.total,
    run.since,
    Duration.toMillis(bounds.batchTtl),
    bounds.ownerRuns,
    bounds.ownerRunBytes,
    bounds.runs,
    bounds.runBytesInAll
  ],
  runsIndex + `
local id, owner, bytes = ARGV[2], ARGV[4], tonumber(ARGV[9])
for _, gone in ipairs(redis.call("ZRANGEBYSCORE", order, "-inf", "(" .. ARGV[11])) do dropRun(gone) end
local key = prefix .. "run:" .. id
if redis.call("EXISTS", key) == 1 then return "kept" end
-- The oldest ended runs to let go of, the maker's bound then all's (persistence/bounded.ts), chosen before anything
-- changes: a run refused changes nothing.
local drops, dropped, droppedBytes = {}, {}, 0
local function settle(count, most, held, heldBytes, candidates)
  local at = 1
  while held > count or heldBytes > most do
    local gone = candidates[at]
    if not gone then return held > count and "count" or "bytes" end
    at = at + 1
    if not dropped[gone] then
      local size = tonumber(redis.call("HGET", prefix .. "run:" .. gone, "bytes") or "0")
      dropped[gone] = true
      table.insert(drops, gone)
      droppedBytes = droppedBytes + size
      held, heldBytes = held - 1, heldBytes - size
    end
  end
  return nil
end
local past = settle(tonumber(ARGV[13]), tonumber(ARGV[14]), redis.call("ZCARD", ownerOrder(owner)) + 1,
  tonumber(redis.call("HGET", totals, owner) or "0") + bytes, redis.call("ZRANGE", ownerEnded(owner), 0, -1))
if past then return past == "count" and "ownerRuns" or "ownerRunBytes" end
past = settle(tonumber(ARGV[15]), tonumber(ARGV[16]), redis.call("ZCARD", order) + 1 - #drops,
  tonumber(redis.call("HGET", totals, "*") or "0") + bytes - droppedBytes, redis.call("ZRANGE", ended, 0, -1))
if past then return past == "count" and "runs" or "runBytesInAll" end
for _, gone in ipairs(drops) do dropRun(gone) end
redis.call("HSET", key, "model", ARGV[3], "owner", owner, "lines", ARGV[5], "started", ARGV[6], "customIds", ARGV[8],
  "bytes", bytes, "total", ARGV[10])
for customId in string.gmatch(ARGV[7], "[^\\n]+") do redis.call("SADD", key .. ":ids", customId) end
redis.call("ZADD", order, ARGV[6], id)
redis.call("ZADD", ownerOrder(owner), ARGV[6], id)
redis.call("HINCRBY", totals, "*", bytes)
redis.call("HINCRBY", totals, owner, bytes)
redis.call("PEXPIRE", key, ARGV[12])
redis.call("PEXPIRE", key .. ":ids", ARGV[12])
return "started"
`
).withReturnType<string>()

// ARGV: the run's key, the holder, now, until. Its reply: "held", "cancelled" or "lost", as `Runs.lease`.
const leaseScript = overArgv<[key: string, holder: string, now: number, until: number], string>(
  Leases.luaSteps + `
local key = ARGV[1]
local kept = redis.call("HMGET", key, "started", "cancelled", "ended")
if not kept[1] or kept[3] then return "lost" end
if not takeLease(key, ARGV[2], tonumber(ARGV[3]), ARGV[4]) then return "lost" end
if kept[2] then return "cancelled" end
return "held"
`
)

// ARGV: the run's key, the custom id, the answer's JSON, its outcome ("reply" or "error"). 1 when it was the line's
// first, then counted on the run by its outcome.
const answerScript = overArgv<[key: string, customId: string, answer: string, outcome: "reply" | "error"], number>(`
if redis.call("SISMEMBER", ARGV[1] .. ":ids", ARGV[2]) == 0 then return 0 end
local first = redis.call("HSETNX", ARGV[1] .. ":answers", ARGV[2], ARGV[3])
if first == 0 then return 0 end
redis.call("PEXPIRE", ARGV[1] .. ":answers", redis.call("PTTL", ARGV[1]))
redis.call("HINCRBY", ARGV[1], ARGV[4] == "reply" and "succeeded" or "failed", 1)
return 1
`)

// ARGV: the run's key, now.
const cancelScript = overArgv<[key: string, now: number], number>(`
if redis.call("EXISTS", ARGV[1]) == 1 then redis.call("HSETNX", ARGV[1], "cancelled", ARGV[2]) end
return 1
`)

// ARGV: the prefix, the run's id, the holder, now. Its requests and its lines not answered let go of, its bytes
// those of its custom ids; a run kept before they were written keeps its lines.
const endScript = overArgv<[prefix: string, id: string, holder: string, now: number], number>(
  runsIndex + Leases.luaSteps + `
local id = ARGV[2]
local key = prefix .. "run:" .. id
local kept = redis.call("HMGET", key, "holder", "ended", "owner", "bytes", "started", "customIds")
if kept[1] ~= ARGV[3] or kept[2] then return 0 end
redis.call("HSET", key, "ended", ARGV[4])
freeLease(key)
if redis.call("HEXISTS", key, "total") == 0 then
  redis.call("HSET", key, "total", redis.call("SCARD", key .. ":ids"))
end
if kept[6] then
  redis.call("HSET", key, "lines", "[]", "bytes", string.len(kept[6]))
  redis.call("DEL", key .. ":ids")
end
if kept[3] then
  local delta = tonumber(redis.call("HGET", key, "bytes") or "0") - tonumber(kept[4] or "0")
  redis.call("HINCRBY", totals, "*", delta)
  redis.call("HINCRBY", totals, kept[3], delta)
  redis.call("ZADD", ended, kept[5], id)
  redis.call("ZADD", ownerEnded(kept[3]), kept[5], id)
end
return 1
`
)

// ARGV: the run's key. Its reply: the run's model, lines, start, cancelled, ended, maker and custom ids' JSON (false
// when unset), then its answers as custom id and JSON, in turn; empty when it is not kept.
const readScript = overArgv<[key: string], ReadonlyArray<string | null>>(`
local kept = redis.call("HMGET", ARGV[1], "model", "lines", "started", "cancelled", "ended", "owner", "customIds")
if not kept[1] then return {} end
local out = kept
for _, field in ipairs(redis.call("HGETALL", ARGV[1] .. ":answers")) do table.insert(out, field) end
return out
`)

// ARGV: the run's key. Its reply: the run's lines, whether it was cancelled and ended (1 or 0), its lines succeeded and
// failed; empty when it is not kept.
const progressScript = overArgv<[key: string], ReadonlyArray<number>>(`
local kept = redis.call("HMGET", ARGV[1], "started", "cancelled", "ended", "succeeded", "failed", "total")
if not kept[1] then return {} end
local total = tonumber(kept[6] or redis.call("SCARD", ARGV[1] .. ":ids"))
return {total, kept[2] and 1 or 0, kept[3] and 1 or 0, tonumber(kept[4] or 0), tonumber(kept[5] or 0)}
`)

/** The runs in `store`'s Redis, shared by every instance on it. */
export const layerRedis: Layer.Layer<RunStore, never, SharedStore> = Layer.effect(
  RunStore,
  Effect.map(SharedStore, ({ connection }): Runs => {
    const prefix = `${connection.prefix}:batches:`
    const keyOf = (run: string) => `${prefix}run:${run}`
    const start = connection.eval(startScript)
    const lease = connection.eval(leaseScript)
    const unlease = connection.eval(Leases.giveUpScript)
    const answer = connection.eval(answerScript)
    const cancel = connection.eval(cancelScript)
    const end = connection.eval(endScript)
    const read = connection.eval(readScript)
    const progress = connection.eval(progressScript)
    const batchTtl = Duration.toMillis(bounds.batchTtl)
    return {
      start: (run, now) =>
        Effect.suspend(() => {
          const customIds = run.lines.map((line) => line.customId)
          return Effect.flatMap(
            start(prefix, {
              ...run,
              lines: run.encoded,
              ids: customIds.join("\n"),
              customIds: JSON.stringify(customIds),
              bytes: Buffer.byteLength(run.encoded),
              total: customIds.length,
              since: now - batchTtl
            }),
            // "started", "kept", or the name of the bound that refused it.
            (reply) => reply in bounds ? Effect.fail(refusedBy(reply as RunsFull["bound"])) : Effect.void
          )
        }),
      lease: (run, holder, now, until) => Effect.map(lease(keyOf(run), holder, now, until), (held) => held as Lease),
      unlease: (run, holder) => Effect.asVoid(unlease(keyOf(run), holder)),
      answer: (run, customId, kept) =>
        Effect.map(
          answer(keyOf(run), customId, encodeAnswer(answerJson(kept)), outcomeOf(kept)),
          (first) => first === 1
        ),
      cancel: (run, now) => Effect.asVoid(cancel(keyOf(run), now)),
      end: (run, holder, now) => Effect.asVoid(end(prefix, run, holder, now)),
      read: (run) =>
        Effect.map(read(keyOf(run)), (reply) => {
          const [model, lines, started, cancelled, ended, owner, customIds, ...answers] = reply
          if (typeof model !== "string" || typeof lines !== "string") return undefined
          const isEnded = typeof ended === "string"
          return {
            run: {
              id: run,
              model,
              owner: typeof owner === "string" ? owner : "",
              startedAt: Number(started)
            },
            customIds: customIdsOf(customIds, lines),
            lines: isEnded ? [] : decodeLines(lines),
            answers: new Map(
              Array.from(pairsOf(answers as ReadonlyArray<string>), ([customId, text]) => [customId, answerOf(text)])
            ),
            cancelled: typeof cancelled === "string",
            ended: isEnded
          }
        }),
      progress: (run) =>
        Effect.map(progress(keyOf(run)), ([total, cancelled, ended, succeeded, failed]) =>
          total === undefined
            ? undefined
            : { total, succeeded: succeeded!, failed: failed!, cancelled: cancelled === 1, ended: ended === 1 })
    }
  })
)
