import { describe, expect, it } from "@effect/vitest"
import {
  ChatChunk,
  type ChatRequest,
  ChatResponse,
  Embedding,
  KeyPool,
  LlmError,
  Message,
  ProviderClient,
  RateLimiter
} from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Llm from "../src/Llm.js"
import * as LlmTest from "../src/LlmTest.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { effectProp } from "./utils/effectProp.js"
import { limiterInMemory, poolInMemory, registryInMemory, routerLayerInMemory } from "./utils/memoryStores.js"
import { recordingTracer } from "./utils/recordingTracer.js"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

const request: ChatRequest.Input = { messages: [Message.user("Hello there")], model: "m" }

const response = (text: string, keyId: string): ChatResponse.ChatResponse => ({
  id: "r",
  model: "m",
  provider: "fake",
  text,
  toolCalls: [],
  finishReason: "stop",
  usage: {
    promptTokens: 5,
    completionTokens: 2,
    totalTokens: 7,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: false
  },
  latency: Duration.zero,
  keyId
})

interface Call {
  readonly keyId: string
  readonly at: number
}

type Behaviour = (call: Call, index: number) => Effect.Effect<ChatResponse.ChatResponse, LlmError.LlmError>

/** How the fake answers `embed`: at most `maxInputs` inputs per call. */
interface EmbedBehaviour {
  readonly maxInputs: number
  readonly answer: (
    call: Call,
    index: number,
    request: Embedding.Input
  ) => Effect.Effect<Embedding.EmbeddingResponse, LlmError.LlmError>
}

/** A provider that answers by `behaviour` and records which key each call used, and when. */
const fakeProvider = (
  behaviour: Behaviour,
  streamBehaviour?: (call: Call, index: number) => Stream.Stream<ChatChunk.ChatChunk, LlmError.LlmError>,
  embedBehaviour?: EmbedBehaviour
) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make<ReadonlyArray<Call>>([])
    const record = (credentials: ProviderClient.Credentials) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) =>
        Ref.modify(
          calls,
          (all) => [[{ keyId: credentials.keyId, at }, all.length] as const, [...all, { keyId: credentials.keyId, at }]]
        ))
    const service = ProviderClient.ProviderClient.of({
      provider: "fake",
      chat: (_request, credentials) => Effect.flatMap(record(credentials), ([call, index]) => behaviour(call, index)),
      chatStream: (_request, credentials) =>
        Stream.unwrap(Effect.map(record(credentials), ([call, index]) => streamBehaviour!(call, index))),
      embed: (request, credentials) =>
        Effect.flatMap(record(credentials), ([call, index]) => embedBehaviour!.answer(call, index, request)),
      maxEmbeddingInputs: embedBehaviour?.maxInputs ?? 1
    })
    return { calls, layer: Layer.succeed(ProviderClient.ProviderClient, service) }
  })

const keys = ["sk-key-aaaaaaaaaaaa1111", "sk-key-bbbbbbbbbbbb2222"]
const idA = LlmError.maskKey(keys[0]!)
const idB = LlmError.maskKey(keys[1]!)

const stack = (
  provider: Layer.Layer<ProviderClient.ProviderClient>,
  options?: {
    readonly retry?: RetryPolicy.RetryPolicy
    readonly deadline?: Duration.Input
    readonly keys?: ReadonlyArray<string>
    readonly pool?: Partial<KeyPool.Options>
    readonly maxRateLimitWait?: Duration.Input
  }
) =>
  Effect.gen(function*() {
    const pool = yield* poolInMemory({
      providerId: "fake",
      keys: options?.keys ?? keys,
      whenExhausted: { _tag: "Fail" },
      ...options?.pool
    })
    const limiter = yield* limiterInMemory({ capacity: 100, refillRate: 100, maxConcurrency: 10 })
    const llm = yield* Llm.make({
      ...(options?.retry !== undefined ? { retry: options.retry } : {}),
      ...(options?.deadline !== undefined ? { deadline: options.deadline } : {}),
      ...(options?.maxRateLimitWait !== undefined ? { maxRateLimitWait: options.maxRateLimitWait } : {})
    }).pipe(
      Effect.provide(
        Layer.mergeAll(provider, Layer.succeed(KeyPool.KeyPool, pool), Layer.succeed(RateLimiter.RateLimiter, limiter))
      )
    )
    return { llm, pool, limiter }
  })

const unavailable = (retryAfter?: Duration.Input) =>
  new LlmError.ProviderUnavailableError({
    provider: "fake",
    model: "m",
    status: 503,
    ...(retryAfter !== undefined ? { retryAfter: Duration.fromInputUnsafe(retryAfter) } : {})
  })

const noJitter = RetryPolicy.make({ jitter: false, baseDelay: "1 second", maxRetries: 4 })

