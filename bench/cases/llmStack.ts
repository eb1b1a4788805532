/**
 * The full stack: `Llm` over `OpenAiChat` with a 4-key pool and a rate limiter
 * set high enough not to bind, against the simulator, versus the same raw
 * undici baseline as `openAiChat.ts`. The difference from the `openai-chat-*`
 * results is the cost of the permit, the key lease, the retry policy and the
 * usage bookkeeping.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { request } from "./call.js"
import { openAiChatNonStream, openAiChatStream } from "./openAiChat.js"
import { drainReply } from "./reply.js"
import type { BenchCase } from "./types.js"

const keys = [
  "sk-bench-0123456789abcde1",
  "sk-bench-0123456789abcde2",
  "sk-bench-0123456789abcde3",
  "sk-bench-0123456789abcde4"
]

/** The `Llm` the full stack builds against the simulator at `url` (sending `headers` too), built in the scope. */
export const llm = (url: string, headers?: Record<string, string>) =>
  Layer.build(
    Llm.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini", ...(headers === undefined ? {} : { headers }) }),
        KeyPool.layer({ providerId: "bench", keys }).pipe(
          Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
        ),
        RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000 }).pipe(
          Layer.provide(RateLimiter.layerStoreMemory),
          Layer.orDie
        )
      ))
    )
  ).pipe(Effect.map(Context.get(Llm.Llm)))

const check = (text: string) => {
  if (text.length === 0) throw new Error("bench: empty reply")
}

export const llmStackNonStream: BenchCase = {
  name: "llm-stack-nonstream",
  ours: (url) =>
    Effect.map(llm(url), (service) => Effect.map(service.chat(request), (response) => check(response.text))),
  baseline: openAiChatNonStream.baseline
}

export const llmStackStream: BenchCase = {
  name: "llm-stack-stream",
  ours: (url) => Effect.map(llm(url), (service) => drainReply(service.chatStream(request))),
  baseline: openAiChatStream.baseline
}
