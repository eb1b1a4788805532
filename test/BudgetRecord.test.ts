/**
 * A shared budget with a spend record (`Budget.Options.record`) on a real redis-server: each instance's part of the
 * spend is rebuilt from its record when Redis restarts empty, at the instance's next check or status; instances
 * rebuild their own parts only; a charge the record did not take is still counted (in the store alone); and, over
 * any sequence of charges, failed records and losses of every key, the spend once every instance has checked is what
 * was recorded plus what the store kept.
 */
import { describe, expect, it } from "@effect/vitest"
import { Budget, type Store } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { budgetInMemory } from "./utils/memoryStores.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { redisServer } from "./utils/redisServer.js"
import { jsonLines } from "./utils/requestLines.js"
import { connected, untilShared } from "./utils/sharedStore.js"

/**
 * A record in memory, as a database would keep it; `failing` makes it refuse what it is asked, and each answer of
 * `add` comes `lateness` milliseconds late (the next of the list, then none), so the charges' scripts may reach Redis
 * in another order than their totals were recorded.
 */
const memoryRecord = (id: string) => {
  const totals = new Map<string, number>()
  const state: { failing: boolean; lateness: Array<number> } = { failing: false, lateness: [] }
  const refused = Effect.suspend(() =>
    state.failing ? Effect.fail(new Budget.SpendRecordError({ reason: "the test's record is failing" })) : Effect.void
  )
  const record: Budget.SpendRecord = {
    id,
    total: (counter, windowStart) =>
      Effect.andThen(refused, Effect.sync(() => totals.get(`${counter}@${windowStart}`) ?? 0)),
    add: (counter, windowStart, cost) =>
      Effect.andThen(
        refused,
        Effect.flatMap(
          Effect.sync(() => {
            const total = (totals.get(`${counter}@${windowStart}`) ?? 0) + cost
            totals.set(`${counter}@${windowStart}`, total)
            return total
          }),
          (total) => Effect.as(Effect.sleep(state.lateness.shift() ?? 0), total)
        )
      )
  }
  return { record, state, recorded: () => [...totals.values()].reduce((sum, total) => sum + total, 0) }
}

const limits = [{ scope: Budget.overall, limit: 1, period: "1 day" }] as const

/** An instance: its own store connection and record, and its budget named `key`. */
const instanceOn = (url: string, key: string, id: string) =>
  Effect.gen(function*() {
    const store = yield* connected(url)
    const memory = memoryRecord(id)
    const budget = yield* Budget.make({ limits, key }).pipe(
      Effect.provide(Budget.layerStoreRedis(store, { record: memory.record }))
    )
    return { store, budget, ...memory }
  })

const spentOf = (budget: Budget.Service) => Effect.map(budget.status, ([status]) => status!.spent)

/** Redis restarted without persistence: every key gone, each store reconnected. */
const restart =
  (redis: { readonly stop: Effect.Effect<void>; readonly start: Effect.Effect<void> }) =>
  (stores: ReadonlyArray<Store.Store>) =>
    Effect.gen(function*() {
      yield* redis.stop
      yield* redis.start
      for (const store of stores) yield* untilShared(store)
    })

