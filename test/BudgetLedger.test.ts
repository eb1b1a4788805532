/**
 * The SQL budget ledger (`internal/budget/sql.ts`) on a real SQLite file shared by two clients, as two gateway
 * instances share it: under random concurrent checks and charges from both, the limit is never passed, every charge
 * is counted once, and nothing stays reserved; a call's reservation whose instance vanished lapses into nothing, a hold
 * never settled into its estimate. Its
 * steps are the persistence module's (`persistence/sql.ts`): bounded by the statement timeout on the `Clock`, and
 * retried while another connection holds the file's write lock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Budget from "../src/Budget.js"
import * as BudgetSql from "../src/internal/budget/sql.js"
import { windowAt } from "../src/internal/budget/window.js"
import type * as AdminKeys from "../src/internal/gateway/admin/keys.js"
import * as Settlements from "../src/internal/gateway/batches/settlements.js"
import { schemas } from "../src/internal/gateway/databaseSchema.js"
import type * as TokenCallers from "../src/internal/gateway/identity/callers.js"
import * as Grants from "../src/internal/gateway/identity/grants.js"
import * as Sessions from "../src/internal/gateway/identity/sessions.js"
import * as Ledger from "../src/internal/gateway/keys/ledger.js"
import type * as RuntimeKeys from "../src/internal/gateway/keys/runtime.js"
import * as KeyStore from "../src/internal/gateway/keys/store.js"
import * as McpPins from "../src/internal/gateway/mcp/pins.js"
import * as McpSessions from "../src/internal/gateway/mcp/sessions.js"
import * as RequestLogStore from "../src/internal/gateway/observe/requestLogStore.js"
import type * as Stores from "../src/internal/gateway/stores.js"
import * as Database from "../src/internal/persistence/database.js"
import * as Sql from "../src/internal/persistence/sql.js"
import { contentionBackoffCap } from "../src/internal/persistence/sql.js"
import * as Sqlite from "../src/internal/persistence/sqlite.js"
import { eventually } from "./utils/eventually.js"
import { silentDatabase } from "./utils/silentDatabase.js"
import { inMemory, serviceOf, sqliteDatabase } from "./utils/sqlDatabases.js"

const dir = mkdtempSync(join(tmpdir(), "budget-ledger-"))
const file = join(dir, "gateway.db")
let run = 0

/** The gateway's ledger on `sql`, as the gateway's layers build it over the SQL budget store. */
const ledgerOn = (sql: SqlClient.SqlClient, options: Budget.SqlStoreOptions) =>
  serviceOf(
    Ledger.SpendLedger,
    Ledger.layer.pipe(Layer.provide(Layer.effect(Budget.BudgetStore, BudgetSql.make(sql, options))))
  )

const twoInstances = (options: Budget.SqlStoreOptions = {}) =>
  Effect.gen(function*() {
    const one = yield* ledgerOn(yield* Database.connect({ sqlite: file }, schemas), { address: file, ...options })
    const other = yield* ledgerOn(yield* Database.connect({ sqlite: file }, schemas), {
      address: file,
      ...options
    })
    return [one, other] as const
  })

