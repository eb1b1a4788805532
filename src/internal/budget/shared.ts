/**
 * The budget behind `Budget` with `shared`: each limit's window is a hash in
 * Redis (`spent`, and one field per reservation) beside a sorted set of the
 * reservations by expiry, so a reservation whose instance died lapses within
 * the lease TTL. `check` is one script over every limit the call is under:
 * drop lapsed reservations, refuse if any limit would be passed, else reserve
 * in all, atomically. `charge` is one script: drop the reservation, add the
 * cost to the window the call ends in.
 *
 * While Redis is unavailable: `"fail-open"` checks against a local budget of
 * `1 / instances` of each limit; `"fail-closed"` fails with `NoCapacityError`.
 * A charge lost to an outage leaves the reservation to lapse: that cost is
 * not counted.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redis from "effect/persistence/Redis"
import type * as Budget from "../../Budget.js"
import { type BudgetExceededError, NoCapacityError } from "../../LlmError.js"
import type * as Store from "../../Store.js"
import * as Leases from "../store/leases.js"
import { overKeys } from "../store/script.js"
import { exceeded, periodName, tolerance, windowAt } from "./window.js"

// KEYS: hash and reservation set per limit. ARGV: id, estimate, ttl, tolerance,
// then the amount and the keys' expiry (epoch ms) per limit.
// Returns { 1 } or { 0, index of the limit, what it had committed }.
const checkScript = overKeys(
  (
    id: string,
    estimate: number,
    ttl: number,
    perLimit: ReadonlyArray<number>
  ) => [id, estimate, ttl, tolerance, ...perLimit],
  `
local id = ARGV[1]
local estimate = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local n = #KEYS / 2
for i = 1, n do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  for _, lapsed in ipairs(redis.call("ZRANGEBYSCORE", held, "-inf", now)) do
    redis.call("HDEL", hash, "r:" .. lapsed)
  end
  redis.call("ZREMRANGEBYSCORE", held, "-inf", now)
  local committed = tonumber(redis.call("HGET", hash, "spent") or "0")
  for _, live in ipairs(redis.call("ZRANGE", held, 0, -1)) do
    committed = committed + tonumber(redis.call("HGET", hash, "r:" .. live) or "0")
  end
  local limit = tonumber(ARGV[3 + 2 * i])
  if committed >= limit or committed + estimate > limit + tolerance then
    return { 0, i - 1, string.format("%.17g", committed) }
  end
end
for i = 1, n do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  local expireAt = tonumber(ARGV[4 + 2 * i])
  redis.call("ZADD", held, now + ttl, id)
  redis.call("HSET", hash, "r:" .. id, string.format("%.17g", estimate))
  redis.call("PEXPIREAT", hash, expireAt)
  redis.call("PEXPIREAT", held, expireAt)
end
return { 1, 0, "0" }
`
).withReturnType<readonly [ok: 0 | 1, index: number, committed: string]>()

// KEYS: per limit, the reservation's hash and set, and the hash of the window
// the call ends in. ARGV: id, cost, then the last hash's expiry per limit.
const chargeScript = Redis.script(
  (
    keys: ReadonlyArray<string>,
    id: string,
    cost: number,
    expiries: ReadonlyArray<number>
  ) => [...keys, id, cost, ...expiries],
  {
    numberOfKeys: (keys) => keys.length,
    lua: `
local id = ARGV[1]
local cost = ARGV[2]
for i = 1, #KEYS / 3 do
  redis.call("HDEL", KEYS[3 * i - 2], "r:" .. id)
  redis.call("ZREM", KEYS[3 * i - 1], id)
  redis.call("HINCRBYFLOAT", KEYS[3 * i], "spent", cost)
  redis.call("PEXPIREAT", KEYS[3 * i], tonumber(ARGV[2 + i]))
end
return 0
`
  }
)

// KEYS: hash and set per limit. Returns spent and reserved per limit, as text.
const statusScript = overKeys(
  () => [],
  `
local out = {}
for i = 1, #KEYS / 2 do
  local hash, held = KEYS[2 * i - 1], KEYS[2 * i]
  local reserved = 0
  for _, live in ipairs(redis.call("ZRANGEBYSCORE", held, "(" .. now, "+inf")) do
    reserved = reserved + tonumber(redis.call("HGET", hash, "r:" .. live) or "0")
  end
  out[#out + 1] = redis.call("HGET", hash, "spent") or "0"
  out[#out + 1] = string.format("%.17g", reserved)
end
return out
`
).withReturnType<ReadonlyArray<string>>()

/** A reservation held in Redis, with the window keys of each limit it is under. */
class SharedReservation implements Budget.Reservation {
  charged = false
  constructor(
    readonly estimate: number,
    readonly id: string,
    readonly limits: ReadonlyArray<number>,
    readonly keys: ReadonlyArray<string>
  ) {}
}

