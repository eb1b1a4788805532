/**
 * The memory store's own bounds: by count and by bytes, the least recently used gone first. What every backend keeps
 * (ownership, reading back whole, the TTL, the bound on one response) is the contract's
 * (`responsesStoreContract.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as ResponsesStore from "../../src/internal/gateway/responses/store.js"
import type { Message } from "../../src/Message.js"
import { effectProp } from "../utils/effectProp.js"

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

describe("ResponsesStore in memory", () => {
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
