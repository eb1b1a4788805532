import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as CacheStore from "../src/CacheStore.js"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type { ChatResponse } from "../src/ChatResponse.js"
import * as Llm from "../src/Llm.js"
import { ProviderUnavailableError } from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import * as ResponseCache from "../src/ResponseCache.js"

// ---------------------------------------------------------------------------
// The canonical key
// ---------------------------------------------------------------------------

const text = fc.string({ maxLength: 12 })
const messageArb = fc.oneof(
  text.map(Message.system),
  text.map((t) => Message.user(t)),
  fc.tuple(text, text).map(([t, reasoning]) => Message.assistant(t, { reasoning }))
)
const jsonObject = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), {
  maxKeys: 4
})
const requestArb: fc.Arbitrary<ChatRequest.Input> = fc.record({
  messages: fc.array(messageArb, { minLength: 1, maxLength: 4 }),
  model: fc.option(fc.constantFrom("gpt-4o", "gpt-4o-mini", "sim-small"), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true }), { nil: undefined }),
  topP: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  maxTokens: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
  stop: fc.option(fc.array(text, { maxLength: 3 }), { nil: undefined }),
  tools: fc.option(
    fc.array(fc.record({ name: fc.constantFrom("a", "b"), description: text, parameters: jsonObject }), {
      maxLength: 2
    }),
    { nil: undefined }
  ),
  toolChoice: fc.option(fc.constantFrom("auto" as const, "none" as const, { tool: "a" }), { nil: undefined }),
  responseFormat: fc.option(
    fc.constantFrom({ type: "json_object" as const }, {
      type: "json_schema" as const,
      name: "x",
      schema: { type: "object" }
    }),
    { nil: undefined }
  ),
  reasoningEffort: fc.option(fc.constantFrom("low" as const, "high" as const), { nil: undefined }),
  seed: fc.option(fc.nat(), { nil: undefined }),
  providerOptions: fc.option(jsonObject, { nil: undefined })
}, { requiredKeys: ["messages"] })

/** The same value with every object's keys in reverse order. */
const reversedKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(reversedKeys)
  if (value === null || typeof value !== "object") return value
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)]))
}

type Change = (request: ChatRequest.Input) => ChatRequest.Input
const changes: ReadonlyArray<[string, Change]> = [
  ["messages", (r) => ({ ...r, messages: [...r.messages, Message.user("one more")] })],
  ["message text", (r) => ({ ...r, messages: [Message.user(`${JSON.stringify(r.messages)}!`)] })],
  ["model", (r) => ({ ...r, model: `${r.model ?? ""}-other` })],
  ["temperature", (r) => ({ ...r, temperature: r.temperature === 1.5 ? 0.5 : 1.5 })],
  ["topP", (r) => ({ ...r, topP: r.topP === 0.25 ? 0.75 : 0.25 })],
  ["maxTokens", (r) => ({ ...r, maxTokens: (r.maxTokens ?? 0) + 1 })],
  ["stop", (r) => ({ ...r, stop: [...(r.stop ?? []), "STOP"] })],
  ["tools", (r) => ({ ...r, tools: [...(r.tools ?? []), { name: "c", parameters: { type: "object" } }] })],
  ["toolChoice", (r) => ({ ...r, toolChoice: r.toolChoice === "required" ? "auto" : "required" })],
  [
    "responseFormat",
    (r) => ({ ...r, responseFormat: r.responseFormat?.type === "text" ? { type: "json_object" } : { type: "text" } })
  ],
  ["reasoningEffort", (r) => ({ ...r, reasoningEffort: r.reasoningEffort === "medium" ? "low" : "medium" })],
  ["seed", (r) => ({ ...r, seed: (r.seed ?? 0) + 1 })],
  ["providerOptions", (r) => ({ ...r, providerOptions: { ...r.providerOptions, logprobs: 7 } })]
]

