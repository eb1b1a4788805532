/**
 * The admin audit log's rules over their whole domain: any chain of rows walks intact, and any one row edited (any
 * field), deleted (anywhere, the last included), or two rows exchanged is found at the row it breaks; the audit log's
 * store against its contract (`contract/auditLog.ts`) in memory, on SQLite and on Postgres; retention with an anchor,
 * a base the anchor does not hold found; a mutating admin route without an audit subject is refused at build; the
 * refusals of nobody known no row of their own, counted in one row a window on across every address and instance
 * (TestClock), over any sequence of refusals; a chain rewritten whole from any row (digests made anew) or cut short
 * found against any later head anchored outside it, the anchor's lines read as written, and written at start, per
 * interval and at shutdown.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Anchor from "../../src/internal/gateway/audit/anchor.js"
import * as Chain from "../../src/internal/gateway/audit/chain.js"
import * as Dropped from "../../src/internal/gateway/audit/dropped.js"
import * as Record from "../../src/internal/gateway/audit/record.js"
import * as Refusals from "../../src/internal/gateway/audit/refusals.js"
import * as Retention from "../../src/internal/gateway/audit/retention.js"
import * as AuditStore from "../../src/internal/gateway/audit/store.js"
import { schemas } from "../../src/internal/gateway/databaseSchema.js"
import * as Database from "../../src/internal/persistence/database.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import { StoreUnavailableError } from "../../src/Store.js"
import { appendAfter, auditLogContract, sample } from "../contract/auditLog.js"
import { effectProp } from "../utils/effectProp.js"
import { jsonLines } from "../utils/requestLines.js"
import { inMemory, serviceOf, sqliteDatabase, storeBackends, storeOn } from "../utils/sqlDatabases.js"

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

const walked = (
  rows: ReadonlyArray<Chain.Row>,
  head: Chain.Head,
  anchors: ReadonlyArray<Chain.Anchored> = [],
  base: Chain.Head = Chain.emptyHead
) => {
  const walk = Chain.walk(anchors, base)
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

// Each row's head, anchored as it was appended: the chain as it stood then.
const headsOf = (rows: ReadonlyArray<Chain.Row>): ReadonlyArray<Chain.AnchoredHead> =>
  rows.map((row) => ({ kind: "head", seq: row.seq, digest: row.digest, at: row.at }))

describe("the audit chain against its anchor", () => {
  it("holds every head it had; rewritten from any row on, digests made anew, it passes alone and fails any later head", () =>
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(...fields),
        (entries, from, anchoredAt, field) => {
          const original = chainOf(entries)
          const heads = headsOf(original.rows)
          assert.deepStrictEqual(walked(original.rows, original.head, heads), {
            broken: undefined,
            rows: heads.length
          })
          // Row `k` edited and every digest from it on made anew: the chain agrees with itself.
          const k = from % entries.length
          const rewritten = chainOf(entries.map((one, i) => (i === k ? { ...one, [field]: changed(one[field]) } : one)))
          assert.isUndefined(walked(rewritten.rows, rewritten.head).broken)
          const anchor = heads[anchoredAt % heads.length]!
          const broken = walked(rewritten.rows, rewritten.head, [anchor]).broken
          if (anchor.seq <= k) {
            assert.isUndefined(broken)
          } else {
            assert.strictEqual(broken?.seq, anchor.seq)
            assert.include(broken?.reason, "is not the row the anchor holds")
          }
          // Against every head it had: found at the first row rewritten.
          assert.strictEqual(walked(rewritten.rows, rewritten.head, heads).broken?.seq, k + 1)
        }
      )
    ))

  it("finds rows cut from the end, the head written back to agree, past the last anchored row only", () =>
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), (entries, kept, anchoredAt) => {
        const { rows } = chainOf(entries)
        const heads = headsOf(rows)
        const left = rows.slice(0, kept % (rows.length + 1))
        const head = left.length === 0 ? Chain.emptyHead : heads[left.length - 1]!
        assert.isUndefined(walked(left, head).broken)
        const anchor = heads[anchoredAt % heads.length]!
        const broken = walked(left, head, [anchor]).broken
        if (anchor.seq <= left.length) {
          assert.isUndefined(broken)
        } else {
          assert.strictEqual(broken?.seq, anchor.seq)
          assert.include(broken?.reason, `the chain ends at row ${left.length}`)
        }
      })
    ))

  it("starts only after a base retention cut it at: a start cut at any anchored head, or every row deleted, is found", () =>
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.nat({ max: 2 ** 40 }),
        fc.nat(),
        (entries, cutAt, retention, short) => {
          const { head, rows } = chainOf(entries)
          const heads = headsOf(rows)
          // Rows 1 to k deleted (every row when k is the last) and the base set at row k, the head kept.
          const k = 1 + (cutAt % rows.length)
          const base = { seq: k, digest: rows[k - 1]!.digest }
          const left = rows.slice(k)
          assert.deepStrictEqual(walked(left, head, [], base), { broken: undefined, rows: left.length })
          // Against every head anchored: row k is one the chain passed through, no base.
          const cut = walked(left, head, heads, base).broken
          assert.strictEqual(cut?.seq, k)
          assert.include(cut?.reason, `the anchor holds row ${k} only as a head the chain passed through`)
          // The same cut made by retention: its base anchored, its row past the retention when it was cut.
          const rowAt = rows[k - 1]!.at
          const pruned: Chain.AnchoredBase = { kind: "base", ...base, at: rowAt + retention + 1, rowAt, retention }
          assert.deepStrictEqual(walked(left, head, [...heads, pruned], base), { broken: undefined, rows: left.length })
          // A base whose row was within the retention when it was cut is none retention makes.
          const within = { ...pruned, at: rowAt + retention - (short % (retention + 1)) }
          const young = walked(left, head, [...heads, within], base).broken
          assert.strictEqual(young?.seq, k)
          assert.include(young?.reason, "within its retention")
          // A base of another digest is no base of this chain.
          const other = { ...pruned, digest: "f".repeat(64) }
          assert.include(walked(left, head, [other], base).broken?.reason, "holds no retention base there")
        }
      )
    ))

  it("reads the lines it writes; reads a line without a kind as a head; names the first line that is no point", () => {
    const point: fc.Arbitrary<Chain.Anchored> = fc.oneof(
      fc.record({
        kind: fc.constant("head" as const),
        seq: fc.nat(),
        digest: fc.stringMatching(/^[0-9a-f]{64}$/),
        at: fc.nat({ max: 2 ** 42 })
      }),
      fc.record({
        kind: fc.constant("base" as const),
        seq: fc.nat(),
        digest: fc.stringMatching(/^[0-9a-f]{64}$/),
        at: fc.nat({ max: 2 ** 42 }),
        rowAt: fc.nat({ max: 2 ** 42 }),
        retention: fc.nat()
      })
    )
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 10 }), (points) => {
        assert.deepStrictEqual(Anchor.parse(points.map(Anchor.lineOf).join("")), Result.succeed(points))
      })
    )
    const digest = "a".repeat(64)
    const line = Anchor.lineOf({ kind: "head", seq: 3, digest, at: 0 })
    assert.strictEqual(line, `{"at":"1970-01-01T00:00:00.000Z","kind":"head","seq":3,"digest":"${digest}"}\n`)
    assert.strictEqual(
      Anchor.lineOf({ kind: "base", seq: 3, digest, at: 86_400_000, rowAt: 1, retention: 3_600_000 }),
      `{"at":"1970-01-02T00:00:00.000Z","kind":"base","seq":3,"digest":"${digest}",` +
        `"row_at":"1970-01-01T00:00:00.001Z","retention_ms":3600000}\n`
    )
    // A line written before points had kinds: a head.
    assert.deepStrictEqual(
      Anchor.parse(`{"at":"1970-01-01T00:00:01.000Z","seq":3,"digest":"${digest}"}`),
      Result.succeed([{ kind: "head", seq: 3, digest, at: 1000 }])
    )
    assert.deepStrictEqual(Anchor.parse(`${line}not json\n`), Result.fail("line 2 is not JSON"))
    assert.deepStrictEqual(Anchor.parse(`${line}[]`), Result.fail("line 2 has no \"seq\" (a whole number, 0 or more)"))
    assert.deepStrictEqual(
      Anchor.parse(`${line}{"seq":-1,"digest":"${digest}"}`),
      Result.fail("line 2 has no \"seq\" (a whole number, 0 or more)")
    )
    assert.deepStrictEqual(
      Anchor.parse(`{"seq":1,"digest":"ABC"}`),
      Result.fail("line 1 has no \"digest\" (64 hex digits)")
    )
    assert.deepStrictEqual(
      Anchor.parse(`{"seq":1,"digest":"${digest}","at":"yesterday"}`),
      Result.fail("line 1 has no \"at\" (an ISO time)")
    )
    const at = "1970-01-01T00:00:00.000Z"
    assert.deepStrictEqual(
      Anchor.parse(`{"at":"${at}","kind":"tail","seq":1,"digest":"${digest}"}`),
      Result.fail("line 1 has a \"kind\" that is neither \"head\" nor \"base\"")
    )
    assert.deepStrictEqual(
      Anchor.parse(`{"at":"${at}","kind":"base","seq":1,"digest":"${digest}","retention_ms":1}`),
      Result.fail("line 1 is a base with no \"row_at\" (an ISO time)")
    )
    assert.deepStrictEqual(
      Anchor.parse(`{"at":"${at}","kind":"base","seq":1,"digest":"${digest}","row_at":"${at}"}`),
      Result.fail("line 1 is a base with no \"retention_ms\" (a whole number, 0 or more)")
    )
    assert.deepStrictEqual(Anchor.parse("\n"), Result.fail("it holds no head"))
  })

  it.effect("is written at start, each interval the head moved (not when it stood), and at the scope's close", () =>
    Effect.gen(function*() {
      const directory = mkdtempSync(join(tmpdir(), "anchor-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(directory, { recursive: true, force: true })))
      const file = join(directory, "audit-anchor.jsonl")
      const { log } = yield* memoryLog
      const digests = new Map([[0, Chain.genesis]])
      const append = Effect.map(log.append(sample), (row) => digests.set(row.seq, row.digest))
      const read = () => Anchor.parse(readFileSync(file, "utf8"))
      const seqs = () => {
        const points = read()
        return Result.isFailure(points) ? points.failure : points.success.map((point) => point.seq)
      }
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Anchor.write(log, { file, every: Duration.minutes(1) })
        assert.deepStrictEqual(seqs(), [0])
        yield* append
        yield* append
        yield* TestClock.adjust("59 seconds")
        assert.deepStrictEqual(seqs(), [0])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(seqs(), [0, 2])
        // The head stood: nothing more.
        yield* TestClock.adjust("3 minutes")
        assert.deepStrictEqual(seqs(), [0, 2])
        yield* append
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(seqs(), [0, 2, 3])
        yield* append
      }))
      // At shutdown, the head it had.
      assert.deepStrictEqual(seqs(), [0, 2, 3, 4])
      assert.deepStrictEqual(
        Result.getOrThrow(read()).map(({ digest, kind, seq }) => ({ kind, seq, digest })),
        [0, 2, 3, 4].map((seq) => ({ kind: "head", seq, digest: digests.get(seq)! }))
      )
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
    }).pipe(Effect.scoped))
})

for (const backend of storeBackends("audit", AuditStore.AuditLogStore, AuditStore)) auditLogContract(backend)

describe("the audit log's retention", () => {
  effectProp(
    "rows at any instants, any retention, with an anchor: the chain verifies from the base retention cut it at, and " +
      "one that starts anywhere else is found: rows deleted from its start, up to an anchored head, or all of them",
    fc.record({
      gaps: fc.array(fc.integer({ min: 0, max: 3 * 86_400_000 }), { minLength: 1, maxLength: 25 }),
      retentionDays: fc.integer({ min: 1, max: 20 }),
      later: fc.integer({ min: 0, max: 30 * 86_400_000 })
    }),
    ({ gaps, later, retentionDays }) =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "audit-retention-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const file = join(dir, "anchor.jsonl")
        const sql = yield* Database.connect({ sqlite: ":memory:" }, schemas)
        const log = yield* serviceOf(
          AuditStore.AuditLogStore,
          Layer.provide(
            AuditStore.layerSql,
            Layer.succeed(Sql.Database, { sql, bounds: { address: "memory", timeout: Sql.defaultTimeout } })
          )
        )
        for (const gap of gaps) yield* appendAfter(log, Duration.millis(gap))
        const head = yield* log.head
        yield* Anchor.append(file, { kind: "head", ...head, at: yield* Clock.currentTimeMillis })
        yield* TestClock.adjust(Duration.millis(later))
        const deleted = yield* Retention.prune(log, { retention: Duration.days(retentionDays), anchor: file })
        const anchors = Result.getOrThrow(Anchor.parse(readFileSync(file, "utf8")))
        const verified = yield* log.verify(anchors)
        assert.deepStrictEqual([verified.broken, verified.rows, verified.base.seq], [
          undefined,
          gaps.length - deleted,
          deleted
        ])
        const baseAt = (at: Chain.Head) =>
          sql.unsafe(`UPDATE admin_audit_head SET base_seq = ${at.seq}, base_digest = '${at.digest}' WHERE id = 1`)
        const kept = yield* log.page({ limit: 100 })
        if (kept.length > 1) {
          // Someone deletes more rows from the start and writes the base to agree: the anchor holds no base there.
          const next = kept.at(-1)!
          yield* sql.unsafe(`DELETE FROM admin_audit WHERE seq <= ${next.seq}`)
          yield* baseAt(next)
          const broken = (yield* log.verify(anchors)).broken
          assert.strictEqual(broken?.seq, next.seq)
          assert.include(broken?.reason, "the anchor holds no retention base there")
        }
        if (kept.length > 0) {
          // Or empties the log, its base set at the anchored head: a head, no base.
          yield* sql.unsafe("DELETE FROM admin_audit")
          yield* baseAt(head)
          const broken = (yield* log.verify(anchors)).broken
          assert.strictEqual(broken?.seq, head.seq)
          assert.include(broken?.reason, `holds row ${head.seq} only as a head the chain passed through`)
        }
      })
  )

  it.effect("keep prunes at start and each hour after, on the Clock", () =>
    Effect.gen(function*() {
      const log = yield* serviceOf(AuditStore.AuditLogStore, inMemory(AuditStore.layerSql))
      yield* log.append({ ...sample, at: 0 })
      yield* TestClock.adjust("2 days")
      yield* log.append({ ...sample, at: yield* Effect.clockWith((clock) => clock.currentTimeMillis) })
      yield* Retention.keep(log, { retention: Duration.days(1), anchor: undefined })
      assert.deepStrictEqual((yield* log.page({ limit: 10 })).map((row) => row.seq), [2])
      // An hour on the second is an hour old; a day of prunes later it is past the retention.
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual((yield* log.page({ limit: 10 })).map((row) => row.seq), [2])
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual((yield* log.page({ limit: 10 })).map((row) => row.seq), [])
      assert.strictEqual((yield* log.verify()).broken, undefined)
    }))
})

describe("recording admin routes", () => {
  it.effect("refuses to build a mutating admin route without an audit subject, naming it", () =>
    Effect.gen(function*() {
      const route = HttpRouter.route("POST", "/admin/widgets", Effect.succeed(HttpServerResponse.empty()))
      const { log } = yield* memoryLog
      const recording = {
        log,
        refusals: yield* Refusals.make(log, { state: yield* sqliteState() }),
        actor: () => Effect.succeed({ name: "ops", roles: ["admin"] }),
        now: () => 0,
        unrecorded: () => {}
      }
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

  it.effect("answers an action its row failed to be written for as done, counted and logged as not recorded", () =>
    Effect.gen(function*() {
      const { log } = yield* memoryLog
      let unrecorded = 0
      const refusing: AuditStore.AuditLog = {
        ...log,
        append: () => Effect.fail(new StoreUnavailableError({ address: "memory", reason: "the disk is full" }))
      }
      const route = HttpRouter.route("POST", "/admin/widgets", Effect.succeed(HttpServerResponse.text("made")))
      const [built] = yield* Record.recorded([route], {
        log: refusing,
        refusals: yield* Refusals.make(refusing, { state: yield* sqliteState() }),
        actor: () => Effect.succeed({ name: "ops", roles: ["admin"] }),
        now: () => 0,
        subjects: { "POST /admin/widgets": { object: () => "w1", state: () => Effect.succeed(null) } },
        unrecorded: () => void unrecorded++
      })
      const lines: Array<string> = []
      const response = yield* built!.handler.pipe(
        Effect.provideService(
          HttpServerRequest.HttpServerRequest,
          HttpServerRequest.fromWeb(new Request("http://gateway/admin/widgets", { method: "POST" }))
        ),
        Effect.provideService(HttpRouter.RouteContext, { params: {}, route: built! }),
        Effect.provide(jsonLines(lines))
      )
      assert.strictEqual(response.status, 200)
      assert.strictEqual(unrecorded, 1)
      assert.strictEqual(lines.length, 1)
      assert.include(lines[0], "not recorded in the audit log")
      assert.include(lines[0], "the disk is full")
      assert.include(lines[0], "POST /admin/widgets")
    }))
})

/** The audit log in memory, every entry appended also kept in order in `rows`, to be read as they are. */
const memoryLog = Effect.map(serviceOf(AuditStore.AuditLogStore, inMemory(AuditStore.layerSql)), (store) => {
  const rows: Array<Chain.Entry> = []
  const log: AuditStore.AuditLog = {
    ...store,
    append: (appended) => Effect.andThen(Effect.sync(() => rows.push(appended)), store.append(appended))
  }
  return { rows, log }
})