describe("Llm.chat", () => {
  it.effect("answers through a key and reports usage", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call) => Effect.succeed(response("hi", call.keyId)))
      const { llm, pool } = yield* stack(layer)
      const result = yield* llm.chat(request)
      expect(result.text).toBe("hi")
      expect(result.usage.estimated).toBe(false)
      expect((yield* Ref.get(calls)).length).toBe(1)
      expect((yield* pool.status).every((key) => key.inFlight === 0)).toBe(true)
    }))

  it.effect("runs over a key pool and a limiter written by hand, through their public operations", () =>
    Effect.gen(function*() {
      const tooLong = new LlmError.ContextLengthError({ provider: "fake", model: "m" })
      const { layer } = yield* fakeProvider((call, index) =>
        index === 2 ? Effect.fail(tooLong) : Effect.succeed(response("hi", call.keyId))
      )
      const pool = yield* poolInMemory({ providerId: "fake", keys, whenExhausted: { _tag: "Fail" } })
      const limiter = yield* limiterInMemory({ capacity: 100, refillRate: 100, maxConcurrency: 10 })
      const reported: Array<KeyPool.Outcome> = []
      const costs: Array<number | undefined> = []
      // Decorators: they record what they are asked and defer to the real services.
      const decoratedPool: KeyPool.Service = {
        ...pool,
        report: (lease, outcome) =>
          Effect.andThen(Effect.sync(() => reported.push(outcome)), pool.report(lease, outcome))
      }
      const decoratedLimiter: RateLimiter.Service = {
        ...limiter,
        consume: (options) => Effect.andThen(Effect.sync(() => costs.push(options?.cost)), limiter.consume(options))
      }
      const llm = yield* Llm.make().pipe(
        Effect.provide(Layer.mergeAll(
          layer,
          Layer.succeed(KeyPool.KeyPool, KeyPool.KeyPool.of(decoratedPool)),
          Layer.succeed(RateLimiter.RateLimiter, RateLimiter.RateLimiter.of(decoratedLimiter))
        ))
      )
      yield* Effect.all([llm.chat(request), llm.chat(request)], { concurrency: "unbounded" })
      expect((yield* Effect.flip(llm.chat(request)))._tag).toBe("ContextLengthError")
      expect(reported).toEqual(["success", "success", tooLong])
      expect(costs).toEqual([1, 1, 1])
      expect((yield* pool.status).map((key) => [key.inFlight, key.totalRequests])).toEqual([[0, 2], [0, 1]])
      expect(yield* limiter.status).toMatchObject({ inFlight: 0, available: 97 })
    }))

  it.effect(
    "tries a limiter written by hand at once, then waits for it, through its consume; one that reads the " +
      "estimate is settled with the usage",
    () =>
      Effect.gen(function*() {
        const { layer } = yield* fakeProvider((call) => Effect.as(Effect.sleep("1 second"), response("hi", call.keyId)))
        const pool = yield* poolInMemory({ providerId: "fake", keys })
        const inner = yield* limiterInMemory({ capacity: 10, refillRate: 10, maxConcurrency: 1 })
        const asked: Array<string | undefined> = []
        const settled: Array<number> = []
        // A limiter of one call at a time that keeps its own count of model tokens: it reads the estimate.
        const limiter: RateLimiter.Service = {
          ...inner,
          consume: (options) =>
            Effect.map(
              Effect.andThen(
                Effect.sync(() => asked.push(`${options?.onExceeded} ${options?.tokens}`)),
                inner.consume(options)
              ),
              (result) => ({ ...result, reconcile: (tokens) => Effect.sync(() => settled.push(tokens)) })
            )
        }
        const llm = yield* Llm.make().pipe(
          Effect.provide(
            Layer.mergeAll(layer, Layer.succeed(KeyPool.KeyPool, pool), Layer.succeed(RateLimiter.RateLimiter, limiter))
          )
        )
        const both = yield* Effect.forkChild(
          Effect.all([llm.chat(request), llm.chat(request)], { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("1 second")
        expect(both.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(both)
        // The estimate of "Hello there" is 7 tokens; each call used 7.
        expect(asked).toEqual(["fail 7", "fail 7", "delay 7"])
        expect(settled).toEqual([7, 7])
        expect(yield* inner.status).toMatchObject({ inFlight: 0, waiting: 0 })
      })
  )

  it.effect("backs off exponentially on an unavailable provider, then succeeds", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call, index) =>
        index < 3 ? Effect.fail(unavailable()) : Effect.succeed(response("ok", call.keyId))
      )
      const { llm } = yield* stack(layer, { retry: noJitter })
      const fiber = yield* Effect.forkChild(llm.chat(request))
      yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      expect(result.text).toBe("ok")
      const times = (yield* Ref.get(calls)).map((call) => call.at)
      expect(times).toEqual([0, 1000, 3000, 7000])
    }))

  it.effect("never retries sooner than the provider's retryAfter", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call, index) =>
        index === 0 ? Effect.fail(unavailable("12 seconds")) : Effect.succeed(response("ok", call.keyId))
      )
      const { llm } = yield* stack(layer, { retry: noJitter })
      const fiber = yield* Effect.forkChild(llm.chat(request))
      yield* TestClock.adjust("11 seconds")
      expect((yield* Ref.get(calls)).length).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect((yield* Ref.get(calls)).map((call) => call.at)).toEqual([0, 12_000])
    }))

  it.effect("stops after maxRetries and fails with the last error", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(() => Effect.fail(unavailable()))
      const { llm } = yield* stack(layer, {
        retry: RetryPolicy.make({ jitter: false, maxRetries: 2, baseDelay: "1 second" })
      })
      const fiber = yield* Effect.forkChild(Effect.flip(llm.chat(request)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("ProviderUnavailableError")
      expect((yield* Ref.get(calls)).length).toBe(3)
    }))

  it.effect("the deadline stops retries with a TimeoutError", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(() => Effect.fail(unavailable()))
      const { llm } = yield* stack(layer, {
        retry: RetryPolicy.make({ jitter: false, maxRetries: 100, baseDelay: "1 second", maxDelay: "1 second" }),
        deadline: "5500 millis"
      })
      const fiber = yield* Effect.forkChild(Effect.flip(llm.chat(request)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("TimeoutError")
      expect(error._tag === "TimeoutError" && Duration.toMillis(error.timeout!)).toBe(5500)
      expect((yield* Ref.get(calls)).length).toBe(6)
    }))

  // Live: the deadline timer of a wait is a plain timer on the live clock.
  it.live("a call waiting for a key or a permit stops at once when interrupted, and takes nothing with it", () =>
    Effect.gen(function*() {
      const cases = [
        // One key that serves one call at a time: the second call waits for the key.
        {
          pool: yield* poolInMemory({ providerId: "one-key", keys: [{ key: keys[0]!, maxConcurrency: 1 }] }),
          limiter: yield* limiterInMemory({ capacity: 100, refillRate: 100 })
        },
        // A limiter that lets one call in at a time: the second call waits for the permit.
        {
          pool: yield* poolInMemory({ providerId: "two-keys", keys }),
          limiter: yield* limiterInMemory({ capacity: 100, refillRate: 100, maxConcurrency: 1 })
        }
      ]
      for (const { limiter, pool } of cases) {
        const gate = yield* Deferred.make<void>()
        const { layer } = yield* fakeProvider((call) => Effect.as(Deferred.await(gate), response("ok", call.keyId)))
        const llm = yield* Llm.make().pipe(
          Effect.provide(
            Layer.mergeAll(layer, Layer.succeed(KeyPool.KeyPool, pool), Layer.succeed(RateLimiter.RateLimiter, limiter))
          )
        )
        const first = yield* Effect.forkChild(llm.chat(request))
        yield* Effect.sleep("20 millis")
        const second = yield* Effect.forkChild(llm.chat(request))
        yield* Effect.sleep("20 millis")
        // An uninterruptible wait would hang here until the first call ended.
        yield* Fiber.interrupt(second)
        yield* Deferred.succeed(gate, undefined)
        expect((yield* Fiber.join(first)).text).toBe("ok")
        yield* Effect.sleep("10 millis")
        expect((yield* pool.status).map((key) => key.inFlight)).toEqual((yield* pool.status).map(() => 0))
        expect((yield* limiter.status).inFlight).toBe(0)
      }
    }))

  it.effect("fails at once on errors that cannot succeed again", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(() =>
        Effect.fail(new LlmError.ContextLengthError({ provider: "fake", model: "m", status: 400 }))
      )
      const { llm } = yield* stack(layer)
      const error = yield* Effect.flip(llm.chat(request))
      expect(error._tag).toBe("ContextLengthError")
      expect((yield* Ref.get(calls)).length).toBe(1)
    }))

  it.effect("a rate-limited key is cooled down and the retry takes the other key at once", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call) =>
        call.keyId === idA
          ? Effect.fail(
            new LlmError.RateLimitError({ provider: "fake", model: "m", status: 429, retryAfter: Duration.seconds(30) })
          )
          : Effect.succeed(response("from B", call.keyId))
      )
      const { llm, pool } = yield* stack(layer)
      for (let i = 0; i < 4; i++) expect((yield* llm.chat(request)).keyId).toBe(idB)
      const seen = yield* Ref.get(calls)
      expect(seen.filter((call) => call.keyId === idA).length).toBe(1)
      expect(seen.every((call) => call.at === 0)).toBe(true)
      const status = yield* pool.status
      expect(status.find((key) => key.keyId === idA)?.coolingUntil).toBe(30_000)
    }))

  it.effect("a rejected key is disabled and never used again", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call) =>
        call.keyId === idA
          ? Effect.fail(new LlmError.AuthError({ provider: "fake", model: "m", status: 401, reason: "invalid_key" }))
          : Effect.succeed(response("from B", call.keyId))
      )
      const { llm, pool } = yield* stack(layer)
      for (let i = 0; i < 6; i++) yield* llm.chat(request)
      yield* TestClock.adjust("1 day")
      for (let i = 0; i < 6; i++) yield* llm.chat(request)
      expect((yield* Ref.get(calls)).filter((call) => call.keyId === idA).length).toBe(1)
      expect((yield* pool.status).find((key) => key.keyId === idA)?.disabled).toBe("invalid_key")
    }))

  it.effect("with every key rejected, fails with the provider's AuthError, not the empty pool's", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(() =>
        Effect.fail(new LlmError.AuthError({ provider: "fake", model: "m", status: 401, reason: "invalid_key" }))
      )
      const { llm } = yield* stack(layer)
      const error = yield* Effect.flip(llm.chat(request))
      expect(error._tag).toBe("AuthError")
      expect((yield* Ref.get(calls)).length).toBe(2)
      const again = yield* Effect.flip(llm.chat(request))
      expect(again._tag).toBe("NoCapacityError")
      expect(again.model).toBe("m")
    }))

  it.effect("with every key rate-limited, fails with the provider's RateLimitError and its retryAfter", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(() =>
        Effect.fail(
          new LlmError.RateLimitError({ provider: "fake", model: "m", status: 429, retryAfter: Duration.seconds(20) })
        )
      )
      const { llm } = yield* stack(layer, { keys: [keys[0]!] })
      const error = yield* Effect.flip(llm.chat(request))
      expect(error._tag).toBe("RateLimitError")
      expect(error._tag === "RateLimitError" && Duration.toMillis(error.retryAfter!)).toBe(20_000)
    }))

  it.effect("estimates usage with gpt-tokenizer when the provider sent none", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider((call) =>
        Effect.succeed({
          ...response("Hello world, how are you?", call.keyId),
          usage: {
            promptTokens: 0,
            completionTokens: 0,
            totalTokens: 0,
            cachedPromptTokens: 0,
            reasoningTokens: 0,
            estimated: false
          }
        })
      )
      const { llm } = yield* stack(layer)
      const result = yield* llm.chat(request)
      expect(result.usage.estimated).toBe(true)
      expect(result.usage.completionTokens).toBe(7)
      expect(result.usage.promptTokens).toBe(3 + 4 + 2)
      expect(result.usage.totalTokens).toBe(result.usage.promptTokens + result.usage.completionTokens)
      expectRoundTrip(ChatResponse.ChatResponse, result)
    }))

  it.effect("interruption frees the key and the permit", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const { layer } = yield* fakeProvider(() => Effect.andThen(Deferred.succeed(started, undefined), Effect.never))
      const { llm, pool, limiter } = yield* stack(layer)
      const fiber = yield* Effect.forkChild(llm.chat(request))
      yield* Deferred.await(started)
      expect((yield* pool.status).reduce((n, key) => n + key.inFlight, 0)).toBe(1)
      expect((yield* limiter.status).inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect((yield* pool.status).reduce((n, key) => n + key.inFlight, 0)).toBe(0)
      expect((yield* limiter.status).inFlight).toBe(0)
      expect((yield* pool.status).every((key) => key.failures === 0 && key.disabled === undefined)).toBe(true)
    }))
})

