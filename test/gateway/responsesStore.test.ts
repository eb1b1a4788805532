import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as ResponsesStore from "../../src/internal/gateway/responsesStore.js"
import * as ResponsesStoreRedis from "../../src/internal/gateway/responsesStoreRedis.js"
import type { Message } from "../../src/Message.js"
import { effectProp } from "../utils/effectProp.js"
import { redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"

const conversation: ReadonlyArray<Message> = [
  { role: "user", content: [{ type: "text", text: "Who wrote it?" }] },
  {
    role: "assistant",
    content: "",
    toolCalls: [{ id: "call_1", name: "lookup", arguments: `{"q":"it"}` }],
    providerMetadata: { openaiResponses: { reasoningItems: [{ type: "reasoning", encrypted_content: "e" }] } }
  },
  { role: "tool", toolCallId: "call_1", content: "Ada" }
]

const response = (body: string): ResponsesStore.StoredResponse => ({ body, conversation })

// A memory store whose time is `clock.now`, moved by the test.
const storeAt = (options?: ResponsesStore.StoreOptions) => {
  const clock = { now: 0 }
  return { clock, store: ResponsesStore.make(() => clock.now, options) }
}

// What both stores must do: keep a response and its conversation, for its key only.
const ownedByItsKey = (store: ResponsesStore.ResponsesStore) =>
  Effect.gen(function*() {
    yield* store.put("resp_a", "team-a", response("a"))
    yield* store.put("resp_none", undefined, response("none"))
    expect(yield* store.get("resp_a", "team-a")).toEqual(response("a"))
    expect(yield* store.get("resp_a", "team-b")).toBeUndefined()
    expect(yield* store.get("resp_a", undefined)).toBeUndefined()
    expect(yield* store.get("resp_none", "null")).toBeUndefined()
    // Another key's response of the same id (its request's `x-request-id` reused) does not replace it.
    yield* store.put("resp_a", "team-b", response("b"))
    expect(yield* store.get("resp_a", "team-b")).toBeUndefined()
    expect((yield* store.get("resp_none", undefined))?.body).toBe("none")
    expect(yield* store.remove("resp_a", "team-b")).toBe(false)
    expect(yield* store.get("resp_a", "team-a")).toEqual(response("a"))
    expect(yield* store.remove("resp_a", "team-a")).toBe(true)
    expect(yield* store.get("resp_a", "team-a")).toBeUndefined()
    expect(yield* store.remove("resp_a", "team-a")).toBe(false)
  })

describe("ResponsesStore in memory", () => {
  it.effect("keeps a response for its TTL, then forgets it", () =>
    Effect.gen(function*() {
      const { clock, store } = storeAt({ ttl: "10 seconds" })
      yield* store.put("resp_a", undefined, response("a"))
      clock.now = 9_999
      expect((yield* store.get("resp_a", undefined))?.body).toBe("a")
      clock.now = 10_000
      expect(yield* store.get("resp_a", undefined)).toBeUndefined()
    }))

  it.effect("a response is its key's: another key, or none, does not see or delete it", () =>
    ownedByItsKey(storeAt().store))

  it.effect("past maxEntries the oldest goes first", () =>
    Effect.gen(function*() {
      const { clock, store } = storeAt({ maxEntries: 2 })
      for (const id of ["one", "two", "three"]) {
        clock.now += 1
        yield* store.put(id, undefined, response(id))
      }
      expect(yield* store.get("one", undefined)).toBeUndefined()
      expect((yield* store.get("two", undefined))?.body).toBe("two")
      expect((yield* store.get("three", undefined))?.body).toBe("three")
    }))
})

describe("ResponsesStore in memory, bounded by bytes", () => {
  effectProp(
    "within maxBytes whatever is put and read: what it holds is what it counts, the least recently used gone first",
    fc.array(
      fc.oneof(
        fc.record({ put: fc.integer({ min: 0, max: 9 }), size: fc.integer({ min: 0, max: 3_000 }) }),
        fc.record({ get: fc.integer({ min: 0, max: 9 }) })
      ),
      { maxLength: 60 }
    ),
    (steps) =>
      Effect.gen(function*() {
        const maxBytes = 6_000
        const maxResponseBytes = 2_500
        const { store } = storeAt({ maxBytes, maxResponseBytes })
        // The model: ids in the order of their last use, the least recently used first.
        let model: Array<{ readonly id: string; readonly bytes: number }> = []
        for (const step of steps) {
          if ("put" in step) {
            const id = `resp_${step.put}`
            const stored = response("x".repeat(step.size))
            const bytes = ResponsesStore.bytesOf(stored)
            expect(yield* store.put(id, undefined, stored)).toBe(bytes <= maxResponseBytes)
            model = model.filter((entry) => entry.id !== id)
            if (bytes <= maxResponseBytes) model.push({ id, bytes })
            while (model.reduce((total, entry) => total + entry.bytes, 0) > maxBytes) model.shift()
          } else {
            const id = `resp_${step.get}`
            const found = yield* store.get(id, undefined)
            const entry = model.find((kept) => kept.id === id)
            expect(found !== undefined).toBe(entry !== undefined)
            if (entry !== undefined) model = [...model.filter((kept) => kept !== entry), entry]
          }
          const usage = store.usage()
          expect(usage.bytes).toBeLessThanOrEqual(maxBytes)
          expect(usage).toEqual({
            entries: model.length,
            bytes: model.reduce((total, entry) => total + entry.bytes, 0)
          })
        }
      })
  )
})

describe("ResponsesStore in Redis", () => {
  it.live("a response is its key's, its conversation read back whole", () =>
    Effect.scoped(Effect.gen(function*() {
      const redis = yield* redisServer
      yield* ownedByItsKey(ResponsesStoreRedis.make(yield* connected(redis.url)))
    })), 30_000)

  it.live(
    "kept on one instance's connection, read and deleted on another's; gone once Redis expires it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const redis = yield* redisServer
        const one = ResponsesStoreRedis.make(yield* connected(redis.url), { ttl: "1 second" })
        const other = ResponsesStoreRedis.make(yield* connected(redis.url), { ttl: "1 second" })
        yield* one.put("resp_shared", "team-a", response("shared"))
        expect(yield* other.get("resp_shared", "team-a")).toEqual(response("shared"))
        expect(yield* other.remove("resp_shared", "team-a")).toBe(true)
        expect(yield* one.get("resp_shared", "team-a")).toBeUndefined()
        yield* one.put("resp_brief", "team-a", response("brief"))
        expect((yield* other.get("resp_brief", "team-a"))?.body).toBe("brief")
        yield* Effect.sleep("1100 millis")
        expect(yield* other.get("resp_brief", "team-a")).toBeUndefined()
      })),
    30_000
  )

  it.live("Redis away: every operation fails with StoreUnavailableError", () =>
    Effect.scoped(Effect.gen(function*() {
      const redis = yield* redisServer
      const store = ResponsesStoreRedis.make(yield* connected(redis.url))
      yield* redis.stop
      const failed = yield* Effect.flip(store.get("resp_a", undefined))
      expect(failed._tag).toBe("StoreUnavailableError")
      expect((yield* Effect.flip(store.put("resp_a", undefined, response("a"))))._tag).toBe("StoreUnavailableError")
      expect((yield* Effect.flip(store.remove("resp_a", undefined)))._tag).toBe("StoreUnavailableError")
    })), 30_000)
})
