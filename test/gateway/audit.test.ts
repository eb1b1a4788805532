/**
 * The admin audit log's rules over their whole domain: any chain of rows walks intact, and any one row edited (any
 * field), deleted (anywhere, the last included), or two rows exchanged is found at the row it breaks; pages read by
 * cursor from the SQL store, concatenated, are the whole log newest first while rows are appended between pages, each
 * row's `at` the `Clock`'s time of its append (TestClock); a mutating admin route without an audit subject is refused
 * at build; the rows of refusals bounded per address, the rest counted in one row a window on (TestClock), over any
 * sequence of refusals.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Chain from "../../src/internal/gateway/audit/chain.js"
import * as Record from "../../src/internal/gateway/audit/record.js"
import * as Refusals from "../../src/internal/gateway/audit/refusals.js"
import * as AuditStore from "../../src/internal/gateway/audit/store.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as Database from "../../src/internal/sql/database.js"
import { effectProp } from "../utils/effectProp.js"

const entry: fc.Arbitrary<Chain.Entry> = fc.record({
  at: fc.integer({ min: 0, max: 2 ** 42 }),
  actor: fc.oneof(fc.constant("ops"), fc.constant("unknown"), fc.string()),
  action: fc.constantFrom("POST /admin/keys", "PATCH /admin/keys/:id", "POST /admin/reload"),
  object: fc.option(fc.string(), { nil: null }),
  before: fc.option(fc.json(), { nil: null }),
  after: fc.option(fc.json(), { nil: null }),
  outcome: fc.constantFrom("ok", "refused", "failed"),
  status: fc.integer({ min: 100, max: 599 }),
  code: fc.option(fc.string(), { nil: null }),
  from: fc.option(fc.ipV4(), { nil: null })
})

const chainOf = (entries: ReadonlyArray<Chain.Entry>) => {
  const rows: Array<Chain.Row> = []
  let head = Chain.emptyHead
  for (const one of entries) {
    const row = Chain.next(head, one)
    rows.push(row)
    head = { seq: row.seq, digest: row.digest }
  }
  return { rows, head }
}

const walked = (rows: ReadonlyArray<Chain.Row>, head: Chain.Head) => {
  const walk = Chain.walk()
  walk.feed(rows)
  return walk.end(head)
}

const fields = ["at", "actor", "action", "object", "before", "after", "outcome", "status", "code", "from"] as const

// `value` changed to another of its kind.
const changed = (value: unknown): unknown =>
  typeof value === "number" ? value + 1 : typeof value === "string" ? `${value}x` : "x"

describe("the audit chain", () => {
  it("walks intact, and finds any one field of any row edited at that row", () =>
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.constantFrom(...fields, "digest" as const),
        (entries, at, field) => {
          const { head, rows } = chainOf(entries)
          assert.deepStrictEqual(walked(rows, head), { broken: undefined, rows: rows.length })
          const index = at % rows.length
          const edited = rows.map((row, i) => (i === index ? { ...row, [field]: changed(row[field]) } : row))
          assert.strictEqual(walked(edited, head).broken?.seq, index + 1)
        }
      )
    ))

  it("finds any one row deleted: at the row after it, or, the last, at the head", () =>
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), fc.nat(), (entries, at) => {
        const { head, rows } = chainOf(entries)
        const index = at % rows.length
        const broken = walked(rows.filter((_, i) => i !== index), head).broken
        assert.strictEqual(broken?.seq, index === rows.length - 1 ? head.seq : index + 2)
        assert.include(broken?.reason, "deleted")
      })
    ))

  it("finds two rows exchanged, whether their places or their contents moved", () =>
    fc.assert(
      fc.property(fc.array(entry, { minLength: 2, maxLength: 20 }), fc.nat(), (entries, at) => {
        const { head, rows } = chainOf(entries)
        const index = at % (rows.length - 1)
        const [a, b] = [rows[index]!, rows[index + 1]!]
        const reordered = rows.map((row, i) => (i === index ? b : i === index + 1 ? a : row))
        assert.strictEqual(walked(reordered, head).broken?.seq, b.seq)
        // The contents exchanged under their places' numbers (as `UPDATE ... SET seq` would leave them).
        const moved = rows.map((
          row,
          i
        ) => (i === index ? { ...b, seq: a.seq } : i === index + 1 ? { ...a, seq: b.seq } : row))
        assert.strictEqual(walked(moved, head).broken?.seq, a.seq)
      })
    ))
})

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

describe("the audit log's SQL store", () => {
  effectProp(
    "pages by cursor, concatenated, are the whole log newest first, rows appended between pages; at is the Clock's",
    fc.record({
      initial: fc.integer({ min: 0, max: 30 }),
      limit: fc.integer({ min: 1, max: 8 }),
      between: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 })
    }),
    ({ between, initial, limit }) =>
      Effect.gen(function*() {
        const sql = yield* Database.connect({ sqlite: ":memory:" })
        const log = AuditStore.make({ sql, bounds: { address: "memory", timeout: Sql.defaultTimeout } })
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
        const verified = yield* AuditStore.verify(sql)
        assert.strictEqual(verified.broken, undefined)
      })
  )
})

describe("recording admin routes", () => {
  it.effect("refuses to build a mutating admin route without an audit subject, naming it", () =>
    Effect.gen(function*() {
      const route = HttpRouter.route("POST", "/admin/widgets", Effect.succeed(HttpServerResponse.empty()))
      const recording = { log: undefined, refusals: undefined, actor: () => Effect.succeed("ops"), now: () => 0 }
      const refused = yield* Effect.exit(Record.recorded([route], { ...recording, subjects: {} }))
      assert.isTrue(Exit.isFailure(refused))
      assert.include(String(Exit.isFailure(refused) ? refused.cause : ""), "POST /admin/widgets")
      // With its subject, or read-only, or not an admin path: built.
      const subject = { object: () => undefined, state: () => Effect.succeed(null) }
      const routes = [
        route,
        HttpRouter.route("GET", "/admin/widgets", Effect.succeed(HttpServerResponse.empty())),
        HttpRouter.route("POST", "/v1/widgets", Effect.succeed(HttpServerResponse.empty()))
      ]
      const built = yield* Record.recorded(routes, { ...recording, subjects: { "POST /admin/widgets": subject } })
      assert.strictEqual(built.length, 3)
    }))
})

/** An audit log in memory: every entry appended, in order. */
function memoryLog() {
  const rows: Array<Chain.Entry> = []
  const log: AuditStore.AuditLog = {
    append: (appended) =>
      Effect.sync(() => {
        rows.push(appended)
        return { ...appended, seq: rows.length, digest: Chain.genesis }
      }),
    page: () => Effect.succeed([])
  }
  return { rows, log }
}

