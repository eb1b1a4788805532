/**
 * The simulator's prompt cache on its own: what a request reads and writes against what earlier ones left, its
 * lifetimes and its bound; and the prefixes of an OpenAI request it holds.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { chatCachePrefixes, responsesCachePrefixes } from "../../src/internal/simulator/openAiCachePrefixes.js"
import { PrefixBuilder, PromptCache } from "../../src/internal/simulator/promptCache.js"
import * as Reply from "../../src/simulator/Reply.js"

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

// Chat messages of `sizes` characters each, and the Responses input of the same texts.
const texts = (sizes: ReadonlyArray<number>) => sizes.map((size, i) => String(i % 10).repeat(size))

describe("OpenAI's cached prefixes in the simulator", () => {
  const sizes = fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 8 })
  const keys = fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined })

  it("no prompt_cache_key: a prefix at each message ending 1024 tokens or more in; with one, at every message", () =>
    fc.assert(fc.property(sizes, keys, (lengths, key) => {
      const messages = texts(lengths).map((content) => ({ role: "user", content }))
      const prefixes = chatCachePrefixes({
        model: "m",
        messages,
        ...(key === undefined ? {} : { prompt_cache_key: key })
      })
      const ends = lengths.map((_, i) => Reply.countTokens(lengths.slice(0, i + 1).reduce((a, b) => a + b, 0)))
      const cached = key === undefined ? ends.filter((tokens) => tokens >= 1024) : ends
      // Those held (a breakpoint's); the shorter ones before the last are looked up, never held.
      const held = prefixes.filter((prefix) => prefix.ttl !== undefined)
      expect(held.map((prefix) => [prefix.tokens, prefix.ttl])).toEqual(cached.map((tokens) => [tokens, "5m"]))
    })))

  it("a conversation's later request holds its earlier one's prefixes; another model or key shares none", () =>
    fc.assert(fc.property(sizes, keys, (lengths, key) => {
      const messages = texts(lengths.map((length) => length + 1024 * 4)).map((content) => ({ role: "user", content }))
      const of = (model: string, upTo: number, cacheKey = key) =>
        chatCachePrefixes({ model, messages: messages.slice(0, upTo), prompt_cache_key: cacheKey }).map(({ id }) => id)
      expect(of("m", messages.length).slice(0, messages.length - 1)).toEqual(of("m", messages.length - 1))
      const ids = new Set(of("m", messages.length))
      for (const other of [of("n", messages.length), of("m", messages.length, `${key ?? ""}x`)]) {
        expect(other.filter((id) => ids.has(id))).toEqual([])
      }
    })))

  it("a Responses request is cached as the Chat Completions request of the same texts, its instructions first", () =>
    fc.assert(fc.property(sizes, fc.integer({ min: 0, max: 3000 }), (lengths, instructions) => {
      const [system, ...rest] = texts([instructions, ...lengths])
      const input = rest.map((content) => ({ type: "message", role: "user", content }))
      const responses = responsesCachePrefixes({ model: "m", instructions: system, input })
      const chat = chatCachePrefixes({
        model: "m",
        messages: [{ role: "system", content: system }, ...input.map(({ content, role }) => ({ content, role }))]
      })
      expect(responses.map(({ tokens }) => tokens)).toEqual(chat.map(({ tokens }) => tokens))
    })))
})
