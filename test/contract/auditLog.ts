/**
 * The contract every backend of the admin audit log (`audit/store.ts`' `AuditLogStore`) keeps, run against each
 * (`test/gateway/audit.test.ts`: SQLite and Postgres): pages read by cursor, concatenated, are the whole log
 * newest first while rows are appended between pages, each row's `at` the `Clock`'s time of its append (TestClock),
 * and the chain they form verifies whole; appends made at once each answer their own row, in one chain; rows at any
 * instants, any retention: those older are deleted from the start, pruning again deletes nothing, the chain verifies
 * from its base and goes on after it; and, in a database, a row edited there is found at that row.
 */
import { assert, describe } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import type * as Chain from "../../src/internal/gateway/audit/chain.js"
import * as Retention from "../../src/internal/gateway/audit/retention.js"
import type * as AuditStore from "../../src/internal/gateway/audit/store.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"

/** An admin action as the log records it; its `at` set where it is appended. */
export const sample: Chain.Entry = {
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
const runsOf = { SQLite: 50, Postgres: 10 } as const

const now = Effect.clockWith((clock) => clock.currentTimeMillis)

/** `log`'s next row, appended `gap` after the last (TestClock), at the `Clock`'s time. */
export const appendAfter = (log: AuditStore.AuditLog, gap: Duration.Input) =>
  Effect.gen(function*() {
    yield* TestClock.adjust(gap)
    const at = yield* now
    const row = yield* log.append({ ...sample, at, object: `team_${at}` })
    assert.strictEqual(row.at, at)
    return row
  })

export const auditLogContract = (backend: StoreBackend<AuditStore.AuditLog>) =>
  describe(`the audit log's store contract: ${backend.name}`, () => {
    effectProp(
      `${backend.name}: pages by cursor, concatenated, are the whole log newest first, rows appended between pages; ` +
        "at is the Clock's; the chain verifies",
      fc.record({
        initial: fc.integer({ min: 0, max: 30 }),
        limit: fc.integer({ min: 1, max: 8 }),
        between: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 })
      }),
      ({ between, initial, limit }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          const written: Array<Chain.Row> = []
          for (let i = 0; i < initial; i++) written.push(yield* appendAfter(log, "1 second"))
          const pages: Array<Chain.Row> = []
          let appended = 0
          let before: number | undefined
          for (let turn = 0;; turn++) {
            const page = yield* log.page({ before, limit })
            pages.push(...page)
            if (page.length < limit) break
            before = page.at(-1)!.seq
            for (let i = 0; i < (between[turn] ?? 0); i++, appended++) yield* appendAfter(log, "1 second")
          }
          // The rows appended between pages are newer than the cursor: not in the pages after it.
          assert.deepStrictEqual(pages, [...written].reverse())
          const verified = yield* log.verify()
          const rows = initial + appended
          assert.deepStrictEqual([verified.broken, verified.rows, verified.head.seq], [undefined, rows, rows])
          assert.deepStrictEqual(yield* log.head, verified.head)
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: appends made at once each answer their own row, and together form one chain that verifies`,
      fc.record({ before: fc.integer({ min: 0, max: 3 }), atOnce: fc.integer({ min: 1, max: 24 }) }),
      ({ atOnce, before }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          for (let i = 0; i < before; i++) yield* appendAfter(log, "1 second")
          const objects = Array.from({ length: atOnce }, (_, i) => `team_${i}`)
          const rows = yield* Effect.forEach(objects, (object) => log.append({ ...sample, object }), {
            concurrency: "unbounded"
          })
          assert.deepStrictEqual(rows.map((row) => row.object), objects)
          assert.deepStrictEqual(
            rows.map((row) => row.seq).sort((a, b) => a - b),
            objects.map((_, i) => before + i + 1)
          )
          const stored = yield* log.page({ limit: atOnce })
          assert.deepStrictEqual([...stored].sort((a, b) => a.seq - b.seq), [...rows].sort((a, b) => a.seq - b.seq))
          const verified = yield* log.verify()
          assert.deepStrictEqual([verified.broken, verified.rows], [undefined, before + atOnce])
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: rows at any instants, any retention: those older are deleted from the start, the chain ` +
        "verifies from its base, and appends go on after it",
      fc.record({
        gaps: fc.array(fc.integer({ min: 0, max: 3 * 86_400_000 }), { minLength: 1, maxLength: 25 }),
        retentionDays: fc.integer({ min: 1, max: 20 }),
        later: fc.integer({ min: 0, max: 30 * 86_400_000 })
      }),
      ({ gaps, later, retentionDays }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          const written: Array<Chain.Row> = []
          for (const gap of gaps) written.push(yield* appendAfter(log, Duration.millis(gap)))
          yield* TestClock.adjust(Duration.millis(later))
          const retention = Duration.days(retentionDays)
          const settings = { retention, anchor: undefined }
          const deleted = yield* Retention.prune(log, settings)
          const at = yield* now
          const cut = written.filter((row) => row.at < at - Duration.toMillis(retention)).at(-1)?.seq ?? 0
          assert.strictEqual(deleted, cut)
          const kept = yield* log.page({ limit: 100 })
          assert.deepStrictEqual(
            kept.map((row) => row.seq),
            written.filter((row) => row.seq > cut).map((row) => row.seq).reverse()
          )
          assert.strictEqual(yield* Retention.prune(log, settings), 0)
          const verified = yield* log.verify()
          assert.deepStrictEqual([verified.broken, verified.rows, verified.base.seq], [
            undefined,
            written.length - cut,
            cut
          ])
          yield* log.append({ ...sample, at })
          assert.strictEqual((yield* log.verify()).broken, undefined)
        }),
      runsOf[backend.name]
    )

    const sql = backend.sql
    // Only a backend with a database has rows to edit behind the gateway's back.
    if (sql === undefined) return
    effectProp(
      `${backend.name}: any one row edited in the database is found at that row`,
      fc.record({ rows: fc.integer({ min: 1, max: 12 }), at: fc.nat() }),
      ({ at, rows }) =>
        Effect.gen(function*() {
          const database = yield* sql.database
          const log = yield* sql.store(database)
          for (let i = 0; i < rows; i++) yield* appendAfter(log, "1 second")
          const seq = at % rows + 1
          yield* database.sql.unsafe(`UPDATE admin_audit SET actor = 'someone else' WHERE seq = ${seq}`)
          const broken = (yield* log.verify()).broken
          assert.strictEqual(broken?.seq, seq)
          assert.include(broken?.reason, "does not match its digest")
        }),
      runsOf[backend.name]
    )
  })