describe("the SQL budget ledger", () => {
  it("under random concurrent checks and charges from two instances, never passes its limit", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            estimate: fc.double({ min: 0, max: 1, noNaN: true }),
            // The real cost, as a share of the estimate.
            share: fc.double({ min: 0, max: 1, noNaN: true }),
            instance: fc.integer({ min: 0, max: 1 })
          }),
          { minLength: 1, maxLength: 30 }
        ),
        fc.double({ min: 0.05, max: 4, noNaN: true }),
        (calls, limit) =>
          Effect.runPromise(Effect.scoped(Effect.gen(function*() {
            const instances = yield* twoInstances()
            // A window of a hundred years: the live clock never crosses its end during the run.
            const limits = [{ scope: `key:run-${run++}`, limit, period: "36500 days" as const }]
            const budgets = instances.map((ledger) => ledger.budget(limits))
            const outcomes = yield* Effect.forEach(calls, (call) => {
              const budget = budgets[call.instance]!
              return Effect.flatMap(budget.check({ estimate: call.estimate }), (reservation) => {
                const cost = call.estimate * call.share
                return Effect.as(budget.charge(reservation, cost), cost)
              }).pipe(Effect.result)
            }, { concurrency: "unbounded" })
            const charged = outcomes.filter(Result.isSuccess).reduce((sum, outcome) => sum + outcome.success, 0)
            assert.isAtMost(charged, limit + 1e-9)
            const read = yield* instances[1].spend(limits[0]!.scope, "36500 days")
            assert.closeTo(read.spent, charged, 1e-9)
            assert.strictEqual(read.reserved, 0)
            for (const outcome of outcomes) {
              if (Result.isFailure(outcome)) assert.strictEqual(outcome.failure._tag, "BudgetExceededError")
            }
          })))
      ),
      { numRuns: 30 }
    ), 120_000)

  it.live(
    "a call's reservation whose instance vanished is charged nothing once its lease lapses (its cost is not known); a " +
      "hold never settled lapses into its estimate",
    () =>
      Effect.gen(function*() {
        const limits = [{ scope: "key:vanished", limit: 1, period: "1 day" as const }]
        // An instance that reserves a call and holds a batch, and is gone before it charges either (its scope closed,
        // its lease not renewed).
        yield* Effect.scoped(Effect.gen(function*() {
          const [gone] = yield* twoInstances({ leaseTtl: "300 millis" })
          const budget = gone.budget(limits)
          yield* budget.check({ estimate: 0.75 })
          const now = yield* Clock.currentTimeMillis
          yield* budget.hold({ estimate: 0.125 }, { id: "batch_vanished", until: now + 300 })
        }))
        const [survivor] = yield* twoInstances({ leaseTtl: "300 millis" })
        const budget = survivor.budget(limits)
        const refused = yield* Effect.flip(budget.check({ estimate: 0.5 }))
        assert.strictEqual(refused._tag, "BudgetExceededError")
        const lapsed = yield* eventually(
          "the reservations lapsed",
          survivor.spend("key:vanished", "1 day"),
          (read) => read.reserved === 0,
          { every: "50 millis" }
        )
        assert.strictEqual(lapsed.spent, 0.125)
        // The call's worst case is given back: what is left is the limit less the batch's hold.
        yield* budget.check({ estimate: 0.875 })
        const [status] = yield* budget.status
        assert.strictEqual(status!.spent, 0.125)
        assert.strictEqual(status!.reserved, 0.875)
      })
  )

  it.effect("reads the spend of many scopes and periods together in one transaction", () =>
    Effect.gen(function*() {
      // 00:30 UTC: the hour's window and the day's start at the same instant, and are still two windows.
      yield* TestClock.setTime(Date.UTC(2026, 4, 12, 0, 30))
      let transactions = 0
      const client = yield* Database.connect({ sqlite: file }, schemas)
      const counted = new Proxy(client, {
        get: (target, property, receiver) =>
          property === "withTransaction"
            ? <A, E, R>(effect: Effect.Effect<A, E, R>) => {
              transactions++
              return target.withTransaction(effect)
            }
            : Reflect.get(target, property, receiver)
      })
      // One instance reads (its transactions counted); the other spends and holds a reservation.
      const reader = yield* ledgerOn(counted, { address: file })
      const [spender] = yield* twoInstances()
      const daily = { scope: "key:read-daily", limit: 5, period: "1 day" as const }
      const monthly = { scope: "team:read-monthly", limit: 5, period: "month" as const }
      const budget = spender.budget([daily, monthly])
      yield* budget.charge(yield* budget.check({ estimate: 2 }), 1.25)
      yield* budget.check({ estimate: 0.5 })
      const reads = [
        { scope: daily.scope, period: daily.period },
        { scope: monthly.scope, period: monthly.period },
        // The same scope in a window it has spent nothing in.
        { scope: daily.scope, period: "1 hour" as const },
        { scope: "key:read-never", period: "1 day" as const }
      ]
      transactions = 0
      const found = yield* Effect.forEach(reads, (read) => reader.spend(read.scope, read.period), {
        concurrency: "unbounded"
      })
      assert.strictEqual(transactions, 1)
      assert.deepStrictEqual(found.map(({ reserved, spent }) => [spent, reserved]), [[1.25, 0.5], [1.25, 0.5], [
        0,
        0.5
      ], [0, 0]])
      transactions = 0
      const status = yield* reader.budget([daily, monthly]).status
      assert.strictEqual(transactions, 1)
      assert.deepStrictEqual(status.map(({ reserved, spent }) => [spent, reserved]), [[1.25, 0.5], [1.25, 0.5]])
    }))

  it.effect("keeps an hour's and a day's window of one scope apart across 00:00 UTC", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 4, 12, 23, 30))
      const [ledger] = yield* twoInstances()
      const scope = "key:two-periods"
      // One scope budgeted by the day, then by the hour (a budget whose period was changed).
      const daily = ledger.budget([{ scope, limit: 5, period: "1 day" }])
      const hourly = ledger.budget([{ scope, limit: 1, period: "1 hour" }])
      yield* daily.charge(yield* daily.check({ estimate: 2 }), 2)
      yield* hourly.charge(yield* hourly.check({ estimate: 0.5 }), 0.5)
      const spent = (period: "1 day" | "1 hour") => Effect.map(ledger.spend(scope, period), (read) => read.spent)
      assert.deepStrictEqual([yield* spent("1 day"), yield* spent("1 hour")], [2, 0.5])
      // Past midnight both start again, each at 00:00, and each counts only its own.
      yield* TestClock.setTime(Date.UTC(2026, 4, 13, 0, 10))
      assert.deepStrictEqual([yield* spent("1 day"), yield* spent("1 hour")], [0, 0])
      yield* daily.charge(yield* daily.check({ estimate: 3 }), 3)
      assert.deepStrictEqual([yield* spent("1 day"), yield* spent("1 hour")], [3, 0])
      // The hour's budget is whole: the day's 3 dollars are not its own.
      yield* hourly.charge(yield* hourly.check({ estimate: 0.9 }), 0.9)
      assert.deepStrictEqual([yield* spent("1 day"), yield* spent("1 hour")], [3, 0.9])
      yield* TestClock.setTime(Date.UTC(2026, 4, 13, 1, 0))
      assert.deepStrictEqual([yield* spent("1 day"), yield* spent("1 hour")], [3, 0])
    }))

  it.live("writes a charge the database would not take before its close lets it go", () =>
    Effect.gen(function*() {
      const limits = [{ scope: "key:closing", limit: 1, period: "1 day" as const }]
      const blocker = new DatabaseSync(file)
      yield* Effect.scoped(Effect.gen(function*() {
        const [ledger] = yield* twoInstances({ statementTimeout: "100 millis" })
        const budget = ledger.budget(limits)
        const reservation = yield* budget.check({ estimate: 0.75 })
        // Another process holds the database's write lock past the charge's bound: the charge fails at it and is
        // retried in the background; the lock is let go a little after, while the gateway is closing.
        blocker.exec("BEGIN EXCLUSIVE")
        setTimeout(() => blocker.exec("COMMIT"), 300)
        yield* budget.charge(reservation, 0.25)
      }))
      blocker.close()
      const [after] = yield* twoInstances()
      const read = yield* after.spend("key:closing", "1 day")
      assert.strictEqual(read.spent, 0.25)
      assert.strictEqual(read.reserved, 0)
    }), 30_000)
})

