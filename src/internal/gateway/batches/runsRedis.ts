/**
 * The batches the gateway runs as calls (`runs.ts`' `RunStore`) in the gateway's shared store, for instances that
 * share a Redis without a database: any instance on it answers a run's retrieve, cancel and result files, and takes up
 * the running of one whose instance stopped. Each step that writes is one Lua script, so it is one atomic step as the
 * SQL store's statements are, and keeps the same bounds: a run holds an answer for each of its lines at most, and is
 * forgotten, its answers with it, once a run is started past `store.ts`' `bounds.batchTtl` from its start.
 *
 * Under `<prefix>:batches:`: a run is a hash (`run:<id>`: its model, its lines' JSON, its start, the lease's holder and
 * end, when it was cancelled and when it ended, and how many of its lines were answered with a reply and with an
 * error, so its progress is read without its answers), the set of its lines' custom ids (`run:<id>:ids`) and the hash
 * of its answers by custom id (`run:<id>:answers`, each the JSON the SQL store keeps); the runs in the order of their
 * starts (`runs:order`), whence the start of a run forgets those past their time.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redis from "effect/persistence/Redis"
import type * as Store from "../../../Store.js"
import * as Leases from "../../store/lease.js"
import { overArgv } from "../../store/script.js"
import {
  answerJson,
  answerOf,
  decodeLines,
  encodeAnswer,
  encodeLines,
  type Lease,
  outcomeOf,
  type Runs,
  RunStore
} from "./runs.js"
import { bounds } from "./store.js"

// ARGV: the prefix, the run's id, model, lines' JSON, start, its custom ids (one a line), the first start kept, and
// how long Redis keeps it at most (ms: past its time, a run nobody starts after is let go of all the same).
const startScript = Redis.script(
  (prefix: string, id: string, model: string, lines: string, startedAt: number, ids: string, since: number) => [
    prefix,
    id,
    model,
    lines,
    startedAt,
    ids,
    since,
    Duration.toMillis(bounds.batchTtl)
  ],
  {
    numberOfKeys: 0,
    lua: `
local prefix, id = ARGV[1], ARGV[2]
local order = prefix .. "runs:order"
for _, gone in ipairs(redis.call("ZRANGEBYSCORE", order, "-inf", "(" .. ARGV[7])) do
  local key = prefix .. "run:" .. gone
  redis.call("DEL", key, key .. ":ids", key .. ":answers")
  redis.call("ZREM", order, gone)
end
local key = prefix .. "run:" .. id
if redis.call("EXISTS", key) == 1 then return 0 end
redis.call("HSET", key, "model", ARGV[3], "lines", ARGV[4], "started", ARGV[5])
for customId in string.gmatch(ARGV[6], "[^\\n]+") do redis.call("SADD", key .. ":ids", customId) end
redis.call("ZADD", order, ARGV[5], id)
redis.call("PEXPIRE", key, ARGV[8])
redis.call("PEXPIRE", key .. ":ids", ARGV[8])
return 1
`
  }
).withReturnType<number>()

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

// ARGV: the run's key, the holder, now.
const endScript = overArgv<[key: string, holder: string, now: number], number>(
  Leases.luaSteps + `
local kept = redis.call("HMGET", ARGV[1], "holder", "ended")
if kept[1] ~= ARGV[2] or kept[2] then return 0 end
redis.call("HSET", ARGV[1], "ended", ARGV[3])
freeLease(ARGV[1])
return 1
`
)

// ARGV: the run's key. Its reply: the run's model, lines, start, cancelled and ended (false when unset), then its
// answers as custom id and JSON, in turn; empty when it is not kept.
const readScript = overArgv<[key: string], ReadonlyArray<string | null>>(`
local kept = redis.call("HMGET", ARGV[1], "model", "lines", "started", "cancelled", "ended")
if not kept[1] then return {} end
local out = kept
for _, field in ipairs(redis.call("HGETALL", ARGV[1] .. ":answers")) do table.insert(out, field) end
return out
`)

// ARGV: the run's key. Its reply: the run's lines, whether it was cancelled and ended (1 or 0), its lines succeeded and
// failed; empty when it is not kept.
const progressScript = overArgv<[key: string], ReadonlyArray<number>>(`
local kept = redis.call("HMGET", ARGV[1], "started", "cancelled", "ended", "succeeded", "failed")
if not kept[1] then return {} end
local total = redis.call("SCARD", ARGV[1] .. ":ids")
return {total, kept[2] and 1 or 0, kept[3] and 1 or 0, tonumber(kept[4] or 0), tonumber(kept[5] or 0)}
`)

/** The runs in `store`'s Redis, shared by every instance on it. */
export const layerRedis = (store: Store.Store): Layer.Layer<RunStore> =>
  Layer.sync(RunStore, (): Runs => {
    const { connection } = store
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
        Effect.asVoid(
          start(
            prefix,
            run.id,
            run.model,
            encodeLines(run.lines),
            run.startedAt,
            run.lines.map((line) => line.customId).join("\n"),
            now - batchTtl
          )
        ),
      lease: (run, holder, now, until) => Effect.map(lease(keyOf(run), holder, now, until), (held) => held as Lease),
      unlease: (run, holder) => Effect.asVoid(unlease(keyOf(run), holder)),
      answer: (run, customId, kept) =>
        Effect.map(
          answer(keyOf(run), customId, encodeAnswer(answerJson(kept)), outcomeOf(kept)),
          (first) => first === 1
        ),
      cancel: (run, now) => Effect.asVoid(cancel(keyOf(run), now)),
      end: (run, holder, now) => Effect.asVoid(end(keyOf(run), holder, now)),
      read: (run) =>
        Effect.map(read(keyOf(run)), (reply) => {
          const [model, lines, started, cancelled, ended, ...answers] = reply
          if (typeof model !== "string" || typeof lines !== "string") return undefined
          const byId = new Map<string, ReturnType<typeof answerOf>>()
          for (let at = 0; at + 1 < answers.length; at += 2) {
            byId.set(String(answers[at]), answerOf(String(answers[at + 1])))
          }
          return {
            run: { id: run, model, lines: decodeLines(lines), startedAt: Number(started) },
            answers: byId,
            cancelled: typeof cancelled === "string",
            ended: typeof ended === "string"
          }
        }),
      progress: (run) =>
        Effect.map(progress(keyOf(run)), ([total, cancelled, ended, succeeded, failed]) =>
          total === undefined
            ? undefined
            : { total, succeeded: succeeded!, failed: failed!, cancelled: cancelled === 1, ended: ended === 1 })
    }
  })
