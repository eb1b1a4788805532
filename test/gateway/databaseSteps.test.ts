/**
 * The gateway database's stores on a database that takes statements and never answers: the keys and teams made at
 * run time (`keys/store.ts`) and the spend record (`spendRecord.ts`) fail when their step's bound passes on the
 * `Clock`, naming the step, as every SQL step does (`persistence/sql.ts`); a step refused for contention is tried
 * again at the contention schedule's waits; a step interrupted, by its caller or at its bound, interrupts its
 * statement and does not wait for that interruption (a rollback on a database that does not answer) to end.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import { DeadlockError, LockTimeoutError, SerializationError, SqlError, SqlSyntaxError } from "effect/sql/SqlError"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { countOps } from "../../bench/effectOps.js"
import * as SpendRecord from "../../src/internal/gateway/keys/spendRecord.js"
import * as KeyStore from "../../src/internal/gateway/keys/store.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import { silentDatabase } from "../utils/silentDatabase.js"
import { memoryDatabase, serviceOf } from "../utils/sqlDatabases.js"

describe("the gateway database's stores on a database that does not answer", () => {
  it.effect("the keys store fails to load with StoreUnavailableError once its statement timeout passes", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      const loading = yield* Effect.forkChild(
        Effect.flip(serviceOf(
          KeyStore.KeyStore,
          Layer.provide(
            KeyStore.layerSql,
            Layer.succeed(Sql.Database, {
              sql: silent.sql,
              bounds: { address: "the silent database", timeout: Duration.seconds(1) }
            })
          )
        ))
      )
      yield* TestClock.adjust("999 millis")
      expect(silent.sent()).toBeGreaterThan(0)
      expect(loading.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 milli")
      const error = yield* Fiber.join(loading)
      expect(error._tag).toBe("StoreUnavailableError")
      expect(error).toMatchObject({ address: "the silent database", reason: "reading the keys: no answer within 1s" })
    }).pipe(Effect.scoped))

  it.effect("the spend record fails with SpendRecordError, carrying the step's reason, once the bound passes", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      const opening = yield* Effect.forkChild(
        Effect.flip(SpendRecord.make({
          sql: silent.sql,
          bounds: { address: "the silent database", timeout: Duration.seconds(2) }
        }))
      )
      yield* TestClock.adjust("1999 millis")
      expect(opening.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 milli")
      const error = yield* Fiber.join(opening)
      expect(error._tag).toBe("SpendRecordError")
      expect(error.reason).toBe("the database's identity could not be read: no answer within 2s")
    }))
})

describe("a SQL step refused for contention", () => {
  // A statement refused for contention (`refusals` times, each a deadlock, a serialisation failure or a lock), then
  // answering or failing otherwise; the Clock's time of each attempt noted.
  function statement(refusals: ReadonlyArray<Contention>, ends: "answers" | "fails", times: Array<number>) {
    let attempt = 0
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      times.push(now)
      const refused = refusals[attempt++]
      if (refused !== undefined) return Effect.fail(new SqlError({ reason: new reasons[refused]({ cause: "busy" }) }))
      return ends === "answers"
        ? Effect.succeed("rows")
        : Effect.fail(new SqlError({ reason: new SqlSyntaxError({ cause: "bad" }) }))
    })
  }

  type Contention = "DeadlockError" | "SerializationError" | "LockTimeoutError"
  const reasons = { DeadlockError, SerializationError, LockTimeoutError } as const

  it.effect(
    "is tried again at the contention schedule's waits from its start, for any refusals and either end, as a retry " +
      "from its first attempt is; one answered at once builds no retry",
    () =>
      Effect.gen(function*() {
        const bounds = { address: "a database", timeout: Duration.minutes(1) }
        const property = fc.asyncProperty(
          fc.array(fc.constantFrom<Contention>("DeadlockError", "SerializationError", "LockTimeoutError"), {
            maxLength: 12
          }),
          fc.constantFrom<"answers" | "fails">("answers", "fails"),
          (refusals, ends) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const stepped: Array<number> = []
                const retried: Array<number> = []
                const run = <A, E>(effect: Effect.Effect<A, E>) =>
                  Effect.gen(function*() {
                    const start = yield* Clock.currentTimeMillis
                    const fiber = yield* Effect.forkChild(Effect.result(effect))
                    yield* TestClock.adjust(Duration.minutes(1))
                    const result = yield* Fiber.join(fiber)
                    return { start, result: Result.isSuccess(result) ? result.success : "failed" }
                  })
                const step = yield* run(Sql.step(bounds, "reading", statement(refusals, ends, stepped)))
                const retry = yield* run(
                  Effect.retry(statement(refusals, ends, retried), {
                    schedule: Sql.contentionWait,
                    while: Sql.isContention
                  })
                )
                expect(stepped.map((at) => at - step.start)).toEqual(retried.map((at) => at - retry.start))
                expect(stepped).toHaveLength(refusals.length + 1)
                expect(step.result).toEqual(retry.result)
              }).pipe(Effect.provide(TestClock.layer()))
            )
        )
        yield* Effect.promise(() => fc.assert(property, { numRuns: 100 }))
        const counted = countOps()
        const ops = (effect: Effect.Effect<unknown, unknown>) => {
          const before = counted().ops
          Effect.runSync(effect)
          return counted().ops - before
        }
        const answered = Effect.succeed("rows")
        expect(ops(Sql.step(bounds, "reading", answered))).toBeLessThan(
          ops(Effect.retry(answered, { schedule: Sql.contentionWait, while: Sql.isContention }))
        )
      })
  )
})

describe("a SQL step interrupted", () => {
  // A statement that never answers and whose interruption takes `cleanup` (a rollback on a database that does not
  // answer: forever); whether it was interrupted noted.
  function hanging(cleanup: "none" | "forever") {
    const state = { interrupted: false }
    const statement = Effect.onInterrupt(
      Effect.never,
      () =>
        Effect.andThen(
          Effect.sync(() => void (state.interrupted = true)),
          cleanup === "forever" ? Effect.never : Effect.void
        )
    )
    return { state, statement }
  }

  it.effect(
    "by its caller or at its bound, at any instant, interrupts its statement and does not wait for the statement's " +
      "interruption to end",
    () =>
      Effect.gen(function*() {
        const bounds = { address: "a database", timeout: Duration.seconds(5) }
        const property = fc.asyncProperty(
          fc.constantFrom<"none" | "forever">("none", "forever"),
          fc.integer({ min: 0, max: 6_000 }),
          (cleanup, after) =>
            Effect.runPromise(
              Effect.gen(function*() {
                const { state, statement } = hanging(cleanup)
                const step = yield* Effect.forkChild(Effect.result(Sql.step(bounds, "writing", statement)))
                yield* TestClock.adjust(Duration.millis(after))
                // Past the bound the step has failed on its own; before it, its caller stops it.
                yield* Fiber.interrupt(step)
                const exit = yield* Fiber.await(step)
                expect(state.interrupted).toBe(true)
                if (after >= 5_000) {
                  expect(exit).toMatchObject({ _tag: "Success" })
                  const result = Exit.isSuccess(exit) ? exit.value : undefined
                  expect(result !== undefined && Result.isFailure(result) && result.failure._tag).toBe(
                    "StoreUnavailableError"
                  )
                } else {
                  expect(Exit.hasInterrupts(exit)).toBe(true)
                }
              }).pipe(Effect.provide(TestClock.layer()))
            )
        )
        yield* Effect.promise(() => fc.assert(property, { numRuns: 60 }))
      })
  )
})

describe("a long SQL transaction", () => {
  // A transaction of `statements` on a database of a 1 s step bound, whose statements each take `each` on the `Clock`
  // and answer, its first `refused` attempts each refused for contention after `each`; where it ended, on the
  // `Clock`, and how.
  const ended = (statements: number, each: Duration.Input, answers: number, refused = 0) =>
    Effect.gen(function*() {
      const { sql } = yield* memoryDatabase
      const bounds = { address: "a database", timeout: Duration.seconds(1) }
      const start = yield* Clock.currentTimeMillis
      let attempts = 0
      const fiber = yield* Effect.forkChild(
        Effect.result(
          Sql.longTransaction(sql, bounds, "writing a run", statements, (statement) =>
            Effect.gen(function*() {
              if (attempts++ < refused) {
                yield* Effect.sleep(each)
                return yield* Effect.fail(new SqlError({ reason: new LockTimeoutError({ cause: "busy" }) }))
              }
              for (let i = 0; i < answers; i++) {
                yield* Effect.sleep(each)
                yield* statement(sql`SELECT 1`)
              }
            }))
        ).pipe(Effect.zip(Clock.currentTimeMillis))
      )
      yield* TestClock.adjust(Duration.minutes(1))
      const [result, at] = yield* Fiber.join(fiber)
      return { after: at - start, result: Result.isSuccess(result) ? "committed" : result.failure.reason }
    }).pipe(Effect.scoped)

  it.effect("takes its step's bound after each statement answered, up to that bound for each of its statements", () =>
    Effect.gen(function*() {
      // Three statements of 900 ms each: 2.7 s, past one step's bound, each answered within it.
      expect(yield* ended(3, "900 millis", 3)).toEqual({ after: 2_700, result: "committed" })
      // A statement unanswered for the bound after the last answer fails it then.
      expect(yield* ended(3, "1100 millis", 3)).toEqual({ after: 1_000, result: "writing a run: no answer within 1s" })
      expect(yield* ended(3, "900 millis", 2)).toEqual({ after: 1_800, result: "committed" })
      // Answered in time without end: failed at its statements' bound, 3 s.
      expect(yield* ended(3, "900 millis", 100)).toEqual({ after: 3_000, result: "writing a run: no answer within 1s" })
    }))

  it.effect("takes a refusal for contention as an answer: its attempt again, from then, has the step's bound", () =>
    Effect.gen(function*() {
      // Three attempts refused after 900 ms each, the contention waits between them (10, 20 and 40 ms), then one
      // whose statement answers after 900 ms: 3.67 s, each answer within the bound after the one before.
      expect(yield* ended(10, "900 millis", 1, 3)).toEqual({ after: 3_670, result: "committed" })
      // A refusal later than the bound after the start is no answer in time.
      expect(yield* ended(10, "1100 millis", 1, 1)).toEqual({
        after: 1_000,
        result: "writing a run: no answer within 1s"
      })
    }))
})
