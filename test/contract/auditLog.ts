/**
 * The contract every backend of the admin audit log (`audit/store.ts`' `AuditLogStore`) keeps, run against each
 * (`test/gateway/audit.test.ts`: SQLite and Postgres): pages read by cursor, concatenated, are the whole log newest
 * first while rows are appended between pages, each row's `at` the `Clock`'s time of its append (TestClock), and the
 * chain they form verifies whole.
 */
import { assert, describe } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import type * as Chain from "../../src/internal/gateway/audit/chain.js"
import * as AuditStore from "../../src/internal/gateway/audit/store.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"

const sample: Chain.Entry = {
  at: 0,
  actor: "ops",
  action: "POST /admin/teams",
  object: null,
  before: null,
  after: null,
  outcome: "ok",
  status: 201,
  code: null,
  from: "127.0.0.1"
}

/** The runs of the property: fewer on Postgres, whose steps are slower. */
const runsOf = { memory: 100, SQLite: 50, Postgres: 10 } as const

export const auditLogContract = (backend: StoreBackend<AuditStore.AuditLog>) =>
  describe(`the audit log's store contract: ${backend.name}`, () => {
    const sql = backend.sql
    if (sql === undefined) return
    effectProp(
      `${backend.name}: pages by cursor, concatenated, are the whole log newest first, rows appended between pages; ` +
        "at is the Clock's",
      fc.record({
        initial: fc.integer({ min: 0, max: 30 }),
        limit: fc.integer({ min: 1, max: 8 }),
        between: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 })
      }),
      ({ between, initial, limit }) =>
        Effect.gen(function*() {
          const database = yield* sql.database
          const log = yield* sql.store(database)
          const append = Effect.gen(function*() {
            yield* TestClock.adjust("1 second")
            const at = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
            const row = yield* log.append({ ...sample, at, object: `team_${at}` })
            assert.strictEqual(row.at, at)
            return row
          })
          const written: Array<Chain.Row> = []
          for (let i = 0; i < initial; i++) written.push(yield* append)
          const pages: Array<Chain.Row> = []
          let before: number | undefined
          for (let turn = 0;; turn++) {
            const page = yield* log.page({ before, limit })
            pages.push(...page)
            if (page.length < limit) break
            before = page.at(-1)!.seq
            for (let i = 0; i < (between[turn] ?? 0); i++) yield* append
          }
          assert.deepStrictEqual(pages, [...written].reverse())
          const verified = yield* AuditStore.verify(database.sql)
          assert.strictEqual(verified.broken, undefined)
        }),
      runsOf[backend.name]
    )
  })