const textChunks = (text: string, keyId: string): Array<ChatChunk.ChatChunk> => [
  { _tag: "TextDelta", text },
  {
    _tag: "Usage",
    usage: {
      promptTokens: 5,
      completionTokens: 1,
      totalTokens: 6,
      cachedPromptTokens: 0,
      reasoningTokens: 0,
      estimated: false
    }
  },
  { _tag: "Finish", finishReason: "stop", id: "r", model: "m", provider: "fake", latency: Duration.zero, keyId }
]

describe("Llm.chatStream", () => {
  it.effect("retries a stream that fails before its first chunk", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(
        () => Effect.die("unused"),
        (
          call,
          index
        ) => (index === 0 ? Stream.fail(unavailable()) : Stream.fromIterable(textChunks("streamed", call.keyId)))
      )
      const { llm, pool } = yield* stack(layer, { retry: noJitter })
      const fiber = yield* Effect.forkChild(Stream.runCollect(llm.chatStream(request)))
      yield* TestClock.adjust("2 seconds")
      const chunks = [...(yield* Fiber.join(fiber))]
      expect(chunks.map((chunk) => chunk._tag)).toEqual(["TextDelta", "Usage", "Finish"])
      expect((yield* Ref.get(calls)).length).toBe(2)
      expect((yield* pool.status).every((key) => key.inFlight === 0)).toBe(true)
    }))

  it.effect("never retries after the first chunk: the stream fails", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(
        () => Effect.die("unused"),
        () =>
          Stream.concat(
            Stream.make<Array<ChatChunk.ChatChunk>>({ _tag: "TextDelta", text: "partial" }),
            Stream.fail(unavailable())
          )
      )
      const { llm, pool } = yield* stack(layer, { retry: noJitter })
      const seen: Array<string> = []
      const error = yield* Effect.flip(Stream.runForEach(llm.chatStream(request), (chunk) =>
        Effect.sync(() => {
          seen.push(chunk._tag)
        })))
      expect(error._tag).toBe("ProviderUnavailableError")
      expect(seen).toEqual(["TextDelta"])
      expect((yield* Ref.get(calls)).length).toBe(1)
      expect((yield* pool.status).every((key) => key.inFlight === 0)).toBe(true)
    }))

  it.effect("inserts an estimated Usage chunk when the provider sent none", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(
        () => Effect.die("unused"),
        (call) =>
          Stream.fromIterable(
            textChunks("Hello world, how are you?", call.keyId).filter((chunk) => chunk._tag !== "Usage")
          )
      )
      const { llm } = yield* stack(layer)
      const chunks = [...(yield* Stream.runCollect(llm.chatStream(request)))]
      expect(chunks.map((chunk) => chunk._tag)).toEqual(["TextDelta", "Usage", "Finish"])
      const usage = chunks[1]
      expect(usage?._tag === "Usage" && usage.usage.estimated).toBe(true)
      expect(usage?._tag === "Usage" && usage.usage.completionTokens).toBe(7)
      for (const chunk of chunks) expectRoundTrip(ChatChunk.ChatChunk, chunk)
    }))

  it.effect("holds the key and the permit until the consumer stops, and frees them on interruption", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(
        () => Effect.die("unused"),
        () => Stream.concat(Stream.make<Array<ChatChunk.ChatChunk>>({ _tag: "TextDelta", text: "first" }), Stream.never)
      )
      const { llm, pool, limiter } = yield* stack(layer)
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(llm.chatStream(request), () => Deferred.succeed(first, undefined))
      )
      yield* Deferred.await(first)
      expect((yield* pool.status).reduce((n, key) => n + key.inFlight, 0)).toBe(1)
      expect((yield* limiter.status).inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect((yield* pool.status).reduce((n, key) => n + key.inFlight, 0)).toBe(0)
      expect((yield* limiter.status).inFlight).toBe(0)
    }))
  it.effect("an interrupted consumer ends the provider's stream and frees its key and permit", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const { layer } = yield* fakeProvider(
        () => Effect.die("unused"),
        () =>
          Stream.concat(Stream.make<Array<ChatChunk.ChatChunk>>({ _tag: "TextDelta", text: "first" }), Stream.never)
            .pipe(
              Stream.ensuring(Effect.sync(() => order.push("provider stream ended")))
            )
      )
      const { llm, pool, limiter } = yield* stack(layer)
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(llm.chatStream(request), () => Deferred.succeed(first, undefined))
      )
      yield* Deferred.await(first)
      expect(order).toEqual([])
      yield* Fiber.interrupt(fiber)
      expect(order).toEqual(["provider stream ended"])
      expect((yield* pool.status).reduce((n, key) => n + key.inFlight, 0)).toBe(0)
      expect((yield* limiter.status).inFlight).toBe(0)
    }))
})

