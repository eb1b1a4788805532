/**
 * Testing code that calls a model, without a model: swap its `Llm` layer for
 * `LlmTest.layer`, script the answers, and check what it asked.
 *
 *   npx vitest run examples/mock-llm.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChatRequest, Llm, LlmError, Message } from "effect-llm-router"
import { LlmTest } from "effect-llm-router/testing"
import * as Effect from "effect/Effect"

// The application: it needs an `Llm` and does not care which. In production
// it gets a real layer (see basic-chat.ts); here, a scripted one.
const summarize = (text: string) => {
  const request: ChatRequest.Input = {
    model: "primary",
    messages: [Message.system("Summarise in one line."), Message.user(text)]
  }
  return Llm.chat(request).pipe(
    // The primary model's rate limit will not clear soon: use the backup.
    Effect.catchTag("RateLimitError", () => Llm.chat({ ...request, model: "backup" })),
    Effect.map((reply) => reply.text)
  )
}

const modelsAsked = Effect.map(LlmTest.requests, (requests) => requests.map((request) => request.model))

describe("summarize", () => {
  it.effect("returns the model's reply", () =>
    Effect.gen(function*() {
      expect(yield* summarize("A long story.")).toBe("A story.")
      expect(yield* modelsAsked).toEqual(["primary"])
    }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply("A story.")]))))

  it.effect("falls back to the backup model when the primary is rate-limited", () =>
    Effect.gen(function*() {
      expect(yield* summarize("A long story.")).toBe("From the backup.")
      expect(yield* modelsAsked).toEqual(["primary", "backup"])
      // The backup got the same conversation.
      const [first, second] = yield* LlmTest.requests
      expect(second?.messages).toEqual(first?.messages)
    }).pipe(
      Effect.provide(LlmTest.layer([
        new LlmError.RateLimitError({ provider: "test", model: "primary", status: 429 }),
        LlmTest.reply("From the backup.")
      ]))
    ))

  it.effect("does not hide other failures", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(summarize("A long story."))
      expect(error._tag).toBe("ContextLengthError")
      expect(yield* modelsAsked).toEqual(["primary"])
    }).pipe(
      Effect.provide(LlmTest.layer([new LlmError.ContextLengthError({ provider: "test", model: "primary" })]))
    ))
})
