/**
 * The gateway database's stores on a database that takes statements and never answers: the keys and teams made at
 * run time (`keys/store.ts`) and the spend record (`sql/spendRecord.ts`) fail when their step's bound passes on the
 * `Clock`, naming the step, as every SQL step does (`persistence/sql.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as KeyStore from "../../src/internal/gateway/keys/store.js"
import * as SpendRecord from "../../src/internal/sql/spendRecord.js"
import { silentDatabase } from "../utils/silentDatabase.js"
import { serviceOf } from "../utils/sqlDatabases.js"

describe("the gateway database's stores on a database that does not answer", () => {
  it.effect("the keys store fails to load with StoreUnavailableError once its statement timeout passes", () =>
    Effect.gen(function*() {
      const silent = yield* silentDatabase
      const loading = yield* Effect.forkChild(
        Effect.flip(serviceOf(
          KeyStore.KeyStore,
          KeyStore.layerSql({
            sql: silent.sql,
            bounds: { address: "the silent database", timeout: Duration.seconds(1) }
          })
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
