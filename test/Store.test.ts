import { describe, expect, it } from "@effect/vitest"
import { Budget, KeyPool, Llm, LlmError, Message, ProviderConfig, RateLimiter, Store } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Redis from "effect/persistence/Redis"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { createClient } from "redis"
import * as Leases from "../src/internal/keyPool/redis/leases.js"
import { type Grant, overRunBound, overWindowBound, slackThatFails } from "./utils/bucketBound.js"
import { eventually } from "./utils/eventually.js"
import { fakeHttpClient, jsonResponse } from "./utils/fakeHttpClient.js"
import { stallWithin, undisturbed, withLoopStalls } from "./utils/loopStalls.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { pausableProxy, type RedisProxy } from "./utils/redisProxy.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, instance, mortal, onInstances, untilShared } from "./utils/sharedStore.js"

/** A redis-server for the test and one instance's store on it, connected. */
const connectedStore = (options: Partial<Store.Options> = {}) =>
  Effect.gen(function*() {
    const redis = yield* redisServer
    const store = yield* instance(redis.url, options)
    yield* untilShared(store)
    return { redis, store }
  })

// Grants are stamped when their reply reaches the client, later than Redis granted them by a latency that varies
// with the machine's load: two grants Redis made apart can be seen closer by as much as that variation. 30 ms of it,
// plus the longest stall of this process's event loop while the grants were made (a reply read late by as much), still
// fails two buckets kept apart (each instance admitting its own capacity) by far.
const clientSlackMillis = 30

// The stall those bounds may allow. Two buckets kept apart (5 at once and 40 a second each, against one) grant the
// burst test's 60 in (60 - 10) / 80 s = 625 ms; the bound fails that only while its slack stays under
// `slackThatFails` (725 ms). A stall both widens the bound and may stretch that window, so it may take half of what
// is left after the client's own slack; a longer one has the load taken again, or fails the test. The property's
// runs use the same cap: with their smaller buckets a stall near it could hide two buckets kept apart in a run's
// windowed bound, which the burst test and every run's whole-run bound still catch.
const stallCap = (slackThatFails({ capacity: 5, refillRate: 40 }, 60, 625) - clientSlackMillis) / 2

/** A lease of the pool's one key, held `hold`, counted while held and not after. */
const holdsOne = (pool: KeyPool.Service, hold: Duration.Input = 0) =>
  Effect.gen(function*() {
    yield* Effect.scoped(Effect.gen(function*() {
      yield* pool.acquire
      yield* Effect.sleep(hold)
      expect((yield* pool.status)[0]!.inFlight).toBe(1)
    }))
    expect((yield* pool.status)[0]!.inFlight).toBe(0)
  })

/** A raw node-redis client on the test's server, closed with the scope. */
const rawClient = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = createClient({ url })
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )

const rateLimited = (retryAfter?: Duration.Input) =>
  new LlmError.RateLimitError({
    provider: "openai",
    model: "gpt-4o-mini",
    ...(retryAfter === undefined ? {} : { retryAfter: Duration.fromInputUnsafe(retryAfter) })
  })

describe("Store options", () => {
  it.effect("a bad option fails with OptionsError naming it; a password in the URL never shows", () =>
    Effect.gen(function*() {
      const url = yield* Effect.flip(Store.make({ redis: "http://:hunter2-secret@127.0.0.1:6379" }))
      expectOptionsError(url, { module: "Store", option: "redis", expected: "a redis:// or rediss:// URL" }, [
        "hunter2-secret"
      ])
      expectOptionsError(yield* Effect.flip(Store.make({ redis: "redis://h:1", instances: 1.5 })), {
        option: "instances",
        value: "1.5"
      })
      expectOptionsError(yield* Effect.flip(Store.make({ redis: "redis://h:1", leaseTtl: 0 })), { option: "leaseTtl" })
      // Past what a timer holds, a command's timeout would fire at once.
      expectOptionsError(yield* Effect.flip(Store.make({ redis: "redis://h:1", commandTimeout: "30 days" })), {
        option: "commandTimeout",
        expected: "a positive, finite duration of at most 2147483647 ms (about 24.8 days, the longest a timer waits)"
      })
      expectOptionsError(yield* Effect.flip(Store.make({ redis: "redis://h:1", commandTimeout: 0 })), {
        option: "commandTimeout"
      })
      expectOptionsError(yield* Effect.flip(Store.make({ redis: "redis://h:1", onUnavailable: "maybe" as never })), {
        option: "onUnavailable"
      })
      const store = yield* Store.make({ redis: "redis://:hunter2-secret@127.0.0.1:1" })
      expect(store.address).toBe("127.0.0.1:1")
      // An empty key for the shared state is refused by each layer.
      const limiter = RateLimiter.make({ capacity: 1, refillRate: 1, key: "" })
      expectOptionsError(yield* Effect.flip(Effect.provide(limiter, RateLimiter.layerStoreRedis(store))), {
        module: "RateLimiter",
        option: "key"
      })
      const pool = KeyPool.make({ providerId: "p", keys: ["k"], key: "" })
      expectOptionsError(yield* Effect.flip(Effect.provide(pool, KeyPool.layerStoreRedis(store))), {
        module: "KeyPool",
        option: "key"
      })
      const budget = Budget.make({ limits: [], key: "" })
      expectOptionsError(yield* Effect.flip(Effect.provide(budget, Budget.layerStoreRedis(store))), {
        module: "Budget",
        option: "key"
      })
    }))
})

