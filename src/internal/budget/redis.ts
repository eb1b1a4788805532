/**
 * The Redis backend of `Budget.BudgetStore`: each counter's window is a hash (its spend, and one field per reservation)
 * beside a sorted set of the reservations by expiry, so a reservation whose instance died lapses within the lease TTL.
 * `reserve` is one script over every counter of the reservation: drop lapsed reservations, refuse if any limit would be
 * passed, else reserve in all, atomically. A hold (`Budget.hold`) lapses at its own `until`, unrenewed; its settle
 * counts the cost only where the hold still was, in `spent`, so any instance may settle it, or settle it again, and it
 * counts once.
 *
 * ## Spend rebuilt from a record
 *
 * A window's spend is its `spent` field plus one field per record (`spent:<record id>`: the total an instance's
 * `Budget.SpendRecord` holds for that window). A charge adds its cost to the record, then raises the record's field to
 * the new total (a maximum: charges may land in any order, or twice); a charge the record did not take goes to `spent`,
 * so a Redis restart loses only that cost. A check that finds its record's field gone (Redis lost it, or the window is
 * new) writes the recorded total back and checks again: after a restart each instance restores its own part at its next
 * check.
 *
 * While Redis is unavailable: `"fail-open"` serves from memory (`failOpen.ts`) with `1 / instances` of what this
 * instance last read was left of each limit, and a record takes those charges too (its next raise brings them into the
 * store's count); `"fail-closed"` fails with `StoreUnavailableError`. A settle lost to an outage leaves the
 * reservation to lapse, its cost uncounted unless a record took it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redis from "effect/persistence/Redis"
import type * as Budget from "../../Budget.js"
import type * as Store from "../../Store.js"
import { overKeys } from "../persistence/script.js"
import { unavailable } from "../persistence/unavailable.js"
import * as Renewal from "../store/renewal.js"
import { failOpen, type Known } from "./failOpen.js"
import { periodKey, tolerance, type Window, windowAt } from "./window.js"

// The spend a window's hash holds: the store's own count and every record's part.
const spentIn = `
local function spentIn(hash)
  local total = 0
  local fields = redis.call("HGETALL", hash)
  for j = 1, #fields, 2 do
    local name = fields[j]
    if name == "spent" or string.sub(name, 1, 6) == "spent:" then total = total + tonumber(fields[j + 1]) end
  end
  return total
end
`

// A record's part raised to the total it recorded: parts only grow, so order and repeats do not matter.
const raise = `
local function raise(hash, part, total)
  local held = redis.call("HGET", hash, part)
  if not held or tonumber(held) < tonumber(total) then redis.call("HSET", hash, part, total) end
end
`

// KEYS: hash and reservation set per limit. ARGV: id, estimate, ttl, tolerance, the record's field (empty without a
// record), then the amount and the keys' expiry (epoch ms) per limit.
// Returns { 1, 0, "0", then what each limit had committed before this reservation }, { 0, index of the limit, what it
// had committed }, or { 2, index of a window without the record's part }.
const checkScript = overKeys(
  (
    id: string,
    estimate: number,
    ttl: number,
    part: string,
    perLimit: ReadonlyArray<number>
  ) => [id, estimate, ttl, tolerance, part, ...perLimit],
  spentIn + `
local id = ARGV[1]
local estimate = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local part = ARGV[5]
local n = #KEYS / 2
local seen = { 1, 0, "0" }
for i = 1, n do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  if part ~= "" and redis.call("HEXISTS", hash, part) == 0 then
    return { 2, i - 1, "0" }
  end
  for _, lapsed in ipairs(redis.call("ZRANGEBYSCORE", held, "-inf", now)) do
    redis.call("HDEL", hash, "r:" .. lapsed)
  end
  redis.call("ZREMRANGEBYSCORE", held, "-inf", now)
  local committed = spentIn(hash)
  for _, live in ipairs(redis.call("ZRANGE", held, 0, -1)) do
    committed = committed + tonumber(redis.call("HGET", hash, "r:" .. live) or "0")
  end
  local limit = tonumber(ARGV[4 + 2 * i])
  if committed >= limit or committed + estimate > limit + tolerance then
    return { 0, i - 1, string.format("%.17g", committed) }
  end
  seen[#seen + 1] = string.format("%.17g", committed)
end
for i = 1, n do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  local expireAt = tonumber(ARGV[5 + 2 * i])
  redis.call("ZADD", held, now + ttl, id)
  redis.call("HSET", hash, "r:" .. id, string.format("%.17g", estimate))
  redis.call("PEXPIREAT", hash, expireAt)
  redis.call("PEXPIREAT", held, expireAt)
end
return seen
`
).withReturnType<readonly [answer: 0 | 1 | 2, index: number, committed: string, ...seen: Array<string>]>()

// KEYS: per limit, the reservation's hash and set, and the hash of the window the call ends in. ARGV: id, cost, the
// record's field, "1" to count the cost only where the reservation still was (a hold's settle, which any instance may
// retry), then per limit the last hash's expiry and the total the record holds for it (empty: not recorded, so the
// cost is counted in `spent`).
const chargeScript = Redis.script(
  (
    keys: ReadonlyArray<string>,
    id: string,
    cost: number,
    part: string,
    once: boolean,
    perLimit: ReadonlyArray<number | string>
  ) => [...keys, id, cost, part, once ? "1" : "0", ...perLimit],
  {
    numberOfKeys: (keys) => keys.length,
    lua: raise + `
local id = ARGV[1]
local cost = ARGV[2]
local part = ARGV[3]
local once = ARGV[4] == "1"
for i = 1, #KEYS / 3 do
  local had = redis.call("HDEL", KEYS[3 * i - 2], "r:" .. id)
  redis.call("ZREM", KEYS[3 * i - 1], id)
  local total = ARGV[4 + 2 * i]
  if once and had == 0 then
  elseif total == "" then
    redis.call("HINCRBYFLOAT", KEYS[3 * i], "spent", cost)
  else
    raise(KEYS[3 * i], part, total)
  end
  redis.call("PEXPIREAT", KEYS[3 * i], tonumber(ARGV[3 + 2 * i]))
end
return 0
`
  }
)

// KEYS: window hashes. ARGV: the record's field, then per hash the total the record holds for it and its expiry.
const restoreScript = Redis.script(
  (hashes: ReadonlyArray<string>, part: string, perHash: ReadonlyArray<number>) => [...hashes, part, ...perHash],
  {
    numberOfKeys: (hashes) => hashes.length,
    lua: raise + `
for i = 1, #KEYS do
  raise(KEYS[i], ARGV[1], ARGV[2 * i])
  redis.call("PEXPIREAT", KEYS[i], tonumber(ARGV[2 * i + 1]))
end
return 0
`
  }
)

// KEYS: hash and set per limit. ARGV: the record's field (empty without a record). Returns per limit its spend, its
// reservations, and "1" when the record's part is there (or there is no record), as text.
const statusScript = overKeys(
  (part: string) => [part],
  spentIn + `
local out = {}
for i = 1, #KEYS / 2 do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  local reserved = 0
  for _, live in ipairs(redis.call("ZRANGEBYSCORE", held, "(" .. now, "+inf")) do
    reserved = reserved + tonumber(redis.call("HGET", hash, "r:" .. live) or "0")
  end
  out[#out + 1] = string.format("%.17g", spentIn(hash))
  out[#out + 1] = string.format("%.17g", reserved)
  out[#out + 1] = (ARGV[1] == "" or redis.call("HEXISTS", hash, ARGV[1]) == 1) and "1" or "0"
end
return out
`
).withReturnType<ReadonlyArray<string>>()

/** How many times a check rebuilds its windows before it counts the store as unavailable (it keeps losing them). */
const rebuildRounds = 3

