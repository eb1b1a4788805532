/**
 * The contract every backend of the batches' files and records (`batches/store.ts`' `BatchStore`) keeps, run against
 * each (`test/gateway/batchStore.test.ts`: SQLite, Postgres and Redis): a file read by its uploader only, for
 * its day; one larger than the bound refused, naming it; an owner's files past its count or bytes let go of the oldest
 * first, another owner's kept, and every owner's past the whole's count; a batch's record listed to its maker only,
 * for its kind, once however often recorded, the newest first, every page after a cursor the next ones (for any
 * records, instants shared among them), none after a cursor not its own; a record past its thirty days, or past its
 * maker's count, no longer listed; the newest of every maker's, the admin's list, the newest first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Batches from "../../src/internal/gateway/batches/store.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"

/** The runs of the properties: fewer on the backends whose steps are slower. */
const runsOf = { SQLite: 20, Postgres: 10, Redis: 20 } as const

/** A backend of the store: its name, and its service, each time the effect runs a new one. */
export interface Backend {
  readonly name: keyof typeof runsOf
  readonly store: StoreBackend<Batches.Store>["store"]
}

const day = Duration.toMillis(Batches.bounds.fileTtl)
const month = Duration.toMillis(Batches.bounds.batchTtl)

const fileOf = (id: string, owner: string, createdAt: number, content = `{"custom_id":"${id}"}`) => ({
  id,
  owner,
  filename: `${id}.jsonl`,
  content,
  bytes: Buffer.byteLength(content),
  createdAt
})

/** Every page of `owner`'s batches of `kind` at `now`, `limit` at a time, from the newest. */
const allPages = (store: Batches.Store, kind: "batch" | "message", owner: string, limit: number, now: number) =>
  Effect.gen(function*() {
    const ids: Array<string> = []
    let after: string | undefined
    while (true) {
      const page = yield* store.listed(kind, owner, after, limit, now)
      expect(page.ids.length).toBeLessThanOrEqual(limit)
      ids.push(...page.ids)
      if (!page.hasMore) return ids
      expect(page.ids.length).toBe(limit)
      after = page.ids.at(-1)
    }
  })

/** Records of batches: each of a kind, an owner, and an instant (several sharing one). */
const records = fc.uniqueArray(
  fc.record({
    id: fc.stringMatching(/^batch_gw1\.[A-Za-z0-9_-]{1,12}$/),
    kind: fc.constantFrom("batch" as const, "message" as const),
    owner: fc.constantFrom("key-a", "key-b", ""),
    createdAt: fc.integer({ min: 1_000, max: 1_010 })
  }),
  { selector: (record) => record.id, maxLength: 30 }
)

