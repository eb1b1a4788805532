import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, ChatResponse, Embedding, LlmError, Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as Llm from "../src/Llm.js"
import * as LlmTest from "../src/LlmTest.js"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

const ask = (text: string) => ({ messages: [Message.user(text)] })

describe("LlmTest", () => {
  it.effect("answers from the script in order and records the requests", () =>
    Effect.gen(function*() {
      const first = yield* Llm.chat(ask("one"))
      const error = yield* Effect.flip(Llm.chat(ask("two")))
      const streamed = yield* ChatChunk.collect(Llm.chatStream(ask("three")))
      expect(first.text).toBe("Paris")
      expect(error._tag).toBe("RateLimitError")
      expect(streamed.text).toBe("Lyon")
      expect(streamed.toolCalls).toEqual([{ id: "c1", name: "lookup", arguments: "{}" }])
      const seen = yield* LlmTest.requests
      expect(seen.map((request) => Message.textOf((request.messages[0] as Message.UserMessage).content))).toEqual([
        "one",
        "two",
        "three"
      ])
    }).pipe(
      Effect.provide(LlmTest.layer([
        LlmTest.reply("Paris"),
        new LlmError.RateLimitError({ provider: "test", model: "test", status: 429 }),
        LlmTest.reply("Lyon", { toolCalls: [{ id: "c1", name: "lookup", arguments: "{}" }] })
      ]))
    ))

  it("reply and embedding build values of ChatResponse and EmbeddingResponse", () => {
    expectRoundTrip(ChatResponse.ChatResponse, LlmTest.reply("Hi"))
    expectRoundTrip(
      ChatResponse.ChatResponse,
      LlmTest.reply("", {
        toolCalls: [{ id: "c1", name: "f", arguments: "{}" }],
        reasoning: "r",
        usage: { promptTokens: 3, estimated: true }
      })
    )
    expectRoundTrip(
      Embedding.EmbeddingResponse,
      LlmTest.embedding([[0.5, -1]], { usage: { promptTokens: 2, totalTokens: 2 } })
    )
  })

  it.effect("replays scripted chunks to a stream, and collects them for chat", () =>
    Effect.gen(function*() {
      const chunks = [...ChatChunk.fromResponse(LlmTest.reply("Hello"))]
      const streamed = [...(yield* Stream.runCollect(Llm.chatStream(ask("a"))))]
      expect(streamed).toEqual(chunks)
      expect((yield* Llm.chat(ask("b"))).text).toBe("Hello")
    }).pipe(
      Effect.provide(LlmTest.layer([{ chunks: ChatChunk.fromResponse(LlmTest.reply("Hello")) }, {
        chunks: ChatChunk.fromResponse(LlmTest.reply("Hello"))
      }]))
    ))

  it.effect("a call past the end of the script is a defect naming the count", () =>
    Effect.gen(function*() {
      yield* Llm.chat(ask("only"))
      const exit = yield* Effect.exit(Llm.chat(ask("extra")))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("call 2 has no answer; the script has 1")
    }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply("once")]))))

  it.effect("fromHandler answers from a function", () =>
    Effect.gen(function*() {
      const response = yield* Llm.chat(ask("echo me"))
      expect(response.text).toBe("echo me")
    }).pipe(
      Effect.provide(LlmTest.fromHandler((request) =>
        Effect.succeed(LlmTest.reply(Message.textOf((request.messages[0] as Message.UserMessage).content)))
      ))
    ))

  it.effect("a scripted RateLimitError drives the caller's own fallback", () =>
    Effect.gen(function*() {
      const answer = yield* Llm.chat(ask("q")).pipe(
        Effect.catchTag("RateLimitError", () => Effect.succeed(LlmTest.reply("fallback")))
      )
      expect(answer.text).toBe("fallback")
    }).pipe(Effect.provide(LlmTest.layer([new LlmError.RateLimitError({ provider: "test", model: "test" })]))))
})
