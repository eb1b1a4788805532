/**
 * The count of refusals the audit log gives no row of their own (`refusals.ts`), every address together, until its
 * summary row, in the gateway's database (`audit_refusals_dropped`, one row under `key`), where every instance
 * counts into that row, so that one summary says how many all of them refused.
 *
 * The instance whose count made the row (`add` answers `true`) writes the summary one window on, taking the row
 * (`take`: a `DELETE ... RETURNING`, so one instance takes it once). A row whose instance died before its summary is
 * claimed by the next instance counting into it two windows after it was made or last claimed (one conditional
 * `UPDATE` under the row's lock), so that its count still comes out, once.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlSchema from "effect/sql/SqlSchema"
import type { StoreUnavailableError } from "../../../Store.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import { type Database, transaction } from "../../persistence/sql.js"

/** The refusals counted since the last summary: how many, and the times of the first and the last. */
export interface Dropped {
  readonly count: number
  readonly first: number
  readonly last: number
}

/** The one row the count is kept under (the table's key was an address once: the count is now of every address). */
export const key = "*"

/** Where the refusals without a row are counted. */
export interface DropCount {
  /** One refusal counted at `at`; `true` when this count is this instance's to summarise one window on. */
  readonly add: (at: number) => Effect.Effect<boolean, StoreUnavailableError>
  /** The count, taken for its summary: `undefined` when another took it. */
  readonly take: Effect.Effect<Dropped | undefined, StoreUnavailableError>
}

const Counted = tableRow("audit_refusals_dropped", { dropped: Numeric })
const Summary = tableRow("audit_refusals_dropped", { dropped: Numeric, first_at: Numeric, last_at: Numeric })

/** A count in `database`, shared by every instance on it; a summary's instance is thought gone after `2 * per`. */
export function sql(database: Database["Service"], per: Duration.Duration): DropCount {
  const { bounds, sql } = database
  const orphaned = 2 * Duration.toMillis(per)
  const counted = SqlSchema.findAll({
    Request: Schema.Number,
    Result: Counted,
    execute: (at) =>
      sql`INSERT INTO audit_refusals_dropped
        (address, dropped, first_at, last_at, claimed_at) VALUES (${key}, 1, ${at}, ${at}, ${at})
        ON CONFLICT (address) DO UPDATE SET dropped = audit_refusals_dropped.dropped + 1, last_at = ${at}
        RETURNING dropped`
  })
  const taken = SqlSchema.findOneOption({
    Request: Schema.Void,
    Result: Summary,
    execute: () => sql`DELETE FROM audit_refusals_dropped WHERE address = ${key} RETURNING dropped, first_at, last_at`
  })
  const add = Effect.fnUntraced(function*(at: number) {
    return yield* transaction(
      sql,
      bounds,
      "a count of refusals without a row",
      Effect.gen(function*() {
        const [row] = yield* counted(at)
        if (row!.dropped === 1) return true
        const claimed = yield* sql`UPDATE audit_refusals_dropped SET claimed_at = ${at}
          WHERE address = ${key} AND claimed_at <= ${at - orphaned} RETURNING address`
        return claimed.length > 0
      })
    )
  })
  const take = transaction(sql, bounds, "a summary of refusals without a row", taken(undefined)).pipe(
    Effect.map(Option.match({
      onNone: () => undefined,
      onSome: (row) => ({ count: row.dropped, first: row.first_at, last: row.last_at })
    }))
  )
  return { add, take }
}