describe("Llm accessors", () => {
  it.effect("Llm.chat and Llm.chatStream read the service from the context", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(
        (call) => Effect.succeed(response("via accessor", call.keyId)),
        (call) => Stream.fromIterable(textChunks("via stream", call.keyId))
      )
      const { llm } = yield* stack(layer)
      const provided = Effect.provideService(Llm.Llm, llm)
      expect((yield* provided(Llm.chat(request))).text).toBe("via accessor")
      const streamed = yield* Stream.runCollect(Llm.chatStream(request)).pipe(provided)
      expect([...streamed][0]).toEqual({ _tag: "TextDelta", text: "via stream" })
    }))
})

describe("Llm with a rate limiter", () => {
  it.effect("a burst of 200 concurrent calls at capacity 20, refill 10/s takes 18 s and never exceeds the bucket", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call) => Effect.succeed(response("ok", call.keyId)))
      const pool = yield* poolInMemory({ providerId: "fake", keys })
      const limiter = yield* limiterInMemory({ capacity: 20, refillRate: 10 })
      const llm = yield* Llm.make().pipe(
        Effect.provide(
          Layer.mergeAll(layer, Layer.succeed(KeyPool.KeyPool, pool), Layer.succeed(RateLimiter.RateLimiter, limiter))
        )
      )
      const fiber = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 200 }, () => llm.chat(request)), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("17900 millis")
      expect((yield* Ref.get(calls)).length).toBeLessThan(200)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(fiber)
      const times = (yield* Ref.get(calls)).map((call) => call.at).sort((a, b) => a - b)
      expect(times.length).toBe(200)
      expect(times[199]).toBe(18_000)
      for (let i = 0; i < times.length; i++) {
        for (let j = i; j < times.length; j++) {
          expect(j - i + 1).toBeLessThanOrEqual(20 + Math.floor((10 * (times[j]! - times[i]!)) / 1000))
        }
      }
    }))

  it.effect("reserves the estimate in the tokens-per-minute budget and settles it with the real usage", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider((call) => Effect.succeed(response("ok", call.keyId)))
      const pool = yield* poolInMemory({ providerId: "fake", keys })
      const limiter = yield* limiterInMemory({ capacity: 100, refillRate: 100, tokensPerMinute: 1000 })
      const llm = yield* Llm.make().pipe(
        Effect.provide(
          Layer.mergeAll(layer, Layer.succeed(KeyPool.KeyPool, pool), Layer.succeed(RateLimiter.RateLimiter, limiter))
        )
      )
      yield* llm.chat({ ...request, maxTokens: 500 })
      expect((yield* limiter.status).budget?.available).toBe(1000 - 7)
      const streamProvider = yield* fakeProvider(
        () => Effect.die("unused"),
        (call) => Stream.fromIterable(textChunks("streamed", call.keyId))
      )
      const streaming = yield* Llm.make().pipe(
        Effect.provide(
          Layer.mergeAll(
            streamProvider.layer,
            Layer.succeed(KeyPool.KeyPool, pool),
            Layer.succeed(RateLimiter.RateLimiter, limiter)
          )
        )
      )
      yield* Stream.runDrain(streaming.chatStream({ ...request, maxTokens: 500 }))
      expect((yield* limiter.status).budget?.available).toBe(1000 - 7 - 6)
      const error = yield* Effect.flip(llm.chat({ ...request, maxTokens: 5000 }))
      expect(error._tag).toBe("InvalidRequestError")
      expect(error._tag === "InvalidRequestError" && error.code).toBe("tokens_per_minute_exceeded")
    }))
})