export const batchStoreContract = (backend: Backend) =>
  describe(`batches' files and records store contract: ${backend.name}`, () => {
    it.live(`${backend.name}: a file is read by its uploader only, for its day`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const file = fileOf("file-gwi-1", "key-a", 1_000)
        yield* store.putFile(file, 1_000)
        expect(yield* store.file("file-gwi-1", "key-a", 1_000)).toEqual(file)
        expect(yield* store.file("file-gwi-1", "key-b", 1_000)).toBeUndefined()
        expect(yield* store.file("file-gwi-1", "", 1_000)).toBeUndefined()
        expect(yield* store.file("file-gwi-none", "key-a", 1_000)).toBeUndefined()
        // Its last instant, then past it.
        expect(yield* store.file("file-gwi-1", "key-a", 1_000 + day)).toEqual(file)
        expect(yield* store.file("file-gwi-1", "key-a", 1_000 + day + 1)).toBeUndefined()
        // A gateway without keys: the empty owner's.
        const keyless = fileOf("file-gwi-2", "", 2_000)
        yield* store.putFile(keyless, 2_000)
        expect(yield* store.file("file-gwi-2", "", 2_000)).toEqual(keyless)
        expect(yield* store.file("file-gwi-2", "key-a", 2_000)).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: a file larger than the bound is refused, naming it, and nothing is kept`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const limit = Batches.bounds.fileBytes
        const atLimit = fileOf("file-gwi-at", "key-a", 1_000, "x".repeat(limit))
        yield* store.putFile(atLimit, 1_000)
        expect((yield* store.file("file-gwi-at", "key-a", 1_000))?.bytes).toBe(limit)
        // One byte more, as UTF-8 counts it (a two-byte character at the end).
        const over = fileOf("file-gwi-over", "key-a", 1_000, "x".repeat(limit - 1) + "é")
        const refused = yield* Effect.flip(store.putFile(over, 1_000))
        expect(refused).toMatchObject({ _tag: "FileTooLarge", bytes: limit + 1, limit })
        expect(refused.message).toContain(`at most ${limit} bytes`)
        expect(yield* store.file("file-gwi-over", "key-a", 1_000)).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live(
      `${backend.name}: an owner's files past its count let go of its oldest, not another owner's`,
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const count = Batches.bounds.ownerFiles
          yield* store.putFile(fileOf("file-gwi-other", "key-b", 500), 500)
          for (let i = 0; i <= count; i++) yield* store.putFile(fileOf(`file-gwi-${i}`, "key-a", 1_000 + i), 1_000 + i)
          const now = 1_000 + count
          expect(yield* store.file("file-gwi-0", "key-a", now)).toBeUndefined()
          expect(yield* store.file("file-gwi-1", "key-a", now)).toBeDefined()
          expect(yield* store.file(`file-gwi-${count}`, "key-a", now)).toBeDefined()
          expect(yield* store.file("file-gwi-other", "key-b", now)).toBeDefined()
        }).pipe(Effect.scoped),
      120_000
    )

    it.live(`${backend.name}: an owner's files past its bytes let go of its oldest`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const size = Batches.bounds.fileBytes
        const fit = Math.floor(Batches.bounds.ownerFileBytes / size)
        for (let i = 0; i <= fit; i++) {
          yield* store.putFile(fileOf(`file-gwi-${i}`, "key-a", 1_000 + i, "y".repeat(size)), 1_000 + i)
        }
        const now = 1_000 + fit
        expect(yield* store.file("file-gwi-0", "key-a", now)).toBeUndefined()
        for (let i = 1; i <= fit; i++) expect((yield* store.file(`file-gwi-${i}`, "key-a", now))?.bytes).toBe(size)
      }).pipe(Effect.scoped), 120_000)

    it.live(
      `${backend.name}: every owner's files past the whole's count let go of the oldest of all`,
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const count = Batches.bounds.files
          // Owners of fewer files than their own bound each, more than the whole's together.
          const owners = Math.ceil((count + 1) / Batches.bounds.ownerFiles) + 1
          const each = Math.ceil((count + 1) / owners)
          for (let i = 0; i < owners * each; i++) {
            yield* store.putFile(fileOf(`file-gwi-${i}`, `key-${i % owners}`, 1_000 + i), 1_000 + i)
          }
          const now = 1_000 + owners * each
          const gone = owners * each - count
          for (let i = 0; i < gone; i++) {
            expect(yield* store.file(`file-gwi-${i}`, `key-${i % owners}`, now)).toBeUndefined()
          }
          expect(yield* store.file(`file-gwi-${gone}`, `key-${gone % owners}`, now)).toBeDefined()
        }).pipe(Effect.scoped),
      240_000
    )

    it.live(`${backend.name}: a batch is listed to its maker, for its kind, once, the newest first`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.record({ id: "batch_gw1.a", kind: "batch", owner: "key-a", createdAt: 1_000 }, 1_000)
        yield* store.record({ id: "batch_gw1.b", kind: "batch", owner: "key-a", createdAt: 2_000 }, 2_000)
        // Again, later: the first record stays.
        yield* store.record({ id: "batch_gw1.a", kind: "batch", owner: "key-a", createdAt: 3_000 }, 3_000)
        yield* store.record({ id: "msgbatch_gw1.c", kind: "message", owner: "key-a", createdAt: 2_500 }, 3_000)
        expect(yield* store.listed("batch", "key-a", undefined, 10, 3_000)).toEqual({
          ids: ["batch_gw1.b", "batch_gw1.a"],
          hasMore: false
        })
        expect(yield* store.listed("message", "key-a", undefined, 10, 3_000)).toEqual({
          ids: ["msgbatch_gw1.c"],
          hasMore: false
        })
        expect(yield* store.listed("batch", "key-b", undefined, 10, 3_000)).toEqual({ ids: [], hasMore: false })
        expect(yield* store.listed("batch", "", undefined, 10, 3_000)).toEqual({ ids: [], hasMore: false })
        // A cursor not among the maker's batches of the kind: nothing after it.
        expect(yield* store.listed("batch", "key-b", "batch_gw1.b", 10, 3_000)).toEqual({ ids: [], hasMore: false })
        expect(yield* store.listed("message", "key-a", "batch_gw1.b", 10, 3_000)).toEqual({ ids: [], hasMore: false })
        // Its thirty days: listed at their last instant, not after.
        expect((yield* store.listed("batch", "key-a", undefined, 10, 1_000 + month)).ids).toEqual([
          "batch_gw1.b",
          "batch_gw1.a"
        ])
        expect((yield* store.listed("batch", "key-a", undefined, 10, 1_000 + month + 1)).ids).toEqual(["batch_gw1.b"])
      }).pipe(Effect.scoped))

    it.live(
      `${backend.name}: a maker's batches past its count are listed the newest only`,
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const count = Batches.bounds.ownerBatches
          yield* store.record({ id: "batch_gw1.other", kind: "batch", owner: "key-b", createdAt: 500 }, 500)
          for (let i = 0; i <= count; i++) {
            yield* store.record(
              { id: `batch_gw1.${i}`, kind: "batch", owner: "key-a", createdAt: 1_000 + i },
              1_000 + i
            )
          }
          const now = 1_000 + count
          const ids = yield* allPages(store, "batch", "key-a", 100, now)
          expect(ids).toHaveLength(count)
          expect(ids[0]).toBe(`batch_gw1.${count}`)
          expect(ids).not.toContain("batch_gw1.0")
          expect((yield* store.listed("batch", "key-b", undefined, 10, now)).ids).toEqual(["batch_gw1.other"])
        }).pipe(Effect.scoped),
      240_000
    )

    effectProp(
      `${backend.name}: for any records, every page after a cursor is the next: each of a maker's batches of a kind ` +
        "once, the newest first",
      fc.tuple(records, fc.integer({ min: 1, max: 7 })),
      ([made, limit]) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          for (const record of made) yield* store.record(record, 2_000)
          for (const kind of ["batch", "message"] as const) {
            for (const owner of ["key-a", "key-b", ""]) {
              const ids = yield* allPages(store, kind, owner, limit, 2_000)
              const expected = made.filter((record) => record.kind === kind && record.owner === owner)
              expect([...ids].sort()).toEqual(expected.map((record) => record.id).sort())
              const at = new Map(expected.map((record) => [record.id, record.createdAt]))
              for (let i = 1; i < ids.length; i++) {
                expect(at.get(ids[i - 1]!)!).toBeGreaterThanOrEqual(at.get(ids[i]!)!)
              }
            }
          }
        }).pipe(Effect.orDie),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: for any records, the newest of every maker and kind are the admin's list: the newest first, ` +
        "none older left out",
      fc.tuple(records, fc.integer({ min: 1, max: 40 })),
      ([made, limit]) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          for (const record of made) yield* store.record(record, 2_000)
          const ids = yield* store.newest(limit, 2_000)
          expect(ids).toHaveLength(Math.min(limit, made.length))
          expect(new Set(ids).size).toBe(ids.length)
          const at = new Map(made.map((record) => [record.id, record.createdAt]))
          for (let i = 1; i < ids.length; i++) expect(at.get(ids[i - 1]!)!).toBeGreaterThanOrEqual(at.get(ids[i]!)!)
          const oldestListed = Math.min(...ids.map((id) => at.get(id)!))
          for (const record of made) {
            if (!ids.includes(record.id)) expect(record.createdAt).toBeLessThanOrEqual(oldestListed)
          }
          // Past their thirty days, none.
          expect(yield* store.newest(limit, 1_010 + month + 1)).toEqual([])
        }).pipe(Effect.orDie),
      runsOf[backend.name]
    )
  })