/** A budget over checked `limits`, kept in `shared.store`; `inMemory` builds the fail-open fallback. */
export const make = (
  limits: ReadonlyArray<Budget.Limit>,
  shared: Store.Shared,
  inMemory: (limits: ReadonlyArray<Budget.Limit>) => Effect.Effect<Budget.Service>
): Effect.Effect<Budget.Service> =>
  Effect.gen(function*() {
    const connection = shared.store.connection
    const ttl = connection.leaseTtlMillis
    const local = connection.onUnavailable === "fail-open"
      ? yield* inMemory(limits.map((limit) => ({ ...limit, limit: limit.limit / connection.instances })))
      : undefined
    const held = yield* Leases.renewer(connection)
    const base = (index: number) => `${connection.prefix}:budget:${shared.key}:${index}`
    // A window's keys outlive it by the longest a reservation in it can last.
    const keysAt = (index: number, now: number) => {
      const window = windowAt(limits[index]!.period, now)
      const hash = `${base(index)}:${window.start}`
      return { hash, held: `${hash}:held`, window, expireAt: window.end + 2 * ttl + 60_000 }
    }

    const check = (call: Budget.Call): Effect.Effect<Budget.Reservation, BudgetExceededError | NoCapacityError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const scopes = call.scopes ?? []
        const applying = limits.flatMap((limit, index) =>
          limit.scope === "overall" || scopes.includes(limit.scope) ? [index] : []
        )
        const windows = applying.map((index) => keysAt(index, now))
        const keys = windows.flatMap((window) => [window.hash, window.held])
        const perLimit = applying.flatMap((index, i) => [limits[index]!.limit, windows[i]!.expireAt])
        const id = Leases.uniqueId()
        const shared = Effect.flatMap(
          connection.eval(checkScript)(keys, id, call.estimate, ttl, perLimit),
          ([ok, at, committed]): Effect.Effect<Budget.Reservation, BudgetExceededError> => {
            if (ok === 1) {
              held.hold(id, ...windows.map((window) => window.held))
              return Effect.succeed(new SharedReservation(call.estimate, id, applying, keys))
            }
            const limit = limits[applying[at]!]!
            return Effect.fail(
              exceeded(call, limit, Number(committed), windows[at]!.window.end)
            )
          }
        )
        return Effect.catchTag(shared, "StoreUnavailableError", () =>
          local === undefined
            ? Effect.fail(
              new NoCapacityError({
                provider: call.provider ?? "unknown",
                model: call.model ?? "",
                storeUnavailable: true
              })
            )
            : local.check(call))
      })

    const charge = (reservation: Budget.Reservation, cost: number | undefined): Effect.Effect<void> => {
      if (!(reservation instanceof SharedReservation)) {
        return local === undefined
          ? Effect.void
          : local.charge(reservation, cost)
      }
      if (reservation.charged) return Effect.void
      reservation.charged = true
      held.drop(reservation.id)
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const ending = reservation.limits.map((index) => keysAt(index, now))
        const keys = reservation.limits.flatMap((
          _,
          i
        ) => [reservation.keys[2 * i]!, reservation.keys[2 * i + 1]!, ending[i]!.hash])
        return Effect.ignore(
          connection.eval(chargeScript)(
            keys,
            reservation.id,
            cost ?? reservation.estimate,
            ending.map((window) => window.expireAt)
          )
        )
      })
    }

    const status: Effect.Effect<ReadonlyArray<Budget.LimitStatus>> = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const windows = limits.map((_, index) => keysAt(index, now))
      return Effect.matchEffect(
        connection.eval(statusScript)(windows.flatMap((window) => [window.hash, window.held])),
        {
          onFailure: () => local === undefined ? Effect.succeed([]) : local.status,
          onSuccess: (out) =>
            Effect.succeed(limits.map((limit, index): Budget.LimitStatus => ({
              scope: limit.scope,
              limit: limit.limit,
              period: periodName(limit.period),
              spent: Number(out[2 * index]),
              reserved: Number(out[2 * index + 1]),
              periodStart: windows[index]!.window.start,
              periodEnd: windows[index]!.window.end
            })))
        }
      )
    })

    return { check, charge, status }
  })
