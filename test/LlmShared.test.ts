/**
 * An `Llm` call over a rate limiter and a key pool kept in one shared store
 * (a real redis-server): the call asks its permit and its key at once, so
 * their round trips overlap. What one of them took goes back when the other
 * refuses, and the call then waits as it would with either alone.
 */
import { describe, expect, it } from "@effect/vitest"
import { KeyPool, Llm, Message, RateLimiter } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import { eventually } from "./utils/eventually.js"
import { fakeHttpClient, jsonResponse } from "./utils/fakeHttpClient.js"
import { limiterLayerInMemory, registryInMemory } from "./utils/memoryStores.js"
import { completion, usage } from "./utils/openAiChatWire.js"
import { redisServer } from "./utils/redisServer.js"
import { instance, untilShared } from "./utils/sharedStore.js"

const keys = ["sk-llm-shared-key-0001", "sk-llm-shared-key-0002"]

/**
 * An `Llm` over a limiter and a pool shared in a store on a fresh redis-server, whose provider
 * answers each call once `open` is done, or at once with `early(n)` when it gives a reply to the nth request.
 */
const sharedLlm = (
  limiter: Omit<RateLimiter.Options, "shared">,
  poolKeys: KeyPool.Options["keys"],
  llm: Llm.Options = {},
  early: (n: number) => Response | undefined = () => undefined
) =>
  Effect.gen(function*() {
    const redis = yield* redisServer
    const store = yield* instance(redis.url)
    yield* untilShared(store)
    const open = yield* Deferred.make<void>()
    const http = fakeHttpClient(() =>
      early(http.requests.length) ??
        Effect.as(Deferred.await(open), jsonResponse(completion({ content: "hi" }, { usage: usage(3, 1) })))
    )
    const shared = { store, key: "llm-shared" }
    const context = yield* Layer.build(
      Llm.layer({ model: "gpt-4o-mini", ...llm }).pipe(
        Layer.provideMerge(Layer.mergeAll(
          OpenAiChat.layer({ baseUrl: "http://127.0.0.1:1/v1", model: "gpt-4o-mini" }),
          KeyPool.layer({ providerId: "openai", keys: poolKeys, shared }).pipe(
            Layer.provide(registryInMemory)
          ),
          limiterLayerInMemory({ ...limiter, shared }).pipe(Layer.orDie)
        )),
        Layer.provide(Layer.succeed(HttpClient.HttpClient, http.client))
      )
    )
    return {
      llm: Context.get(context, Llm.Llm),
      pool: Context.get(context, KeyPool.KeyPool),
      limiter: Context.get(context, RateLimiter.RateLimiter),
      http,
      open
    }
  })

const inFlight = (pool: KeyPool.Service) =>
  Effect.map(pool.status, (status) => status.reduce((sum, key) => sum + key.inFlight, 0))

const hello = { messages: [Message.user("hello")] }

describe("Llm over a limiter and a key pool in one store", () => {
  it.live(
    "a call refused its permit gives back the key it took at the same time, and waits for the permit holding none",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // One request token, refilled in 20 s: the second call waits for its permit longer than the test looks.
        const { http, limiter, llm, open, pool } = yield* sharedLlm({ capacity: 1, refillRate: 0.05 }, keys)
        const first = yield* Effect.forkChild(llm.chat(hello))
        yield* eventually("the first call at the provider", Effect.sync(() => http.requests.length), (n) => n === 1)
        const second = yield* Effect.forkChild(llm.chat(hello))
        yield* eventually("the second call waiting for its permit", limiter.status, (status) => status.waiting === 1)
        // Waiting for its permit, the second call holds no key: only the first call's lease is counted.
        expect(yield* inFlight(pool)).toBe(1)
        yield* Fiber.interrupt(second)
        yield* Deferred.succeed(open, undefined)
        expect((yield* Fiber.join(first)).text).toBe("hi")
        expect(http.requests.length).toBe(1)
        expect(yield* inFlight(pool)).toBe(0)
        // The key the second call gave back unused is not counted as a request.
        expect((yield* pool.status).reduce((sum, key) => sum + key.totalRequests, 0)).toBe(1)
        expect(yield* limiter.status).toMatchObject({ inFlight: 0, waiting: 0 })
      })),
    60_000
  )

  it.live(
    "over a capped key, taken after the permit (a key held beside a refused permit could turn another call away): a " +
      "call given its permit but no key waits for the key holding the permit, and the cap holds",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { http, limiter, llm, open, pool } = yield* sharedLlm({ capacity: 10, refillRate: 10 }, [{
          key: keys[0]!,
          maxConcurrency: 1
        }])
        const calls = yield* Effect.forkChild(Effect.all([llm.chat(hello), llm.chat(hello)], { concurrency: 2 }))
        // One call reaches the provider; the other holds its permit and waits for the key.
        yield* eventually("one call at the provider", Effect.sync(() => http.requests.length), (n) => n === 1)
        yield* eventually("both calls holding a permit", limiter.status, (status) => status.inFlight === 2)
        expect(http.requests.length).toBe(1)
        expect(yield* inFlight(pool)).toBe(1)
        yield* Deferred.succeed(open, undefined)
        const replies = yield* Fiber.join(calls)
        expect(replies.map((reply) => reply.text)).toEqual(["hi", "hi"])
        expect(http.requests.length).toBe(2)
        expect(yield* inFlight(pool)).toBe(0)
        expect((yield* limiter.status).inFlight).toBe(0)
      })),
    60_000
  )

  it.live(
    "a call given its permit but no key (its one key cooling) waits for the key holding the permit",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // The one key is rate-limited by the first request for 3 s, which the call waits out.
        const rateLimited = jsonResponse({ error: { message: "slow down", type: "rate_limit_exceeded" } }, {
          status: 429,
          headers: { "retry-after": "3" }
        })
        const { http, limiter, llm, open, pool } = yield* sharedLlm(
          { capacity: 10, refillRate: 10 },
          [keys[0]!],
          { maxRateLimitWait: "30 seconds" },
          (n) => n === 1 ? rateLimited : undefined
        )
        const call = yield* Effect.forkChild(llm.chat(hello))
        // Its second attempt holds a permit and no key, the one key cooling: the request was the first only.
        yield* eventually(
          "the call's second attempt holding its permit, waiting for the key",
          Effect.all([limiter.status, inFlight(pool), Effect.sync(() => http.requests.length)]),
          ([status, keysHeld, requests]) => status.inFlight === 1 && keysHeld === 0 && requests === 1
        )
        yield* Deferred.succeed(open, undefined)
        expect((yield* Fiber.join(call)).text).toBe("hi")
        expect(http.requests.length).toBe(2)
        expect(yield* inFlight(pool)).toBe(0)
        expect(yield* limiter.status).toMatchObject({ inFlight: 0, waiting: 0 })
      })),
    60_000
  )
})
