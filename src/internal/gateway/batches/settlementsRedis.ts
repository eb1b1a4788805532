/**
 * The batches' settlements (`settlements.ts`' `SettlementStore`) in the shared Redis, for instances that share no
 * database: any instance settles a batch made through any other, and takes up a settling one of them left. Each step is
 * one Lua script, so it is atomic as the SQL store's statements are, and keeps what they keep, forgotten as they forget
 * it (`forget`, by the sweep).
 *
 * Under `<prefix>:settlements:`: a batch's record is a hash (`batch:<id>`), its settled lines a hash of their costs by
 * custom id (`lines:<id>`); the batches open are their ids in opening order (`open`), those settled in settling order
 * (`settled`), which `forget` reads. A number is kept as the string JavaScript writes of it, which reads back as the
 * same number.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Budget from "../../../Budget.js"
import type { BatchState } from "../../../ProviderClient.js"
import type * as Store from "../../../Store.js"
import * as Leases from "../../persistence/lease.js"
import { overArgv, overArgvOf } from "../../persistence/script.js"
import { SharedStore } from "../../store/sharedStore.js"
import { type LastStatus, type Settlements, SettlementStore } from "./settlements.js"

// Every script's first lines: ARGV[1] the prefix, ARGV[2] the batch's id.
const batchKeys = `
local prefix, id = ARGV[1], ARGV[2]
local key, lines = prefix .. "batch:" .. id, prefix .. "lines:" .. id
`

// ARGV: the prefix, the id, when it was opened, then its hold's id, estimate, instant and end (each empty for none).
// 0 when it was recorded already.
const openScript = overArgvOf(
  (prefix: string, id: string, openedAt: number, hold: Budget.Hold | undefined) => [
    prefix,
    id,
    openedAt,
    hold?.id ?? "",
    hold?.estimate ?? "",
    hold?.at ?? "",
    hold?.until ?? ""
  ],
  batchKeys + `
if redis.call("EXISTS", key) == 1 then return 0 end
redis.call("HSET", key, "opened", ARGV[3])
if ARGV[4] ~= "" then
  redis.call("HSET", key, "hold_id", ARGV[4], "hold_estimate", ARGV[5], "hold_at", ARGV[6], "hold_until", ARGV[7])
end
redis.call("ZADD", prefix .. "open", ARGV[3], id)
return 1
`
).withReturnType<number>()

// ARGV: the prefix, the id, the holder, now, until. 1 when the holder holds the lease now.
const leaseScript = overArgv<[prefix: string, id: string, holder: string, now: number, until: number], number>(
  batchKeys + Leases.luaSteps + `
local kept = redis.call("HMGET", key, "opened", "settled")
if not kept[1] or kept[2] then return 0 end
if not takeLease(key, ARGV[3], tonumber(ARGV[4]), ARGV[5]) then return 0 end
return 1
`
)

// ARGV: the prefix, the id, the line's custom id, its cost. 1 when it was not recorded yet.
const settleLineScript = overArgv<[prefix: string, id: string, customId: string, cost: number], number>(
  batchKeys + `
if redis.call("EXISTS", key) == 0 then return 0 end
return redis.call("HSETNX", lines, ARGV[3], ARGV[4])
`
)

// ARGV: the prefix, the id, now, then the last status: its state, total, succeeded and failed. 1 when this closed it.
const closeScript = overArgvOf(
  (prefix: string, id: string, now: number, last: LastStatus) => [
    prefix,
    id,
    now,
    last.state,
    last.total,
    last.succeeded,
    last.failed
  ],
  batchKeys + Leases.luaSteps + `
if redis.call("EXISTS", key) == 0 or redis.call("HEXISTS", key, "settled") == 1 then return 0 end
redis.call("HSET", key, "settled", ARGV[3], "state", ARGV[4], "total", ARGV[5], "succeeded", ARGV[6],
  "failed", ARGV[7])
freeLease(key)
redis.call("ZREM", prefix .. "open", id)
redis.call("ZADD", prefix .. "settled", ARGV[3], id)
return 1
`
).withReturnType<number>()

// ARGV: the prefix, the id. Its reply: nothing for a batch not recorded, else the record's fields and values, then
// its lines' custom ids and costs, each a flat list.
const settledScript = overArgv<[prefix: string, id: string], ReadonlyArray<ReadonlyArray<string>>>(
  batchKeys + `
local record = redis.call("HGETALL", key)
if #record == 0 then return {} end
return { record, redis.call("HGETALL", lines) }
`
)

// ARGV: the prefix. The batches open, the oldest first (equal instants in the order of their ids, as the SQL store's
// `ORDER BY opened_at, id`): each id, then its instant.
const openedScript = overArgv<[prefix: string], ReadonlyArray<string>>(
  `return redis.call("ZRANGE", ARGV[1] .. "open", 0, -1, "WITHSCORES")`
)

/** How many batches one step of `forget` lets go of, so that no script holds Redis long. */
const forgottenAtOnce = 100

