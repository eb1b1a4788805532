/**
 * The gateway database's record of the spend it charges to budgets a store counts (`Budget.SpendRecord`): a total per
 * counter and window in `recorded_spend`, under the database's identity (`database_identity`, a random id written once
 * by its migration). With a Redis store and a SQLite file per instance, provider.json keys' budgets are counted in
 * Redis; this record is what each instance's part of them is rebuilt from when Redis has lost them.
 */
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Budget from "../../Budget.js"

interface Row {
  readonly [column: string]: unknown
}

const unavailable = (what: string) => (error: SqlError) =>
  new Budget.SpendRecordError({ reason: `${what}: ${error.message}` })

/** The record in the database `sql`, named by its identity; fails when the identity cannot be read. */
export const make = (sql: SqlClient.SqlClient): Effect.Effect<Budget.SpendRecord, Budget.SpendRecordError> =>
  Effect.gen(function*() {
    const [identity] = yield* Effect.mapError(
      sql<Row>`SELECT id FROM database_identity`,
      unavailable("the database's identity could not be read")
    )
    if (identity === undefined) {
      return yield* new Budget.SpendRecordError({ reason: "the database has no identity" })
    }
    const total = (counter: string, windowStart: number) =>
      sql<Row>`SELECT spent FROM recorded_spend WHERE counter = ${counter} AND window_start = ${windowStart}`.pipe(
        Effect.map(([row]) => Number(row?.["spent"] ?? 0)),
        Effect.mapError(unavailable("a recorded total could not be read"))
      )
    const add = (counter: string, windowStart: number, cost: number) =>
      sql<Row>`INSERT INTO recorded_spend (counter, window_start, spent) VALUES (${counter}, ${windowStart}, ${cost})
        ON CONFLICT (counter, window_start) DO UPDATE SET spent = recorded_spend.spent + ${cost}
        RETURNING spent`.pipe(
        Effect.map(([row]) => Number(row?.["spent"])),
        Effect.mapError(unavailable("a charge could not be recorded"))
      )
    return { id: String(identity["id"]), total, add }
  })
