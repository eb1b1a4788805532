import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, ChatResponse } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

const usage = {
  promptTokens: 10,
  completionTokens: 5,
  totalTokens: 15,
  cachedPromptTokens: 2,
  reasoningTokens: 1,
  estimated: false
}

const finish: ChatChunk.Finish = {
  _tag: "Finish",
  finishReason: "tool_calls",
  id: "chatcmpl-1",
  model: "gpt-4o",
  provider: "openai",
  latency: Duration.millis(120),
  keyId: "sk-…abcd"
}

describe("ChatChunk.collect", () => {
  it.effect("folds text, reasoning, tool calls, usage and finish into a response", () =>
    Effect.gen(function*() {
      const chunks: Array<ChatChunk.ChatChunk> = [
        { _tag: "ReasoningDelta", text: "think" },
        { _tag: "TextDelta", text: "Hel" },
        { _tag: "ReasoningDelta", text: "ing" },
        { _tag: "TextDelta", text: "lo" },
        { _tag: "ToolCallDelta", index: 0, id: "call_a", name: "get_weather", arguments: "" },
        { _tag: "ToolCallDelta", index: 1, id: "call_b", name: "get_time", arguments: "{\"tz\":" },
        { _tag: "ToolCallDelta", index: 0, arguments: "{\"city\":\"Paris\"}" },
        { _tag: "ToolCallDelta", index: 1, arguments: "\"UTC\"}" },
        { _tag: "Usage", usage: { ...usage, completionTokens: 1, totalTokens: 11 } },
        { _tag: "Usage", usage },
        finish
      ]
      const response = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      expect(response.text).toBe("Hello")
      expect(response.reasoning).toBe("thinking")
      expect(response.toolCalls).toEqual([
        { id: "call_a", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { id: "call_b", name: "get_time", arguments: "{\"tz\":\"UTC\"}" }
      ])
      expect(response.usage).toEqual(usage)
      expect(response.finishReason).toBe("tool_calls")
      expect(response.keyId).toBe("sk-…abcd")
      expect(response.reasoning).toBeDefined()
    }))

  it.effect("a Continue chunk discards nothing: the text goes on, and the reply is the finisher's", () =>
    Effect.gen(function*() {
      const going: ChatChunk.Continue = {
        _tag: "Continue",
        attempt: 2,
        deployment: "backup",
        model: "m2",
        from: "primary",
        error: "TransportError"
      }
      expectRoundTrip(ChatChunk.ChatChunk, going)
      const response = yield* ChatChunk.collect(Stream.make<Array<ChatChunk.ChatChunk>>(
        { _tag: "TextDelta", text: "Hel" },
        going,
        { _tag: "TextDelta", text: "lo" },
        { _tag: "Usage", usage },
        { ...finish, model: "m2" }
      ))
      expect(response.text).toBe("Hello")
      expect(response.model).toBe("m2")
      expect(response.usage).toEqual(usage)
    }))

  it.effect("fails with StreamTruncatedError when no Finish chunk came", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        ChatChunk.collect(Stream.make<Array<ChatChunk.ChatChunk>>({ _tag: "TextDelta", text: "partial" }))
      )
      expect(error._tag).toBe("StreamTruncatedError")
    }))

  it.effect("keeps the stream's own failure", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ChatChunk.collect(Stream.fail("boom")))
      expect(error).toBe("boom")
    }))

  // Plain objects, as JSON gives them (fast-check's dictionaries may have a null prototype).
  const metadataArbitrary = fc.dictionary(fc.string(), fc.jsonValue()).map((metadata): Record<string, unknown> =>
    JSON.parse(JSON.stringify(metadata))
  )

  const responseArbitrary: fc.Arbitrary<ChatResponse.ChatResponse> = fc.record({
    id: fc.string(),
    model: fc.string(),
    provider: fc.string(),
    text: fc.string(),
    reasoning: fc.option(fc.string(), { nil: undefined }),
    toolCalls: fc.array(
      fc.record(
        { id: fc.string(), name: fc.string(), arguments: fc.string(), providerMetadata: metadataArbitrary },
        { requiredKeys: ["id", "name", "arguments"], noNullPrototype: true }
      ),
      { maxLength: 4 }
    ),
    providerMetadata: fc.option(metadataArbitrary, { nil: undefined }),
    finishReason: fc.constantFrom(
      "stop" as const,
      "length" as const,
      "tool_calls" as const,
      "content_filter" as const,
      "other" as const
    ),
    usage: fc.record({
      promptTokens: fc.nat(),
      completionTokens: fc.nat(),
      totalTokens: fc.nat(),
      cachedPromptTokens: fc.nat(),
      reasoningTokens: fc.nat(),
      estimated: fc.boolean()
    }, { noNullPrototype: true }),
    latency: fc.nat().map(Duration.millis),
    cost: fc.option(fc.double({ min: 0, max: 1000, noNaN: true }), { nil: undefined }),
    skippedEvents: fc.option(fc.nat(), { nil: undefined })
  }).map(({ cost, providerMetadata, reasoning, skippedEvents, ...rest }) => ({
    ...rest,
    ...(reasoning === undefined ? {} : { reasoning }),
    ...(cost === undefined ? {} : { cost }),
    ...(providerMetadata === undefined ? {} : { providerMetadata }),
    ...(skippedEvents === undefined ? {} : { skippedEvents })
  }))

  // @effect/vitest's `prop` takes Effect 4's own `Arbitrary`; fast-check arbitraries run through `fc.assert`.
  it("collect(fromResponse(r)) gives r back, however the text is split", () =>
    fc.assert(
      fc.asyncProperty(responseArbitrary, fc.nat(20), (response, pieces) =>
        Effect.runPromise(Effect.gen(function*() {
          const chunks = ChatChunk.fromResponse(response).flatMap((chunk): Array<ChatChunk.ChatChunk> => {
            if (chunk._tag !== "TextDelta" || pieces === 0) return [chunk]
            const size = Math.max(1, Math.ceil(chunk.text.length / pieces))
            const out: Array<ChatChunk.ChatChunk> = []
            for (let i = 0; i < chunk.text.length; i += size) {
              out.push({ _tag: "TextDelta", text: chunk.text.slice(i, i + size) })
            }
            return out
          })
          const collected = yield* ChatChunk.collect(Stream.fromIterable(chunks))
          expect(collected).toEqual(response)
        })))
    ))

  it("a Start chunk opening a reply changes nothing collect or makeAccumulator gives, and is a value of its schema", () =>
    fc.assert(
      fc.asyncProperty(
        responseArbitrary,
        fc.integer({ min: 1, max: 5 }),
        fc.string(),
        fc.string(),
        fc.option(fc.tuple(fc.string(), fc.constantFrom("ProviderUnavailableError", "TimeoutError")), {
          nil: undefined
        }),
        (answer, attempt, deployment, model, failed) =>
          Effect.runPromise(Effect.gen(function*() {
            const start: ChatChunk.Start = failed === undefined
              ? { _tag: "Start", attempt, deployment, model }
              : { _tag: "Start", attempt, deployment, model, from: failed[0], error: failed[1] }
            expectRoundTrip(ChatChunk.ChatChunk, start)
            const chunks = [start, ...ChatChunk.fromResponse(answer)]
            expect(yield* ChatChunk.collect(Stream.fromIterable(chunks))).toEqual(answer)
            const accumulator = ChatChunk.makeAccumulator()
            accumulator.add(start)
            expect(accumulator.response()).toBeUndefined()
            for (const chunk of chunks.slice(1)) accumulator.add(chunk)
            expect(accumulator.response()).toEqual(answer)
          }))
      ),
      { numRuns: 50 }
    ))

  it(
    "a Restart chunk discards what came before it: collect gives the last attempt's response, whatever the broken " +
      "attempt sent",
    () =>
      fc.assert(
        fc.asyncProperty(
          responseArbitrary,
          responseArbitrary,
          fc.nat(10),
          (broken, answer, cut) =>
            Effect.runPromise(Effect.gen(function*() {
              const before = ChatChunk.fromResponse(broken)
              const restart: ChatChunk.Restart = {
                _tag: "Restart",
                attempt: 2,
                deployment: "backup",
                model: "m",
                from: "primary",
                error: "StreamTruncatedError"
              }
              expectRoundTrip(ChatChunk.ChatChunk, restart)
              const chunks = [
                ...before.slice(0, Math.min(cut, before.length)),
                restart,
                ...ChatChunk.fromResponse(answer)
              ]
              expect(yield* ChatChunk.collect(Stream.fromIterable(chunks))).toEqual(answer)
              // A Restart with nothing complete after it leaves no answer.
              const accumulator = ChatChunk.makeAccumulator()
              for (const chunk of [...before, restart]) {
                accumulator.add(chunk)
              }
              expect(accumulator.response()).toBeUndefined()
            }))
        ),
        { numRuns: 50 }
      )
  )

  it("the chunks of fromResponse(r), and the response collect folds them into, are values of their schemas", () =>
    fc.assert(
      fc.asyncProperty(responseArbitrary, (response) =>
        Effect.runPromise(Effect.gen(function*() {
          const chunks = ChatChunk.fromResponse(response)
          for (const chunk of chunks) expectRoundTrip(ChatChunk.ChatChunk, chunk)
          expectRoundTrip(ChatResponse.ChatResponse, yield* ChatChunk.collect(Stream.fromIterable(chunks)))
        }))),
      { numRuns: 50 }
    ))
})
