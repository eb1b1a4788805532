/**
 * The SQL budget ledger (`internal/budget/sql.ts`) on a real SQLite file shared by two clients, as two gateway
 * instances share it: under random concurrent checks and charges from both, the limit is never passed, every charge
 * is counted once, and nothing stays reserved; a reservation whose instance vanished lapses into its estimate.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import * as Ledger from "../src/internal/gateway/keys/ledger.js"
import * as Database from "../src/internal/sql/database.js"

const dir = mkdtempSync(join(tmpdir(), "budget-ledger-"))
const file = join(dir, "gateway.db")
let run = 0

const twoInstances = (options: Partial<Ledger.Options> = {}) =>
  Effect.gen(function*() {
    const one = yield* Ledger.make(yield* Database.connect({ sqlite: file }), { address: file, ...options })
    const other = yield* Ledger.make(yield* Database.connect({ sqlite: file }), { address: file, ...options })
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

  it.live("charges a reservation whose instance vanished its estimate once its lease lapses", () =>
    Effect.gen(function*() {
      const limits = [{ scope: "key:vanished", limit: 1, period: "1 day" as const }]
      // An instance that reserves and is gone before it charges (its scope closed, its lease not renewed).
      yield* Effect.scoped(Effect.gen(function*() {
        const [gone] = yield* twoInstances({ leaseTtl: "300 millis" })
        yield* gone.budget(limits).check({ estimate: 0.75 })
      }))
      const [survivor] = yield* twoInstances({ leaseTtl: "300 millis" })
      const budget = survivor.budget(limits)
      const refused = yield* Effect.flip(budget.check({ estimate: 0.5 }))
      assert.strictEqual(refused._tag, "BudgetExceededError")
      yield* Effect.sleep("400 millis")
      const lapsed = yield* survivor.spend("key:vanished", "1 day")
      assert.strictEqual(lapsed.spent, 0.75)
      assert.strictEqual(lapsed.reserved, 0)
      // Still refused: the lapsed reservation counts as spent, never given back.
      const still = yield* Effect.flip(budget.check({ estimate: 0.5 }))
      assert.strictEqual(still._tag, "BudgetExceededError")
      yield* budget.check({ estimate: 0.2 })
    }))
  it.effect("reads the spend of many scopes and periods together in one transaction", () =>
    Effect.gen(function*() {
      // 00:30 UTC: the hour's window and the day's start at the same instant, and are still two windows.
      yield* TestClock.setTime(Date.UTC(2026, 4, 12, 0, 30))
      let transactions = 0
      const client = yield* Database.connect({ sqlite: file })
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
      const reader = yield* Ledger.make(counted, { address: file })
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
        const [ledger] = yield* twoInstances()
        const budget = ledger.budget(limits)
        const reservation = yield* budget.check({ estimate: 0.75 })
        // Another process holds the database's write lock: the charge waits out the busy timeout and fails, and is
        // retried in the background; the lock is let go a little after, while the gateway is closing.
        blocker.exec("BEGIN EXCLUSIVE")
        setTimeout(() => blocker.exec("COMMIT"), 50)
        yield* budget.charge(reservation, 0.25)
      }))
      blocker.close()
      const [after] = yield* twoInstances()
      const read = yield* after.spend("key:closing", "1 day")
      assert.strictEqual(read.spent, 0.25)
      assert.strictEqual(read.reserved, 0)
    }), 30_000)
})

process.on("exit", () => rmSync(dir, { recursive: true, force: true }))
