/**
 * The count of refusals the audit log did not record (`refusals.ts`), per address until its summary row: in this
 * process' memory, or in the gateway's database (`audit_refusals_dropped`, migration `15_rate_buckets`) where every
 * instance on it counts into one row per address, so one summary says how many all of them dropped.
 *
 * The instance whose count made an address' row (its `add` answers `began`) writes its summary one window on, taking
 * the row (`take`: a `DELETE ... RETURNING`, so one instance takes it once); a refusal after that makes a new row. A
 * row whose instance died before its summary is claimed by the next instance counting into it two windows after it
 * was made or last claimed (one `UPDATE` conditional on `claimed_at`, under the row's lock on Postgres and the write
 * lock on SQLite), so its count still comes out, once.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { StoreUnavailableError } from "../../../Store.js"
import { type Database, transaction } from "../../persistence/sql.js"

/** The refusals dropped from one address since its last summary. */
export interface Dropped {
  readonly count: number
  readonly first: number
  readonly last: number
}

/** Where the addresses counted apart end, the rest counted together under this key, as from no address. */
export const together = "*"

/** Where an address' dropped refusals are counted. */
export interface DropCount {
  /**
   * One refusal from `address` (`""`: none) counted at `at`, under `key` (the address, or `together` past
   * `trackedAddresses`); `began` when this count is this instance's to summarise one window on.
   */
  readonly add: (
    address: string,
    at: number
  ) => Effect.Effect<{ readonly key: string; readonly began: boolean }, StoreUnavailableError>
  /** The count under `key`, taken for its summary: `undefined` when another took it. */
  readonly take: (key: string) => Effect.Effect<Dropped | undefined, StoreUnavailableError>
}

/** The addresses whose dropped refusals are counted apart at once; those past it are counted together. */
export const trackedAddresses = 10_000

/** A count in this process' memory. */
export function memory(): DropCount {
  const pending = new Map<string, { count: number; first: number; last: number }>()
  return {
    add: (address, at) =>
      Effect.sync(() => {
        // Past the addresses counted apart, the rest together: the map stays bounded whoever floods.
        const key = pending.has(address) || pending.size < trackedAddresses ? address : together
        const counted = pending.get(key)
        if (counted !== undefined) {
          counted.count++
          counted.last = at
          return { key, began: false }
        }
        pending.set(key, { count: 1, first: at, last: at })
        return { key, began: true }
      }),
    take: (key) =>
      Effect.sync(() => {
        const counted = pending.get(key)
        pending.delete(key)
        return counted
      })
  }
}

interface Row {
  readonly [column: string]: unknown
}

/** A count in `database`, shared by every instance on it; a summary's instance is thought gone after `2 * per`. */
export function sql(database: Database, per: Duration.Duration): DropCount {
  const { bounds, sql } = database
  const orphaned = 2 * Duration.toMillis(per)
  const add = Effect.fnUntraced(function*(address: string, at: number) {
    return yield* transaction(
      sql,
      bounds,
      "a count of refusals not recorded",
      Effect.gen(function*() {
        const [known] = yield* sql<Row>`SELECT address FROM audit_refusals_dropped WHERE address = ${address}`
        const [held] = known === undefined
          ? yield* sql<Row>`SELECT COUNT(*) AS held FROM audit_refusals_dropped`
          : [undefined]
        const key = held !== undefined && Number(held["held"]) >= trackedAddresses ? together : address
        const [counted] = yield* sql<Row>`INSERT INTO audit_refusals_dropped
          (address, dropped, first_at, last_at, claimed_at) VALUES (${key}, 1, ${at}, ${at}, ${at})
          ON CONFLICT (address) DO UPDATE SET dropped = audit_refusals_dropped.dropped + 1, last_at = ${at}
          RETURNING dropped`
        if (Number(counted!["dropped"]) === 1) return { key, began: true }
        const claimed = yield* sql<Row>`UPDATE audit_refusals_dropped SET claimed_at = ${at}
          WHERE address = ${key} AND claimed_at <= ${at - orphaned} RETURNING address`
        return { key, began: claimed.length > 0 }
      })
    )
  })
  const take = Effect.fnUntraced(function*(key: string) {
    const [row] = yield* transaction(
      sql,
      bounds,
      "a summary of refusals not recorded",
      sql<Row>`DELETE FROM audit_refusals_dropped WHERE address = ${key} RETURNING dropped, first_at, last_at`
    )
    if (row === undefined) return undefined
    return { count: Number(row["dropped"]), first: Number(row["first_at"]), last: Number(row["last_at"]) }
  })
  return { add, take }
}
