import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CacheStore from "../../src/CacheStore.js"
import * as Llm from "../../src/Llm.js"
import * as ResponseCache from "../../src/ResponseCache.js"
import * as UsageLedger from "../../src/UsageLedger.js"
import { trackedSimulator } from "../utils/trackedSimulator.js"

const key = "sk-sim-cache-0000000000007"

describe("ResponseCache over loopback", () => {
  it.live("hits are served without a call (chat and replayed stream), equal to the original reply", () =>
    Effect.gen(function*() {
      // The ledger sits below the cache, so it sees only the calls that reach the provider.
      const provider = yield* trackedSimulator(key, "sim", { replyTokens: 9 })
      // provideMerge keeps the ledger and the store visible; the cached Llm is the one the test sees.
      const layer = ResponseCache.layer({ ttl: "5 minutes" }).pipe(
        Layer.provideMerge(Layer.merge(provider, CacheStore.layerMemory({ capacity: 10 })))
      )
      yield* Effect.gen(function*() {
        const asked = { messages: [Message.user("Cache me")], temperature: 0 }
        const original = yield* Llm.chat(asked)
        const replayed = yield* ChatChunk.collect(Llm.chatStream(asked))
        expect(replayed).toStrictEqual(original)
        expect(yield* Llm.chat({ ...asked, user: "another user" })).toStrictEqual(original)

        const streamedFirst = { messages: [Message.user("Stream me first")] }
        const streamed = yield* ChatChunk.collect(Llm.chatStream(streamedFirst))
        expect(yield* Llm.chat(streamedFirst)).toStrictEqual(streamed)

        const cache = yield* ResponseCache.ResponseCache
        expect(yield* cache.stats).toStrictEqual({ hits: 3, misses: 2, storeErrors: 0 })
        const ledger = yield* UsageLedger.UsageLedger
        expect((yield* ledger.totals).overall.requests).toBe(2)
      }).pipe(Effect.provide(layer))
    }))
})
