import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, KeyPool, LlmError, Message, OpenAiChat, RateLimiter } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as Llm from "../../src/Llm.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { limiterLayerInMemory, poolInMemory, registryInMemory, routerLayerInMemory } from "../utils/memoryStores.js"

const keyA = "sk-sim-key-aaaaaaaa0001"
const keyB = "sk-sim-key-bbbbbbbb0002"
const ask = (text: string) => ({ messages: [Message.user(text)] })

/** The whole stack against a simulator, built in the test's scope, with the pool exposed for assertions. */
const stack = (simulator: Simulator.Simulator, keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const pool = yield* poolInMemory({ providerId: "sim", keys })
    const context = yield* Layer.build(
      Llm.layer({ retry: RetryPolicy.make({ maxRetries: 4, baseDelay: "20 millis" }) }).pipe(
        Layer.provide(Layer.mergeAll(
          OpenAiChat.layer({ baseUrl: `${simulator.url}/v1`, provider: "sim", model: "gpt-4o-mini" }),
          Layer.succeed(KeyPool.KeyPool, pool),
          limiterLayerInMemory({ capacity: 100, refillRate: 100 })
        )),
        Layer.provide(UndiciHttpClient.layer())
      )
    )
    return { llm: Context.get(context, Llm.Llm), pool }
  })

