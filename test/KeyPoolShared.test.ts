/**
 * A shared key pool's keys without a cap, picked over the counts each instance publishes: the picking (the state
 * machine, as a property), what a call costs in commands, how a dead instance's counts lapse, a pool of capped and
 * uncapped keys, and the balance three instances keep under load; and the token bucket's expiry while instances of
 * the earlier layout share it (a rolling upgrade).
 */
import { describe, expect, it } from "@effect/vitest"
import { KeyPool, LlmError, Store } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"
import * as Memory from "../src/internal/keyPool/memory.js"
import * as Bucket from "../src/internal/rateLimiter/redis/bucket.js"
import { earlierBucketScript } from "./utils/earlierBucket.js"
import { eventually } from "./utils/eventually.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, mortal } from "./utils/sharedStore.js"

const keys = ["sk-published-key-0001", "sk-published-key-0002", "sk-published-key-0003", "sk-published-key-0004"]

/** `store` with every command its connection sends counted in `sent`. */
const counting = (store: Store.Store) => {
  const sent = { count: 0 }
  const count = <A, E>(effect: Effect.Effect<A, E>) => Effect.andThen(Effect.sync(() => sent.count++), effect)
  const connection = store.connection
  const counted: Store.Store = {
    ...store,
    connection: {
      ...connection,
      eval: (script) => (...params) => count(connection.eval(script)(...params)),
      post: (script) => (...params) => count(connection.post(script)(...params)),
      send: (...args) => count(connection.send(...args)),
      bind: (script) => {
        const bound = connection.bind(script)
        return {
          eval: (args) => count(bound.eval(args)),
          start: (args) => count(bound.start(args)),
          post: (args) => count(bound.post(args))
        }
      }
    }
  }
  return { store: counted, sent }
}

describe("KeyPool over published counts: picking", () => {
  it("property: the key taken has the least load, this instance's calls plus the others' published ones over its weight", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ weight: fc.integer({ min: 1, max: 4 }), mine: fc.nat(6), elsewhere: fc.nat(40) }),
          { minLength: 1, maxLength: 8 }
        ),
        fc.nat(20),
        (entries, takes) => {
          const group = Memory.makeGroup()
          const slots = Memory.join(
            group,
            entries.map((entry, i) => ({ id: `sk-…${i}`, weight: entry.weight, maxConcurrency: Infinity }))
          )
          slots.forEach((slot, i) => {
            for (let k = 0; k < entries[i]!.mine; k++) Memory.take(group, slot)
            Memory.setElsewhere(group, slot, entries[i]!.elsewhere)
          })
          for (let t = 0; t < takes; t++) {
            const loads = slots.map((slot) => (slot.inFlight + slot.elsewhere) / slot.weight)
            const taken = Memory.leastLoaded(group, 0, 0)
            if (taken === undefined) throw new Error("no key taken from a pool without cooldowns")
            Memory.take(group, taken)
            expect(loads[taken.index]).toBe(Math.min(...loads))
            expect(Memory.invariantViolation(group)).toBeUndefined()
          }
        }
      )
    ))
})