describe("Llm spans", () => {
  it.effect(
    "one span per call and per attempt, with provider, model, attempt, masked key and tokens; never a " +
      "key",
    () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const { layer } = yield* fakeProvider((call, index) =>
          index === 0
            ? Effect.fail(new LlmError.RateLimitError({ provider: "fake", model: "m", status: 429 }))
            : Effect.succeed(response("ok", call.keyId))
        )
        const { llm } = yield* stack(layer)
        yield* llm.chat(request).pipe(Effect.withTracer(tracer))
        const call = spans.find((span) => span.name === "chat m")!
        const attempts = spans.filter((span) => span.name === "Llm.attempt")
        expect(call.attributes.get("gen_ai.operation.name")).toBe("chat")
        expect(call.attributes.get("gen_ai.provider.name")).toBe("fake")
        expect(call.attributes.get("gen_ai.system")).toBe("fake")
        expect(call.attributes.get("gen_ai.request.model")).toBe("m")
        expect(call.attributes.get("gen_ai.usage.input_tokens")).toBe(5)
        expect(call.attributes.get("gen_ai.usage.output_tokens")).toBe(2)
        expect(call.attributes.has("error.type")).toBe(false)
        expect(attempts.map((span) => span.parent)).toEqual([call.spanId, call.spanId])
        expect(attempts.map((span) => span.attributes.get("llm_router.attempt"))).toEqual([1, 2])
        expect(attempts.map((span) => span.attributes.get("llm_router.key_id"))).toEqual([idA, idB])
        expect(attempts.map((span) => span.attributes.get("error.type"))).toEqual(["RateLimitError", undefined])
        const everything = JSON.stringify(spans.map((span) => [span.name, [...span.attributes]]))
        for (const key of keys) expect(everything).not.toContain(key)
      })
  )
})

describe("Llm spans of streams and failures", () => {
  it.effect(
    "a stream's call span: its reply, estimated usage, skipped events, time to first token; a timeout names " +
      "its phase",
    () =>
      Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const { layer } = yield* fakeProvider(
          () => Effect.fail(new LlmError.TimeoutError({ provider: "fake", model: "m", phase: "headers" })),
          (call) =>
            Stream.fromIterable(
              textChunks("Hello world", call.keyId)
                .filter((chunk) => chunk._tag !== "Usage")
                .map((chunk) => chunk._tag === "Finish" ? { ...chunk, skippedEvents: 2 } : chunk)
            )
        )
        const { llm } = yield* stack(layer, { retry: RetryPolicy.make({ maxRetries: 0 }) })
        const collected = yield* ChatChunk.collect(llm.chatStream(request)).pipe(Effect.withTracer(tracer))
        const [stream, failed] = spans.filter((span) => span.name === "chat m")
        expect(Object.fromEntries(stream!.attributes)).toMatchObject({
          "gen_ai.response.id": "r",
          "gen_ai.response.finish_reasons": ["stop"],
          "gen_ai.usage.output_tokens": collected.usage.completionTokens,
          "llm_router.usage_estimated": true,
          "llm_router.skipped_events": 2,
          "llm_router.time_to_first_token_ms": 0
        })
        expect(stream!.ended).toBe(true)
        expect(failed).toBeUndefined()

        const error = yield* Effect.flip(llm.chat(request).pipe(Effect.withTracer(tracer)))
        expect(error._tag).toBe("TimeoutError")
        const call = spans.filter((span) => span.name === "chat m")[1]!
        const attempt = spans.filter((span) => span.name === "Llm.attempt" && span.parent === call.spanId)
        for (const span of [call, ...attempt]) {
          expect(span.attributes.get("error.type")).toBe("TimeoutError")
          expect(span.attributes.get("llm_router.timeout_phase")).toBe("headers")
        }
        expect(attempt).toHaveLength(1)
      })
  )
})