describe("the SQL budget ledger's steps", () => {
  it.effect("fail with StoreUnavailableError naming the table and column of a row read back unlike its columns", () =>
    Effect.gen(function*() {
      const { sql } = yield* sqliteDatabase("budget-malformed")
      const window = windowAt("1 day", 0)
      yield* sql`INSERT INTO spend (scope, period, window_start, spent)
        VALUES ('key:bad', ${window.period}, ${window.start}, 'lots')`
      const store = yield* BudgetSql.make(sql, { address: "the malformed database" })
      const read = yield* Effect.flip(store.spend([{ name: "key:bad", period: "1 day" }]))
      assert.strictEqual(read._tag, "StoreUnavailableError")
      assert.match(read.reason, /a spend read: a row of spend .*\["spent"\]/s)
      const check = yield* Effect.flip(
        store.reserve({ id: "call", at: 0, estimate: 0.5, counters: [{ name: "key:bad", period: "1 day", limit: 1 }] })
      )
      assert.match(check.reason, /a budget check: a row of spend .*\["spent"\]/s)
    }).pipe(Effect.scoped))

  it.effect("fail with StoreUnavailableError naming the step once the statement timeout passes unanswered", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      const ledger = yield* ledgerOn(silent.sql, { address: "the silent database", statementTimeout: "2 seconds" })
      const read = yield* Effect.forkChild(Effect.flip(ledger.spend("key:silent", "1 day")))
      const check = yield* Effect.forkChild(
        Effect.flip(ledger.budget([{ scope: "key:silent", limit: 1, period: "1 day" }]).check({ estimate: 0.5 }))
      )
      yield* TestClock.adjust("1999 millis")
      // Asked, and still waiting just before the bound.
      assert.isAbove(silent.sent(), 0)
      assert.isUndefined(read.pollUnsafe())
      assert.isUndefined(check.pollUnsafe())
      yield* TestClock.adjust("1 milli")
      const unavailable = yield* Fiber.join(read)
      assert.strictEqual(unavailable._tag, "StoreUnavailableError")
      assert.strictEqual(unavailable.address, "the silent database")
      assert.strictEqual(unavailable.reason, "a spend read: no answer within 2s")
      const refused = yield* Fiber.join(check)
      assert.strictEqual(refused._tag, "NoCapacityError")
      assert.isTrue(refused._tag === "NoCapacityError" && refused.storeUnavailable)
    }))

  // A client on the file, counting the statements it makes.
  const counted = Effect.gen(function*() {
    const client = yield* Effect.provide(Effect.orDie(Sqlite.make(file)), Reactivity.layer)
    let statements = 0
    const sql = new Proxy(client, {
      apply: (target, self, args) => {
        statements++
        return Reflect.apply(target, self, args)
      }
    }) as SqlClient.SqlClient
    return { sql, statements: () => statements }
  })

  it.effect("retry a check refused while another connection holds the write lock, and reserve once it is let go", () =>
    Effect.gen(function*() {
      yield* Effect.orDie(Database.connect({ sqlite: file }, schemas))
      const { sql, statements } = yield* counted
      const ledger = yield* ledgerOn(sql, { address: file, statementTimeout: "5 seconds" })
      const limits = [{ scope: "key:contended", limit: 1, period: "1 day" as const }]
      const holder = new DatabaseSync(file)
      holder.exec("BEGIN IMMEDIATE")
      const check = yield* Effect.forkChild(ledger.budget(limits).check({ estimate: 0.5 }))
      yield* Effect.repeat(Effect.yieldNow, { times: 20 })
      // Refused for the lock at once (SQLite does not wait for it), and waiting on the Clock to try again.
      const first = statements()
      assert.isAbove(first, 0)
      assert.isUndefined(check.pollUnsafe())
      // Tried again and again while the lock is held, for longer than the first few backoffs add up to.
      yield* TestClock.adjust("1 second")
      assert.isAbove(statements(), first)
      assert.isUndefined(check.pollUnsafe())
      holder.exec("COMMIT")
      holder.close()
      yield* TestClock.adjust(contentionBackoffCap)
      yield* Fiber.join(check)
      const read = yield* ledger.spend("key:contended", "1 day")
      assert.deepStrictEqual([read.spent, read.reserved], [0, 0.5])
    }).pipe(Effect.scoped))

  it.effect("give a check up as unavailable at the statement timeout when the write lock stays held", () =>
    Effect.gen(function*() {
      yield* Effect.orDie(Database.connect({ sqlite: file }, schemas))
      const { sql, statements } = yield* counted
      const ledger = yield* ledgerOn(sql, { address: file, statementTimeout: "2 seconds" })
      const holder = new DatabaseSync(file)
      holder.exec("BEGIN IMMEDIATE")
      const check = yield* Effect.forkChild(
        Effect.flip(ledger.budget([{ scope: "key:held", limit: 1, period: "1 day" }]).check({ estimate: 0.5 }))
      )
      yield* Effect.repeat(Effect.yieldNow, { times: 20 })
      const first = statements()
      yield* TestClock.adjust("1999 millis")
      assert.isAbove(statements(), first)
      assert.isUndefined(check.pollUnsafe())
      yield* TestClock.adjust("1 milli")
      const refused = yield* Fiber.join(check)
      holder.exec("ROLLBACK")
      holder.close()
      assert.strictEqual(refused._tag, "NoCapacityError")
      assert.isTrue(refused._tag === "NoCapacityError" && refused.storeUnavailable)
    }).pipe(Effect.scoped))
})