/** A counter's window: its hash and reservation set, and when they expire. */
interface WindowKeys {
  readonly hash: string
  readonly held: string
  readonly window: Window
  readonly expireAt: number
}

/**
 * The steps kept in Redis, what the record keeps of a settle served elsewhere, and what this instance last read of a
 * counter's window there (`failOpen.ts`).
 */
interface Stored {
  readonly store: Budget.BudgetStore["Service"]
  readonly recordOnly: (held: Budget.Held, cost: number) => Effect.Effect<void>
  readonly known: Known
}

/** The names of a budget's counters, of this instance's part of them and of their windows' keys in `connection`. */
function namesIn(connection: Store.Store["connection"], record: Budget.SpendRecord | undefined) {
  // A counter's name in the store, and in the record, with its period's: a window is named by its period and its start
  // together (`Window.period`), as the memory and SQL stores name it.
  const counterOf = (counter: Budget.Counter) => `${connection.prefix}:${counter.name}@${periodKey(counter.period)}`
  const part = record === undefined ? "" : `spent:${record.id}`
  // A window's keys outlive it by the longest a reservation in it can last: a lease, or a hold until it lapses.
  const keysAt = (counter: Budget.Counter, now: number, until = 0): WindowKeys => {
    const window = windowAt(counter.period, now)
    const hash = `${counterOf(counter)}:${window.start}`
    const expireAt = Math.max(window.end + 2 * connection.leaseTtlMillis, until) + 60_000
    return { hash, held: `${hash}:held`, window, expireAt }
  }
  return { counterOf, part, keysAt }
}

