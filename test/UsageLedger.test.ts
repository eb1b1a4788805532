import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../src/ChatChunk.js"
import type { ChatResponse } from "../src/ChatResponse.js"
import * as Llm from "../src/Llm.js"
import { RateLimitError } from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import * as UsageLedger from "../src/UsageLedger.js"

const usage = (
  promptTokens: number,
  completionTokens: number,
  cachedPromptTokens = 0,
  reasoningTokens = 0,
  cacheWrites?: { readonly all: number; readonly hour: number }
) => ({
  promptTokens,
  completionTokens,
  totalTokens: promptTokens + completionTokens,
  cachedPromptTokens,
  ...(cacheWrites === undefined ? {} : { cacheWriteTokens: cacheWrites.all, cacheWrite1hTokens: cacheWrites.hour }),
  reasoningTokens,
  estimated: false
})

const response = (
  model: string,
  keyId: string | undefined,
  tokens: ReturnType<typeof usage>,
  cost?: number,
  cacheSavings?: number
): ChatResponse => ({
  ...LlmTest.reply("ok", { model, usage: tokens }),
  ...(keyId !== undefined ? { keyId } : {}),
  ...(cost !== undefined ? { cost } : {}),
  ...(cacheSavings !== undefined ? { cacheSavings } : {})
})

describe("UsageLedger", () => {
  it.effect("totals overall, per deployment, per key and per model; unpriced calls are counted, not free", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.make
      yield* ledger.record(UsageLedger.callOf("east", response("gpt-4o", "sk-…0001", usage(100, 10, 40, 4), 0.5, 0.25)))
      const written = usage(200, 20, 0, 0, { all: 150, hour: 100 })
      yield* ledger.record(UsageLedger.callOf("east", response("gpt-4o", "sk-…0002", written, 1, -0.125)))
      yield* ledger.record(UsageLedger.callOf("west", response("sim-small", "sk-…0001", usage(5, 5))))
      yield* ledger.record(UsageLedger.callOf("west", response("gpt-4o", undefined, usage(1, 1), 0.25)))
      const totals = yield* ledger.totals
      expect(totals.overall).toStrictEqual({
        requests: 4,
        promptTokens: 306,
        completionTokens: 36,
        cachedPromptTokens: 40,
        cacheWriteTokens: 150,
        cacheWrite1hTokens: 100,
        reasoningTokens: 4,
        totalTokens: 342,
        cost: 1.75,
        cacheSavings: 0.125,
        unpriced: 1
      })
      expect(totals.byDeployment.east!.requests).toBe(2)
      expect(totals.byDeployment.east!.cost).toBe(1.5)
      expect(totals.byDeployment.west!.unpriced).toBe(1)
      expect(totals.byKey["sk-…0001"]!.promptTokens).toBe(105)
      expect(totals.byKey["sk-…0002"]!.cost).toBe(1)
      expect(Object.keys(totals.byKey)).toStrictEqual(["sk-…0001", "sk-…0002"])
      expect(totals.byModel["gpt-4o"]!.requests).toBe(3)
      expect(totals.byModel["sim-small"]!.cost).toBe(0)
      expect(totals.byModel["sim-small"]!.unpriced).toBe(1)
    }))

  it.effect("totals is a copy; reset forgets everything", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.make
      yield* ledger.record(UsageLedger.callOf("d", response("m", "k", usage(1, 1), 1)))
      const before = yield* ledger.totals
      yield* ledger.record(UsageLedger.callOf("d", response("m", "k", usage(1, 1), 1)))
      expect(before.overall.requests).toBe(1)
      expect(before.byDeployment.d!.requests).toBe(1)
      yield* ledger.reset
      const after = yield* ledger.totals
      expect(after.overall.requests).toBe(0)
      expect(after.byDeployment).toStrictEqual({})
    }))

  const answer = response("gpt-4o", "sk-…0009", usage(10, 3), 0.01)
  const script = [answer, answer, new RateLimitError({ provider: "test", model: "gpt-4o" }), {
    // A stream cut before its Finish chunk.
    chunks: [{ _tag: "TextDelta" as const, text: "par" }]
  }]
  const layer = UsageLedger.track("primary").pipe(
    Layer.provide(LlmTest.layer(script)),
    Layer.provideMerge(UsageLedger.layer)
  )

  it.effect("track records chat and completed streams of the Llm below it, not failures", () =>
    Effect.gen(function*() {
      const request = { messages: [Message.user("hi")] }
      const chat = yield* Llm.chat(request)
      const streamed = yield* ChatChunk.collect(Llm.chatStream(request))
      expect(streamed).toStrictEqual(chat)
      expect((yield* Effect.flip(Llm.chat(request)))._tag).toBe("RateLimitError")
      yield* Stream.runDrain(Llm.chatStream(request))
      const totals = yield* Effect.flatMap(UsageLedger.UsageLedger, (ledger) => ledger.totals)
      expect(totals.byDeployment.primary).toStrictEqual({
        requests: 2,
        promptTokens: 20,
        completionTokens: 6,
        cachedPromptTokens: 0,
        cacheWriteTokens: 0,
        cacheWrite1hTokens: 0,
        reasoningTokens: 0,
        totalTokens: 26,
        cost: 0.02,
        cacheSavings: 0,
        unpriced: 0
      })
      expect(totals.byKey["sk-…0009"]!.requests).toBe(2)
    }).pipe(Effect.provide(layer)))

  const withoutUsage = ChatChunk.fromResponse(LlmTest.reply("ok", { model: "m" })).filter((chunk) =>
    chunk._tag !== "Usage"
  )

  it.effect("a stream that finished without a Usage chunk is counted with zero tokens, unpriced", () =>
    Effect.gen(function*() {
      yield* Stream.runDrain(Llm.chatStream({ messages: [Message.user("hi")] }))
      const totals = yield* Effect.flatMap(UsageLedger.UsageLedger, (ledger) => ledger.totals)
      expect(totals.byModel.m).toMatchObject({ requests: 1, totalTokens: 0, cost: 0, unpriced: 1 })
    }).pipe(Effect.provide(
      UsageLedger.track("d").pipe(
        Layer.provide(LlmTest.layer([{ chunks: withoutUsage }])),
        Layer.provideMerge(UsageLedger.layer)
      )
    )))
})