describe("KeyPool over published counts, through a real redis-server", () => {
  it.effect("publishTtl must outlast publishPeriod", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Store.make({ redis: "redis://127.0.0.1:1", publishPeriod: "1 second", publishTtl: "1 second" }))
      )
      expectOptionsError(error, { module: "Store", option: "publishTtl" })
    }))

  it.live(
    "a call on a key without a cap sends Redis nothing; a 429 sends one command, the next success one (the rate " +
      "limit's count cleared), the one after none",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const { sent, store } = counting(
          yield* connected(redis.url, { publishPeriod: "1 minute", publishTtl: "2 minutes" })
        )
        const pool = yield* KeyPool.make({
          providerId: "openai",
          keys: keys.slice(0, 1),
          key: "quiet"
        }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))
        const before = sent.count
        for (let i = 0; i < 100; i++) {
          yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => pool.report(lease, "success")))
        }
        expect(sent.count).toBe(before)
        const limited = new LlmError.RateLimitError({
          provider: "openai",
          model: "gpt-4o-mini",
          retryAfter: Duration.millis(300)
        })
        const reported = Date.now()
        yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => pool.report(lease, limited)))
        expect(sent.count).toBe(before + 1)
        // The cooldown Redis set, on this instance at once.
        expect((yield* pool.status)[0]!.coolingUntil).toBeGreaterThan(reported + 200)
        yield* Effect.sleep("400 millis")
        yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => pool.report(lease, "success")))
        expect(sent.count).toBe(before + 2)
        yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => pool.report(lease, "success")))
        expect(sent.count).toBe(before + 2)
      }),
    30_000
  )

  it.live(
    "another instance's calls count in its published counts, and a dead instance's lapse within the publish TTL",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const timing = { publishPeriod: "50 millis", publishTtl: "1 second" } as const
        const options = { providerId: "openai", keys: keys.slice(0, 1) }
        const { die, store: dying } = yield* mortal(redis.url, timing)
        const doomed = yield* KeyPool.make({ ...options, key: "lapse" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(dying))
        )
        yield* Scope.provide(Effect.all([doomed.acquire, doomed.acquire, doomed.acquire]), yield* Scope.make())
        const survivor = yield* connected(redis.url, timing)
        const other = yield* KeyPool.make({ ...options, key: "lapse" }).pipe(
          Effect.provide(KeyPool.layerStoreRedis(survivor))
        )
        yield* eventually("the other's three calls counted", other.status, ([key]) => key!.inFlight === 3, {
          every: "20 millis",
          within: "5 seconds"
        })
        yield* die
        const started = performance.now()
        yield* eventually("the dead instance's counts gone", other.status, ([key]) => key!.inFlight === 0, {
          every: "20 millis",
          within: "10 seconds"
        })
        // Within the TTL and a publish of the survivor's, with room for a loaded machine's late readings.
        expect(performance.now() - started).toBeLessThan(1_000 + 50 + 1_000)
        const raw = yield* Effect.acquireRelease(
          Effect.promise(() => import("redis").then(({ createClient }) => createClient({ url: redis.url }).connect())),
          (client) => Effect.promise(() => client.close())
        )
        expect(yield* Effect.promise(() => raw.hLen("effect-llm-router:leases:pool:lapse:counts"))).toBe(1)
      }),
    30_000
  )

  it.live(
    "a pool of capped and uncapped keys takes a capped key only when it is less loaded; the cap holds across " +
      "instances",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const options = {
          providerId: "openai",
          keys: [{ key: keys[0]!, maxConcurrency: 2 }, keys[1]!],
          whenExhausted: { _tag: "Fail" } as const
        }
        const [one, two] = yield* Effect.forEach([0, 1], () =>
          Effect.flatMap(connected(redis.url), (store) =>
            KeyPool.make({ ...options, key: "mixed" }).pipe(Effect.provide(KeyPool.layerStoreRedis(store)))))
        const [capped, open] = (yield* one!.status).map((key) =>
          key.keyId
        )
        const taken = yield* Effect.forEach([0, 1, 2, 3], () =>
          Effect.map(one!.take(), (lease) =>
            lease.credentials.keyId))
        // Ties go to the uncapped key, which costs no round trip.
        expect(taken).toEqual([open, capped, open, capped])
        expect(yield* two!.tryTakeKey(capped!)).toBeUndefined()
        expect(
          (yield* two!.status).find((key) =>
            key.keyId === capped
          )!.inFlight
        ).toBe(2)
        // The capped key full: the uncapped one takes the rest, however loaded.
        const more = yield* Effect.forEach([0, 1, 2], () => Effect.map(two!.take(), (lease) => lease.credentials.keyId))
        expect(more).toEqual([open, open, open])
      }),
    30_000
  )

  it.live(
    "three instances under load keep the keys' loads close: the worst spread between keys stays within a bound",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const pools = yield* Effect.forEach([0, 1, 2], () =>
          Effect.flatMap(connected(redis.url), (store) =>
            KeyPool.make({ providerId: "openai", keys, key: "balance" }).pipe(
              Effect.provide(KeyPool.layerStoreRedis(store))
            )))
        const ids = (yield* pools[0]!.status).map((key) =>
          key.keyId
        )
        // The calls in flight on each key, across the three.
        const inFlight = ids.map(() => 0)
        let worst = 0
        let worstCalls = 0
        let samples = 0
        const call = (pool: KeyPool.Service, i: number) =>
          Effect.scoped(Effect.gen(function*() {
            const lease = yield* pool.acquire
            const k = ids.indexOf(lease.credentials.keyId)
            inFlight[k]!++
            yield* Effect.sleep(Duration.millis(5 + (i * 7919) % 40))
            inFlight[k]!--
          }))
        // Unequal instances: 48, 32 and 16 calls at once, 600 each.
        const load = Effect.forEach(
          pools,
          (pool, p) =>
            Effect.forEach(Array.from({ length: 600 }, (_, i) => i), (i) => call(pool, i), {
              concurrency: 48 - 16 * p
            }),
          { concurrency: "unbounded" }
        )
        // Every 10 ms while most calls are in flight: the spread between the most and the least loaded key, over
        // the mean load.
        const sampling = Effect.forever(Effect.andThen(
          Effect.sleep("10 millis"),
          Effect.sync(() => {
            const total = inFlight.reduce((a, b) => a + b, 0)
            if (total < 64) return
            samples++
            worst = Math.max(worst, (Math.max(...inFlight) - Math.min(...inFlight)) / (total / inFlight.length))
            worstCalls = Math.max(worstCalls, Math.max(...inFlight) - Math.min(...inFlight))
          })
        ))
        yield* Effect.raceFirst(load, sampling)
        expect(samples).toBeGreaterThan(10)
        expect(worst).toBeLessThan(0.5)
      }),
    60_000
  )
})