describe("ResponseCache.key", () => {
  // fast-check's arbitraries, run by fast-check itself: `it.prop` takes
  // Effect's own `Arbitrary` (or a Schema) in Effect 4.
  it("the same for reordered object keys and without the fields that do not change the reply", () =>
    fc.assert(
      fc.property(requestArb, fc.string(), fc.nat(60_000), (request, user, timeout) => {
        const base = ResponseCache.key(request)
        expect(ResponseCache.key(reversedKeys(request) as ChatRequest.Input)).toBe(base)
        expect(ResponseCache.key({ ...request, user, timeout: Duration.millis(timeout) })).toBe(base)
        expect(ResponseCache.key({ ...request, seed: undefined } as ChatRequest.Input)).toBe(
          ResponseCache.key(
            Object.fromEntries(Object.entries(request).filter(([k]) => k !== "seed")) as ChatRequest.Input
          )
        )
      }),
      { numRuns: 300 }
    ))

  it("different when any field that makes the reply changes", () =>
    fc.assert(
      fc.property(requestArb, fc.constantFrom(...changes), (request, [, change]) => {
        expect(ResponseCache.key(change(request))).not.toBe(ResponseCache.key(request))
      }),
      { numRuns: 500 }
    ))

  it("is prefixed by the namespace, and hashes the canonical form", () => {
    const request = { messages: [Message.user("hi")], temperature: 0 }
    expect(ResponseCache.canonical(request)).toBe(`{"messages":[{"content":"hi","role":"user"}],"temperature":0}`)
    expect(ResponseCache.key(request, "east:")).toMatch(/^east:chat:[0-9a-f]{64}$/)
    expect(ResponseCache.key(request, "east:")).not.toBe(ResponseCache.key(request, "west:"))
  })
})

// ---------------------------------------------------------------------------
// The cached Llm
// ---------------------------------------------------------------------------

const answer = (text: string): ChatResponse => ({
  ...LlmTest.reply(text, { usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, reasoning: "think" }),
  cost: 0.001,
  keyId: "sk-…0001",
  latency: Duration.millis(42)
})

/** The cached Llm over a scripted one, with the script's recorder, the store and the cache's counts. */
const cached = (script: ReadonlyArray<LlmTest.Answer>, options?: ResponseCache.Options, capacity?: number) => {
  const inner = LlmTest.layer(script)
  const store = CacheStore.layerMemory(capacity === undefined ? undefined : { capacity })
  return Layer.mergeAll(inner, store, ResponseCache.layer(options).pipe(Layer.provide(Layer.merge(inner, store))))
}

const stats = Effect.flatMap(ResponseCache.ResponseCache, (cache) => cache.stats)
const ask = (text: string) => ({ messages: [Message.user(text)], temperature: 0 })

