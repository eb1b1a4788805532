/**
 * A lease on one record of a store, for each backend: one holder until an instant (Clock millis), taken when free,
 * the taker's own (a renewal) or lapsed, given up by its holder only. A store keeps the lease inside its record
 * (`gateway/batches/`), so its own step takes it only while the record is open, reading what else it needs in the same
 * step. These are the lease's parts of those steps: SQL (`sqlLease`: `holder`, `lease_until`) and a Redis hash
 * (`luaSteps`: `holder`, `until`, and `giveUpScript`).
 */
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Statement from "effect/sql/Statement"
import { overArgv } from "./script.js"

/** A taking of a record's lease: the record's id, its holder, now and until when (Clock millis). */
export interface Taking {
  readonly id: string
  readonly holder: string
  readonly now: number
  readonly until: number
}

/** A table whose records carry a lease: its name, and the column set once a record is closed (leased no more). */
export interface Table {
  readonly name: string
  readonly closed: string
}

/** The lease's statements over a table's records, keyed by `id`. */
export interface SqlLease {
  /**
   * The lease of the open record taken or renewed in one statement (the row's lock, or SQLite's write lock, makes it
   * one step): the record's column `returned` when it was, no row when not.
   */
  readonly take: <A extends object>(taking: Taking, returned: string) => Statement.Statement<A>
  readonly giveUp: (id: string, holder: string) => Statement.Statement<object>
  /** What a statement that closes a record sets of its lease: none. */
  readonly freed: Statement.Fragment
}

export function sqlLease(sql: SqlClient.SqlClient, table: Table): SqlLease {
  const name = sql(table.name)
  const closed = sql(table.closed)
  return {
    take: ({ holder, id, now, until }, returned) =>
      sql`UPDATE ${name} SET holder = ${holder}, lease_until = ${until}
        WHERE id = ${id} AND ${closed} IS NULL AND (holder IS NULL OR holder = ${holder} OR lease_until <= ${now})
        RETURNING ${sql(returned)}`,
    giveUp: (id, holder) =>
      sql`UPDATE ${name} SET holder = NULL, lease_until = NULL WHERE id = ${id} AND holder = ${holder}`,
    freed: sql.literal("holder = NULL, lease_until = NULL")
  }
}

/**
 * The lease's Lua steps over a record's hash `key`: `takeLease(key, holder, now, expiry)` (true when `holder` holds it
 * now; `now` a number), `giveUpLease(key, holder)` and `freeLease(key)`, which a script closing the record runs.
 */
export const luaSteps = `
local function takeLease(key, holder, now, expiry)
  local lease = redis.call("HMGET", key, "holder", "until")
  if lease[1] and lease[1] ~= holder and tonumber(lease[2]) > now then return false end
  redis.call("HSET", key, "holder", holder, "until", expiry)
  return true
end
local function giveUpLease(key, holder)
  if redis.call("HGET", key, "holder") == holder then redis.call("HDEL", key, "holder", "until") end
end
local function freeLease(key)
  redis.call("HDEL", key, "holder", "until")
end
`

/** The lease on the record's hash `key` given up by `holder`, when it holds it. */
export const giveUpScript = overArgv<[key: string, holder: string], number>(
  luaSteps + `
giveUpLease(ARGV[1], ARGV[2])
return 1
`
)