describe("Store: limits shared through a real redis-server", () => {
  it.live(
    "a hand-written Store, its connection a wrapper of another's, is a store: a shared limiter runs on it",
    () =>
      Effect.gen(function*() {
        const { store } = yield* connectedStore()
        let sent = 0
        const counted: Store.Store = {
          ...store,
          connection: {
            ...store.connection,
            bind: (script) => {
              const bound = store.connection.bind(script)
              return { ...bound, eval: (args) => Effect.andThen(Effect.sync(() => sent++), bound.eval(args)) }
            }
          }
        }
        const options = { capacity: 3, refillRate: 0.001 }
        const wrapped = yield* RateLimiter.make({ ...options, key: "hand-written" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(counted))
        )
        const plain = yield* RateLimiter.make({ ...options, key: "hand-written" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(store))
        )
        yield* Effect.scoped(Effect.all([wrapped.consume(), wrapped.consume(), wrapped.consume()]))
        expect(sent).toBeGreaterThanOrEqual(3)
        expect(Math.floor((yield* plain.status).available)).toBe(0)
      }),
    30_000
  )

  it.live(
    "two limiters on one key never grant more than capacity + refillRate * t in any window",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const limiters = yield* onInstances(redis.url, 2, (store) =>
          RateLimiter.make({ capacity: 5, refillRate: 40, key: "bucket" }).pipe(
            Effect.provide(RateLimiter.layerStoreRedis(store))
          ))
        // Stamped on Redis' clock (the system's): the whole run's bound compares the stamps with `startedAt`. A burst
        // taken again waits for the bucket to fill again first.
        const [{ grants, startedAt }, stall] = yield* undisturbed((take) =>
          Effect.gen(function*() {
            if (take > 0) {
              yield* Effect.sleep(`${(5 / 40) * 1000 + 200} millis`)
            }
            const grants: Array<Grant> = []
            const startedAt = Date.now()
            yield* Effect.forEach(
              Array.from({ length: 60 }, (_, i) =>
                limiters[i % 2]!),
              (limiter) =>
                Effect.scoped(Effect.andThen(
                  limiter.consume(),
                  Effect.sync(() =>
                    grants.push({ at: Date.now(), cost: 1 })
                  )
                )),
              {
                concurrency: "unbounded"
              }
            )
            return { grants, startedAt }
          }), stallCap)
        expect(grants).toHaveLength(60)
        // With no slack, however slow the machine: every grant between `startedAt` and its stamp.
        expect(overRunBound(grants, { capacity: 5, refillRate: 40 }, startedAt)).toBeUndefined()
        expect(
          overWindowBound(grants, { capacity: 5, refillRate: 40 }, clientSlackMillis + stall),
          `the loop stalled ${stall} ms`
        )
          .toBeUndefined()
        // 60 grants from a burst of 5 at 40 a second take at least (60 - 5) / 40 seconds.
        const span = Math.max(...grants.map((grant) => grant.at)) - Math.min(...grants.map((grant) => grant.at))
        expect(span).toBeGreaterThanOrEqual((60 - 5) / 40 * 1000 - clientSlackMillis - stall)
      }),
    30_000
  )

  it.live(
    "property: for random arrivals and costs on two instances, no window passes the bound",
    () =>
      Effect.gen(function*() {
        const { redis } = yield* connectedStore()
        const stores = yield* onInstances(redis.url, 2, Effect.succeed)
        let run = 0
        const arrivals = fc.array(
          fc.record({
            after: fc.integer({ min: 0, max: 30 }),
            instance: fc.integer({ min: 0, max: 1 }),
            cost: fc.integer({ min: 1, max: 2 })
          }),
          { minLength: 4, maxLength: 14 }
        )
        const bucket = fc.record({
          capacity: fc.integer({ min: 2, max: 4 }),
          refillRate: fc.integer({ min: 20, max: 60 })
        })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(bucket, arrivals, (options, list) =>
              Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                const key = `property-${run++}`
                const limiters = yield* Effect.forEach(
                  stores,
                  (store) =>
                    RateLimiter.make({ ...options, key }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
                )
                const grants: Array<Grant> = []
                let offset = 0
                const startedAt = Date.now()
                const [, stalled] = yield* withLoopStalls(
                  Effect.forEach(list.map((arrival) => ({ ...arrival, at: offset += arrival.after })), (arrival) =>
                    Effect.andThen(
                      Effect.sleep(Duration.millis(arrival.at)),
                      Effect.scoped(Effect.andThen(
                        limiters[arrival.instance]!.consume({ cost: arrival.cost }),
                        Effect.sync(() => grants.push({ at: Date.now(), cost: arrival.cost }))
                      ))
                    ), { concurrency: "unbounded" })
                )
                const stall = stallWithin(stalled, stallCap)
                expect(grants).toHaveLength(list.length)
                expect(overRunBound(grants, options, startedAt)).toBeUndefined()
                expect(overWindowBound(grants, options, clientSlackMillis + stall), `the loop stalled ${stall} ms`)
                  .toBeUndefined()
              })))),
            { numRuns: 6 }
          )
        )
      }),
    60_000
  )

  it.live(
    "a shared limiter's try under an in-flight cap takes the slot, then the tokens; tokens refused give the slot back",
    () =>
      Effect.gen(function*() {
        const { store } = yield* connectedStore()
        const options = { capacity: 1, refillRate: 0.001, maxConcurrency: 1, key: "trying" }
        const limiter = yield* RateLimiter.make(options).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
        const other = yield* RateLimiter.make(options).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
        const failing = Effect.flip(Effect.scoped(other.consume({ onExceeded: "fail" })))
        const scope = yield* Scope.make()
        yield* Scope.provide(limiter.consume({ onExceeded: "fail" }), scope)
        // The slot is held: refused, whatever the tokens.
        expect(yield* Effect.flip(Effect.scoped(limiter.consume({ onExceeded: "fail" })))).toMatchObject({
          bucket: "concurrency"
        })
        expect(yield* failing).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "concurrency" })
        yield* Scope.close(scope, Exit.void)
        // The slot is free and the one token spent: refused for want of tokens, and the slot it took given back.
        expect(yield* Effect.flip(Effect.scoped(limiter.consume({ onExceeded: "fail" })))).toMatchObject({
          bucket: "requests"
        })
        expect(yield* failing).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "requests" })
      }),
    30_000
  )

  it.live(
    "an in-flight cap is shared: two limiters never hold more than maxConcurrency slots together",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const limiters = yield* onInstances(redis.url, 2, (store) =>
          RateLimiter.make({ capacity: 1_000, refillRate: 1_000, maxConcurrency: 3, key: "cap" }).pipe(
            Effect.provide(RateLimiter.layerStoreRedis(store))
          ))
        let held = 0
        let most = 0
        yield* Effect.forEach(
          Array.from({ length: 24 }, (_, i) =>
            limiters[i % 2]!),
          (limiter) =>
            Effect.scoped(Effect.andThen(
              limiter.consume(),
              Effect.andThen(
                Effect.sync(() => {
                  held++
                  most = Math.max(most, held)
                }),
                // Held 100 ms: the three grants of a wave are seen together even when this process stalls a while
                // between reading them (a hold shorter than the stall would end before the next one is counted).
                Effect.andThen(
                  Effect.sleep("100 millis"),
                  Effect.sync(() =>
                    held--
                  )
                )
              )
            )),
          { concurrency: "unbounded" }
        )
        expect(most).toBe(3)
      }),
    30_000
  )

  it.live(
    "two pools count every instance's leases per key, exactly, and never pass a key's cap",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const keys = [{ key: "sk-shared-key-one-0001", maxConcurrency: 3 }, {
          key: "sk-shared-key-two-0002",
          maxConcurrency: 3
        }]
        const pools = yield* onInstances(redis.url, 2, (store) =>
          KeyPool.make({ providerId: "openai", keys, key: "openai" }).pipe(
            Effect.provide(KeyPool.layerStoreRedis(store))
          ))
        const held = new Map<string, number>()
        let most = 0
        let overCap = 0
        yield* Effect.forEach(
          Array.from({ length: 30 }, (_, i) =>
            pools[i % 2]!),
          (pool) =>
            Effect.scoped(Effect.gen(function*() {
              const lease = yield* pool.acquire
              const id = lease.credentials.keyId
              held.set(id, (held.get(id) ?? 0) + 1)
              most = Math.max(most, held.get(id)!)
              const counted = (yield* pool.status).find((key) =>
                key.keyId === id
              )!.inFlight
              if (counted < 1 || counted > 3) {
                overCap++
              }
              // Held 100 ms: a key's three leases are seen together even when this process stalls a while.
              yield* Effect.sleep("100 millis")
              held.set(id, held.get(id)! - 1)
            })),
          { concurrency: "unbounded" }
        )
        expect(most).toBe(3)
        expect(overCap).toBe(0)

        // Held still: three leases from one instance, two from the other; both see all five, least-loaded spread.
        yield* Effect.scoped(Effect.gen(function*() {
          for (const pool of [pools[0]!, pools[0]!, pools[0]!, pools[1]!, pools[1]!]) {
            yield* pool.acquire
          }
          for (const pool of pools) {
            expect(
              (yield* pool.status).map((key) => key.inFlight).sort()
            ).toEqual([2, 3])
          }
        }))
        for (const pool of pools) expect((yield* pool.status).map((key) => key.inFlight)).toEqual([0, 0])
      }),
    30_000
  )

  it.live(
    "the leases of an instance that dies without releasing them free within the TTL",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const keys = [{ key: "sk-shared-key-one-0001", maxConcurrency: 2 }]
        const options = { providerId: "openai", keys, whenExhausted: { _tag: "Fail" } as const }
        // Two seconds: renewed every third of it, the leases outlive a stall of this process of a second and more.
        const { store: dying, die } = yield* mortal(redis.url, { leaseTtl: "2 seconds" })
        const pool = yield* KeyPool.make({ ...options, key: "openai" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(dying))
        )
        // Two leases taken and never given back: their scope is never closed.
        const leases = yield* Scope.make()
        yield* Scope.provide(Effect.all([pool.acquire, pool.acquire]), leases)

        const survivor = yield* connected(redis.url, { leaseTtl: "2 seconds" })
        const other = yield* KeyPool.make({ ...options, key: "openai" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(survivor))
        )
        expect((yield* other.status)[0]!.inFlight).toBe(2)
        const refused = yield* Effect.flip(Effect.scoped(other.acquire))
        expect(refused._tag).toBe("NoCapacityError")

        // The instance dies: its connection closes, nothing renews the leases. They free once their TTL (2 s) is
        // over; under the default TTL (10 s) they would take five times as long. Polled for up to 20 s: a loaded
        // machine reads the status late, while Redis keeps the expiry.
        yield* die
        const started = performance.now()
        let freed = -1
        while (performance.now() - started < 20_000) {
          if ((yield* other.status)[0]!.inFlight === 0) {
            freed = performance.now() - started
            break
          }
          yield* Effect.sleep("50 millis")
        }
        expect(freed).toBeGreaterThanOrEqual(0)
        expect(freed).toBeLessThan(9_000)
        yield* Effect.scoped(Effect.all([other.acquire, other.acquire]))
      }),
    30_000
  )

  it.live("a lease renewed while its call runs outlives the TTL", () =>
    Effect.gen(function*() {
      // Held three TTLs. A TTL of a second, renewed every third of it: a stall of this process shorter than two
      // thirds of it cannot let the lease lapse before a renewal lands.
      const { store } = yield* connectedStore({ leaseTtl: "1 second" })
      const pool = yield* KeyPool.make({
        providerId: "openai",
        keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 1 }],
        key: "renew"
      }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
      yield* holdsOne(pool, "3 seconds")
    }), 30_000)

  it.live(
    "fail-open: a consume that must not wait checks its tokens against the local share too, and settles them there",
    () =>
      Effect.gen(function*() {
        const { redis, store } = yield* connectedStore({ onUnavailable: "fail-open", instances: 2 })
        // Locally, half: 50 requests at once, 500 tokens a minute.
        const limiter = yield* RateLimiter.make({
          capacity: 100,
          refillRate: 100,
          tokensPerMinute: 1_000,
          key: "tokens"
        }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
        const consume = (tokens: number) =>
          Effect.scoped(Effect.asVoid(limiter.consume({ onExceeded: "fail", tokens })))
        // Read in Redis once (a bucket never read starts its outage empty).
        yield* consume(1)
        yield* redis.stop
        yield* consume(400)
        const refused = yield* Effect.flip(consume(400))
        expect(refused._tag).toBe("RateLimiterExceededError")
        expect(refused._tag === "RateLimiterExceededError" && refused.bucket).toBe("tokensPerMinute")
      }),
    30_000
  )

  it.live(
    "fail-open: with Redis stopped mid-load each instance keeps its share locally, then shares again",
    () =>
      Effect.gen(function*() {
        const { redis, store } = yield* connectedStore({ onUnavailable: "fail-open", instances: 2 })
        const limiter = yield* RateLimiter.make({ capacity: 4, refillRate: 0.001, key: "open" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(store))
        )
        const pool = yield* KeyPool.make({
          providerId: "openai",
          keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 4 }],
          whenExhausted: { _tag: "Fail" },
          key: "open"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        const tryOne = Effect.scoped(limiter.consume({ onExceeded: "fail" })).pipe(
          Effect.as(true),
          Effect.catchTag("RateLimiterExceededError", () => Effect.succeed(false))
        )
        expect(yield* tryOne).toBe(true)

        // Bounded: a call that waited on the dead store would fail the test with the timeout.
        yield* Effect.gen(function*() {
          yield* redis.stop
          // Half of each limit now, locally: of the bucket, half the 3 tokens it had left (1.5, never a refill to
          // its capacity's half); 2 of the key's 4 slots; no call waits on the dead store.
          const granted = yield* Effect.all([tryOne, tryOne, tryOne])
          expect(granted).toEqual([true, false, false])
          yield* Effect.scoped(Effect.gen(function*() {
            yield* pool.acquire
            yield* pool.acquire
            const refused = yield* Effect.flip(pool.acquire)
            expect(refused._tag).toBe("NoCapacityError")
          }))
        }).pipe(Effect.timeout("5 seconds"))

        // Back: a fresh Redis (no persistence) holds a full bucket, shared again once the client reconnects.
        yield* redis.start
        yield* untilShared(store)
        expect(yield* tryOne).toBe(true)
        expect((yield* limiter.status).available).toBeCloseTo(3, 1)
        yield* holdsOne(pool)
      }),
    30_000
  )

  it.live(
    "fail-closed: with Redis stopped calls fail at once with typed errors, and work again when it is back",
    () =>
      Effect.gen(function*() {
        const { redis, store } = yield* connectedStore({ onUnavailable: "fail-closed" })
        const limiter = yield* RateLimiter.make({
          capacity: 4,
          refillRate: 1,
          maxConcurrency: 2,
          key: "closed"
        }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
        const pool = yield* KeyPool.make({
          providerId: "openai",
          keys: ["sk-shared-key-one-0001"],
          key: "closed"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        // Calls in flight when Redis goes: their leases are dropped with it; giving them back must not fail.
        const inFlight = yield* Scope.make()
        yield* Scope.provide(Effect.all([limiter.consume(), pool.acquire]), inFlight)

        yield* redis.stop
        const consumed = yield* Effect.flip(Effect.scoped(limiter.consume())).pipe(Effect.timeout("5 seconds"))
        expect(consumed._tag).toBe("StoreUnavailableError")
        if (consumed._tag === "StoreUnavailableError") {
          expect(consumed.address).toBe(`127.0.0.1:${redis.port}`)
          expect(consumed.message).toContain("fail-closed")
        }
        // Its key has no cap: the pool learns Redis is gone at its next publish.
        const acquired = yield* eventually(
          "the pool failing closed",
          Effect.match(Effect.scoped(pool.acquire), {
            onFailure: (error) => error,
            onSuccess: () => "granted" as const
          }),
          (error) => error !== "granted",
          { every: "20 millis", within: "5 seconds" }
        )
        expect(acquired).toMatchObject({ _tag: "NoCapacityError", storeUnavailable: true })
        // Its status still lists the key: this instance's lease, no share.
        expect(yield* pool.status).toMatchObject([{ inFlight: 1, share: 0 }])
        yield* Scope.close(inFlight, Exit.void)

        yield* redis.start
        yield* untilShared(store)
        const result = yield* Effect.scoped(limiter.consume())
        expect(result.limit).toBe(4)
        yield* holdsOne(pool)
        expect((yield* limiter.status).inFlight).toBe(0)
      }),
    30_000
  )

  it.live(
    "provider.json's store section: a 429 one instance's Llm call gets cools the key for another instance",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const json = {
          store: { redis: redis.url, command_timeout: 2 },
          openai: [{
            model_name: "gpt-4o-mini",
            api_keys: ["sk-shared-key-one-0001"],
            base_url: "http://127.0.0.1:1/v1",
            max_retries: 0,
            rate_limit_capacity: 10,
            rate_limit_refill_rate: 1
          }]
        }
        const http = fakeHttpClient(() =>
          jsonResponse({ error: { message: "slow down" } }, { status: 429, headers: { "retry-after": "5" } })
        )
        // Two instances: each loads the file and builds its own layers (own store connection).
        const instances = yield* Effect.forEach([0, 1], () =>
          Effect.gen(function*() {
            const config = yield* ProviderConfig.fromJson(json)
            const [deployment] = yield* ProviderConfig.deployments(config)
            return yield* Layer.build(
              deployment!.layer.pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, http.client)))
            )
          }))
        const [first, second] = instances.map((context) => ({
          llm: Context.get(context, Llm.Llm),
          pool: Context.get(context, KeyPool.KeyPool),
          limiter: Context.get(context, RateLimiter.RateLimiter)
        }))
        // Connected (up to 20 s on a loaded machine): a fail-closed limiter reads nothing available until then.
        for (let i = 0; i < 800 && (yield* second!.limiter.status).available < 5; i++) yield* Effect.sleep("25 millis")

        // Stamped before the call: the cooldown (the 429's 5 s, 80% of it at least with jitter) runs from a later
        // moment.
        const called = Date.now()
        const failed = yield* Effect.flip(first!.llm.chat({ messages: [Message.user("hi")] }))
        expect(failed._tag).toBe("RateLimitError")
        // Learned at the second instance's next publish.
        const [key] = yield* eventually("the second instance seeing the cooldown", second!.pool.status, ([key]) =>
          key!.coolingUntil !== undefined, { every: "20 millis", within: "5 seconds" })
        expect(key!.coolingUntil).toBeGreaterThan(called + 3_000)
        // One bucket for both: the first instance's call took a token the second one sees gone.
        expect((yield* second!.limiter.status).available).toBeLessThan(10)
      }),
    30_000
  )

  it.live(
    "Redis stopped and started under load: every call ends (granted or a typed error), none hangs, counts are exact " +
      "after",
    () =>
      Effect.gen(function*() {
        const { redis, store } = yield* connectedStore({
          onUnavailable: "fail-open",
          instances: 2,
          leaseTtl: "1 second"
        })
        const limiter = yield* RateLimiter.make({
          capacity: 50,
          refillRate: 200,
          maxConcurrency: 8,
          key: "load"
        }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store)))
        const pool = yield* KeyPool.make({
          providerId: "openai",
          keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 4 }, {
            key: "sk-shared-key-two-0002",
            maxConcurrency: 4
          }],
          key: "load"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        const outcomes = { served: 0, refused: 0 }
        const call = Effect.scoped(Effect.gen(function*() {
          yield* limiter.consume()
          yield* pool.acquire
          yield* Effect.sleep("5 millis")
        })).pipe(
          Effect.tap(() => Effect.sync(() => outcomes.served++)),
          Effect.catchTags({
            NoCapacityError: () => Effect.sync(() => outcomes.refused++),
            StoreUnavailableError: () => Effect.sync(() => outcomes.refused++)
          })
        )
        const load = Effect.forEach(Array.from({ length: 400 }), () => call, { concurrency: 16 })
        const outage = Effect.andThen(
          Effect.sleep("100 millis"),
          Effect.andThen(redis.stop, Effect.andThen(Effect.sleep("300 millis"), redis.start))
        )
        yield* Effect.all([load, outage], { concurrency: "unbounded" }).pipe(Effect.timeout("20 seconds"))
        expect(outcomes.served + outcomes.refused).toBe(400)
        expect(outcomes.served).toBeGreaterThan(0)

        yield* untilShared(store)
        // Nothing held any more: the shared counts are back to zero (leases from before the outage were lost with it).
        expect((yield* pool.status).map((key) => key.inFlight)).toEqual([0, 0])
        expect((yield* limiter.status).inFlight).toBe(0)
      }),
    60_000
  )

  it.live(
    "a store whose Redis is down at start still builds, serves per onUnavailable, connects when Redis comes up, and " +
      "closes at once",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        yield* redis.stop
        const closed = yield* Scope.make()
        const open = yield* Scope.provide(instance(redis.url, { onUnavailable: "fail-open" }), closed)
        const shut = yield* Scope.provide(instance(redis.url, { onUnavailable: "fail-closed" }), closed)
        const local = yield* Scope.provide(
          RateLimiter.make({ capacity: 2, refillRate: 1, key: "down" }).pipe(
            Effect.provide(RateLimiter.layerStoreRedis(open))
          ),
          closed
        )
        const none = yield* Scope.provide(
          RateLimiter.make({ capacity: 2, refillRate: 1, key: "down" }).pipe(
            Effect.provide(RateLimiter.layerStoreRedis(shut))
          ),
          closed
        )
        // Fail-open, a bucket never read in Redis starts empty (others may have emptied it); fail-closed, none.
        const empty = yield* Effect.flip(Effect.scoped(local.consume({ onExceeded: "fail" })))
        expect(empty._tag).toBe("RateLimiterExceededError")
        const refused = yield* Effect.flip(Effect.scoped(none.consume()))
        expect(refused._tag).toBe("StoreUnavailableError")
        // Redis comes up: both connect by themselves.
        yield* redis.start
        yield* untilShared(open)
        yield* untilShared(shut)
        expect((yield* Effect.scoped(none.consume())).limit).toBe(2)
        expect((yield* Effect.scoped(local.consume({ onExceeded: "fail" }))).limit).toBe(2)
        yield* Scope.close(closed, Exit.void).pipe(Effect.timeout("5 seconds"))
      }),
    30_000
  )

  it.live(
    "a budget shared by three instances is never passed under 200 concurrent calls",
    () =>
      Effect.gen(function*() {
        const { redis } = yield* connectedStore()
        const budgets = yield* onInstances(redis.url, 3, (store) =>
          Budget.make({
            limits: [{ scope: Budget.overall, limit: 1, period: "1 hour" }],
            key: "spend"
          }).pipe(Effect.provide(Budget.layerStoreRedis(store))))
        let admitted = 0
        let charged = 0
        yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => budgets[i % 3]!),
          (budget, i) =>
            Effect.matchEffect(budget.check({ estimate: 0.03, model: "gpt-4o" }), {
              onFailure: (error) => Effect.sync(() => expect(error._tag).toBe("BudgetExceededError")),
              onSuccess: (reservation) => {
                admitted++
                // The real cost is at most the estimate; some calls cost nothing.
                const cost = [0.03, 0.02, 0][i % 3]!
                charged += cost
                return Effect.andThen(Effect.sleep("5 millis"), budget.charge(reservation, cost))
              }
            }),
          { concurrency: "unbounded" }
        )
        expect(admitted).toBeGreaterThanOrEqual(33)
        for (const budget of budgets) {
          const [status] = yield* budget.status
          expect(status!.reserved).toBeCloseTo(0, 9)
          expect(status!.spent).toBeCloseTo(charged, 9)
          expect(status!.spent).toBeLessThanOrEqual(1 + 1e-9)
        }
      }),
    30_000
  )

  it.live(
    "a reservation of an instance that dies lapses within the TTL; without Redis a budget fails closed or keeps a " +
      "share",
    () =>
      Effect.gen(function*() {
        // A TTL of 2 s, renewed every third of it: the dying instance's reservation outlives a stall of this process
        // of a second and more while it lives.
        const { redis, store } = yield* connectedStore({ leaseTtl: "2 seconds" })
        const limits = [{ scope: Budget.overall, limit: 1, period: "1 hour" }] as const
        const { store: dying, die } = yield* mortal(redis.url, { leaseTtl: "2 seconds" })
        const first = yield* Budget.make({ limits, key: "lapse" }).pipe(Effect.provide(Budget.layerStoreRedis(dying)))
        yield* first.check({ estimate: 0.9 })
        const other = yield* Budget.make({ limits, key: "lapse" }).pipe(Effect.provide(Budget.layerStoreRedis(store)))
        expect((yield* Effect.flip(other.check({ estimate: 0.5 })))._tag).toBe("BudgetExceededError")
        yield* die
        // Past the TTL since its last renewal, which came before the close.
        yield* Effect.sleep("2200 millis")
        yield* other.charge(yield* other.check({ estimate: 0.5 }), 0.5)
        expect((yield* other.status)[0]).toMatchObject({ spent: 0.5, reserved: 0 })

        const open = yield* Budget.make({
          limits,
          key: "lapse"
        }).pipe(
          Effect.provide(
            Budget.layerStoreRedis(yield* connected(redis.url, { onUnavailable: "fail-open", instances: 4 }))
          )
        )
        // The fail-open instance reads the budget (0.5 of 1 spent) before Redis goes.
        expect((yield* open.status)[0]).toMatchObject({ spent: 0.5 })
        yield* redis.stop
        // Fail-closed: no check passes. Fail-open: a quarter of what was left, locally.
        expect((yield* Effect.flip(other.check({ estimate: 0.1 })))._tag).toBe("NoCapacityError")
        yield* open.check({ estimate: 0.125 })
        expect((yield* Effect.flip(open.check({ estimate: 0.01 })))._tag).toBe("BudgetExceededError")
      }),
    30_000
  )

  // A store on a redis-server behind a proxy that can stop answering, connected; the deadlines of its commands are on
  // the test's clock, so under `TestClock` none passes however long a loaded machine takes until the test moves it.
  const behindProxy = (commandTimeout: Duration.Input) =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const proxy = yield* pausableProxy(redis.port)
      const store = yield* instance(proxy.url, { onUnavailable: "fail-closed", commandTimeout })
      yield* TestClock.withLive(untilShared(store))
      return { proxy, store }
    })

  // Until `count` chunks of reply are held back by the paused proxy: the commands reached Redis, so were sent (and
  // their deadlines set) before the test moves its clock.
  const untilHeld = (proxy: RedisProxy, count: number) =>
    eventually(`${count} replies held back`, Effect.sync(proxy.held), (held) => held >= count)

  it.effect(
    "a command's wait is kept on the Clock: under TestClock, a silent Redis fails it once commandTimeout has passed " +
      "there, not a millisecond before",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy("2 seconds")
        proxy.pause()
        const waiting = yield* Effect.forkChild(store.connection.send<string>("PING"), { startImmediately: true })
        yield* untilHeld(proxy, 1)
        yield* TestClock.adjust("1999 millis")
        expect(waiting.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        // Failed by then: no real time passed, no timer of its own waited.
        const exit = waiting.pollUnsafe()
        expect(exit !== undefined && Exit.isFailure(exit)).toBe(true)
        const failed = yield* Effect.flip(Fiber.join(waiting))
        expect(failed).toMatchObject({ _tag: "StoreUnavailableError", reason: "no reply within 2000 ms" })
        proxy.resume()
        expect(yield* store.connection.send<string>("PING")).toBe("PONG")
      }),
    30_000
  )

  it.effect(
    "a Redis that stops answering fails each command within commandTimeout, as unavailable, and serves again when it " +
      "answers",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy("200 millis")
        const limiter = yield* RateLimiter.make({ capacity: 10, refillRate: 10, key: "paused" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(store))
        )
        yield* Effect.scoped(limiter.consume())

        proxy.pause()
        const consuming = yield* Effect.forkChild(Effect.flip(Effect.scoped(limiter.consume())), {
          startImmediately: true
        })
        yield* untilHeld(proxy, 1)
        yield* TestClock.adjust("200 millis")
        expect(yield* Fiber.join(consuming)).toMatchObject({
          _tag: "StoreUnavailableError",
          reason: "no reply within 200 ms"
        })

        proxy.resume()
        // The reply held back arrives late and is dropped; the next command is answered.
        const result = yield* Effect.scoped(limiter.consume())
        expect(result.limit).toBe(10)
      }),
    30_000
  )

  it.effect(
    "commands sent one after another to a Redis that stops answering each fail at their own deadline, and later ones " +
      "are answered, each with its own reply",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy("200 millis")
        const echo = (text: string) => store.connection.send<string>("ECHO", text)
        const noReply = { _tag: "StoreUnavailableError", reason: "no reply within 200 ms" }

        proxy.pause()
        // The second is sent while the first waits, so it is still in flight when the first's deadline passes.
        const first = yield* Effect.forkChild(Effect.flip(echo("first")), { startImmediately: true })
        yield* untilHeld(proxy, 1)
        yield* TestClock.adjust("100 millis")
        const second = yield* Effect.forkChild(Effect.flip(echo("second")), { startImmediately: true })
        yield* untilHeld(proxy, 2)
        yield* TestClock.adjust("100 millis")
        expect(yield* Fiber.join(first)).toMatchObject(noReply)
        expect(second.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("100 millis")
        expect(yield* Fiber.join(second)).toMatchObject(noReply)

        proxy.resume()
        // The replies held back ("first", "second") arrive late and are dropped: none is taken for a later command's.
        const later = ["third", "fourth", "fifth"]
        expect(yield* Effect.all(later.map(echo), { concurrency: "unbounded" })).toEqual(later)
      }),
    30_000
  )

  it.live(
    "scripts Redis has forgotten (SCRIPT FLUSH) are loaded again by the call that finds them missing",
    () =>
      Effect.gen(function*() {
        const { redis, store } = yield* connectedStore({ onUnavailable: "fail-closed" })
        const raw = yield* rawClient(redis.url)
        const limiter = yield* RateLimiter.make({ capacity: 3, refillRate: 0.001, key: "flushed" }).pipe(
          Effect.provide(RateLimiter.layerStoreRedis(store))
        )
        const capped = yield* KeyPool.make({
          providerId: "openai",
          keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 2 }],
          key: "flushed"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        const open = yield* KeyPool.make({
          providerId: "openai",
          keys: ["sk-shared-key-one-0001"],
          key: "open"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        yield* Effect.scoped(limiter.consume())
        yield* holdsOne(capped)
        yield* holdsOne(open)
        yield* Effect.promise(() => raw.sendCommand(["SCRIPT", "FLUSH"]))
        yield* Effect.scoped(limiter.consume())
        yield* holdsOne(capped)
        // An uncapped key's cooldown is told to Redis by a script sent again whole after the flush.
        yield* Effect.scoped(Effect.flatMap(open.acquire, (lease) => open.report(lease, rateLimited("5 seconds"))))
        const cool = yield* Effect.promise(() =>
          raw.hGet("effect-llm-router:leases:pool:open:state", "cool:sk-…0001#ad20")
        )
        expect(Number(cool)).toBeGreaterThan(Date.now() + 3_000)
        // The bucket's state survived the flush: two of its three tokens are spent.
        expect((yield* limiter.status).available).toBeCloseTo(1, 1)
      }),
    30_000
  )

  it.live(
    "the expired leases of an instance that died are not counted, and the next pick on their pool drops them",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const raw = yield* rawClient(redis.url)
        const options = {
          providerId: "openai",
          keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 5 }],
          whenExhausted: { _tag: "Fail" } as const
        }
        const { store: dying, die } = yield* mortal(redis.url, { leaseTtl: "300 millis" })
        const pool = yield* KeyPool.make({ ...options, key: "expired" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(dying))
        )
        yield* Scope.provide(Effect.all([pool.acquire, pool.acquire, pool.acquire]), yield* Scope.make())
        yield* die
        const [set] = yield* Effect.promise(() => raw.keys("effect-llm-router:leases:pool:expired:*[^e]"))
        expect(yield* Effect.promise(() => raw.zCard(set!))).toBe(3)

        yield* Effect.sleep("400 millis")
        const survivor = yield* connected(redis.url, { leaseTtl: "300 millis" })
        const other = yield* KeyPool.make({ ...options, key: "expired" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(survivor))
        )
        expect((yield* other.status)[0]!.inFlight).toBe(0)
        yield* Effect.scoped(Effect.gen(function*() {
          yield* other.acquire
          expect((yield* other.status)[0]!.inFlight).toBe(1)
        }))
        expect(yield* Effect.promise(() => raw.zCard(set!))).toBe(0)
      }),
    30_000
  )

  it.live(
    "an expired lease never counts toward its key's cap, and its holder's late release does not count it off twice",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const candidates = [{ id: "a", weight: 1, maxConcurrency: 2 }, { id: "b", weight: 1, maxConcurrency: 2 }]
        // One instance whose renewals stop (it dies) while it holds a lease of each key.
        const { store: dying, die } = yield* mortal(redis.url, { leaseTtl: "300 millis" })
        const lost = yield* Leases.group(dying.connection, "late", candidates, 0)
        const taken = [yield* lost.pick, yield* lost.pick]
        expect(taken.map((result) => result._tag)).toEqual(["Taken", "Taken"])
        yield* die
        yield* Effect.sleep("400 millis")

        const survivor = yield* connected(redis.url, { leaseTtl: "300 millis" })
        const group = yield* Leases.group(survivor.connection, "late", candidates, 0)
        expect((yield* group.status).keys.map((key) => key.inFlight)).toEqual([0, 0])
        // Both keys at their cap of two, from this instance alone: the expired leases are not among them.
        const held = [yield* group.pick, yield* group.pick, yield* group.pick, yield* group.pick]
        expect(held.map((result) => result._tag)).toEqual(["Taken", "Taken", "Taken", "Taken"])
        expect(yield* group.pick).toMatchObject({ _tag: "Blocked", releasable: true })
        // The dead instance's releases arriving late (a reply lost, a stall): their leases are gone, the counts stay.
        for (const result of taken) {
          if (result._tag === "Taken") yield* group.release(result.index, result.lease, undefined)
        }
        expect((yield* group.status).keys.map((key) => key.inFlight)).toEqual([2, 2])
        expect(yield* group.pick).toMatchObject({ _tag: "Blocked", releasable: true })
        for (const result of held) {
          if (result._tag === "Taken") yield* group.release(result.index, result.lease, "success")
        }
        expect((yield* group.status).keys.map((key) => key.inFlight)).toEqual([0, 0])
      }),
    30_000
  )

  it.live("a started command's reply is had however late its wait runs", () =>
    Effect.gen(function*() {
      const { store } = yield* connectedStore()
      const echo = store.connection.bind(
        Redis.script((word: string) => [word], { numberOfKeys: 0, lua: "return ARGV[1]" })
      )
      // Two started together, as a call's permit and key are; both replies are in before either wait runs.
      const first = yield* echo.start(["0", "permit"])
      const second = yield* echo.start(["0", "key"])
      yield* Effect.sleep("200 millis")
      const waited = (wait: Effect.Effect<unknown, unknown>) =>
        wait.pipe(Effect.timeoutOrElse({
          duration: "5 seconds",
          orElse: () => Effect.die("a reply that came before its wait was never had")
        }))
      expect(yield* waited(first)).toBe("permit")
      expect(yield* waited(second)).toBe("key")
    }))

  it.live(
    "a key's count left by a lease set lost on its own (evicted, deleted) is let go within the TTL",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const raw = yield* rawClient(redis.url)
        // Long enough that the check right after the release comes before it on a loaded machine.
        const store = yield* instance(redis.url, { leaseTtl: "3 seconds" })
        yield* untilShared(store)
        const group = yield* Leases.group(
          store.connection,
          "evicted",
          [{ id: "a", weight: 1, maxConcurrency: 1 }],
          0
        )
        const taken = yield* group.pick
        expect(taken._tag).toBe("Taken")
        // The lease set goes (the count stays in the state hash); the holder lets its lease go.
        yield* Effect.promise(() => raw.del(`${store.connection.prefix}:leases:evicted:held`))
        if (taken._tag === "Taken") yield* group.release(taken.index, taken.lease, "success")
        expect(yield* group.pick).toMatchObject({ _tag: "Blocked", releasable: true })
        // Once the TTL has passed, a pick finds no lease held at all, and the key free.
        const picked = yield* eventually("the key let go once its lease's TTL passed", group.pick, (pick) =>
          pick._tag === "Taken", { every: "100 millis" })
        expect(picked._tag).toBe("Taken")
      }),
    30_000
  )

  it.live(
    "a group of more candidates than one HMGET reads skips the disabled and cooling ones past the first thousand",
    () =>
      Effect.gen(function*() {
        const { store } = yield* connectedStore()
        const connection = store.connection
        // 1,100 candidates, 3,301 state fields: two reads. All are at their cap (0) but the last three.
        const candidates = Array.from(
          { length: 1_100 },
          (_, i) => ({ id: `k${i}`, weight: 1, maxConcurrency: i < 1_097 ? 0 : 1 })
        )
        const group = yield* Leases.group(connection, "many", candidates, 0)
        const cool = {
          askedMillis: 60_000,
          initialMillis: 1_000,
          maxMillis: 60_000,
          jitterFactor: 1,
          capMillis: 60_000
        }
        yield* group.release(1_097, "", { disabled: "revoked" })
        yield* group.release(1_098, "", cool)
        const until = (yield* group.status).keys[1_098]!.coolingUntil
        expect(until).toBeGreaterThan(0)

        const first = yield* group.pick
        expect(first).toMatchObject({ _tag: "Taken", index: 1_099 })
        const second = yield* group.pick
        expect(second).toMatchObject({ _tag: "Blocked", allDisabled: false, releasable: true, availableAt: until })
        const read = yield* group.status
        expect(read.keys.slice(1_097)).toEqual([
          { inFlight: 0, coolingUntil: 0, disabled: "revoked" },
          { inFlight: 0, coolingUntil: until, disabled: undefined },
          { inFlight: 1, coolingUntil: 0, disabled: undefined }
        ])
      }),
    30_000
  )

  it.live(
    "a capped key's lease given back on one instance is free for another at once; an uncapped one's release is " +
      "counted on its own instance at once",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const [first, second] = yield* onInstances(redis.url, 2, Effect.succeed)
        const capped = {
          providerId: "openai",
          keys: [{ key: "sk-shared-key-one-0001", maxConcurrency: 1 }],
          whenExhausted: { _tag: "Fail" } as const
        }
        const a = yield* KeyPool.make({ ...capped, key: "capped" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(first!))
        )
        const b = yield* KeyPool.make({ ...capped, key: "capped" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(second!))
        )
        for (let i = 0; i < 20; i++) {
          yield* Effect.scoped(a.acquire)
          yield* Effect.scoped(b.acquire)
        }
        const open = { providerId: "openai", keys: ["sk-shared-key-one-0001"] }
        const c = yield* KeyPool.make({ ...open, key: "open" }).pipe(Effect.provide(KeyPool.layerStoreRedis(first!)))
        for (let i = 0; i < 20; i++) yield* holdsOne(c)
      }),
    30_000
  )
})