/** The summaries among `rows`: when each was written and how many refusals it says there were. */
const summaries = (rows: ReadonlyArray<Chain.Entry>) =>
  rows.filter((row) => row.action === Refusals.summaryAction).map((row) => ({
    at: row.at,
    refusals: (JSON.parse(row.after!) as { readonly refusals: number }).refusals
  }))

/** A count of `per` windows in a fresh SQLite database of its own, as a gateway has it. */
const sqliteState = (per?: Duration.Duration) =>
  Effect.map(
    Effect.orDie(Database.connect({ sqlite: ":memory:" }, schemas)),
    (sql) => Dropped.sql({ sql, bounds: { address: "memory", timeout: Sql.defaultTimeout } }, per ?? Refusals.window)
  )

const now = () => Effect.clockWith((clock) => clock.currentTimeMillis)

describe("the audit log's rows read back unlike their columns", () => {
  it.effect("fail a page with StoreUnavailableError naming the table and the column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("audit-malformed")
      yield* database.sql`INSERT INTO admin_audit (seq, at, actor, action, object, before_value, after_value, outcome,
        status, code, origin, digest) VALUES (1, 0, 'ops', 'POST /admin/keys', NULL, NULL, NULL, 'ok', 'teapot', NULL,
        NULL, 'digest')`
      const log = yield* storeOn(AuditStore.AuditLogStore, AuditStore.layerSql, database)
      const failure = yield* Effect.flip(log.page({ limit: 10 }))
      assert.strictEqual(failure._tag, "StoreUnavailableError")
      assert.match(failure.reason, /reading the admin audit log: a row of admin_audit .*\["status"\]/s)
    }))

  it.effect("fail a summary of refusals without a row with StoreUnavailableError naming the table and the column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("audit-dropped-malformed")
      yield* database.sql`INSERT INTO audit_refusals_dropped (address, dropped, first_at, last_at, claimed_at)
        VALUES (${Dropped.key}, 'many', 0, 0, 0)`
      const failure = yield* Effect.flip(Dropped.sql(database, Duration.minutes(1)).take)
      assert.strictEqual(failure._tag, "StoreUnavailableError")
      assert.match(failure.reason, /a row of audit_refusals_dropped .*\["dropped"\]/s)
    }))
})

