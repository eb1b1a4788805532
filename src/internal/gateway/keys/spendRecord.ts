/**
 * The gateway database's record of the spend it charges to budgets a store counts (`Budget.SpendRecord`): a total per
 * counter and window, under the database's identity. With a Redis store and a SQLite file per instance, provider.json
 * keys' budgets are counted in Redis, and each instance's part of them is rebuilt from this record when Redis has lost
 * them. Each step is the SQL store's (`persistence/sql.ts`: bounded, retried on contention).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import * as Budget from "../../../Budget.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"

const Identity = tableRow("database_identity", { id: Schema.String })
const Spent = tableRow("recorded_spend", { spent: Numeric })

/** The record in the database `sql`, named by its identity; fails when the identity cannot be read. */
export const make = (
  { bounds, sql }: Sql.Database["Service"]
): Effect.Effect<Budget.SpendRecord, Budget.SpendRecordError> =>
  Effect.gen(function*() {
    function recorded<A>(what: string, effect: Effect.Effect<A, SqlError | Schema.SchemaError>) {
      return Effect.mapError(Sql.step(bounds, what, effect), (error) =>
        new Budget.SpendRecordError({ reason: error.reason }))
    }
    const [identity] = yield* recorded(
      "the database's identity could not be read",
      Sql.rows(Identity, sql`SELECT id FROM database_identity`)
    )
    if (identity === undefined) {
      return yield* new Budget.SpendRecordError({ reason: "the database has no identity" })
    }
    const total = (counter: string, windowStart: number) =>
      recorded(
        "a recorded total could not be read",
        Sql.rows(
          Spent,
          sql`SELECT spent FROM recorded_spend WHERE counter = ${counter} AND window_start = ${windowStart}`
        )
      ).pipe(Effect.map(([row]) =>
        row?.spent ?? 0
      ))
    // The upsert's RETURNING gives its one row.
    const add = (counter: string, windowStart: number, cost: number) =>
      recorded(
        "a charge could not be recorded",
        Sql.rows(
          Spent,
          sql`INSERT INTO recorded_spend (counter, window_start, spent) VALUES (${counter}, ${windowStart}, ${cost})
          ON CONFLICT (counter, window_start) DO UPDATE SET spent = recorded_spend.spent + ${cost}
          RETURNING spent`
        )
      ).pipe(Effect.map(([row]) => row!.spent))
    return { id: identity.id, total, add }
  })