describe("The token bucket during a rolling upgrade", () => {
  it.live(
    "property: instances of the earlier layout (expiry pushed at every write) and of this one (pushed when due) " +
      "sharing a bucket: after every operation of either it outlives its refill, and the other reads its level",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* connected(redis.url)
        const raw = yield* Effect.acquireRelease(
          Effect.promise(() => import("redis").then(({ createClient }) => createClient({ url: redis.url }).connect())),
          (client) => Effect.promise(() => client.close())
        )
        const capacity = 20
        const perSecond = 5
        let run = 0
        const op = fc.record({
          earlier: fc.boolean(),
          name: fc.constantFrom("take", "try", "give", "charge", "reset", "peek"),
          amount: fc.integer({ min: 0, max: 25 }),
          pause: fc.integer({ min: 0, max: 20 })
        })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
              const key = `upgrade-${run++}`
              const full = `effect-llm-router:bucket:${key}`
              const bucket = Bucket.make(store.connection, { key, capacity, refillRate: perSecond })
              for (const { amount, earlier, name, pause } of ops) {
                await new Promise((resolve) => setTimeout(resolve, pause))
                const earlierOp = (op: string, n: number) =>
                  raw.sendCommand([
                    "EVAL",
                    earlierBucketScript,
                    "1",
                    full,
                    op,
                    String(capacity),
                    String(perSecond / 1000),
                    String(n)
                  ]).then((reply) => (reply as unknown as [number, number, number])[1] / 1_000_000)
                const laterOp = (op: string, n: number) =>
                  Effect.runPromise(Effect.map(
                    op === "take"
                      ? bucket.take(n)
                      : op === "try"
                      ? bucket.tryTake(n)
                      : op === "give"
                      ? bucket.give(n)
                      : op === "charge"
                      ? bucket.charge(n)
                      : op === "reset"
                      ? bucket.reset
                      : bucket.peek,
                    (result) => result.level
                  ))
                const started = performance.now()
                const level = await (earlier ? earlierOp : laterOp)(name, amount)
                // The other layout reads the level this one left, refilled since and no more.
                const seen = await (earlier ? laterOp : earlierOp)("peek", 0)
                const elapsed = performance.now() - started
                expect(seen).toBeGreaterThanOrEqual(Math.min(capacity, level) - 1e-6)
                expect(seen).toBeLessThanOrEqual(Math.min(capacity, level + perSecond * (elapsed + 5) / 1000) + 1e-6)
                const ttl = await raw.pTTL(full)
                const refill = Math.ceil((capacity - level) / perSecond * 1000)
                // A bucket that is not full is there until it would be: gone (-2) only once full.
                if (ttl === -2) expect(level).toBeGreaterThanOrEqual(capacity - 1e-6)
                else expect(ttl).toBeGreaterThanOrEqual(refill)
              }
            }),
            { numRuns: 40 }
          )
        )
      }),
    120_000
  )
})