/** What each counter's window had committed when this instance last read it, kept as its own steps change it. */
function lastReads(counterOf: (counter: Budget.Counter) => string) {
  const lastRead = new Map<string, { readonly window: number; committed: number }>()
  const read = (counter: Budget.Counter, window: Window, committed: number) => {
    lastRead.set(counterOf(counter), { window: window.start, committed })
  }
  const known: Known = (counter, at) => {
    const window = windowAt(counter.period, at).start
    const last = lastRead.get(counterOf(counter))
    if (last === undefined || last.window > window) return undefined
    // A window after the one last read starts from nothing, as the store's would.
    return last.window === window ? last.committed : 0
  }
  // What is known of a counter after a settle: its reservation gone from the window it was taken in, its cost added to
  // the window the call ends in.
  const settled = (
    held: Budget.Held,
    reserved: ReadonlyArray<WindowKeys>,
    ending: ReadonlyArray<WindowKeys>,
    cost: number
  ) => {
    held.counters.forEach((counter, i) => {
      const last = lastRead.get(counterOf(counter))
      if (last === undefined) return
      if (last.window === reserved[i]!.window.start) last.committed = Math.max(0, last.committed - held.estimate)
      if (last.window === ending[i]!.window.start) last.committed += cost
    })
  }
  return { read, known, settled }
}

