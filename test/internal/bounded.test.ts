/**
 * The stores' one bounding algorithm (`persistence/bounded.ts`' `keep`) alone, over a store of entries in memory ordered by
 * their instant: whatever is put, by any owners, at any sizes and instants, under any bounds, what is kept after each
 * put is exactly what the bounds allow, the newest kept first. The stores that use it keep their contracts
 * (`test/contract/batchStore.ts`, `test/contract/responsesStore.ts`).
 */
import { describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Bounded from "../../src/internal/persistence/bounded.js"
import { effectProp } from "../utils/effectProp.js"

interface Entry {
  readonly id: string
  readonly owner: string
  readonly bytes: number
  readonly at: number
  /** Its put's place, which orders entries of one instant. */
  readonly seq: number
}

/** The store's order: the oldest first. */
const olderFirst = (a: Entry, b: Entry): number => a.at - b.at || a.seq - b.seq

/** `entries` as a room whose scopes are owners. */
function roomOf(entries: Map<string, Entry>): Bounded.Room<string, never> {
  const of = (owner: string | undefined) =>
    [...entries.values()].filter((entry) => owner === undefined || entry.owner === owner)
  return {
    held: (owner) =>
      Effect.sync(() => {
        const held = of(owner)
        return { count: held.length, bytes: held.reduce((sum, entry) => sum + entry.bytes, 0) }
      }),
    oldest: (owner) => Effect.sync(() => of(owner).sort(olderFirst)[0]?.id),
    remove: (id) => Effect.sync(() => void entries.delete(id))
  }
}

/** A bound: a count and a number of bytes, either none (`Infinity`). */
const limit = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: Infinity })

const bounds = fc.record({
  ownerCount: limit(6),
  ownerBytes: limit(120),
  count: limit(10),
  bytes: limit(200)
})

const puts = fc.array(
  fc.record({
    owner: fc.constantFrom("a", "b", "c"),
    bytes: fc.integer({ min: 0, max: 60 }),
    at: fc.integer({ min: 0, max: 20 })
  }),
  { maxLength: 40 }
)

/** The longest run of `entries`, the newest first, that holds within `count` and `bytes`. */
function newestWithin(entries: ReadonlyArray<Entry>, count: number, bytes: number): ReadonlyArray<Entry> {
  const newestFirst = [...entries].sort((a, b) => olderFirst(b, a))
  const kept: Array<Entry> = []
  let held = 0
  for (const entry of newestFirst) {
    if (kept.length + 1 > count || held + entry.bytes > bytes) break
    kept.push(entry)
    held += entry.bytes
  }
  return kept
}

const idsOf = (entries: Iterable<Entry>) => [...entries].map((entry) => entry.id).sort()

describe("Bounded.keep", () => {
  effectProp(
    "whatever is put, by any owners, at any sizes and instants, keeps exactly what the bounds allow, the newest first: " +
      "the putter's own past its bound, then the oldest of all past the whole's",
    fc.tuple(bounds, puts),
    ([{ bytes, count, ownerBytes, ownerCount }, steps]) =>
      Effect.gen(function*() {
        const entries = new Map<string, Entry>()
        const room = roomOf(entries)
        let model: ReadonlyArray<Entry> = []
        for (const [seq, put] of steps.entries()) {
          const entry: Entry = { id: `e${seq}`, seq, ...put }
          entries.set(entry.id, entry)
          yield* Bounded.keep(room, [
            { scope: entry.owner, count: ownerCount, bytes: ownerBytes },
            { scope: undefined, count, bytes }
          ])
          const others = model.filter((kept) => kept.owner !== entry.owner)
          const own = newestWithin(
            [...model.filter((kept) => kept.owner === entry.owner), entry],
            ownerCount,
            ownerBytes
          )
          model = newestWithin([...others, ...own], count, bytes)
          expect(idsOf(entries.values())).toEqual(idsOf(model))
          const held = [...entries.values()]
          for (const owner of ["a", "b", "c"]) {
            const owners = held.filter((kept) => kept.owner === owner)
            expect(owners.length).toBeLessThanOrEqual(ownerCount)
            expect(owners.reduce((sum, kept) => sum + kept.bytes, 0)).toBeLessThanOrEqual(ownerBytes)
          }
          expect(held.length).toBeLessThanOrEqual(count)
          expect(held.reduce((sum, kept) => sum + kept.bytes, 0)).toBeLessThanOrEqual(bytes)
        }
      }),
    300
  )
})
