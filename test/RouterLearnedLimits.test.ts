/**
 * A router's learned stream limits (`Router.Options.learnedLimits`), under
 * `TestClock`, over OpenAI-compatible deployments whose `HttpClient` answers
 * as the test says: after streams that answer at once, a deployment gone
 * silent (headers and no token) or stalled (a token and then nothing) is left
 * at the learned floor, not at its adapter's minutes, and the stream goes on
 * the other deployment; with learning off, the adapter's limits hold. Routers
 * on one store (`Router.LearnedLimitStore`: memory under `TestClock`, a real
 * Redis on the wall clock) learn from each other's streams.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as ChatChunk from "../src/ChatChunk.js"
import * as KeyPool from "../src/KeyPool.js"
import * as Llm from "../src/Llm.js"
import * as Message from "../src/Message.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as Router from "../src/Router.js"
import { eventually } from "./utils/eventually.js"
import { fakeHttpClient } from "./utils/fakeHttpClient.js"
import { registryInMemory } from "./utils/memoryStores.js"
import { chunk, sse, stalling } from "./utils/openAiChatWire.js"
import { redisServer } from "./utils/redisServer.js"
import { connected } from "./utils/sharedStore.js"

const whole = sse(
  chunk({ role: "assistant", content: "Hel" }),
  chunk({ content: "lo" }, { finish_reason: "stop" }),
  "[DONE]"
)

type Mode = "answers" | "silent" | "stalls"

const deployment = (name: string, mode: () => Mode) => {
  const client = fakeHttpClient(() => {
    const now = mode()
    return now === "answers"
      ? new Response(whole, { headers: { "content-type": "text/event-stream" } })
      : stalling(now === "silent" ? [] : [sse(chunk({ role: "assistant", content: "Hel" }))])
  }).client
  return {
    name,
    model: "gpt-test",
    llm: Llm.layer().pipe(
      Layer.provide(Layer.mergeAll(
        OpenAiChat.layer({ baseUrl: `https://${name}.test/v1`, model: "gpt-test" }).pipe(
          Layer.provide(Layer.succeed(HttpClient.HttpClient, client))
        ),
        KeyPool.layer({ providerId: name, keys: [`sk-test-key-${name}-000001`] }).pipe(
          Layer.provide(registryInMemory)
        ),
        RateLimiter.unlimited
      ))
    )
  }
}

const hello = { model: "gpt-test", messages: [Message.user("hi")] }

const routerOf = (mode: () => Mode, options: Pick<Router.Options, "learnedLimits" | "key"> = {}) =>
  Effect.map(
    Layer.build(Router.layer({
      strategy: "priority",
      deployments: [deployment("fast", mode), deployment("backup", () => "answers")],
      ...options
    })),
    (context) => Context.get(context, Router.Router)
  )

const learnedOf = (router: Router.Service) => Effect.map(router.status, (status) => status.details.fast!.learnedLimits)

// Twenty quick streams through `router`: its fast deployment's limits learned at the floor.
const learnTwenty = (router: Router.Service) =>
  Effect.gen(function*() {
    for (let i = 0; i < 20; i++) {
      assert.strictEqual((yield* ChatChunk.collect(router.chatStream(hello))).text, "Hello")
    }
  })

const atFloor = { firstTokenMillis: 2_000, idleMillis: 2_000, streams: 20 }

/** The streamed text, forked: still running after `quiet` under `TestClock`, answered after `more`. */
const answersAfter = (router: Llm.Service, quiet: Duration.Input, more: Duration.Input) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(ChatChunk.collect(router.chatStream(hello)))
    yield* TestClock.adjust(quiet)
    assert.isUndefined(fiber.pollUnsafe())
    yield* TestClock.adjust(more)
    return yield* Fiber.join(fiber)
  })