// ARGV: the prefix, the first instant kept, how many at most. How many it forgot.
const forgetScript = overArgv<[prefix: string, before: number, most: number], number>(`
local prefix = ARGV[1]
local settled = prefix .. "settled"
local gone = redis.call("ZRANGEBYSCORE", settled, "-inf", "(" .. ARGV[2], "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(gone) do
  redis.call("UNLINK", prefix .. "batch:" .. id, prefix .. "lines:" .. id)
  redis.call("ZREM", settled, id)
end
return #gone
`)

/** A flat list of fields and values as a map. */
export function pairsOf(flat: ReadonlyArray<string>) {
  const out = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!)
  return out
}

/** What the settled script's reply records of a batch; `undefined` for none. */
function settledOf(reply: ReadonlyArray<ReadonlyArray<string>>) {
  const [recorded, lines] = reply
  if (recorded === undefined) return undefined
  const fields = pairsOf(recorded)
  const holdId = fields.get("hold_id")
  const settledAt = fields.get("settled")
  const state = fields.get("state")
  return {
    lines: new Map([...pairsOf(lines ?? [])].map(([customId, cost]) => [customId, Number(cost)])),
    hold: holdId === undefined ? undefined : {
      id: holdId,
      estimate: Number(fields.get("hold_estimate")),
      at: Number(fields.get("hold_at")),
      until: Number(fields.get("hold_until"))
    },
    closed: settledAt !== undefined,
    settledAt: settledAt === undefined ? undefined : Number(settledAt),
    last: state === undefined ? undefined : {
      state: state as BatchState,
      total: Number(fields.get("total")),
      succeeded: Number(fields.get("succeeded")),
      failed: Number(fields.get("failed"))
    }
  }
}

/** The settlements in `store`'s Redis, shared by every instance on it. */
export const layerRedis: Layer.Layer<SettlementStore, never, SharedStore> = Layer.effect(
  SettlementStore,
  Effect.map(SharedStore, ({ connection }): Settlements => {
    const prefix = `${connection.prefix}:settlements:`
    const open = connection.eval(openScript)
    const opened = connection.eval(openedScript)
    const lease = connection.eval(leaseScript)
    const unlease = connection.eval(Leases.giveUpScript)
    const settleLine = connection.eval(settleLineScript)
    const close = connection.eval(closeScript)
    const settled = connection.eval(settledScript)
    const forgotten = connection.eval(forgetScript)
    // Steps of `forgottenAtOnce` until one finds fewer: every batch settled before `before` forgotten.
    function forget(before: number): Effect.Effect<void, Store.StoreUnavailableError> {
      return Effect.flatMap(
        forgotten(prefix, before, forgottenAtOnce),
        (count) => count < forgottenAtOnce ? Effect.void : forget(before)
      )
    }
    return {
      open: (batch) => Effect.asVoid(open(prefix, batch.id, batch.openedAt, batch.hold)),
      opened: Effect.map(
        opened(prefix),
        (flat) => Array.from(pairsOf(flat), ([id, openedAt]) => ({ id, openedAt: Number(openedAt) }))
      ),
      lease: (batch, holder, now, until) =>
        Effect.map(lease(prefix, batch, holder, now, until), (held) => Number(held) === 1),
      unlease: (batch, holder) => Effect.asVoid(unlease(`${prefix}batch:${batch}`, holder)),
      settleLine: (batch, customId, cost) =>
        Effect.map(settleLine(prefix, batch, customId, cost), (first) => Number(first) === 1),
      close: (batch, now, last) => Effect.map(close(prefix, batch, now, last), (first) => Number(first) === 1),
      settled: (batch) => Effect.map(settled(prefix, batch), settledOf),
      forget
    }
  })
)
