/**
 * Lease renewal in Redis, the step every Redis store's leases take (key pool and limiter lease groups, budget
 * reservations): each held member of an expiry-scored sorted set pushed a TTL ahead in one script, on the schedule of
 * `persistence/leases.ts`.
 */
import * as Effect from "effect/Effect"
import type { Connection } from "../../Store.js"
import * as Renewal from "../persistence/leases.js"
import { overArgvOf } from "../persistence/script.js"

// ARGV: ttl, expire (1: push the sets' own expiry too), then set and member pairs. Only members still held are renewed
// (XX).
const renewScript = overArgvOf(
  (ttl: number, expire: 0 | 1, pairs: ReadonlyArray<string>) => [ttl, expire, ...pairs],
  `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttl = tonumber(ARGV[1])
local expire = ARGV[2] == "1"
for i = 3, #ARGV, 2 do
  redis.call("ZADD", ARGV[i], "XX", now + ttl, ARGV[i + 1])
  if expire then redis.call("PEXPIRE", ARGV[i], ttl * 2) end
end
return 0
`
)

/** Members of sorted sets scored by expiry that this instance keeps alive. */
export interface Renewer {
  /** Renews `member` of each of `sets` until `drop`. */
  readonly hold: (member: string, ...sets: ReadonlyArray<string>) => void
  readonly drop: (member: string) => void
}

/**
 * A renewer (`persistence/leases.ts`) pushing every held member's expiry a TTL ahead in one script; unless
 * `expireSets` is false, the sets' own expiry to two TTLs ahead.
 */
export const renewer = Effect.fnUntraced(
  function*(connection: Connection, expireSets = true): Effect.fn.Return<Renewer> {
    const ttl = connection.leaseTtlMillis
    const leases = yield* Renewal.renewer<ReadonlyArray<string>>({
      ttlMillis: ttl,
      scope: connection.scope,
      renew: (held) => {
        const pairs: Array<string> = []
        for (const [member, sets] of held) for (const set of sets) pairs.push(set, member)
        return connection.eval(renewScript)(ttl, expireSets ? 1 : 0, pairs)
      }
    })
    return {
      hold: (member, ...sets) => leases.hold(member, sets),
      drop: leases.drop
    }
  }
)
