/**
 * Every backend of a `Budget` against one contract (`contract/budget.ts`): in memory; in Redis (`shared`, two
 * instances each with its own connection and its own record of what it charged); in the gateway's SQL ledger on a SQLite file and on a real Postgres server
 * (two ledgers on one database, as two gateway instances).
 */
import { Budget, type Gateway } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Ledger from "../src/internal/budget/sql.js"
import * as Database from "../src/internal/sql/database.js"
import { budgetContract, type ContractLimit } from "./contract/budget.js"
import { postgresServer } from "./utils/postgresServer.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, untilShared } from "./utils/sharedStore.js"

const overall = (limits: ReadonlyArray<ContractLimit>) => limits.map((limit) => ({ ...limit, scope: Budget.overall }))

budgetContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (limits) =>
      Effect.map(Effect.orDie(Budget.make({ limits: overall(limits) })), (budget) => [budget, budget] as const),
    elapse: TestClock.adjust,
    shortPeriod: "1 hour",
    faults: undefined
  })
})

/**
 * An instance's record of what it charged, kept apart from Redis (the gateway keeps it in its database): a Redis
 * restarted empty gets each instance's part back from it.
 */
const inMemoryRecord = (): Budget.SpendRecord => {
  const totals = new Map<string, number>()
  return {
    id: randomUUID(),
    total: (counter, windowStart) => Effect.sync(() => totals.get(`${counter}@${windowStart}`) ?? 0),
    add: (counter, windowStart, cost) =>
      Effect.sync(() => {
        const total = (totals.get(`${counter}@${windowStart}`) ?? 0) + cost
        totals.set(`${counter}@${windowStart}`, total)
        return total
      })
  }
}

budgetContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const stores = [yield* Effect.orDie(connected(redis.url)), yield* Effect.orDie(connected(redis.url))] as const
    const scope = yield* Effect.scope
    return {
      instances: (limits) => {
        const key = randomUUID()
        const one = (store: (typeof stores)[number]) =>
          Effect.orDie(Budget.make({ limits: overall(limits), shared: { store, key }, record: inMemoryRecord() }))
        return Effect.provideService(Effect.all([one(stores[0]), one(stores[1])]), Scope.Scope, scope)
      },
      elapse: Effect.sleep,
      shortPeriod: "2 seconds",
      faults: {
        stop: redis.stop,
        start: Effect.andThen(
          redis.start,
          Effect.orDie(Effect.scoped(Effect.forEach(stores, untilShared, { discard: true })))
        )
      }
    }
  })
})

/** Two ledgers on one database, as two gateway instances; each call's limits in a scope of their own. */
const onLedgers = (ledgers: readonly [Ledger.Ledger, Ledger.Ledger]) => (limits: ReadonlyArray<ContractLimit>) => {
  const scoped = limits.map((limit) => ({ ...limit, scope: `key:${randomUUID()}` }))
  return Effect.succeed([ledgers[0].budget(scoped), ledgers[1].budget(scoped)] as const)
}

const ledgersOn = (database: Gateway.Database) =>
  Effect.gen(function*() {
    const one = yield* Ledger.make(yield* Effect.orDie(Database.connect(database)), {
      address: "the contract's database"
    })
    const other = yield* Ledger.make(yield* Effect.orDie(Database.connect(database)), {
      address: "the contract's database"
    })
    return [one, other] as const
  })

budgetContract({
  name: "SQLite",
  clock: "test",
  server: false,
  connect: Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "budget-contract-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    return {
      instances: onLedgers(yield* ledgersOn({ sqlite: join(dir, "gateway.db") })),
      elapse: TestClock.adjust,
      shortPeriod: "1 hour",
      faults: undefined
    }
  })
})

budgetContract({
  name: "Postgres",
  clock: "live",
  server: true,
  connect: Effect.gen(function*() {
    const postgres = yield* postgresServer
    const url = yield* postgres.database(`budget_${randomUUID().replaceAll("-", "")}`)
    return {
      instances: onLedgers(yield* ledgersOn({ postgres: Redacted.make(url) })),
      elapse: Effect.sleep,
      shortPeriod: "2 seconds",
      faults: { stop: postgres.stop, start: postgres.start }
    }
  })
})