const stored = (store: Store.Store, record: Budget.SpendRecord | undefined): Effect.Effect<Stored> =>
  Effect.gen(function*() {
    const { connection } = store
    const ttl = connection.leaseTtlMillis
    const renewer = yield* Renewal.renewer(connection)
    const { counterOf, keysAt, part } = namesIn(connection, record)

    // The record's part of each window written back from what it recorded.
    const rebuild = (
      recorded: Budget.SpendRecord,
      counters: ReadonlyArray<Budget.Counter>,
      windows: ReadonlyArray<WindowKeys>
    ): Effect.Effect<void, Store.StoreUnavailableError> =>
      Effect.flatMap(
        Effect.forEach(counters, (counter, i) => recorded.total(counterOf(counter), windows[i]!.window.start)),
        (totals) =>
          connection.eval(restoreScript)(
            windows.map((window) => window.hash),
            part,
            windows.flatMap((window, i) => [totals[i]!, window.expireAt])
          )
      ).pipe(
        Effect.catchTag("SpendRecordError", (error) =>
          Effect.andThen(
            Effect.logWarning(`A budget's part could not be rebuilt from its record (${error.reason}).`),
            Effect.fail(unavailable(store.address, `its part could not be rebuilt from its record (${error.reason})`))
          ))
      )

    const { known, read, settled } = lastReads(counterOf)

    const reserve = (held: Budget.Held): Effect.Effect<Budget.Reserved, Store.StoreUnavailableError> => {
      const windows = held.counters.map((counter) => keysAt(counter, held.at, held.until))
      const keys = windows.flatMap((window) => [window.hash, window.held])
      const perLimit = held.counters.flatMap((counter, i) => [counter.limit, windows[i]!.expireAt])
      // A hold lasts until its own instant, unrenewed; a call's reservation is a lease this instance renews.
      const lasts = held.until === undefined ? ttl : Math.max(0, held.until - held.at)
      const attempt = (rounds: number): Effect.Effect<Budget.Reserved, Store.StoreUnavailableError> =>
        Effect.flatMap(
          connection.eval(checkScript)(keys, held.id, held.estimate, lasts, part, perLimit),
          ([answer, at, committed, ...seen]) => {
            if (answer === 1) {
              if (held.until === undefined) renewer.hold(held.id, ...windows.map((window) => window.held))
              held.counters.forEach((counter, i) => read(counter, windows[i]!.window, Number(seen[i]) + held.estimate))
              return Effect.succeed<Budget.Reserved>({ _tag: "Reserved" })
            }
            if (answer === 2 && record !== undefined) {
              return rounds === 0
                ? Effect.fail(unavailable(store.address, "a budget's windows kept vanishing while they were rebuilt"))
                : Effect.andThen(rebuild(record, held.counters, windows), attempt(rounds - 1))
            }
            read(held.counters[at]!, windows[at]!.window, Number(committed))
            return Effect.succeed<Budget.Reserved>({
              _tag: "Refused",
              index: at,
              committed: Number(committed),
              periodEnd: windows[at]!.window.end
            })
          }
        )
      return attempt(rebuildRounds)
    }

    // The new total the record holds for each window the call ends in, as the charge script takes it (empty: not
    // recorded); a cost of 0 changes no total.
    const recorded = (counters: ReadonlyArray<Budget.Counter>, ending: ReadonlyArray<WindowKeys>, cost: number) =>
      record === undefined || cost === 0
        ? Effect.succeed(counters.map(() => ""))
        : Effect.forEach(counters, (counter, i) =>
          record.add(counterOf(counter), ending[i]!.window.start, cost).pipe(
            Effect.map(String),
            Effect.catch((error) =>
              Effect.as(
                Effect.logWarning(`A budget charge was not recorded (${error.reason}); the store alone counts it.`),
                ""
              )
            )
          ))

    const endingNow = (held: Budget.Held) =>
      Effect.map(Clock.currentTimeMillis, (now) => held.counters.map((counter) => keysAt(counter, now)))

    const settle = (held: Budget.Held, cost: number): Effect.Effect<void, Store.StoreUnavailableError> =>
      Effect.suspend(() => {
        renewer.drop(held.id)
        const reserved = held.counters.map((counter) => keysAt(counter, held.at, held.until))
        return Effect.flatMap(
          endingNow(held),
          (ending) =>
            // A hold's cost is counted in `spent`, not the record: the script alone knows whether the hold was still
            // there to settle, and a record counts what it is given.
            Effect.flatMap(
              held.until === undefined ? recorded(held.counters, ending, cost) : Effect.succeed(ending.map(() => "")),
              (totals) =>
                Effect.map(
                  connection.eval(chargeScript)(
                    reserved.flatMap((window, i) => [window.hash, window.held, ending[i]!.hash]),
                    held.id,
                    cost,
                    part,
                    held.until !== undefined,
                    ending.flatMap((window, i) => [window.expireAt, totals[i]!])
                  ),
                  () => settled(held, reserved, ending, cost)
                )
            )
        )
      })

    const readAll = (windows: ReadonlyArray<WindowKeys>) =>
      connection.eval(statusScript)(windows.flatMap((window) => [window.hash, window.held]), part)
    // The record's missing parts written back first: a read after a Redis restart shows what was spent.
    const restored = (
      counters: ReadonlyArray<Budget.Counter>,
      windows: ReadonlyArray<WindowKeys>,
      out: ReadonlyArray<string>
    ) => {
      const missing = counters.flatMap((_, index) => out[3 * index + 2] === "0" ? [index] : [])
      return record === undefined || missing.length === 0
        ? Effect.succeed(out)
        // Unrebuilt, the spend as read.
        : Effect.andThen(
          rebuild(record, missing.map((index) => counters[index]!), missing.map((index) => windows[index]!)),
          readAll(windows)
        ).pipe(Effect.orElseSucceed(() => out))
    }

    const spend = (counters: ReadonlyArray<Budget.Counter>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const windows = counters.map((counter) => keysAt(counter, now))
        return Effect.map(
          Effect.flatMap(readAll(windows), (out) => restored(counters, windows, out)),
          (out) =>
            windows.map((window, index): Budget.CounterSpend => {
              const spent = Number(out[3 * index])
              const reserved = Number(out[3 * index + 1])
              read(counters[index]!, window.window, spent + reserved)
              return { spent, reserved, periodStart: window.window.start, periodEnd: window.window.end }
            })
        )
      })

    return {
      store: { reserve, settle, release: (held) => settle(held, 0), spend },
      recordOnly: (held, cost) =>
        Effect.asVoid(Effect.flatMap(endingNow(held), (ending) => recorded(held.counters, ending, cost))),
      known
    }
  })

/**
 * A `BudgetStore` kept in `store`, each instance's part rebuilt from `record` when there is one; under the store's
 * `onUnavailable: "fail-open"`, falling back on its share in memory.
 */
export const budgetStore = (
  store: Store.Store,
  record: Budget.SpendRecord | undefined
): Effect.Effect<Budget.BudgetStore["Service"]> =>
  Effect.map(stored(store, record), (shared) =>
    store.connection.onUnavailable === "fail-open"
      ? failOpen(shared.store, shared.known, store.connection.instances, shared.recordOnly)
      : shared.store)
