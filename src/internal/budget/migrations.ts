/**
 * The budgets' tables past the ledger's first (`keys/migrations.ts`' `1_keys_and_spend`): the database's identity and
 * the spend it recorded of the budgets a store counts (`sql/spendRecord.ts`), a window's spend keyed by its period
 * too, and what a reservation is charged when it lapses (`sql.ts`).
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import type * as Budget from "../../Budget.js"
import { type Migrations, statements } from "../sql/migrations.js"
import { periodKey } from "./window.js"

// A budget period as the keys and teams tables hold it (`keys/store.ts`): `month`, or a duration's text such as
// `1 day`, as the admin API took it.
const storedPeriodKey = (text: string): string => periodKey(text as Budget.Period)

const hour = 3_600_000
const day = 24 * hour

// The longest period whose windows `start` begins: a UTC month, a day, else an hour.
const alignedPeriod = (start: number): string => {
  const date = new Date(start)
  if (date.getTime() === Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)) return "month"
  return String(start % day === 0 ? day : hour)
}

/** Its migrations, by `<id>_<name>` (`sql/migrations.ts`). */
export const migrations = {
  // The database's identity, a random id written once, and the spend it has recorded of the budgets a store counts
  // (`spendRecord.ts`): a window's total per counter, from which the store's counters are rebuilt.
  "3_spend_record": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.andThen(
      statements(
        `CREATE TABLE database_identity (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          id TEXT NOT NULL
        )`,
        `CREATE TABLE recorded_spend (
          counter TEXT NOT NULL,
          window_start BIGINT NOT NULL,
          spent DOUBLE PRECISION NOT NULL,
          PRIMARY KEY (counter, window_start)
        )`
      ),
      Effect.suspend(() => sql`INSERT INTO database_identity (one, id) VALUES (1, ${randomUUID()})`)
    )),
  // The spend of a window keyed by its period too: an hour's and a day's window of one scope that start at the same
  // instant were one row. Every row is kept, given its scope's period where the database knows it (a key's or a
  // team's budget), else the longest period its start is the start of (a UTC month, a day, an hour): provider.json
  // keys' budgets are not in the database (docs/store.md).
  "4_spend_by_period": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.gen(function*() {
      yield* sql.unsafe(`CREATE TABLE spend_by_period (
        scope TEXT NOT NULL,
        period TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        spent DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, period, window_start)
      )`)
      const known = new Map<string, string>()
      for (const [table, prefix] of [["keys", "key:"], ["teams", "team:"]] as const) {
        const rows = yield* sql.unsafe<{ readonly id: unknown; readonly budget_period: unknown }>(
          `SELECT id, budget_period FROM ${table} WHERE budget_period IS NOT NULL`
        )
        for (const row of rows) known.set(`${prefix}${row.id}`, storedPeriodKey(String(row.budget_period)))
      }
      const rows = yield* sql.unsafe<
        { readonly scope: unknown; readonly window_start: unknown; readonly spent: unknown }
      >(
        "SELECT scope, window_start, spent FROM spend"
      )
      for (const row of rows) {
        const scope = String(row.scope)
        const start = Number(row.window_start)
        yield* sql`INSERT INTO spend_by_period (scope, period, window_start, spent)
          VALUES (${scope}, ${known.get(scope) ?? alignedPeriod(start)}, ${start}, ${Number(row.spent)})`
      }
      yield* sql.unsafe("DROP TABLE spend")
      yield* sql.unsafe("ALTER TABLE spend_by_period RENAME TO spend")
    })),
  // What a reservation is charged if it lapses unsettled: a hold (`Budget.hold`) its estimate, a call's nothing (its
  // instance died; what it cost is not known). Reservations open at the upgrade keep their estimate.
  "26_reservation_lapse": statements(
    "ALTER TABLE reservations ADD COLUMN lapse DOUBLE PRECISION NOT NULL DEFAULT 0",
    "UPDATE reservations SET lapse = estimate"
  )
} satisfies Migrations