describe("Llm.embed", () => {
  /** A vector that names its text, so order can be checked. */
  const vectorOf = (
    text: string
  ): ReadonlyArray<number> => [text.length, text.charCodeAt(0), text.charCodeAt(text.length - 1)]

  const embedder = (maxInputs: number, usage = true): EmbedBehaviour => ({
    maxInputs,
    answer: (call, _index, request) => {
      const inputs = typeof request.input === "string" ? [request.input] : request.input as ReadonlyArray<string>
      return inputs.length > maxInputs
        ? Effect.die(`a batch of ${inputs.length} passed the limit ${maxInputs}`)
        : Effect.succeed({
          embeddings: inputs.map(vectorOf),
          model: request.model ?? "m",
          provider: "fake",
          usage: usage
            ? { promptTokens: inputs.length * 2, totalTokens: inputs.length * 2, estimated: false }
            : { promptTokens: 0, totalTokens: 0, estimated: false },
          latency: Duration.zero,
          keyId: call.keyId
        })
    }
  })

  const noChat: Behaviour = () => Effect.die("chat was not expected")

  effectProp(
    "any inputs split at any limit give the vectors of one batch, in order, with usage summed",
    fc.tuple(
      fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 70 })
    ),
    ([inputs, limit]) =>
      Effect.gen(function*() {
        const { calls, layer } = yield* fakeProvider(noChat, undefined, embedder(limit))
        const { llm } = yield* stack(layer)
        const result = yield* llm.embed({ input: inputs, model: "m" })
        expect(result.embeddings).toEqual(inputs.map(vectorOf))
        expect(result.usage).toEqual({
          promptTokens: inputs.length * 2,
          totalTokens: inputs.length * 2,
          estimated: false
        })
        expect((yield* Ref.get(calls)).length).toBe(Math.ceil(inputs.length / limit))
      })
  )

  it.effect("a single string is one input; usage the provider did not report is estimated", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(noChat, undefined, embedder(10, false))
      const { llm } = yield* stack(layer)
      const result = yield* llm.embed({ input: "hello world", model: "m" })
      expect(result.embeddings).toEqual([vectorOf("hello world")])
      expect(result.usage.estimated).toBe(true)
      expect(result.usage.promptTokens).toBeGreaterThan(0)
      expect(result.usage.totalTokens).toBe(result.usage.promptTokens)
      expect(result).toMatchObject({ provider: "fake", model: "m", keyId: idA })
      expectRoundTrip(Embedding.EmbeddingResponse, result)
    }))

  it.effect("traced: an embeddings span with the input tokens, one Llm.attempt span per batch under it", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const { layer } = yield* fakeProvider(noChat, undefined, embedder(2))
      const { llm } = yield* stack(layer)
      const result = yield* llm.embed({ input: ["a", "bb", "ccc"], model: "m" }).pipe(Effect.withTracer(tracer))
      const call = spans.find((span) => span.name === "embeddings m")!
      expect(Object.fromEntries(call.attributes)).toMatchObject({
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "m",
        "gen_ai.response.model": "m",
        "gen_ai.usage.input_tokens": result.usage.promptTokens
      })
      const attempts = spans.filter((span) => span.name === "Llm.attempt")
      expect(attempts.map((span) => span.parent)).toEqual([call.spanId, call.spanId])
    }))

  it.effect("traced: a count_tokens span with one Llm.attempt span under it; the provider's count", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const counting = Layer.succeed(
        ProviderClient.ProviderClient,
        ProviderClient.ProviderClient.of({
          provider: "fake",
          chat: () => Effect.die("chat was not expected"),
          chatStream: () => Stream.die("a stream was not expected"),
          embed: () => Effect.die("embed was not expected"),
          maxEmbeddingInputs: 1,
          countTokens: () => Effect.succeed(7)
        })
      )
      const { llm } = yield* stack(counting)
      const counted = yield* llm.countTokens({ model: "m", messages: [{ role: "user", content: "hi" }] }).pipe(
        Effect.withTracer(tracer)
      )
      expect(counted).toEqual({ inputTokens: 7, estimated: false })
      const call = spans.find((span) => span.name === "count_tokens m")!
      expect(Object.fromEntries(call.attributes)).toMatchObject({
        "gen_ai.operation.name": "count_tokens",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "m"
      })
      const attempts = spans.filter((span) => span.name === "Llm.attempt")
      expect(attempts.map((span) => span.parent)).toEqual([call.spanId])
    }))

  it.effect("an empty list or an empty text fails with InvalidRequestError, before any call", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(noChat, undefined, embedder(10))
      const { llm } = yield* stack(layer)
      const empty = yield* Effect.flip(llm.embed({ input: [], model: "m" }))
      expect(empty).toMatchObject({ _tag: "InvalidRequestError", param: "input", provider: "fake", model: "m" })
      expect(empty.message).toContain("no input")
      const blank = yield* Effect.flip(llm.embed({ input: ["a", "", "c"], model: "m" }))
      expect(blank).toMatchObject({ _tag: "InvalidRequestError", param: "input" })
      expect(blank.message).toContain("input[1] is an empty string")
      const dimensions = yield* Effect.flip(llm.embed({ input: "a", model: "m", dimensions: 0 }))
      expect(dimensions).toMatchObject({ _tag: "InvalidRequestError", param: "dimensions" })
      expect(yield* Ref.get(calls)).toEqual([])
    }))

  it.effect("a rate-limited batch is retried with the other key, through the same attempt as chat", () =>
    Effect.gen(function*() {
      const ok = embedder(2)
      const { calls, layer } = yield* fakeProvider(noChat, undefined, {
        maxInputs: 2,
        answer: (call, index, request) =>
          index === 0
            ? Effect.fail(new LlmError.RateLimitError({ provider: "fake", model: "m", status: 429 }))
            : ok.answer(call, index, request)
      })
      const { llm, pool } = yield* stack(layer, { retry: RetryPolicy.make({ baseDelay: "10 millis" }) })
      const fiber = yield* Effect.forkChild(llm.embed({ input: ["a", "bb", "ccc"], model: "m" }))
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      expect(result.embeddings).toEqual(["a", "bb", "ccc"].map(vectorOf))
      const used = (yield* Ref.get(calls)).map((call) => call.keyId)
      expect(used).toHaveLength(3)
      expect(used[0]).toBe(idA)
      expect(used.slice(1)).not.toContain(idA)
      const status = yield* pool.status
      expect(status.find((key) => key.keyId === idA)?.failures).toBe(1)
    }))

  it.effect("a failing batch fails the call with its error", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider(noChat, undefined, {
        maxInputs: 1,
        answer: () => Effect.fail(new LlmError.InvalidRequestError({ provider: "fake", model: "m", detail: "bad" }))
      })
      const { llm } = yield* stack(layer)
      const error = yield* Effect.flip(llm.embed({ input: ["a", "b"], model: "m" }))
      expect(error).toMatchObject({ _tag: "InvalidRequestError", detail: "bad" })
    }))
})

