/**
 * The gateway's spend ledger (`SpendLedger`): budgets over whichever `Budget.BudgetStore` is provided (the database,
 * `budget/sql.ts`), each limit counted under its scope (`key:<id>`, `team:<id>`,
 * `config-key:<name>`), so a key's budget and its team's, and a reload's budget of a key, read and charge the same
 * counters. Every limit of a ledger budget applies to every call.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../../Budget.js"
import type { StoreUnavailableError } from "../../../Store.js"
import * as BudgetSql from "../../budget/sql.js"
import * as Stored from "../../budget/stored.js"
import * as Sql from "../../persistence/sql.js"

export interface Ledger {
  /** The budget store the ledger's budgets count in. */
  readonly store: Budget.BudgetStore["Service"]
  /** A budget over `limits`, each naming a scope of the ledger: all apply to every check. */
  readonly budget: (limits: ReadonlyArray<Budget.Limit>) => Budget.Service
  /** A scope's spend and reservations in the window of `period` that holds now (lapsed reservations as spent). */
  readonly spend: (scope: string, period: Budget.Period) => Effect.Effect<Budget.CounterSpend, StoreUnavailableError>
}

export class SpendLedger extends Context.Service<SpendLedger, Ledger>()("effect-llm-router/gateway/keys/SpendLedger") {}

/** The ledger over the `Budget.BudgetStore` provided. */
export const layer: Layer.Layer<SpendLedger, never, Budget.BudgetStore> = Layer.effect(
  SpendLedger,
  Effect.map(Budget.BudgetStore, (store) => ({
    store,
    budget: (limits) =>
      Stored.make(store, {
        limits,
        names: limits.map((limit) => limit.scope),
        applying: () => limits.map((_, index) => index)
      }),
    spend: (scope, period) => Effect.map(store.spend([{ name: scope, period }]), ([found]) => found!)
  }))
)

/** The ledger in the gateway's database, already migrated, which every instance on it shares. */
export const layerSql: Layer.Layer<SpendLedger, never, Sql.Database> = layer.pipe(
  Layer.provide(
    Layer.effect(
      Budget.BudgetStore,
      Effect.flatMap(
        Sql.Database,
        ({ bounds, sql }) => BudgetSql.make(sql, { address: bounds.address, statementTimeout: bounds.timeout })
      )
    )
  )
)
