/**
 * The memory store's own bounds: by count and by bytes, the least recently used gone first. What every backend keeps
 * (ownership, reading back whole, the TTL, the bound on one response) is the contract's
 * (`responsesStoreContract.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as ResponsesStore from "../../src/internal/gateway/responses/store.js"
import type { Message } from "../../src/Message.js"
import { effectProp } from "../utils/effectProp.js"
import { serviceOf } from "../utils/sqlDatabases.js"

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

// A memory store on the test's `Clock`, and what it holds.
const storeAt = (options?: ResponsesStore.StoreOptions) =>
  Effect.map(serviceOf(ResponsesStore.StoredResponses, ResponsesStore.layerStoreMemory(options)), (store) => ({
    store,
    usage: store.usage!
  }))

describe("ResponsesStore in memory", () => {
  it.effect("past maxEntries the oldest goes first", () =>
    Effect.gen(function*() {
      const { store } = yield* storeAt({ maxEntries: 2 })
      for (const id of ["one", "two", "three"]) {
        yield* TestClock.adjust(1)
        yield* store.put(id, undefined, response(id))
      }
      expect(yield* store.get("one", undefined)).toBeUndefined()
      expect((yield* store.get("two", undefined))?.body).toBe("two")
      expect((yield* store.get("three", undefined))?.body).toBe("three")
    }).pipe(Effect.scoped))
})

describe("ResponsesStore in memory, bounded by bytes", () => {
  effectProp(
    "within maxBytes and each key within maxKeyBytes whatever is put and read by any keys: what it holds is what it " +
      "counts, a key's own least recently used gone first past its bound, then the least recently used of all",
    fc.record({
      maxKeyBytes: fc.integer({ min: 2_500, max: 7_000 }),
      steps: fc.array(
        fc.oneof(
          fc.record({
            put: fc.integer({ min: 0, max: 9 }),
            owner: fc.constantFrom("a", "b", "c"),
            size: fc.integer({ min: 0, max: 3_000 })
          }),
          fc.record({ get: fc.integer({ min: 0, max: 9 }), owner: fc.constantFrom("a", "b", "c") })
        ),
        { maxLength: 60 }
      )
    }),
    ({ maxKeyBytes, steps }) =>
      Effect.gen(function*() {
        const maxBytes = 6_000
        const maxResponseBytes = 2_500
        const { store, usage: usageOf } = yield* storeAt({ maxBytes, maxResponseBytes, maxKeyBytes })
        // A key's bound is at most the whole store's (`maxKeyBytes` above `maxBytes` is `maxBytes`).
        const keyBound = Math.min(maxKeyBytes, maxBytes)
        // The model: ids in the order of their last use, the least recently used first.
        type Kept = { readonly id: string; readonly owner: string; readonly bytes: number }
        let model: Array<Kept> = []
        const held = (owner?: string) =>
          model.reduce((total, entry) => owner === undefined || entry.owner === owner ? total + entry.bytes : total, 0)
        for (const step of steps) {
          if ("put" in step) {
            const id = `resp_${step.put}`
            const stored = response("x".repeat(step.size))
            const bytes = ResponsesStore.bytesOf(stored)
            const other = model.find((entry) => entry.id === id && entry.owner !== step.owner)
            expect(yield* store.put(id, step.owner, stored)).toBe(other !== undefined || bytes <= maxResponseBytes)
            if (other !== undefined) continue
            model = model.filter((entry) => entry.id !== id)
            if (bytes <= maxResponseBytes) model.push({ id, owner: step.owner, bytes })
            while (held(step.owner) > keyBound) {
              model.splice(model.findIndex((entry) => entry.owner === step.owner), 1)
            }
            while (held() > maxBytes) model.shift()
          } else {
            const id = `resp_${step.get}`
            const found = yield* store.get(id, step.owner)
            const entry = model.find((kept) => kept.id === id && kept.owner === step.owner)
            expect(found !== undefined).toBe(entry !== undefined)
            if (entry !== undefined) model = [...model.filter((kept) => kept !== entry), entry]
          }
          const usage = usageOf()
          expect(usage.bytes).toBeLessThanOrEqual(maxBytes)
          expect(usage).toEqual({ entries: model.length, bytes: held() })
          for (const owner of ["a", "b", "c"]) expect(held(owner)).toBeLessThanOrEqual(keyBound)
        }
      })
  )

  it.effect("holds what it counts: a conversation read from a request's text is kept as its own UTF-8 bytes", () =>
    Effect.gen(function*() {
      const { store, usage } = yield* storeAt()
      // A data URL as a request's JSON gives it, beside text that makes the request's string two bytes a character.
      const request = JSON.parse(
        JSON.stringify({ text: "Décris l’image €", url: `data:image/png;base64,${"A".repeat(100_000)}` })
      )
      const kept: ResponsesStore.StoredResponse = {
        body: "{}",
        conversation: [{
          role: "user",
          content: [{ type: "text", text: request.text }, { type: "image", url: request.url }]
        }]
      }
      yield* store.put("resp_image", undefined, kept)
      const bytes = ResponsesStore.bytesOf(kept)
      expect(usage()).toEqual({ entries: 1, bytes })
      // Within a few hundred bytes of JSON around it, the image's own bytes, and what holding them takes beside.
      expect(bytes - ResponsesStore.entryBytes - 100_000).toBeGreaterThan(0)
      expect(bytes - ResponsesStore.entryBytes - 100_000).toBeLessThan(400)
      expect(yield* store.get("resp_image", undefined)).toEqual(kept)
    }).pipe(Effect.scoped))

  effectProp(
    "counts what it holds, whatever the text: its JSON's UTF-8 bytes and what holding them takes, no fewer than the " +
      "text's own",
    fc.array(fc.string({ unit: "grapheme", maxLength: 200 }), { minLength: 1, maxLength: 8 }),
    (texts) =>
      Effect.gen(function*() {
        const { store, usage } = yield* storeAt()
        let counted = 0
        for (const [i, text] of texts.entries()) {
          // The text as a request's JSON gives it (a string the parse made, not the one written here).
          const read: string = JSON.parse(JSON.stringify(text))
          const kept: ResponsesStore.StoredResponse = {
            body: JSON.stringify({ output_text: read }),
            conversation: [{ role: "user", content: [{ type: "text", text: read }] }]
          }
          const bytes = ResponsesStore.bytesOf(kept)
          expect(bytes).toBe(ResponsesStore.heldOf(kept).byteLength + ResponsesStore.entryBytes)
          expect(bytes).toBeGreaterThanOrEqual(2 * Buffer.byteLength(text) + ResponsesStore.entryBytes)
          expect(yield* store.put(`resp_${i}`, "a", kept)).toBe(true)
          counted += bytes
          expect(usage()).toEqual({ entries: i + 1, bytes: counted })
          expect(yield* store.get(`resp_${i}`, "a")).toEqual(kept)
        }
      })
  )
})