describe("Llm.generateObject", () => {
  const City = Schema.Struct({ name: Schema.String, population: Schema.Int }).annotate({ identifier: "City answer" })
  const ask: ChatRequest.Input = { messages: [Message.user("Biggest city?")], responseFormat: { type: "json_object" } }

  it.effect("sends the schema as a json_schema response format named from the schema, and decodes the reply", () =>
    Effect.gen(function*() {
      const { response, value } = yield* Llm.generateObject(ask, City)
      expect(value).toEqual({ name: "Tokyo", population: 37 })
      expect(response.usage.totalTokens).toBe(9)
      const [sent] = yield* LlmTest.requests
      expect(sent?.responseFormat).toEqual({
        type: "json_schema",
        name: "City_answer",
        schema: Message.jsonSchemaOf(City)
      })
      expect(sent?.messages).toEqual(ask.messages)
    }).pipe(Effect.provide(LlmTest.layer([
      LlmTest.reply(`{"name":"Tokyo","population":37}`, { usage: { totalTokens: 9 } })
    ]))))

  it.effect("options name, describe and relax the format", () =>
    Effect.gen(function*() {
      yield* Llm.generateObject(ask, City, { name: "city", description: "A city", strict: false })
      const [sent] = yield* LlmTest.requests
      expect(sent?.responseFormat).toMatchObject({ name: "city", description: "A city", strict: false })
    }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply(`{"name":"Oslo","population":1}`)]))))

  it.effect("text that is not JSON, or JSON that fails the schema, is an OutputDecodeError with the raw text", () =>
    Effect.gen(function*() {
      const prose = yield* Effect.flip(Llm.generateObject(ask, City))
      expect(prose).toMatchObject({
        _tag: "OutputDecodeError",
        raw: "Tokyo, of course.",
        provider: "test",
        model: "test"
      })
      expect((prose as LlmError.OutputDecodeError).detail).toContain("not JSON")
      const wrong = yield* Effect.flip(Llm.generateObject(ask, City))
      expect(wrong).toMatchObject({ _tag: "OutputDecodeError", raw: `{"name":"Tokyo","population":"many"}` })
      expect((wrong as LlmError.OutputDecodeError).detail).toContain("does not match its schema")
      expect((wrong as LlmError.OutputDecodeError).detail).toContain("population")
      const cut = yield* Effect.flip(Llm.generateObject(ask, City))
      expect((cut as LlmError.OutputDecodeError).detail).toContain("cut off at the token limit")
    }).pipe(Effect.provide(LlmTest.layer([
      LlmTest.reply("Tokyo, of course."),
      LlmTest.reply(`{"name":"Tokyo","population":"many"}`),
      LlmTest.reply(`{"name":"Tok`, { finishReason: "length" })
    ]))))

  it.effect("a refusal or a safety cut is a ContentFilterError, and the call's own errors pass through", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(Llm.generateObject(ask, City))
      expect(refused).toMatchObject({ _tag: "ContentFilterError" })
      expect(refused.message).toContain("I can't help with that")
      const filtered = yield* Effect.flip(Llm.generateObject(ask, City))
      expect(filtered._tag).toBe("ContentFilterError")
      const limited = yield* Effect.flip(Llm.generateObject(ask, City))
      expect(limited._tag).toBe("RateLimitError")
    }).pipe(Effect.provide(LlmTest.layer([
      { ...LlmTest.reply(""), refusal: "I can't help with that" },
      LlmTest.reply(`{"name":"x"`, { finishReason: "content_filter" }),
      new LlmError.RateLimitError({ provider: "test", model: "test" })
    ]))))
})