const exhaust = (simulator: Simulator.Simulator, key: string, times: number) =>
  Effect.promise(async () => {
    let limited = 0
    for (let i = 0; i < times; i++) {
      const response = await fetch(`${simulator.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })
      })
      await response.text()
      if (response.status === 429) limited++
    }
    return limited
  })

describe("Llm over loopback", () => {
  it.live("two keys, one rate-limited by the server: every call succeeds through the other", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [keyA, keyB], requestsPerMinute: 60 })
      expect(yield* exhaust(simulator, keyA, 90)).toBeGreaterThan(0)
      const { llm, pool } = yield* stack(simulator, [keyA, keyB])
      // Whether the pool was seen cooling key A, sampled through the run: its cooldown (as long as the server's
      // Retry-After, a second at most) may be over by the run's end on a slow machine.
      let sawCooling = false
      const coolingA = Effect.map(pool.status, (status) => {
        if (status.find((key) => key.keyId === LlmError.maskKey(keyA))!.coolingUntil !== undefined) sawCooling = true
        return status
      })
      const watch = yield* Effect.forkChild(Effect.repeat(coolingA, Schedule.spaced("5 millis")))
      const responses = yield* Effect.all(Array.from({ length: 20 }, (_, i) => llm.chat(ask(`question ${i}`))), {
        concurrency: 4
      })
      yield* Fiber.interrupt(watch)
      expect(responses.every((response) => response.text.length > 0)).toBe(true)
      // Key A refills one request a second, so under a slow machine it may serve a few.
      expect(responses.filter((response) => response.keyId === LlmError.maskKey(keyB)).length).toBeGreaterThanOrEqual(
        15
      )
      const status = yield* coolingA
      expect(sawCooling).toBe(true)
      expect(status.every((key) => key.inFlight === 0)).toBe(true)
    }))

  it.live("a key the server rejects is disabled and never used again", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [keyB] })
      const { llm, pool } = yield* stack(simulator, [keyA, keyB])
      for (let i = 0; i < 10; i++) {
        const response = yield* llm.chat(ask(`q${i}`))
        expect(response.keyId).toBe(LlmError.maskKey(keyB))
      }
      const streamed = yield* ChatChunk.collect(llm.chatStream(ask("streamed")))
      expect(streamed.keyId).toBe(LlmError.maskKey(keyB))
      const a = (yield* pool.status).find((key) => key.keyId === LlmError.maskKey(keyA))!
      expect(a.disabled).toBe("invalid_key")
      expect(a.totalRequests).toBe(1)
      expect(yield* simulator.requestCount).toBe(12)
    }))

  it.live("streaming and non-streaming calls collect to the same response", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ replyTokens: 40 })
      const { llm } = yield* stack(simulator, [keyA])
      const whole = yield* llm.chat(ask("same question"))
      const streamed = yield* ChatChunk.collect(llm.chatStream(ask("same question")))
      const comparable = (r: typeof whole) => ({
        text: r.text,
        toolCalls: r.toolCalls,
        finishReason: r.finishReason,
        usage: r.usage,
        model: r.model,
        provider: r.provider
      })
      expect(comparable(streamed)).toEqual(comparable(whole))
      expect(whole.usage.estimated).toBe(false)
    }))

  it.live("interrupting a stream's consumer closes the connection and frees the key", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ replyTokens: 500, tokensPerSecond: 50 })
      const { llm, pool } = yield* stack(simulator, [keyA])
      const first = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        Stream.runForEach(llm.chatStream(ask("long")), () => Deferred.succeed(first, undefined))
      )
      yield* Deferred.await(first)
      expect((yield* pool.status)[0]!.inFlight).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect((yield* pool.status)[0]!.inFlight).toBe(0)
      const stats = yield* eventually("the connection closed at the simulator", simulator.stats, (s) =>
        s.clientClosed >= 1)
      expect(stats.clientClosed).toBe(1)
    }))

  // On a TestClock, over real loopback: each wait is the Retry-After on the test's clock, whatever the machine's load.
  it.effect(
    "a primary answering 429 with Retry-After 1 s to everything: its key rotations spent in 3 s, then the fallback " +
      "answers",
    () =>
      Effect.gen(function*() {
        // The simulator's 429 says retry-after: 1.
        const primary = yield* Simulator.make({ fault: "status=429" })
        const fallback = yield* Simulator.make({})
        // Defaults everywhere: the retry policy, the key pool (it waits up to a minute), maxRateLimitWait.
        const over = (simulator: Simulator.Simulator, id: string) =>
          Llm.layer().pipe(Layer.provide(Layer.mergeAll(
            OpenAiChat.layer({ baseUrl: `${simulator.url}/v1`, provider: id, model: "gpt-4o-mini" }),
            KeyPool.layer({ providerId: id, keys: [keyA] }).pipe(Layer.provide(registryInMemory)),
            RateLimiter.unlimited
          )))
        const context = yield* Layer.build(
          routerLayerInMemory({
            strategy: "priority",
            deployments: [
              { name: "primary", model: "gpt-4o-mini", llm: over(primary, "primary") },
              { name: "fallback", model: "gpt-4o-mini", llm: over(fallback, "fallback") }
            ]
          }).pipe(Layer.provide(UndiciHttpClient.layer()))
        )
        const start = yield* Clock.currentTimeMillis
        const call = yield* Effect.forkChild(Context.get(context, Llm.Llm).chat(ask("hello")))
        // The first attempt and maxKeyRotations (3) more, each once the 1 s the server asked for is over. The clock
        // moves 10 ms for each 10 ms of real time until the next attempt arrives: the client may start its wait
        // some time after the server saw the attempt (it reads the 429 first), and a wait starts when it starts.
        const realTick = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
        for (let attempts = 1; attempts <= 3; attempts++) {
          // Each attempt comes after 1 s of the test's clock, 100 real ticks: 20 s of real time means it never will.
          let ticks = 0
          while ((yield* primary.requestCount) <= attempts) {
            if (++ticks > 2_000) return yield* Effect.die(`attempt ${attempts + 1} never came, its wait moved 20 s on`)
            yield* realTick
            yield* TestClock.adjust("10 millis")
          }
        }
        // The clock stands still from here: a call that waited for the cooling key would never end, so a real-time
        // guard fails the test naming that, where the test's timeout would say nothing.
        yield* eventually(
          "the call's end after the fourth 429, with the clock held (a wait for the cooling key would never end)",
          Effect.sync(() => call.pollUnsafe()),
          (exit) => exit !== undefined,
          { within: "10 seconds" }
        )
        const reply = yield* Fiber.join(call)
        const took = (yield* Clock.currentTimeMillis) - start
        expect(reply.provider).toBe("fallback")
        expect(reply.text.length).toBeGreaterThan(0)
        expect(yield* primary.requestCount).toBe(4)
        // Each wait lasted the 1 s asked for, and the fallback answered at once after the fourth 429: a wait for
        // the cooling key would add its cooldown (a second). The clock also moved while the client read each
        // answer, a few milliseconds a time.
        expect(took).toBeGreaterThanOrEqual(3_000)
        expect(took).toBeLessThan(4_000)
        const details = (yield* Context.get(context, Router.Router).status).details
        expect(Object.values(details).flatMap((deployment) => deployment.keys ?? []).every((key) => key.current === 0))
          .toBe(true)
      }),
    30_000
  )
})