describe("Router.Options.learnedLimits", () => {
  it.effect("after 20 quick streams, a silent deployment is left at the 2-second floor and the stream goes on", () =>
    Effect.scoped(Effect.gen(function*() {
      let mode: Mode = "answers"
      const router = yield* routerOf(() => mode)
      for (let i = 0; i < 20; i++) {
        assert.strictEqual((yield* ChatChunk.collect(router.chatStream(hello))).text, "Hello")
      }
      const learned = (yield* router.status).details.fast!.learnedLimits
      assert.deepStrictEqual(learned, { firstTokenMillis: 2_000, idleMillis: 2_000, streams: 20 })

      mode = "silent"
      const reply = yield* answersAfter(router, "1999 millis", "1 millis")
      assert.strictEqual(reply.text, "Hello")
      const status = yield* router.status
      assert.strictEqual(status.details.fast!.failures, 1)
      assert.strictEqual(status.details.backup!.requests, 1)
    })).pipe(Effect.provide(Router.layerStoreMemory)))

  it.effect("a stall after the first token is left at the learned idle limit, and the stream restarts elsewhere", () =>
    Effect.scoped(Effect.gen(function*() {
      let mode: Mode = "answers"
      const router = yield* routerOf(() => mode, { learnedLimits: { floor: "5 seconds", minSamples: 5 } })
      for (let i = 0; i < 5; i++) yield* ChatChunk.collect(router.chatStream(hello))
      mode = "stalls"
      const reply = yield* answersAfter(router, "4999 millis", "1 millis")
      // The stall's first token, then the restart's whole reply.
      assert.strictEqual(reply.text, "Hello")
      assert.strictEqual((yield* router.status).details.backup!.requests, 1)
    })).pipe(Effect.provide(Router.layerStoreMemory)))

  it.effect("the last deployment a call could try keeps its adapter's limits, whatever it has learned", () =>
    Effect.scoped(Effect.gen(function*() {
      let mode: Mode = "answers"
      const router = Context.get(
        yield* Layer.build(Router.layer({ strategy: "priority", deployments: [deployment("fast", () => mode)] })),
        Router.Router
      )
      yield* learnTwenty(router)
      assert.deepStrictEqual(yield* learnedOf(router), atFloor)
      mode = "silent"
      const fiber = yield* Effect.forkChild(ChatChunk.collect(router.chatStream(hello)))
      // Far past the learned 2 s (cut there, its retries would have failed the call in seconds), the one deployment
      // is still waited for, within its adapter's first-token limit of 2 minutes.
      yield* TestClock.adjust("119 seconds")
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual((yield* router.status).details.fast!.failures, 0)
      yield* Fiber.interrupt(fiber)
    })).pipe(Effect.provide(Router.layerStoreMemory)))

  it.effect("off: the adapter's limits hold (its first-token default, 2 minutes)", () =>
    Effect.scoped(Effect.gen(function*() {
      let mode: Mode = "answers"
      const router = yield* routerOf(() => mode, { learnedLimits: false })
      for (let i = 0; i < 20; i++) yield* ChatChunk.collect(router.chatStream(hello))
      assert.isNull((yield* router.status).details.fast!.learnedLimits)
      mode = "silent"
      const reply = yield* answersAfter(router, "119 seconds", "1 seconds")
      assert.strictEqual(reply.text, "Hello")
    })).pipe(Effect.provide(Router.layerStoreMemory)))

  it.effect("two routers on one memory store: the other learns from the first's streams at its own next stream", () =>
    Effect.scoped(Effect.gen(function*() {
      const stores = yield* Layer.build(Router.layerStoreMemory)
      const first = yield* Effect.provide(routerOf(() => "answers", { key: "shared" }), stores)
      let mode: Mode = "answers"
      const second = yield* Effect.provide(routerOf(() => mode, { key: "shared" }), stores)
      yield* learnTwenty(first)
      assert.deepStrictEqual(yield* learnedOf(first), atFloor)
      // No other process writes a memory store, so none polls it: the second reads the first's samples with its own.
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* learnedOf(second), { firstTokenMillis: null, idleMillis: null, streams: 0 })
      assert.strictEqual((yield* ChatChunk.collect(second.chatStream(hello))).text, "Hello")
      assert.deepStrictEqual(yield* learnedOf(second), { ...atFloor, streams: 21 })
      mode = "silent"
      const reply = yield* answersAfter(second, "1999 millis", "1 millis")
      assert.strictEqual(reply.text, "Hello")
      assert.strictEqual((yield* second.status).details.backup!.requests, 1)
    })))

  it.live(
    "two routers on one Redis, each with its own connection: one's streams teach the other, which cuts a silent " +
      "stream at the shared floor",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const redis = yield* redisServer
        const routerOn = (mode: () => Mode) =>
          Effect.flatMap(
            connected(redis.url),
            (store) => Effect.provide(routerOf(mode, { key: "learned" }), Router.layerStoreRedis(store))
          )
        const first = yield* routerOn(() => "answers")
        let mode: Mode = "answers"
        const second = yield* routerOn(() => mode)
        assert.deepStrictEqual(yield* learnedOf(second), { firstTokenMillis: null, idleMillis: null, streams: 0 })
        yield* learnTwenty(first)
        yield* eventually(
          "the second router's read of what the first learned",
          learnedOf(second),
          (learned) => learned?.streams === 20,
          { within: "10 seconds" }
        )
        assert.deepStrictEqual(yield* learnedOf(second), atFloor)
        mode = "silent"
        const started = yield* Clock.currentTimeMillis
        const reply = yield* ChatChunk.collect(second.chatStream(hello))
        const waited = (yield* Clock.currentTimeMillis) - started
        assert.strictEqual(reply.text, "Hello")
        assert.strictEqual((yield* second.status).details.backup!.requests, 1)
        // Its adapter's own first-token limit is two minutes; the initial one (nothing learned) 15 seconds.
        assert.isAtLeast(waited, 1_900)
        assert.isBelow(waited, 10_000)
      })),
    30_000
  )

  it.effect("refuses a quantile out of (0, 1] and a window under minSamples, naming them", () =>
    Effect.gen(function*() {
      const quantile = yield* Effect.flip(
        Layer.build(Router.layer({
          deployments: [deployment("fast", () => "answers")],
          learnedLimits: { quantile: 1.5 }
        })).pipe(Effect.scoped)
      )
      assert.include(quantile.message, "learnedLimits.quantile")
      const window = yield* Effect.flip(
        Layer.build(Router.layer({
          deployments: [deployment("fast", () => "answers")],
          learnedLimits: { minSamples: 50, window: 10 }
        })).pipe(Effect.scoped)
      )
      assert.include(window.message, "learnedLimits.window")
    }).pipe(Effect.provide(Router.layerStoreMemory)))
})
