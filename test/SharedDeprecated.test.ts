/**
 * The `shared` option of `RateLimiter`, `KeyPool`, `Budget` and `Router`, kept one minor version (0.3.0) as a
 * deprecated alias of providing the store's Redis layer and giving `key`: one test per alias that a layer made with it
 * keeps its state where the layer made the new way does, on a real redis-server, and that its key is checked.
 */
import { describe, expect, it } from "@effect/vitest"
import { Budget, KeyPool, LlmError, Message, RateLimiter, Router } from "effect-llm-router"
import { LlmTest } from "effect-llm-router/testing"
import * as Effect from "effect/Effect"
import { eventually } from "./utils/eventually.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { redisServer } from "./utils/redisServer.js"
import { connected } from "./utils/sharedStore.js"

describe("the deprecated `shared` option", () => {
  it.live(
    "RateLimiter: a limiter given `shared` takes tokens from the bucket layerStoreRedis gives under its key",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url)
        const options = { capacity: 2, refillRate: 0.001 }
        const aliased = yield* RateLimiter.make({ ...options, shared: { store, key: "alias-bucket" } })
        const layered = yield* RateLimiter.make({ ...options, key: "alias-bucket" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(store))
        )
        yield* Effect.scoped(aliased.consume({ onExceeded: "fail" }))
        yield* Effect.scoped(layered.consume({ onExceeded: "fail" }))
        const refused = yield* Effect.flip(Effect.scoped(aliased.consume({ onExceeded: "fail" })))
        expect(refused).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "requests" })
        const emptyKey = yield* Effect.flip(RateLimiter.make({ ...options, shared: { store, key: "" } }))
        expectOptionsError(emptyKey, { module: "RateLimiter", option: "shared.key", expected: "a non-empty string" })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "KeyPool: a pool given `shared` holds the leases layerStoreRedis holds under its key",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url)
        const options = {
          providerId: "openai",
          keys: [{ key: "sk-alias-key-0001", maxConcurrency: 1 }],
          whenExhausted: { _tag: "Fail" } as const
        }
        const aliased = yield* KeyPool.make({ ...options, shared: { store, key: "alias-pool" } })
        const layered = yield* KeyPool.make({ ...options, key: "alias-pool" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(store))
        )
        yield* Effect.scoped(Effect.gen(function*() {
          yield* aliased.acquire
          const refused = yield* Effect.flip(layered.acquire)
          expect(refused._tag).toBe("NoCapacityError")
        }))
        // Given back on the one: free for the other.
        yield* Effect.scoped(layered.acquire)
        const emptyKey = yield* Effect.flip(KeyPool.make({ ...options, shared: { store, key: "" } }))
        expectOptionsError(emptyKey, { module: "KeyPool", option: "shared.key", expected: "a non-empty string" })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "Budget: a budget given `shared` spends from the counters layerStoreRedis counts under its key",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url)
        const limits = [{ scope: Budget.overall, limit: 1, period: "1 day" as const }]
        const aliased = yield* Budget.make({ limits, shared: { store, key: "alias-budget" } })
        const layered = yield* Budget.make({ limits, key: "alias-budget" }).pipe(
          Effect.provide(Budget.layerStoreRedis(store))
        )
        yield* aliased.charge(yield* aliased.check({ estimate: 0.5 }), 0.75)
        const [status] = yield* layered.status
        expect(status).toMatchObject({ spent: 0.75, reserved: 0 })
        const refused = yield* Effect.flip(layered.check({ estimate: 0.5 }))
        expect(refused).toMatchObject({ _tag: "BudgetExceededError", spent: 0.75, limit: 1 })
        const emptyKey = yield* Effect.flip(Budget.make({ limits, shared: { store, key: "" } }))
        expectOptionsError(emptyKey, { module: "Budget", option: "shared.key", expected: "a non-empty string" })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "Router: a breaker a router given `shared` opens is open on one given layerStoreRedis",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url)
        const options = {
          strategy: "priority" as const,
          cooldown: { failures: 1, window: "1 minute" as const, period: "1 minute" as const },
          deployments: [
            {
              name: "failing",
              model: "m",
              llm: LlmTest.fromHandler(() =>
                Effect.succeed(new LlmError.ProviderUnavailableError({ provider: "p", model: "m", status: 503 }))
              )
            },
            { name: "steady", model: "m", llm: LlmTest.fromHandler(() => Effect.succeed(LlmTest.reply("steady"))) }
          ]
        }
        const aliased = yield* Router.make({ ...options, shared: { store, key: "alias-breakers" } })
        const layered = yield* Router.make({ ...options, key: "alias-breakers" }).pipe(
          Effect.provide(Router.layerStoreRedis(store))
        )
        yield* Effect.ignore(aliased.chat({ model: "failing", messages: [Message.user("hi")] }))
        yield* eventually(
          "the breaker open on the other router",
          layered.status,
          (status) => status.details["failing"]!.cooldown.state === "open",
          { every: "50 millis", within: "20 seconds" }
        )
        const deployments = options.deployments
        const emptyKey = yield* Effect.flip(Router.make({ deployments, shared: { store, key: "" } }))
        expectOptionsError(emptyKey, { module: "Router", option: "shared.key", expected: "a non-empty string" })
        const badUrl = yield* Effect.flip(
          Router.make({ deployments, shared: { store: { redis: "http://:hunter2-secret@127.0.0.1:1" } } })
        )
        expectOptionsError(badUrl, { module: "Store", option: "redis", expected: "a redis:// or rediss:// URL" }, [
          "hunter2-secret"
        ])
      }).pipe(Effect.scoped),
    30_000
  )
})