describe("Llm rate limits", () => {
  const limited = (retryAfter?: Duration.Input) =>
    new LlmError.RateLimitError({
      provider: "fake",
      model: "m",
      status: 429,
      ...(retryAfter === undefined ? {} : { retryAfter: Duration.fromInputUnsafe(retryAfter) })
    })
  /** The pool `Llm.layer` users get: it waits up to a minute for a key. */
  const waiting = { whenExhausted: { _tag: "Wait", maxWait: "60 seconds" } } as const

  /** Runs `effect` in a fiber while the clock moves a minute; its result and when it ended. */
  const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.zip(Effect.result(effect), Clock.currentTimeMillis))
      yield* TestClock.adjust("1 minute")
      return yield* Fiber.join(fiber)
    })

  it.effect(
    "429 on every attempt without Retry-After: three attempts with growing jittered gaps, failing within 4 " +
      "s",
    () =>
      Effect.gen(function*() {
        const { calls, layer } = yield* fakeProvider(() => Effect.fail(limited()))
        const { llm, pool } = yield* stack(layer, { keys: [keys[0]!], pool: waiting, retry: RetryPolicy.make() })
        const [result, endedAt] = yield* timed(llm.chat(request))
        expect(result._tag === "Failure" && result.failure._tag).toBe("RateLimitError")
        const at = (yield* Ref.get(calls)).map((call) => call.at)
        expect(at.length).toBe(3)
        expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(800)
        expect(at[1]! - at[0]!).toBeLessThanOrEqual(1_200)
        expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(1_600)
        expect(at[2]! - at[1]!).toBeLessThanOrEqual(2_400)
        // The next cooldown (about 4 s) would end past 5 s: no wait for it.
        expect(endedAt).toBe(at[2])
        expect(endedAt).toBeLessThanOrEqual(3_600)
        expect((yield* pool.status)[0]!.inFlight).toBe(0)
      })
  )

  it.effect("a short Retry-After is waited out on the same provider", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call, index) =>
        index === 0 ? Effect.fail(limited("2 seconds")) : Effect.succeed(response("after the wait", call.keyId))
      )
      const { llm } = yield* stack(layer, { keys: [keys[0]!], pool: waiting })
      const [result, endedAt] = yield* timed(llm.chat(request))
      expect(result._tag === "Success" && result.success.text).toBe("after the wait")
      expect(endedAt).toBe(2_000)
      expect((yield* Ref.get(calls)).map((call) => call.at)).toEqual([0, 2_000])
    }))

  it.effect("a Retry-After past maxRateLimitWait fails the call at once with it, unless another key is free", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider((call) =>
        call.keyId === idA ? Effect.fail(limited("60 seconds")) : Effect.succeed(response("from B", call.keyId))
      )
      const single = yield* stack(layer, { keys: [keys[0]!], pool: waiting })
      const [result, endedAt] = yield* timed(single.llm.chat(request))
      expect(endedAt).toBe(0)
      expect(result._tag === "Failure" && result.failure).toMatchObject({
        _tag: "RateLimitError",
        retryAfter: Duration.seconds(60)
      })
      expect((yield* Ref.get(calls)).length).toBe(1)

      const both = yield* stack(layer, { keys: [keys[1]!, keys[0]!], pool: waiting })
      yield* TestClock.adjust("1 minute")
      const reply = yield* both.llm.chat(request)
      expect(reply.keyId).toBe(idB)
    }))

  it.effect("maxRateLimitWait is an option: a longer one waits a longer Retry-After out", () =>
    Effect.gen(function*() {
      const { layer } = yield* fakeProvider((call, index) =>
        index === 0 ? Effect.fail(limited("30 seconds")) : Effect.succeed(response("patient", call.keyId))
      )
      const { llm } = yield* stack(layer, { keys: [keys[0]!], pool: waiting, maxRateLimitWait: "1 minute" })
      const [result, endedAt] = yield* timed(llm.chat(request))
      expect(result._tag).toBe("Success")
      expect(endedAt).toBe(30_000)
    }))

  it.effect("with whenExhausted Fail, a call that finds every key cooling fails at once with NoCapacityError", () =>
    Effect.gen(function*() {
      const { calls, layer } = yield* fakeProvider(() => Effect.fail(limited()))
      const { llm } = yield* stack(layer, { keys: [keys[0]!], pool: { rateLimitCooldown: { jitter: false } } })
      const first = yield* Effect.flip(llm.chat(request))
      expect(first._tag).toBe("RateLimitError")
      const second = yield* Effect.flip(llm.chat(request))
      expect(second).toMatchObject({ _tag: "NoCapacityError", model: "m", availableAt: 1_000 })
      expect((yield* Ref.get(calls)).length).toBe(1)
    }))

  it.effect("key rotations have a budget of their own, apart from the retries", () =>
    Effect.gen(function*() {
      const four = ["sk-key-cccccccccccc3333", "sk-key-dddddddddddd4444", ...keys]
      const rejecting = yield* fakeProvider(() => Effect.fail(limited("1 minute")))
      const rotating = yield* stack(rejecting.layer, {
        keys: four,
        retry: RetryPolicy.make({ maxRetries: 0, maxKeyRotations: 2 })
      })
      expect((yield* Effect.flip(rotating.llm.chat(request)))._tag).toBe("RateLimitError")
      expect((yield* Ref.get(rejecting.calls)).length).toBe(3)

      // One rotation, then one retry: the retry's backoff starts at its base, not grown by the rotation.
      const mixed = yield* fakeProvider((call, index) =>
        index === 0
          ? Effect.fail(limited("1 minute"))
          : index === 1
          ? Effect.fail(unavailable())
          : Effect.succeed(response("ok", call.keyId))
      )
      const both = yield* stack(mixed.layer, {
        retry: RetryPolicy.make({ maxRetries: 1, maxKeyRotations: 1, jitter: false, baseDelay: "1 second" })
      })
      const [result] = yield* timed(both.llm.chat(request))
      expect(result._tag).toBe("Success")
      expect((yield* Ref.get(mixed.calls)).map((call) => call.at)).toEqual([0, 0, 1_000])
    }))

  it.effect(
    "a Router over a primary that answers 429 without Retry-After serves from the fallback at once: its only " +
      "key cools, and is not waited for",
    () =>
      Effect.gen(function*() {
        const primary = yield* fakeProvider(() => Effect.fail(limited()))
        const fallback = yield* fakeProvider((call) => Effect.succeed(response("from the fallback", call.keyId)))
        const over = (provider: Layer.Layer<ProviderClient.ProviderClient>, id: string) =>
          Llm.layer().pipe(Layer.provide(Layer.mergeAll(
            provider,
            KeyPool.layer({ providerId: id, keys: [keys[0]!] }).pipe(Layer.provide(registryInMemory)),
            RateLimiter.unlimited
          )))
        const router = routerLayerInMemory({
          strategy: "priority",
          deployments: [{ name: "primary", model: "m", llm: over(primary.layer, "primary") }, {
            name: "fallback",
            model: "m",
            llm: over(fallback.layer, "fallback")
          }]
        })
        const [result, endedAt] = yield* timed(Llm.chat(request)).pipe(Effect.provide(router))
        expect(result._tag === "Success" && result.success.text).toBe("from the fallback")
        expect(endedAt).toBe(0)
        expect((yield* Ref.get(primary.calls)).length).toBe(1)
      })
  )
})
