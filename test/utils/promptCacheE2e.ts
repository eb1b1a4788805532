/**
 * One adapter's prompt caching over the simulator, as a user sees it through `Llm`: a system prompt behind a cache
 * breakpoint, asked twice whole and once streamed; the first call writes the prefix, the others read it, and each
 * reply is priced with the write premium or the read discount.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"

/** The write, the read and the streamed read of a 110-token prompt whose first 100 are cached for `ttl`. */
export const cachedThenRead = (llm: Layer.Layer<Llm.Llm>, ttl: "5m" | "1h", price: Pricing.Price) =>
  Effect.gen(function*() {
    // 400 characters: 100 tokens as the simulator counts; the question 10 more.
    const ask: ChatRequest.Input = {
      maxTokens: 16,
      messages: [
        { role: "system", content: "r".repeat(400), cache: ttl === "1h" ? { ttl } : {} },
        Message.user("q".repeat(40))
      ]
    }
    const written = yield* Llm.chat(ask)
    const read = yield* Llm.chat(ask)
    const streamed = yield* ChatChunk.collect(Llm.chatStream(ask))
    assert.deepInclude(written.usage, { promptTokens: 110, cachedPromptTokens: 0, cacheWriteTokens: 100 })
    if (ttl === "1h") assert.strictEqual(written.usage.cacheWrite1hTokens, 100)
    for (const reply of [read, streamed]) {
      assert.deepInclude(reply.usage, { promptTokens: 110, cachedPromptTokens: 100, cacheWriteTokens: 0 })
    }
    const output = read.usage.completionTokens * price.output
    assert.closeTo(written.cost!, (10 * price.input + 100 * Pricing.cacheWritePrice(price, ttl) + output) / 1e6, 1e-15)
    assert.closeTo(read.cost!, (10 * price.input + 100 * price.cachedInput! + output) / 1e6, 1e-15)
    assert.isBelow(read.cost!, written.cost!)
  }).pipe(Effect.provide(llm))