describe("Budget with a spend record, on a real redis-server", () => {
  it.live(
    "rebuilds its part when Redis restarts empty: the same spend, and a call past the limit refused",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const one = yield* instanceOn(redis.url, "rebuilt", "db-one")
        yield* one.budget.charge(yield* one.budget.check({ estimate: 0.4 }), 0.3)
        yield* one.budget.charge(yield* one.budget.check({ estimate: 0.4 }), 0.25)
        const before = yield* spentOf(one.budget)
        expect(before).toBe(one.recorded())
        yield* restart(redis)([one.store])
        expect(yield* spentOf(one.budget)).toBe(before)
        const refused = yield* Effect.flip(one.budget.check({ estimate: 0.5 }))
        expect(refused).toMatchObject({ _tag: "BudgetExceededError", spent: before })
        // After another restart the check itself rebuilds the part before it weighs the call.
        yield* restart(redis)([one.store])
        expect((yield* Effect.flip(one.budget.check({ estimate: 0.5 })))._tag).toBe("BudgetExceededError")
        yield* one.budget.charge(yield* one.budget.check({ estimate: 0.4 }), 0.4)
        expect(yield* spentOf(one.budget)).toBeCloseTo(0.95, 9)
      }),
    30_000
  )

  it.live(
    "two instances rebuild their own parts: the combined spend is back once both have checked",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const a = yield* instanceOn(redis.url, "combined", "db-a")
        const b = yield* instanceOn(redis.url, "combined", "db-b")
        yield* a.budget.charge(yield* a.budget.check({ estimate: 0.2 }), 0.2)
        yield* b.budget.charge(yield* b.budget.check({ estimate: 0.3 }), 0.3)
        yield* b.budget.charge(yield* b.budget.check({ estimate: 0.1 }), 0.1)
        expect(yield* spentOf(a.budget)).toBeCloseTo(0.6, 9)
        yield* restart(redis)([a.store, b.store])
        // A's part is back at its check; B's is not until B reads the budget.
        yield* a.budget.charge(yield* a.budget.check({ estimate: 0.05 }), 0)
        expect(yield* spentOf(a.budget)).toBeCloseTo(0.2, 9)
        yield* b.budget.charge(yield* b.budget.check({ estimate: 0.05 }), 0.05)
        expect(yield* spentOf(a.budget)).toBeCloseTo(0.65, 9)
        expect(yield* spentOf(b.budget)).toBeCloseTo(0.65, 9)
      }),
    30_000
  )

  it.live(
    "records what the fail-open local share charged while Redis was away: counted once Redis is back, even empty",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url, { onUnavailable: "fail-open" })
        const memory = memoryRecord("db-away")
        const budget = yield* Budget.make({ limits, key: "away" }).pipe(
          Effect.provide(Budget.layerStoreRedis(store, { record: memory.record }))
        )
        yield* budget.charge(yield* budget.check({ estimate: 0.3 }), 0.3)
        yield* redis.stop
        // Redis away: the local share takes the call, and the record its cost.
        yield* budget.charge(yield* budget.check({ estimate: 0.2 }), 0.15)
        expect(memory.recorded()).toBeCloseTo(0.45, 9)
        yield* redis.start
        yield* untilShared(store)
        expect(yield* spentOf(budget)).toBeCloseTo(0.45, 9)
        const refused = yield* Effect.flip(budget.check({ estimate: 0.6 }))
        expect(refused._tag).toBe("BudgetExceededError")
      }),
    30_000
  )

  it.effect("a record without a store is refused, naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(budgetInMemory({ limits, record: memoryRecord("alone").record }))
      expectOptionsError(error, { module: "Budget", option: "record" })
    }))

  type Step =
    | {
      readonly _tag: "charge"
      readonly instance: number
      readonly costs: ReadonlyArray<number>
      readonly lateness: ReadonlyArray<number>
      readonly failing: boolean
    }
    | { readonly _tag: "lost" }

  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      arbitrary: fc.record({
        _tag: fc.constant("charge" as const),
        instance: fc.integer({ min: 0, max: 2 }),
        // Up to a cent, in hundredths of a cent: what calls cost.
        costs: fc.array(fc.integer({ min: 0, max: 100 }).map((n) => n / 10_000), { minLength: 1, maxLength: 4 }),
        lateness: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }),
        failing: fc.boolean()
      }),
      weight: 4
    },
    { arbitrary: fc.constant({ _tag: "lost" as const }), weight: 1 }
  )

  it.live(
    "over any charges (concurrent, recorded or not) and losses of every key, the spend once each instance has " +
      "checked is what the records hold plus what the store kept",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const stores = [yield* connected(redis.url), yield* connected(redis.url), yield* connected(redis.url)]
        let run = 0
        const property = (steps: ReadonlyArray<Step>) =>
          Effect.gen(function*() {
            const key = `property-${run++}`
            const instances = yield* Effect.forEach(stores, (store, i) =>
              Effect.gen(function*() {
                const memory = memoryRecord(`db-${i}`)
                const budget = yield* Budget.make({ limits, key }).pipe(
                  Effect.provide(Budget.layerStoreRedis(store, { record: memory.record }))
                )
                return { budget, ...memory }
              }))
            // Costs the records did not take, charged since the store last lost its keys.
            let unrecorded = 0
            let failures = 0
            for (const next of steps) {
              if (next._tag === "lost") {
                yield* stores[0]!.connection.send("FLUSHALL")
                unrecorded = 0
                continue
              }
              const instance = instances[next.instance]!
              const held = yield* Effect.forEach(next.costs, (cost) => instance.budget.check({ estimate: cost }), {
                concurrency: "unbounded"
              })
              // Only the charges fail to be recorded: a check that cannot rebuild its part is refused instead.
              instance.state.failing = next.failing
              instance.state.lateness = [...next.lateness]
              yield* Effect.forEach(held, (reservation, i) => instance.budget.charge(reservation, next.costs[i]), {
                concurrency: "unbounded"
              })
              instance.state.failing = false
              if (next.failing) {
                const counted = next.costs.filter((cost) => cost > 0)
                unrecorded += counted.reduce((sum, cost) => sum + cost, 0)
                failures += counted.length
              }
            }
            for (const instance of instances) {
              yield* instance.budget.charge(yield* instance.budget.check({ estimate: 0 }), 0)
            }
            const recorded = instances.reduce((sum, instance) => sum + instance.recorded(), 0)
            const [status] = yield* instances[0]!.budget.status
            expect(status!.spent).toBeCloseTo(recorded + unrecorded, 9)
            expect(status!.reserved).toBe(0)
            return failures
          })
        const warnings: Array<string> = []
        const quiet = jsonLines(warnings)
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(step, { maxLength: 12 }), (steps) => {
              const before = warnings.length
              return Effect.runPromise(
                Effect.flatMap(Effect.provide(property(steps), quiet), (failures) =>
                  // Each charge the record did not take is logged once.
                  Effect.sync(() => {
                    expect(warnings.slice(before).filter((line) => line.includes("not recorded")).length).toBe(failures)
                  }))
              )
            }),
            { numRuns: 40 }
          )
        )
      }),
    60_000
  )
})