describe("the refusals of nobody known", () => {
  it.effect("no row of their own, and one row a window on counting them all", () =>
    Effect.gen(function*() {
      const { log, rows } = yield* memoryLog
      const refusals = yield* Refusals.make(log, { state: yield* sqliteState() })
      for (let i = 0; i < 35; i++) yield* refusals.count(yield* now())
      assert.deepStrictEqual(rows, [])
      // The summary comes one window after the first refusal, whether they go on or not.
      yield* TestClock.adjust("59 seconds")
      yield* refusals.count(yield* now())
      assert.deepStrictEqual(rows, [])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(summaries(rows), [{ at: 60_000, refusals: 36 }])
      const written = rows[0]!
      assert.deepStrictEqual(
        [written.actor, written.object, written.outcome, written.status, written.code, written.from],
        [Refusals.gatewayActor, null, "refused", 401, "unauthenticated", null]
      )
      assert.deepStrictEqual(JSON.parse(written.after!), {
        refusals: 36,
        first: new Date(0).toISOString(),
        last: new Date(59_000).toISOString()
      })
      // The next refusal starts the count again.
      yield* refusals.count(yield* now())
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(summaries(rows).at(-1), { at: 120_000, refusals: 1 })
    }))

  it.effect("two instances on one database: one summary of what both counted", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "audit-refusals-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const stateOn = Effect.map(
        Effect.orDie(Database.connect({ sqlite: join(dir, "gateway.db") }, schemas)),
        (sql) => Dropped.sql({ sql, bounds: { address: "gateway.db", timeout: Sql.defaultTimeout } }, Refusals.window)
      )
      const { log, rows } = yield* memoryLog
      const instances = [
        yield* Refusals.make(log, { state: yield* stateOn }),
        yield* Refusals.make(log, { state: yield* stateOn })
      ]
      // 50 refusals, alternately at each instance, some at once.
      yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => Effect.flatMap(now(), (at) => instances[i % 2]!.count(at)),
        { concurrency: 4 }
      )
      assert.deepStrictEqual(rows, [])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(summaries(rows), [{ at: 60_000, refusals: 50 }])
      // A summary's instance gone before writing it: its count is claimed by the next instance counting into it two
      // windows on, and comes out once.
      const { log: otherLog, rows: otherRows } = yield* memoryLog
      const orphanState = yield* stateOn
      yield* Effect.scoped(Effect.gen(function*() {
        const doomed = yield* Refusals.make(otherLog, { state: orphanState })
        for (let i = 0; i < 2; i++) yield* doomed.count(yield* now())
      }))
      yield* TestClock.adjust("2 minutes")
      yield* instances[0]!.count(yield* now())
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(otherRows, [])
      // The two the gone instance counted, and the one since.
      assert.deepStrictEqual(summaries(rows).at(-1)?.refusals, 3)
    }))

  effectProp(
    "any refusals at any instants: none is a row, each is counted once, and summaries are a window apart at least",
    fc.array(fc.integer({ min: 0, max: 25_000 }), { maxLength: 150 }),
    (gaps) =>
      Effect.gen(function*() {
        const per = Duration.seconds(10)
        const { log, rows } = yield* memoryLog
        const refusals = yield* Refusals.make(log, { per, state: yield* sqliteState(per) })
        for (const gap of gaps) {
          yield* TestClock.adjust(Duration.millis(gap))
          yield* refusals.count(yield* now())
        }
        yield* TestClock.adjust(per)
        const written = summaries(rows)
        assert.strictEqual(rows.length, written.length, "every row a summary")
        assert.strictEqual(written.reduce((sum, one) => sum + one.refusals, 0), gaps.length)
        for (const [index, one] of written.entries()) {
          assert.isAbove(one.refusals, 0)
          if (index > 0) assert.isAtLeast(one.at - written[index - 1]!.at, Duration.toMillis(per))
        }
      })
  )
})