describe("the gateway's spend ledger as a service", () => {
  it.effect.each(
    [[
      "on SQLite",
      Effect.map(
        Effect.orDie(Database.connect({ sqlite: ":memory:" }, schemas)),
        (sql) =>
          Layer.provide(
            Ledger.layerSql,
            Layer.succeed(Sql.Database, { sql, bounds: { address: "memory", timeout: Duration.seconds(5) } })
          )
      )
    ]] as const
  )(
    "%s: a key's and its team's limits count in one store, each read by its scope",
    ([, layer]) =>
      Effect.gen(function*() {
        const ledger = yield* serviceOf(Ledger.SpendLedger, yield* layer)
        const limits = [
          { scope: "key:a", limit: 5, period: "1 day" as const },
          { scope: "team:t", limit: 1, period: "1 day" as const }
        ]
        const budget = ledger.budget(limits)
        yield* budget.charge(yield* budget.check({ estimate: 0.5 }), 0.75)
        // The team's limit is the nearer: a check past it is refused, whatever the key's own has left.
        assert.strictEqual((yield* Effect.flip(budget.check({ estimate: 0.5 })))._tag, "BudgetExceededError")
        assert.strictEqual((yield* ledger.spend("key:a", "1 day")).spent, 0.75)
        assert.strictEqual((yield* ledger.spend("team:t", "1 day")).spent, 0.75)
        // Another budget over the same team's scope reads the same counter.
        const other = ledger.budget([{ scope: "team:t", limit: 1, period: "1 day" }])
        assert.strictEqual((yield* Effect.flip(other.check({ estimate: 0.5 })))._tag, "BudgetExceededError")
      }).pipe(Effect.scoped)
  )

  it(
    "is required where it is read: the admin API of keys, the keys made at run time, callers by token, and the " +
      "gateway's stores do not compile without it (the typecheck)",
    () => {
      type Without<T> = Exclude<Effect.Services<T>, Ledger.SpendLedger>
      type Routes = typeof AdminKeys.routes
      // @ts-expect-error: the admin API of keys reads each key's and team's spend in the ledger.
      const routes: Effect.Effect<Effect.Success<Routes>, unknown, Without<Routes>> = undefined as unknown as Routes
      type Runtime = ReturnType<typeof RuntimeKeys.make>
      // @ts-expect-error: the keys made at run time have their budgets in it.
      const runtime: Effect.Effect<Effect.Success<Runtime>, unknown, Without<Runtime>> = undefined as unknown as Runtime
      type Tokens = ReturnType<typeof TokenCallers.make>
      // @ts-expect-error: so do the callers by token, a person's and their team's.
      const tokens: Effect.Effect<Effect.Success<Tokens>, unknown, Without<Tokens>> = undefined as unknown as Tokens
      // @ts-expect-error: the gateway's stores without the ledger are not its stores.
      const stores: Layer.Layer<Stores.Stores> = Layer.mergeAll(
        inMemory(Grants.layerSql),
        Layer.orDie(inMemory(KeyStore.layerSql)),
        inMemory(McpPins.layerSql),
        McpSessions.layerMemory,
        inMemory(Sessions.layerSql),
        inMemory(Settlements.layerSql),
        inMemory(RequestLogStore.layerSql)
      )
      assert.lengthOf([routes, runtime, tokens, stores].filter(Boolean), 1)
    }
  )
})

process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