describe("ResponseCache.layer", () => {
  it.effect("a miss calls the Llm and stores the reply; the same request again is a hit, not sent", () =>
    Effect.gen(function*() {
      const first = yield* Llm.chat(ask("q"))
      const again = yield* Llm.chat({ temperature: 0, messages: [Message.user("q")], user: "someone else" })
      expect(again).toStrictEqual(first)
      expect((yield* LlmTest.requests).length).toBe(1)
      const other = yield* Llm.chat(ask("other"))
      expect(other.text).toBe("B")
      expect(yield* stats).toStrictEqual({ hits: 1, misses: 2, storeErrors: 0 })
    }).pipe(Effect.provide(cached([answer("A"), answer("B")]))))

  it.effect("an entry expires after the ttl", () =>
    Effect.gen(function*() {
      yield* Llm.chat(ask("q"))
      yield* TestClock.adjust("9999 millis")
      expect((yield* Llm.chat(ask("q"))).text).toBe("A")
      yield* TestClock.adjust("1 millis")
      expect((yield* Llm.chat(ask("q"))).text).toBe("B")
      expect(yield* stats).toStrictEqual({ hits: 1, misses: 2, storeErrors: 0 })
    }).pipe(Effect.provide(cached([answer("A"), answer("B")], { ttl: "10 seconds" }))))

  it.effect("past capacity the least recently used reply is evicted", () =>
    Effect.gen(function*() {
      yield* Llm.chat(ask("1"))
      yield* Llm.chat(ask("2"))
      yield* Llm.chat(ask("1")) // hit: 2 is now the least recently used
      yield* Llm.chat(ask("3")) // evicts 2
      expect((yield* Llm.chat(ask("1"))).text).toBe("one")
      expect((yield* Llm.chat(ask("2"))).text).toBe("two again")
      expect(yield* stats).toStrictEqual({ hits: 2, misses: 4, storeErrors: 0 })
    }).pipe(Effect.provide(cached([answer("one"), answer("two"), answer("three"), answer("two again")], undefined, 2))))

  it.effect("failures are never stored", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Llm.chat(ask("q")))
      expect(error._tag).toBe("ProviderUnavailableError")
      expect((yield* Llm.chat(ask("q"))).text).toBe("A")
      expect((yield* LlmTest.requests).length).toBe(2)
    }).pipe(Effect.provide(cached([new ProviderUnavailableError({ provider: "test", model: "m" }), answer("A")]))))

  it.effect("a stream hit replays the stored reply; collected, it equals the original", () =>
    Effect.gen(function*() {
      const original = yield* Llm.chat(ask("q"))
      const chunks = yield* Stream.runCollect(Llm.chatStream(ask("q")))
      expect([...chunks].map((chunk) => chunk._tag)).toStrictEqual(["ReasoningDelta", "TextDelta", "Usage", "Finish"])
      expect(yield* ChatChunk.collect(Stream.fromIterable(chunks))).toStrictEqual(original)
      expect((yield* LlmTest.requests).length).toBe(1)
    }).pipe(Effect.provide(cached([answer("A")]))))

  it.effect("a streamed miss is stored when its Finish arrives, and serves chat and stream alike", () =>
    Effect.gen(function*() {
      const streamed = yield* ChatChunk.collect(Llm.chatStream(ask("q")))
      expect(streamed.text).toBe("A")
      expect(yield* Llm.chat(ask("q"))).toStrictEqual(streamed)
      expect(yield* ChatChunk.collect(Llm.chatStream(ask("q")))).toStrictEqual(streamed)
      expect(yield* stats).toStrictEqual({ hits: 2, misses: 1, storeErrors: 0 })
    }).pipe(Effect.provide(cached([answer("A")]))))

  it.effect("a stream cut before its Finish, or abandoned by its consumer, is not stored", () =>
    Effect.gen(function*() {
      // One chunk per pull, so the consumer can stop before the Finish is produced.
      const streams = [
        [{ _tag: "TextDelta" as const, text: "cut" }],
        ChatChunk.fromResponse(answer("abandoned")),
        ChatChunk.fromResponse(answer("whole"))
      ]
      let calls = 0
      const inner = Layer.succeed(
        Llm.Llm,
        Llm.Llm.of({
          chat: () => Effect.die("not used"),
          chatStream: () => Stream.rechunk(Stream.fromIterable(streams[calls++]!), 1),
          embed: () => Effect.die("not used"),
          countTokens: () => Effect.die("not used")
        })
      )
      const store = CacheStore.layerMemory()
      const layer = Layer.mergeAll(store, ResponseCache.layer().pipe(Layer.provide(Layer.merge(inner, store))))
      yield* Effect.gen(function*() {
        yield* Stream.runDrain(Llm.chatStream(ask("q")))
        yield* Stream.runDrain(Stream.take(Llm.chatStream(ask("q")), 1))
        expect(yield* Effect.flatMap(CacheStore.CacheStore, (s) => s.size)).toBe(0)
        expect((yield* ChatChunk.collect(Llm.chatStream(ask("q")))).text).toBe("whole")
        expect(yield* Effect.flatMap(CacheStore.CacheStore, (s) => s.size)).toBe(1)
        expect(yield* stats).toStrictEqual({ hits: 0, misses: 3, storeErrors: 0 })
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a failing store is a miss, counted, and never fails the call", () =>
    Effect.gen(function*() {
      const broken = CacheStore.CacheStore.of({
        get: () => Effect.fail(new CacheStore.CacheStoreError({ operation: "get", detail: "down" })),
        set: () => Effect.fail(new CacheStore.CacheStoreError({ operation: "set", detail: "down" })),
        delete: () => Effect.succeed(false),
        size: Effect.succeed(0)
      })
      const inner = LlmTest.layer([answer("A"), answer("B")])
      const layer = Layer.merge(
        inner,
        ResponseCache.layer().pipe(Layer.provide(Layer.merge(inner, Layer.succeed(CacheStore.CacheStore, broken))))
      )
      const texts = yield* Effect.all([Llm.chat(ask("q")), Llm.chat(ask("q"))]).pipe(
        Effect.map((replies) => replies.map((reply) => reply.text)),
        Effect.zip(stats),
        Effect.provide(layer)
      )
      expect(texts).toStrictEqual([["A", "B"], { hits: 0, misses: 2, storeErrors: 4 }])
    }))

  it.effect("the namespace keeps apart two Llms sharing one store", () =>
    Effect.gen(function*() {
      const shared = yield* CacheStore.makeMemory()
      const store = Layer.succeed(CacheStore.CacheStore, shared)
      const over = (text: string, namespace: string) =>
        ResponseCache.layer({ namespace }).pipe(Layer.provide(Layer.merge(LlmTest.layer([answer(text)]), store)))
      const east = yield* Llm.chat(ask("q")).pipe(Effect.provide(over("from east", "east:")))
      const west = yield* Llm.chat(ask("q")).pipe(Effect.provide(over("from west", "west:")))
      expect([east.text, west.text]).toStrictEqual(["from east", "from west"])
      expect(yield* shared.size).toBe(2)
      // The same namespace shares entries: the third Llm is never asked.
      const again = yield* Llm.chat(ask("q")).pipe(Effect.provide(over("never", "east:")))
      expect(again.text).toBe("from east")
    }))
})
