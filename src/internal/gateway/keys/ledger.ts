/**
 * The gateway's spend ledger: budgets over the SQL `Budget.BudgetStore` of its database (`budget/sql.ts`), each
 * limit counted under its scope (`key:<id>`, `team:<id>`, `config:<name>`), so a key's budget and its team's, and a
 * reload's budget of a key, read and charge the same counters. Every limit of a ledger budget applies to every call.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Budget from "../../../Budget.js"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../budget/sql.js"
import * as Stored from "../../budget/stored.js"

export interface Ledger {
  /** The SQL budget store the ledger's budgets count in. */
  readonly store: Budget.BudgetStore["Service"]
  /** A budget over `limits`, each naming a scope of the ledger: all apply to every check. */
  readonly budget: (limits: ReadonlyArray<Budget.Limit>) => Budget.Service
  /** A scope's spend and reservations in the window of `period` that holds now (lapsed reservations as spent). */
  readonly spend: (scope: string, period: Budget.Period) => Effect.Effect<Budget.CounterSpend, StoreUnavailableError>
}

/** `Budget.SqlStoreOptions`, the database named. */
export interface Options extends Budget.SqlStoreOptions {
  readonly address: string
}

/** The ledger in the database `sql`, already migrated, for the scope's life. */
export const make = (sql: SqlClient.SqlClient, options: Options): Effect.Effect<Ledger, never, Scope.Scope> =>
  Effect.map(Sql.make(sql, options), (store) => ({
    store,
    budget: (limits) =>
      Stored.make(store, {
        limits,
        names: limits.map((limit) => limit.scope),
        applying: () => limits.map((_, index) => index)
      }),
    spend: (scope, period) => Effect.map(store.spend([{ name: scope, period }]), ([found]) => found!)
  }))
