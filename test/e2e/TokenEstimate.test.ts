import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, KeyPool, Message, OpenAiChat } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { countTokens } from "gpt-tokenizer"
import * as Llm from "../../src/Llm.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { limiterLayerInMemory, poolInMemory } from "../utils/memoryStores.js"

// The stack against a simulator, with streams that ask for no usage
// (`stream_options.include_usage` off), so `Llm` counts the reply itself.
const stack = (simulator: Simulator.Simulator, replyTokens: number) =>
  Effect.gen(function*() {
    const pool = yield* poolInMemory({ providerId: "sim", keys: ["sk-sim-key-tokens0001"] })
    const context = yield* Layer.build(
      Llm.layer().pipe(
        Layer.provide(Layer.mergeAll(
          OpenAiChat.layer({
            baseUrl: `${simulator.url}/v1`,
            provider: "sim",
            model: "gpt-4o-mini",
            includeUsage: false,
            headers: { "x-simulator-reply-tokens": String(replyTokens) }
          }),
          Layer.succeed(KeyPool.KeyPool, pool),
          limiterLayerInMemory({ capacity: 10, refillRate: 10 })
        )),
        Layer.provide(UndiciHttpClient.layer())
      )
    )
    return Context.get(context, Llm.Llm)
  })

describe("token estimates over loopback", () => {
  it.live(
    "a long streamed reply without usage, after a 1 MB prompt of one unbroken run, is counted",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ contextWindow: 1_000_000 })
        const llm = yield* stack(simulator, 40_000)
        const prompt = "x".repeat(1 << 20)
        const response = yield* ChatChunk.collect(llm.chatStream({ messages: [Message.user(prompt)] }))
        expect(response.text.length).toBeGreaterThan(100_000)
        expect(response.usage.estimated).toBe(true)
        const exact = countTokens(response.text)
        expect(Math.abs(response.usage.completionTokens - exact)).toBeLessThanOrEqual(exact * 0.02)
        // "xxxxxxxx" is one o200k token; 3 + 4 for the chat format.
        expect(Math.abs(response.usage.promptTokens - ((1 << 20) / 8 + 7))).toBeLessThanOrEqual((1 << 20) / 8 * 0.02)
        expect(response.usage.totalTokens).toBe(response.usage.promptTokens + response.usage.completionTokens)
      }),
    60_000
  )
})
