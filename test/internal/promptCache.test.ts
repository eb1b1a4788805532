/**
 * The simulator's prompt cache on its own: what a request reads and writes against what earlier ones left, its
 * lifetimes and its bound.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { PrefixBuilder, PromptCache } from "../../src/internal/simulator/promptCache.js"

const minute = 60_000

// A request whose pieces are `pieces` (each 4 characters: one token), a breakpoint after those `marked`.
const request = (pieces: ReadonlyArray<string>, marked: Readonly<Record<number, "5m" | "1h">>) => {
  const builder = new PrefixBuilder<string>("model", (piece) => piece)
  pieces.forEach((piece, i) => {
    builder.add(piece, 4, 0)
    const ttl = marked[i]
    if (ttl !== undefined) builder.mark(ttl)
  })
  return builder.prefixes
}

describe("the simulator's prompt cache", () => {
  it("writes up to the last breakpoint by each part's lifetime, then reads the longest prefix held", () => {
    const cache = new PromptCache(16)
    expect(cache.use(request(["a", "b", "c", "d"], { 1: "1h", 2: "5m" }), 0))
      .toEqual({ read: 0, written: 3, writtenForAnHour: 2 })
    // The breakpoint moved on: the earlier prefix is found at its block, the rest written.
    expect(cache.use(request(["a", "b", "c", "d", "e"], { 1: "1h", 4: "5m" }), minute))
      .toEqual({ read: 3, written: 2, writtenForAnHour: 0 })
    // Another first piece shares nothing.
    expect(cache.use(request(["z", "b", "c"], { 2: "5m" }), minute)).toEqual({
      read: 0,
      written: 3,
      writtenForAnHour: 0
    })
    // Without a breakpoint nothing is read or written.
    expect(request(["a", "b"], {})).toEqual([])
  })

  it("forgets a prefix when its lifetime ends; a read refreshes it", () => {
    const cache = new PromptCache(16)
    const short = request(["a", "b"], { 1: "5m" })
    cache.use(short, 0)
    expect(cache.use(short, 4 * minute).read).toBe(2)
    expect(cache.use(short, 8 * minute).read).toBe(2)
    expect(cache.use(short, 14 * minute)).toEqual({ read: 0, written: 2, writtenForAnHour: 0 })
    const long = request(["a", "b"], { 1: "1h" })
    cache.use(long, 0)
    expect(cache.use(long, 59 * minute).read).toBe(2)
  })

  it("holds at most its capacity of prefixes, the least recently used forgotten first", () =>
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 40 }), (capacity, requests) => {
      const cache = new PromptCache(capacity)
      for (let i = 0; i < requests; i++) cache.use(request([`p${i}`], { 0: "5m" }), 0)
      const held = (i: number) => cache.use(request([`p${i}`], { 0: "5m" }), 0).read === 1
      // Checked newest first, so a check's own refresh never evicts one still to be checked.
      const kept = Array.from({ length: requests }, (_, i) => requests - 1 - i).filter(held)
      expect(kept).toEqual(Array.from({ length: Math.min(capacity, requests) }, (_, i) => requests - 1 - i))
    })))
})
