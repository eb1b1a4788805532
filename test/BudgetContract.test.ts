/**
 * One budget, `Budget.make`, against one contract (`contract/budget.ts`) over every backend layer of its store: memory
 * (`layerStoreMemory`); Redis (`layerStoreRedis`, two instances each with its own connection and its own record of what
 * it charged, fail-closed, and fail-open for its outage case); SQL (`layerStoreSql`) on a SQLite file (another
 * connection locking it for its fault case) and on a real Postgres server (through a proxy that can hold its replies
 * back), two clients on one database as two instances of a library user's, each layer making the budget's tables.
 */
import { Budget, type Gateway, type Store } from "effect-llm-router"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Database from "../src/internal/persistence/database.js"
import { budgetContract, type ContractLimit } from "./contract/budget.js"
import { postgresServer } from "./utils/postgresServer.js"
import { pausableProxy } from "./utils/redisProxy.js"
import { redisServer } from "./utils/redisServer.js"
import { proxiedPair } from "./utils/sharedStore.js"

const overall = (limits: ReadonlyArray<ContractLimit>) => limits.map((limit) => ({ ...limit, scope: Budget.overall }))

/** Two instances' budgets, each over its own store (or one store twice), under one key no other call gives. */
const onStores =
  (stores: readonly [Context.Context<Budget.BudgetStore>, Context.Context<Budget.BudgetStore>]) =>
  (limits: ReadonlyArray<ContractLimit>, namespace?: string) => {
    const key = namespace ?? randomUUID()
    const one = (store: Context.Context<Budget.BudgetStore>) =>
      Effect.orDie(Effect.provide(Budget.make({ limits: overall(limits), key }), store))
    return Effect.all([one(stores[0]), one(stores[1])] as const)
  }

budgetContract({
  name: "memory",
  clock: "test",
  server: false,
  file: false,
  failOpen: undefined,
  connect: Effect.gen(function*() {
    const store = yield* Layer.build(Budget.layerStoreMemory)
    return {
      instances: onStores([store, store]),
      elapse: TestClock.adjust,
      shortPeriod: "1 hour",
      faults: undefined,
      slow: undefined,
      locked: undefined
    }
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

/** An instance's Redis store, with its own record. */
const layerOf = (store: Store.Store) => Layer.build(Budget.layerStoreRedis(store, { record: inMemoryRecord() }))

budgetContract({
  name: "Redis",
  clock: "live",
  server: true,
  file: false,
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const { faults, stores } = yield* proxiedPair(redis)
    return {
      instances: onStores([yield* layerOf(stores[0]), yield* layerOf(stores[1])]),
      elapse: Effect.sleep,
      shortPeriod: "2 seconds",
      faults,
      slow: faults,
      locked: undefined
    }
  }),
  failOpen: Effect.gen(function*() {
    const redis = yield* redisServer
    const share = 2
    const { faults, stores } = yield* proxiedPair(redis, { onUnavailable: "fail-open", instances: share })
    return {
      instances: onStores([yield* layerOf(stores[0]), yield* layerOf(stores[1])]),
      share,
      faults,
      slow: faults
    }
  })
})

/** A SQL store on its own client of `database`, as an instance of a library user's has: the layer makes its tables. */
const sqlStoreOn = (database: Gateway.Database) =>
  Effect.flatMap(Effect.orDie(Database.open(database)), (sql) =>
    Effect.orDie(
      Layer.build(
        Budget.layerStoreSql({ address: "the contract's database" }).pipe(
          Layer.provide(Layer.succeed(SqlClient.SqlClient, sql))
        )
      )
    ))

budgetContract({
  name: "SQLite",
  clock: "test",
  server: false,
  file: true,
  failOpen: undefined,
  connect: Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "budget-contract-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const database = { sqlite: join(dir, "gateway.db") }
    const instances = onStores([yield* sqlStoreOn(database), yield* sqlStoreOn(database)])
    // Another process's connection, holding the file's write lock while the check runs.
    let blocker: DatabaseSync | undefined
    return {
      instances,
      elapse: TestClock.adjust,
      shortPeriod: "1 hour",
      faults: undefined,
      slow: undefined,
      // `layerStoreSql`'s default statementTimeout.
      locked: {
        pause: Effect.sync(() => {
          blocker = new DatabaseSync(database.sqlite)
          blocker.exec("BEGIN EXCLUSIVE")
        }),
        resume: Effect.sync(() => {
          blocker?.exec("ROLLBACK")
          blocker?.close()
          blocker = undefined
        }),
        bound: "5 seconds"
      }
    }
  })
})

budgetContract({
  name: "Postgres",
  clock: "live",
  server: true,
  file: false,
  failOpen: undefined,
  connect: Effect.gen(function*() {
    const postgres = yield* postgresServer
    const name = `budget_${randomUUID().replaceAll("-", "")}`
    yield* postgres.database(name)
    // Through a proxy that can hold the server's replies back.
    const proxy = yield* pausableProxy(postgres.port)
    const database = { postgres: Redacted.make(`postgres://postgres@127.0.0.1:${proxy.port}/${name}`) }
    return {
      instances: onStores([yield* sqlStoreOn(database), yield* sqlStoreOn(database)]),
      elapse: Effect.sleep,
      shortPeriod: "2 seconds",
      faults: { stop: postgres.stop, start: postgres.start },
      // `layerStoreSql`'s default statementTimeout.
      slow: { pause: Effect.sync(proxy.pause), resume: Effect.sync(proxy.resume), bound: "5 seconds" },
      locked: undefined
    }
  })
})
