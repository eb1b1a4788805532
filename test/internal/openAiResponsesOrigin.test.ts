/**
 * The Responses client's encrypted content bound to where it was made (`wire/openAiResponses/origin.ts`): over any
 * conversation of assistant turns carrying reasoning, output and compacted items made at any of a few origins (or
 * with no mark), a deployment is given back exactly what its origin made, as it was made, and nothing another made.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { metadataKey } from "../../src/internal/wire/openAiResponses/codec.js"
import * as Origin from "../../src/internal/wire/openAiResponses/origin.js"
import type { AssistantMessage } from "../../src/Message.js"

const origins = ["a", "b", "c"].map((key) => Origin.originOf("openai", "https://api.example/v1", Redacted.make(key)))

// An item as a reply leaves it: with encrypted content made at an origin (its index), with some of no mark, or none.
const item = fc.record({
  field: fc.constantFrom("reasoningItems", "outputItems", "compacted"),
  madeAt: fc.option(fc.integer({ min: 0, max: origins.length - 1 }), { nil: undefined }),
  content: fc.option(fc.stringMatching(/^gAAAAB[A-Za-z0-9+/=]{0,12}$/), { nil: undefined })
})

type Item = typeof item extends fc.Arbitrary<infer T> ? T : never

// The assistant message of a turn's items, each item's content marked where it was made.
function turnOf(items: ReadonlyArray<Item>): AssistantMessage {
  const entry: Record<string, Array<unknown>> = {}
  for (const [i, one] of items.entries()) {
    const encrypted = one.content === undefined
      ? {}
      : { encrypted_content: one.madeAt === undefined ? one.content : Origin.marked(origins[one.madeAt]!, one.content) }
    ;(entry[one.field] ??= []).push({
      type: one.field === "reasoningItems" ? "reasoning" : "compaction",
      n: i,
      ...encrypted
    })
  }
  return { role: "assistant", content: "ok", providerMetadata: { [metadataKey]: entry } }
}

// Every item of a request's assistant turns, with its encrypted content, in order.
function itemsOf(request: ChatRequest): ReadonlyArray<Record<string, unknown>> {
  return request.messages.flatMap((message) => {
    if (message.role !== "assistant") return []
    const entry = message.providerMetadata?.[metadataKey] as Record<string, Array<Record<string, unknown>>> | undefined
    return ["reasoningItems", "outputItems", "compacted"].flatMap((field) => entry?.[field] ?? [])
  })
}

describe("internal/wire/openAiResponses/origin", () => {
  it("a deployment gets back what its origin made as made, what has no mark as it is, and nothing another made", () => {
    fc.assert(fc.property(
      fc.array(fc.array(item, { maxLength: 5 }), { maxLength: 4 }),
      fc.integer({ min: 0, max: origins.length - 1 }),
      (turns, at) => {
        const request: ChatRequest = {
          messages: [{ role: "user", content: "hi" }, ...turns.map(turnOf), { role: "user", content: "and?" }]
        }
        const sent = itemsOf(Origin.forOrigin(request, origins[at]!))
        const expected = turns.flatMap((items) =>
          ["reasoningItems", "outputItems", "compacted"].flatMap((field) => items.filter((one) => one.field === field))
        ).filter((one) => one.content === undefined || one.madeAt === undefined || one.madeAt === at)
        expect(sent.map((one) => one["encrypted_content"])).toEqual(expected.map((one) => one.content))
        // Without encrypted content, only the items that had none are left; a request with none is left as it was.
        const bare = Origin.withoutEncrypted(request)
        expect(itemsOf(bare).every((one) => one["encrypted_content"] === undefined)).toBe(true)
        expect(itemsOf(bare)).toHaveLength(turns.flat().filter((one) => one.content === undefined).length)
        expect(Origin.withoutEncrypted(bare)).toBe(bare)
      }
    ))
  })

  it("a reply's content is marked once, where it was made, and read back there", () => {
    fc.assert(fc.property(fc.array(item, { maxLength: 6 }), fc.integer({ min: 0, max: 2 }), (items, at) => {
      const reply = turnOf(items.map((one) => ({ ...one, madeAt: undefined })))
      const metadata = Origin.markedMetadata(reply.providerMetadata, origins[at]!)
      // Marking again changes nothing: content already marked keeps its origin.
      expect(Origin.markedMetadata(metadata, origins[(at + 1) % origins.length]!)).toEqual(metadata)
      const back = itemsOf(
        Origin.forOrigin({ messages: [{ ...reply, providerMetadata: metadata }] }, origins[at]!)
      )
      expect(back).toEqual(itemsOf({ messages: [reply] }))
      for (const other of origins.filter((_, i) => i !== at)) {
        const elsewhere = itemsOf(
          Origin.forOrigin({ messages: [{ ...reply, providerMetadata: metadata }] }, other)
        )
        expect(elsewhere.every((one) => one["encrypted_content"] === undefined)).toBe(true)
      }
    }))
  })

  it("an origin is the provider's, the base URL's and the key's, and names none of them", () => {
    const key = Redacted.make("sk-secret-key-0123456789")
    const origin = Origin.originOf("openai", "https://api.openai.com/v1", key)
    expect(origin).toMatch(/^[\w-]{22}$/)
    expect(origin).not.toContain("sk-")
    expect(Origin.originOf("openai", "https://api.openai.com/v1", key)).toBe(origin)
    expect(Origin.originOf("azure", "https://api.openai.com/v1", key)).not.toBe(origin)
    expect(Origin.originOf("openai", "https://eu.api.openai.com/v1", key)).not.toBe(origin)
    expect(Origin.originOf("openai", "https://api.openai.com/v1", Redacted.make("sk-other"))).not.toBe(origin)
    expect(Origin.opened(Origin.marked(origin, "gAAAAB.x"))).toEqual({ origin, content: "gAAAAB.x" })
    expect(Origin.opened("gAAAAB")).toBeUndefined()
  })
})