/** A refused request's entry from `from` at `at`. */
const refusal = (from: string | null, at: number): Chain.Entry => ({
  ...sample,
  at,
  actor: "unknown",
  action: "GET /admin/spend",
  outcome: "refused",
  status: 401,
  code: "invalid_api_key",
  from
})

/** The summaries among `rows`: their address and how many they say were dropped. */
const summaries = (rows: ReadonlyArray<Chain.Entry>) =>
  rows.filter((row) => row.action === Refusals.droppedAction).map((row) => ({
    from: row.from,
    dropped: (JSON.parse(row.after!) as { readonly dropped: number }).dropped
  }))

describe("the audit rows of refusals", () => {
  it.effect("from one address: a window's rows, the rest counted, and one row a window on saying how many", () =>
    Effect.gen(function*() {
      const { log, rows } = memoryLog()
      const refusals = yield* Refusals.make(log)
      const now = () => Effect.clockWith((clock) => clock.currentTimeMillis)
      for (let i = 0; i < Refusals.rowsPerWindow + 15; i++) yield* refusals.record(refusal("203.0.113.9", yield* now()))
      // Another address has rows of its own.
      for (let i = 0; i < 3; i++) yield* refusals.record(refusal("198.51.100.7", yield* now()))
      assert.strictEqual(rows.filter((row) => row.from === "203.0.113.9").length, Refusals.rowsPerWindow)
      assert.strictEqual(rows.filter((row) => row.from === "198.51.100.7").length, 3)
      assert.deepStrictEqual(summaries(rows), [])
      // The summary comes one window after the first dropped refusal, whether the flood goes on or not.
      yield* TestClock.adjust("59 seconds")
      assert.deepStrictEqual(summaries(rows), [])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(summaries(rows), [{ from: "203.0.113.9", dropped: 15 }])
      const written = rows.at(-1)!
      assert.deepStrictEqual(
        [written.actor, written.outcome, written.status, written.code, written.at],
        [Refusals.gatewayActor, "refused", 429, "audit_rows_dropped", 60_000]
      )
      assert.deepStrictEqual(JSON.parse(written.after!), {
        dropped: 15,
        first: new Date(0).toISOString(),
        last: new Date(0).toISOString()
      })
      // A window on, the address' bucket is full again: its refusals are rows again, as many as before.
      const before = rows.length
      for (let i = 0; i < Refusals.rowsPerWindow + 1; i++) yield* refusals.record(refusal("203.0.113.9", yield* now()))
      assert.strictEqual(rows.length - before, Refusals.rowsPerWindow)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(summaries(rows).at(-1), { from: "203.0.113.9", dropped: 1 })
    }))

  effectProp(
    "any refusals from any addresses: each is a row or counted in one summary, and no window holds more than its bound",
    fc.array(
      fc.record({ from: fc.constantFrom("10.0.0.1", "10.0.0.2", null), gap: fc.integer({ min: 0, max: 4_000 }) }),
      { maxLength: 120 }
    ),
    (refused) =>
      Effect.gen(function*() {
        const rowsPer = 3
        const per = Duration.seconds(10)
        const { log, rows } = memoryLog()
        const refusals = yield* Refusals.make(log, { rows: rowsPer, per })
        for (const { from, gap } of refused) {
          yield* TestClock.adjust(Duration.millis(gap))
          yield* refusals.record(refusal(from, yield* Effect.clockWith((clock) => clock.currentTimeMillis)))
        }
        yield* TestClock.adjust(per)
        const kept = rows.filter((row) => row.action !== Refusals.droppedAction)
        const counted = summaries(rows)
        // Nothing lost: every refusal is a row, or counted in its address' summary.
        for (const address of ["10.0.0.1", "10.0.0.2", null]) {
          const sent = refused.filter((one) => one.from === address).length
          const written = kept.filter((row) => row.from === address).length
          const dropped = counted.filter((one) => one.from === address).reduce((sum, one) => sum + one.dropped, 0)
          assert.strictEqual(written + dropped, sent)
          // The bucket's bound: in any window from a row on, at most its burst and a window's refill.
          const times = kept.filter((row) => row.from === address).map((row) => row.at)
          for (const start of times) {
            const within = times.filter((at) => at >= start && at < start + Duration.toMillis(per)).length
            assert.isAtMost(within, 2 * rowsPer)
          }
          // One summary a window at most.
          const summaryTimes = rows.filter((row) => row.action === Refusals.droppedAction && row.from === address)
            .map((row) => row.at)
          for (const [index, at] of summaryTimes.entries()) {
            if (index > 0) assert.isAtLeast(at - summaryTimes[index - 1]!, Duration.toMillis(per))
          }
        }
      })
  )
})
