import { describe, expect, it } from "@effect/vitest"
import { KeyPool, LlmError } from "effect-llm-router"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Memory from "../src/internal/keyPool/memory.js"
import * as Stored from "../src/internal/keyPool/stored.js"
import { effectProp } from "./utils/effectProp.js"
import { poolInMemory, registryInMemory } from "./utils/memoryStores.js"
import { expectOptionsError } from "./utils/optionsError.js"

const keyA = "sk-alpha-secret-value-0001"
const keyB = "sk-bravo-secret-value-0002"
const keyC = "sk-charlie-secret-value-0003"
const idA = LlmError.maskKey(keyA)
const idB = LlmError.maskKey(keyB)
const idC = LlmError.maskKey(keyC)

const rateLimit = (retryAfter?: Duration.Input) =>
  new LlmError.RateLimitError({
    provider: "test",
    model: "m",
    ...(retryAfter === undefined ? {} : { retryAfter: Duration.fromInputUnsafe(retryAfter) })
  })
const invalidKey = new LlmError.AuthError({ provider: "test", model: "m", reason: "invalid_key" })
const timeout = new LlmError.TimeoutError({ provider: "test", model: "m" })

/** One acquire/release cycle; the key it got. */
const cycle = (pool: KeyPool.Service) => Effect.scoped(Effect.map(pool.acquire, (lease) => lease.credentials.keyId))

/** Acquires into `scope`, so the lease is held until the test closes it. */
const hold = (pool: KeyPool.Service, scope: Scope.Scope) => Scope.provide(pool.acquire, scope)

const inFlightById = (statuses: ReadonlyArray<KeyPool.KeyStatus>) =>
  Object.fromEntries(statuses.map((s) => [s.keyId, s.inFlight]))

const statusOf = (pool: KeyPool.Service, keyId: string) =>
  Effect.map(pool.status, (statuses) => statuses.find((s) => s.keyId === keyId)!)

const failFast = { _tag: "Fail" } as const
const waitUpTo = (maxWait: Duration.Input) => ({ _tag: "Wait", maxWait }) as const

/** Lets forked fibers run up to their next suspension. */
const settle = Effect.repeat(Effect.yieldNow, { times: 5 })

describe("KeyPool", () => {
  describe("choosing a key", () => {
    it.effect("rotates through equal idle keys, the key picked longest ago first", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB, keyC] })
        const picked: Array<string> = []
        for (let i = 0; i < 7; i++) picked.push(yield* cycle(pool))
        expect(picked).toEqual([idA, idB, idC, idA, idB, idC, idA])
      }))

    it.effect("hands out the least-loaded key", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB] })
        const scope = yield* Scope.make()
        const first = yield* hold(pool, scope)
        expect(first.credentials.keyId).toBe(idA)
        // Every cycle now avoids the loaded key.
        for (let i = 0; i < 3; i++) expect(yield* cycle(pool)).toBe(idB)
        yield* Scope.close(scope, Exit.void)
        expect(inFlightById(yield* pool.status)).toEqual({ [idA]: 0, [idB]: 0 })
      }))

    it.effect("a key with weight 2 carries twice the in-flight share", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [{ key: keyA, weight: 2 }, keyB] })
        const scope = yield* Scope.make()
        for (let i = 0; i < 9; i++) yield* hold(pool, scope)
        expect(inFlightById(yield* pool.status)).toEqual({ [idA]: 6, [idB]: 3 })
        yield* Scope.close(scope, Exit.void)
      }))

    it.effect("maxConcurrency caps a key; the rest goes elsewhere, or fails when nothing is left", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({
          providerId: "test",
          keys: [{ key: keyA, maxConcurrency: 2 }, keyB],
          whenExhausted: failFast
        })
        const scope = yield* Scope.make()
        for (let i = 0; i < 10; i++) yield* hold(pool, scope)
        expect(inFlightById(yield* pool.status)).toEqual({ [idA]: 2, [idB]: 8 })

        const single = yield* poolInMemory({
          providerId: "solo",
          keys: [{ key: keyC, maxConcurrency: 2 }],
          whenExhausted: failFast
        })
        yield* hold(single, scope)
        yield* hold(single, scope)
        const error = yield* Effect.flip(hold(single, scope))
        expect(error._tag).toBe("NoCapacityError")
        expect(error.provider).toBe("solo")
        expect(error.availableAt).toBeUndefined()
        expect((yield* statusOf(single, idC)).maxConcurrency).toBe(2)
        yield* Scope.close(scope, Exit.void)
      }))

    it.effect("a key listed twice counts once", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({
          providerId: "test",
          keys: [keyA, Redacted.make(keyA), { key: keyA, weight: 5 }, keyB]
        })
        const statuses = yield* pool.status
        expect(statuses.map((s) => [s.keyId, s.weight])).toEqual([[idA, 1], [idB, 1]])
      }))
  })

  describe("releasing", () => {
    it.effect("interruption, failure and success all free the key", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const fiber = yield* Effect.forkChild(Effect.scoped(Effect.andThen(pool.acquire, Effect.never)))
        yield* settle
        expect((yield* statusOf(pool, idA)).inFlight).toBe(1)
        yield* Fiber.interrupt(fiber)
        expect((yield* statusOf(pool, idA)).inFlight).toBe(0)

        const failed = yield* Effect.exit(Effect.scoped(Effect.andThen(pool.acquire, Effect.fail("boom"))))
        expect(Exit.isFailure(failed)).toBe(true)
        yield* cycle(pool)
        const status = yield* statusOf(pool, idA)
        expect(status.inFlight).toBe(0)
        expect(status.totalRequests).toBe(3)
      }))
  })

  describe("cooldowns", () => {
    it.effect("a RateLimitError cools the key for its retryAfter, to the millisecond", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], whenExhausted: failFast })
        const lease = yield* Effect.scoped(pool.acquire)
        yield* pool.report(lease, rateLimit("10 seconds"))
        expect((yield* statusOf(pool, idA)).coolingUntil).toBe(10_000)

        yield* TestClock.adjust("9999 millis")
        const error = yield* Effect.flip(cycle(pool))
        expect(error._tag).toBe("NoCapacityError")
        expect(error.availableAt).toBe(10_000)
        expect(error.model).toBe("")

        yield* TestClock.adjust("1 millis")
        expect(yield* cycle(pool)).toBe(idA)
        expect((yield* statusOf(pool, idA)).coolingUntil).toBeUndefined()
      }))

    it.effect("a retryAfter of a day cools the key for maxCooldown only (default 5 minutes)", () =>
      Effect.gen(function*() {
        for (const [maxCooldown, capMillis] of [[undefined, 300_000], ["2 minutes", 120_000]] as const) {
          const start = yield* Clock.currentTimeMillis
          const pool = yield* poolInMemory({
            providerId: "test",
            keys: [keyA],
            whenExhausted: failFast,
            ...(maxCooldown === undefined ? {} : { maxCooldown })
          })
          const lease = yield* Effect.scoped(pool.acquire)
          yield* pool.report(lease, rateLimit("86400 seconds"))
          expect((yield* statusOf(pool, idA)).coolingUntil).toBe(start + capMillis)

          yield* TestClock.adjust(Duration.millis(capMillis - 1))
          expect((yield* Effect.flip(cycle(pool))).availableAt).toBe(start + capMillis)
          yield* TestClock.adjust("1 millis")
          expect(yield* cycle(pool)).toBe(idA)
        }
      }))

    it.effect(
      "without retryAfter a key cools 1 s, doubling at each consecutive rate limit up to 30 s; a success " +
        "starts over",
      () =>
        Effect.gen(function*() {
          const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], rateLimitCooldown: { jitter: false } })
          const cooldowns: Array<number> = []
          for (let i = 0; i < 7; i++) {
            const start = yield* Clock.currentTimeMillis
            yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit())
            const until = (yield* statusOf(pool, idA)).coolingUntil!
            cooldowns.push(until - start)
            yield* TestClock.adjust(Duration.millis(until - start))
          }
          expect(cooldowns).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])

          yield* pool.report(yield* Effect.scoped(pool.acquire), "success")
          const start = yield* Clock.currentTimeMillis
          yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit())
          expect((yield* statusOf(pool, idA)).coolingUntil).toBe(start + 1_000)

          const custom = yield* poolInMemory({
            providerId: "test",
            keys: [keyB],
            rateLimitCooldown: { initial: "5 seconds", max: "5 seconds", jitter: false }
          })
          const at = yield* Clock.currentTimeMillis
          yield* custom.report(yield* Effect.scoped(custom.acquire), rateLimit())
          expect((yield* statusOf(custom, idB)).coolingUntil).toBe(at + 5_000)
        })
    )

    it.effect("rate limits reported while the key cools (requests sent before) count once", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], rateLimitCooldown: { jitter: false } })
        const lease = yield* Effect.scoped(pool.acquire)
        for (let i = 0; i < 5; i++) yield* pool.report(lease, rateLimit())
        expect((yield* statusOf(pool, idA)).coolingUntil).toBe(1_000)
        yield* TestClock.adjust("1 second")
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit())
        expect((yield* statusOf(pool, idA)).coolingUntil).toBe(3_000)
      }))

    it.effect("by default each cooldown is jittered between 80% and 120% of its step, never past the cap", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const seen = new Set<number>()
        for (let i = 0; i < 8; i++) {
          const start = yield* Clock.currentTimeMillis
          yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit())
          const cooldown = (yield* statusOf(pool, idA)).coolingUntil! - start
          const step = Math.min(30_000, 1_000 * 2 ** i)
          expect(cooldown).toBeGreaterThanOrEqual(step * 0.8)
          expect(cooldown).toBeLessThanOrEqual(Math.min(30_000, step * 1.2))
          seen.add(cooldown / step)
          yield* TestClock.adjust(Duration.millis(cooldown))
        }
        expect(seen.size).toBeGreaterThan(1)
      }))

    it.effect("a later, shorter cooldown does not shorten the current one; a longer one extends it", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const lease = yield* Effect.scoped(pool.acquire)
        yield* pool.report(lease, rateLimit("10 seconds"))
        yield* pool.report(lease, rateLimit("2 seconds"))
        expect((yield* statusOf(pool, idA)).coolingUntil).toBe(10_000)
        yield* pool.report(lease, rateLimit("20 seconds"))
        expect((yield* statusOf(pool, idA)).coolingUntil).toBe(20_000)
      }))

    it.effect("while one key cools, the others take the traffic", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB] })
        const lease = yield* Effect.scoped(pool.acquire)
        expect(lease.credentials.keyId).toBe(idA)
        yield* pool.report(lease, rateLimit("1 second"))
        for (let i = 0; i < 4; i++) expect(yield* cycle(pool)).toBe(idB)
        yield* TestClock.adjust("1 second")
        expect(yield* cycle(pool)).toBe(idA)
      }))
  })

  describe("slow start", () => {
    const holdMany = (pool: KeyPool.Service, scope: Scope.Scope, count: number) =>
      Effect.forEach(Array.from({ length: count }), () => hold(pool, scope), { discard: true })

    it.effect("a key back from a cooldown takes a tenth of its share, growing to all of it at the window's end", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB] })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("1 second"))
        expect((yield* statusOf(pool, idA)).share).toBe(0)
        yield* TestClock.adjust("1 second")

        // At each point of the warm-up: its share, then how many of `held` concurrent requests each key takes.
        const steps = [
          { after: "0 seconds", share: 0.1, held: 22, a: 2, b: 20 },
          { after: "5 seconds", share: 0.5, held: 30, a: 10, b: 20 },
          { after: "5 seconds", share: 1, held: 20, a: 10, b: 10 }
        ] as const
        for (const step of steps) {
          yield* TestClock.adjust(step.after)
          expect((yield* statusOf(pool, idA)).share).toBe(step.share)
          const scope = yield* Scope.make()
          yield* holdMany(pool, scope, step.held)
          expect(inFlightById(yield* pool.status)).toEqual({ [idA]: step.a, [idB]: step.b })
          yield* Scope.close(scope, Exit.void)
        }
      }))

    it.effect("a share grows while the key holds requests, without a release or acquire of its own", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB], slowStart: "9 seconds" })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("1 second"))
        yield* TestClock.adjust("1 second")
        const scope = yield* Scope.make()
        yield* holdMany(pool, scope, 11)
        expect(inFlightById(yield* pool.status)).toEqual({ [idA]: 1, [idB]: 10 })
        // At the window's end A counts fully: the next ten go to it alone.
        yield* TestClock.adjust("9 seconds")
        yield* holdMany(pool, scope, 9)
        expect(inFlightById(yield* pool.status)).toEqual({ [idA]: 10, [idB]: 10 })
        yield* Scope.close(scope, Exit.void)
      }))

    it.effect("slowStart 0 gives a key its full share at once; a new cooldown stops a warm-up", () =>
      Effect.gen(function*() {
        const off = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB], slowStart: 0 })
        yield* off.report(yield* Effect.scoped(off.acquire), rateLimit("1 second"))
        yield* TestClock.adjust("1 second")
        expect((yield* statusOf(off, idA)).share).toBe(1)

        const on = yield* poolInMemory({ providerId: "other", keys: [keyC] })
        const lease = yield* Effect.scoped(on.acquire)
        yield* on.report(lease, rateLimit("1 second"))
        yield* TestClock.adjust("3 seconds")
        yield* Effect.scoped(on.acquire)
        expect((yield* statusOf(on, idC)).share).toBe(0.2)
        yield* on.report(lease, rateLimit("1 second"))
        expect((yield* statusOf(on, idC)).share).toBe(0)
        yield* on.report(lease, invalidKey)
        expect((yield* statusOf(on, idC)).share).toBe(0)
      }))
  })

  describe("disabling", () => {
    it.effect("an AuthError disables the key for good, with its reason", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB] })
        const lease = yield* Effect.scoped(pool.acquire)
        yield* pool.report(lease, invalidKey)
        yield* TestClock.adjust("1 day")
        for (let i = 0; i < 6; i++) expect(yield* cycle(pool)).toBe(idB)
        const status = yield* statusOf(pool, idA)
        expect(status.disabled).toBe("invalid_key")
        expect(status.totalRequests).toBe(1)
        // A rate limit reported afterwards does not bring it back as "cooling".
        yield* pool.report(lease, rateLimit("1 second"))
        expect((yield* statusOf(pool, idA)).coolingUntil).toBeUndefined()
      }))

    it.effect("a cloud credential that gave no token leaves the key usable: the next call asks it again", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const unavailable = new LlmError.AuthError({ provider: "test", model: "m", reason: "credential_unavailable" })
        yield* pool.report(yield* Effect.scoped(pool.acquire), unavailable)
        const status = yield* statusOf(pool, idA)
        expect(status.disabled).toBeUndefined()
        expect(status.share).toBe(1)
        expect(yield* cycle(pool)).toBe(idA)
      }))

    it.effect("with every key disabled, even Wait fails at once, with no availableAt", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], whenExhausted: waitUpTo("1 hour") })
        yield* pool.report(yield* Effect.scoped(pool.acquire), invalidKey)
        const error = yield* Effect.flip(cycle(pool))
        expect(error._tag).toBe("NoCapacityError")
        expect(error.availableAt).toBeUndefined()
        expect(yield* Clock.currentTimeMillis).toBe(0)
      }))
  })

  describe("when exhausted", () => {
    it.effect("Fail fails at once with the earliest cooldown end", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB], whenExhausted: failFast })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("30 seconds"))
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("12 seconds"))
        const error = yield* Effect.flip(cycle(pool))
        expect(error).toBeInstanceOf(LlmError.NoCapacityError)
        expect(error.provider).toBe("test")
        expect(error.availableAt).toBe(12_000)
        expect(error.message).not.toContain("secret")
      }))

    it.effect("Wait wakes when the earliest cooldown ends", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], whenExhausted: waitUpTo("1 minute") })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("10 seconds"))
        const fiber = yield* Effect.forkChild(cycle(pool))
        yield* settle
        yield* TestClock.adjust("9999 millis")
        yield* settle
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(fiber)).toBe(idA)
        expect(yield* Clock.currentTimeMillis).toBe(10_000)
      }))

    it.effect("Wait wakes on a release, without the clock moving", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({
          providerId: "test",
          keys: [{ key: keyA, maxConcurrency: 1 }],
          whenExhausted: waitUpTo("1 minute")
        })
        const scope = yield* Scope.make()
        yield* hold(pool, scope)
        const fiber = yield* Effect.forkChild(cycle(pool))
        yield* settle
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* Scope.close(scope, Exit.void)
        expect(yield* Fiber.join(fiber)).toBe(idA)
        expect(yield* Clock.currentTimeMillis).toBe(0)
      }))

    it.effect("Wait gives up at maxWait with NoCapacityError carrying the earliest cooldown end", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({
          providerId: "test",
          keys: [{ key: keyA, maxConcurrency: 1 }, keyB],
          whenExhausted: waitUpTo("5 seconds")
        })
        const scope = yield* Scope.make()
        expect((yield* hold(pool, scope)).credentials.keyId).toBe(idA)
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("20 seconds"))
        // A is busy (a release could free it), B cools past maxWait: worth waiting, bounded.
        const fiber = yield* Effect.forkChild(cycle(pool))
        yield* settle
        yield* TestClock.adjust("4999 millis")
        yield* settle
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(fiber))
        expect(error._tag).toBe("NoCapacityError")
        expect(error.availableAt).toBe(20_000)
        expect(yield* Clock.currentTimeMillis).toBe(5_000)
        yield* Scope.close(scope, Exit.void)
      }))

    it.effect("Wait fails at once when the earliest cooldown ends after maxWait and nothing is in flight", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], whenExhausted: waitUpTo("1 minute") })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("2 minutes"))
        const error = yield* Effect.flip(cycle(pool))
        expect(error.availableAt).toBe(120_000)
        expect(yield* Clock.currentTimeMillis).toBe(0)
      }))

    it.effect("a waiter that is interrupted leaves nothing behind", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], whenExhausted: waitUpTo("1 minute") })
        yield* pool.report(yield* Effect.scoped(pool.acquire), rateLimit("10 seconds"))
        const fiber = yield* Effect.forkChild(cycle(pool))
        yield* settle
        yield* Fiber.interrupt(fiber)
        yield* TestClock.adjust("10 seconds")
        expect((yield* statusOf(pool, idA)).inFlight).toBe(0)
        expect(yield* cycle(pool)).toBe(idA)
      }))
  })

  describe("report", () => {
    it.effect("success clears failures; other errors count without disabling", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const lease = yield* Effect.scoped(pool.acquire)
        yield* pool.report(lease, timeout)
        yield* pool.report(lease, timeout)
        let status = yield* statusOf(pool, idA)
        expect(status.failures).toBe(2)
        expect(status.disabled).toBeUndefined()

        yield* pool.report(lease, "success")
        expect((yield* statusOf(pool, idA)).failures).toBe(0)

        yield* pool.report(lease, rateLimit("3 seconds"))
        status = yield* statusOf(pool, idA)
        expect(status.coolingUntil).toBe(3_000)
        expect(status.failures).toBe(1)
        yield* pool.report(lease, "success")
        expect((yield* statusOf(pool, idA)).failures).toBe(0)
      }))

    it.effect("a lease from an unrelated pool is a defect", () =>
      Effect.gen(function*() {
        const one = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const two = yield* poolInMemory({ providerId: "test", keys: [keyA] })
        const lease = yield* Effect.scoped(one.acquire)
        const exit = yield* Effect.exit(two.report(lease, "success"))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }))
  })

  describe("secrets", () => {
    it.effect("status, leases and errors show masked ids only", () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({
          providerId: "test",
          keys: [keyA, { key: Redacted.make(keyB), weight: 2 }],
          whenExhausted: failFast
        })
        const scope = yield* Scope.make()
        const lease = yield* hold(pool, scope)
        yield* pool.report(lease, rateLimit("1 second"))
        yield* pool.report(yield* Effect.scoped(pool.acquire), invalidKey)
        const error = yield* Effect.flip(hold(pool, scope))
        const statuses = yield* pool.status
        expect(statuses.map((s) => s.keyId)).toEqual([idA, idB])
        const printed = [
          JSON.stringify(statuses),
          JSON.stringify(lease),
          String(lease.credentials.key),
          error.message,
          JSON.stringify(error)
        ]
        for (const text of printed) {
          for (const raw of [keyA, keyB]) {
            expect(text).not.toContain(raw)
            expect(text).not.toContain(raw.slice(3, -4))
          }
        }
        expect(Redacted.value(lease.credentials.key)).toBe(keyA)
        yield* Scope.close(scope, Exit.void)
      }))

    it.effect("keys that end alike get different ids, which show no more of either key than its ends", () =>
      Effect.gen(function*() {
        const first = "sk-proj-first-key-aaaaaaaa-f3a9"
        const second = "sk-proj-second-key-bbbbbbb-f3a9"
        const pool = yield* poolInMemory({ providerId: "test", keys: [first, second] })
        const ids = (yield* pool.status).map((status) => status.keyId)
        expect(ids).toHaveLength(2)
        expect(new Set(ids).size).toBe(2)
        for (const id of ids) expect(id).toMatch(/^sk-…f3a9#[0-9a-f]{4}$/)
        // Each lease carries its own key under its own id.
        const leases = [yield* Effect.scoped(pool.acquire), yield* Effect.scoped(pool.acquire)]
        expect(new Set(leases.map((lease) => lease.credentials.keyId))).toEqual(new Set(ids))
      }))
  })

  describe("options", () => {
    it.effect("invalid weights and caps fail with OptionsError naming the key by position only", () =>
      Effect.gen(function*() {
        const cases = [
          [{ key: keyA, weight: 0 }, "keys[1].weight", "0"],
          [{ key: keyA, weight: Number.NaN }, "keys[1].weight", "NaN"],
          [{ key: keyA, maxConcurrency: 0 }, "keys[1].maxConcurrency", "0"],
          [{ key: "" }, "keys[1]", "<redacted>"]
        ] as const
        for (const [key, option, value] of cases) {
          const error = yield* Effect.flip(poolInMemory({ providerId: "test", keys: [keyB, key] }))
          expect(error).toMatchObject({ _tag: "OptionsError", module: "KeyPool", option, value })
          expect(`${error.message} ${JSON.stringify(error)} ${String(error)}`).not.toContain(keyA)
        }
        const registry = yield* KeyPool.makeRegistry
        const pooled = yield* Effect.flip(registry.pool({ providerId: "test", keys: [{ key: keyA, weight: -2 }] }))
        expect(pooled).toMatchObject({ _tag: "OptionsError", option: "keys[0].weight", value: "-2" })
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("a maxCooldown that is not a positive, finite duration fails with OptionsError", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [Duration.Input, string]> = [
          ["0 millis", "\"0 millis\""],
          [-5, "-5"],
          [Number.NaN, "NaN"],
          ["forever" as never, "\"forever\""]
        ]
        for (const [maxCooldown, value] of cases) {
          const error = yield* Effect.flip(poolInMemory({ providerId: "test", keys: [keyA], maxCooldown }))
          expect(error).toMatchObject({ _tag: "OptionsError", module: "KeyPool", option: "maxCooldown", value })
        }
        const built = yield* Effect.flip(Layer.build(KeyPool.layer({ providerId: "p", keys: [keyA], maxCooldown: -1 })))
        expectOptionsError(built, { module: "KeyPool", option: "maxCooldown", value: "-1" }, [keyA])
      }).pipe(Effect.scoped, Effect.provide(registryInMemory)))

    it.effect("layer and layerConfig fail with OptionsError; a key, plain or Redacted, never shows", () =>
      Effect.gen(function*() {
        const secret = "sk-secret-key-never-shown-0001"
        const plain = yield* Effect.flip(
          Layer.build(KeyPool.layer({ providerId: "p", keys: [{ key: secret, weight: -1 }] }))
        )
        expectOptionsError(plain, { module: "KeyPool", option: "keys[0].weight", value: "-1" }, [secret])
        const redacted = yield* Effect.flip(Layer.build(KeyPool.layer({
          providerId: "p",
          keys: [Redacted.make(secret), { key: Redacted.make(secret), maxConcurrency: 1.5 }]
        })))
        expectOptionsError(redacted, { option: "keys[1].maxConcurrency", value: "1.5" }, [secret])
        const fromConfig = yield* Effect.flip(Layer.build(KeyPool.layerConfig({
          providerId: Config.succeed("p"),
          keys: Config.succeed([{ key: Redacted.make(secret), weight: 0 }])
        })))
        expectOptionsError(fromConfig, { option: "keys[0].weight", value: "0" }, [secret])
      }).pipe(Effect.scoped, Effect.provide(registryInMemory)))

    it.effect(
      "no keys fail with OptionsError naming keys when the pool or its layer is built, not at the first " +
        "call",
      () =>
        Effect.gen(function*() {
          const made = yield* Effect.flip(poolInMemory({ providerId: "empty", keys: [] }))
          expectOptionsError(made, {
            module: "KeyPool",
            option: "keys",
            value: "[]",
            message: "KeyPool: keys must be at least one key, got []"
          })
          const registry = yield* KeyPool.makeRegistry
          expectOptionsError(yield* Effect.flip(registry.pool({ providerId: "empty", keys: [] })), { option: "keys" })
          const layered = yield* Effect.flip(Layer.build(KeyPool.layer({ providerId: "empty", keys: [] })))
          expectOptionsError(layered, { option: "keys" })
        }).pipe(Effect.scoped, Effect.provide(registryInMemory))
    )

    it.effect(
      "a missing key (an unset environment variable's undefined) fails with OptionsError naming its " +
        "place",
      () =>
        Effect.gen(function*() {
          const unset = process.env["KEYPOOL_TEST_UNSET_VARIABLE"]
          const cases = [
            [[keyA, unset!], "keys[1]", "undefined"],
            [[{ key: unset!, weight: 2 }], "keys[0]", "undefined"],
            [[null as unknown as string], "keys[0]", "null"],
            [[42 as unknown as string], "keys[0]", "<redacted>"]
          ] as const
          for (const [keys, option, value] of cases) {
            const error = yield* Effect.flip(poolInMemory({ providerId: "test", keys }))
            expectOptionsError(error, { module: "KeyPool", option, value, expected: "a non-empty key" }, [keyA])
          }
        })
    )
  })

  describe("registry", () => {
    it.effect("pools with the same providerId share each key's state; each picks among the keys it lists only", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const first = yield* registry.pool({ providerId: "openai", keys: [keyA, keyB] })
        const second = yield* registry.pool({ providerId: "openai", keys: [keyB, keyC], whenExhausted: failFast })
        const other = yield* registry.pool({ providerId: "deepseek", keys: [keyA] })

        const scope = yield* Scope.make()
        const lease = yield* hold(first, scope)
        expect(lease.credentials.keyId).toBe(idA)
        // Each pool shows its own keys; A is not the second's.
        expect(inFlightById(yield* second.status)).toEqual({ [idB]: 0, [idC]: 0 })
        expect(inFlightById(yield* other.status)).toEqual({ [idA]: 0 })
        // B's load is one, whichever pool holds it: the second then goes to C, never to A.
        const onB = yield* hold(second, scope)
        expect(onB.credentials.keyId).toBe(idB)
        expect(inFlightById(yield* first.status)).toEqual({ [idA]: 1, [idB]: 1 })
        expect((yield* hold(second, scope)).credentials.keyId).toBe(idC)
        for (let i = 0; i < 6; i++) expect((yield* hold(second, scope)).credentials.keyId).not.toBe(idA)

        // A 401 on B through the second pool disables B in the first too; the first then takes A only.
        yield* second.report(onB, invalidKey)
        expect((yield* statusOf(first, idB)).disabled).toBe("invalid_key")
        expect((yield* statusOf(other, idA)).disabled).toBeUndefined()
        for (let i = 0; i < 3; i++) expect((yield* hold(first, scope)).credentials.keyId).toBe(idA)
        // A lease is its pool's: another pool's, even of the same state, refuses it.
        expect(Exit.isFailure(yield* Effect.exit(second.report(lease, "success")))).toBe(true)
        expect(Exit.isFailure(yield* Effect.exit(other.report(lease, "success")))).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect(inFlightById(yield* first.status)).toEqual({ [idA]: 0, [idB]: 0 })
        expect(inFlightById(yield* second.status)).toEqual({ [idB]: 0, [idC]: 0 })
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("a 403 refuses the key for its pool only; a 401 disables it in every pool that lists it", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const gpt4o = yield* registry.pool({ providerId: "openai", keys: [keyA, keyB], whenExhausted: failFast })
        const mini = yield* registry.pool({ providerId: "openai", keys: [keyA], whenExhausted: failFast })
        const forbidden = new LlmError.AuthError({ provider: "openai", model: "gpt-4o", reason: "forbidden" })
        const scope = yield* Scope.make()
        const onA = yield* hold(gpt4o, scope)
        expect(onA.credentials.keyId).toBe(idA)
        yield* gpt4o.report(onA, forbidden)
        // Refused for gpt-4o: it takes B only, and shows A refused.
        expect((yield* statusOf(gpt4o, idA)).disabled).toBe("forbidden")
        for (let i = 0; i < 4; i++) expect((yield* hold(gpt4o, scope)).credentials.keyId).toBe(idB)
        // Not for the mini pool, which shares A's state: usable, and its load still counted there.
        expect((yield* statusOf(mini, idA)).disabled).toBeUndefined()
        const onMini = yield* hold(mini, scope)
        expect(onMini.credentials.keyId).toBe(idA)
        // A 401 is the key's: disabled for every pool listing it.
        yield* mini.report(onMini, invalidKey)
        expect((yield* statusOf(mini, idA)).disabled).toBe("invalid_key")
        expect((yield* Effect.flip(mini.take()))._tag).toBe("NoCapacityError")
        yield* Scope.close(scope, Exit.void)
        expect(inFlightById(yield* gpt4o.status)).toEqual({ [idA]: 0, [idB]: 0 })
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("a pool whose every key it refused fails at once, as every key disabled", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const pool = yield* registry.pool({ providerId: "openai", keys: [keyA], whenExhausted: waitUpTo("1 minute") })
        const forbidden = new LlmError.AuthError({ provider: "openai", model: "gpt-4o", reason: "forbidden" })
        const scope = yield* Scope.make()
        yield* pool.report(yield* hold(pool, scope), forbidden)
        const error = yield* Effect.flip(pool.take())
        expect(error._tag).toBe("NoCapacityError")
        expect(error.availableAt).toBeUndefined()
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("a pool whose only key another pool disabled fails; the other pool's keys stay its own", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const mini = yield* registry.pool({ providerId: "openai", keys: [keyA], whenExhausted: failFast })
        const full = yield* registry.pool({ providerId: "openai", keys: [keyB], whenExhausted: failFast })
        const scope = yield* Scope.make()
        const onB = yield* hold(full, scope)
        yield* full.report(onB, invalidKey)
        const error = yield* Effect.flip(full.take())
        expect(error._tag).toBe("NoCapacityError")
        expect((yield* hold(mini, scope)).credentials.keyId).toBe(idA)
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("pools of one providerId but another endpoint keep apart; pools of one endpoint share", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const internal = yield* registry.pool({
          providerId: "acme",
          endpoint: "chat-completions http://internal/v1",
          keys: [keyA]
        })
        const vendor = yield* registry.pool({
          providerId: "acme",
          endpoint: "chat-completions https://vendor/v1",
          keys: [keyA, keyB]
        })
        const vendorToo = yield* registry.pool({
          providerId: "acme",
          endpoint: "chat-completions https://vendor/v1",
          keys: [keyA]
        })
        const unnamed = yield* registry.pool({ providerId: "acme", keys: [keyA] })

        const scope = yield* Scope.make()
        const lease = yield* hold(vendor, scope)
        expect(lease.credentials.keyId).toBe(idA)
        yield* vendor.report(lease, invalidKey)
        // Disabled for the vendor's endpoint, wherever its pools ask; not for another endpoint, nor for none.
        expect((yield* statusOf(vendorToo, idA)).disabled).toBe("invalid_key")
        expect(inFlightById(yield* vendorToo.status)).toEqual({ [idA]: 1 })
        expect((yield* statusOf(internal, idA)).disabled).toBeUndefined()
        expect(inFlightById(yield* internal.status)).toEqual({ [idA]: 0 })
        expect((yield* statusOf(unnamed, idA)).disabled).toBeUndefined()
        // A lease of one endpoint's pool is foreign to another's.
        expect(Exit.isFailure(yield* Effect.exit(internal.report(lease, "success")))).toBe(true)
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("a waiter of one pool is woken by a release through another", () =>
      Effect.gen(function*() {
        const registry = yield* KeyPool.makeRegistry
        const options = {
          providerId: "openai",
          keys: [{ key: keyA, maxConcurrency: 1 }],
          whenExhausted: waitUpTo("1 minute")
        }
        const first = yield* registry.pool(options)
        const second = yield* registry.pool(options)
        const scope = yield* Scope.make()
        yield* hold(first, scope)
        const fiber = yield* Effect.forkChild(cycle(second))
        yield* settle
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* Scope.close(scope, Exit.void)
        expect(yield* Fiber.join(fiber)).toBe(idA)
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)))

    it.effect("KeyPool.layer shares state between layers built over one registry", () =>
      Effect.gen(function*() {
        const one = yield* Layer.build(KeyPool.layer({ providerId: "openai", keys: [keyA, keyB] }))
        const two = yield* Layer.build(KeyPool.layer({ providerId: "openai", keys: [keyA, keyB] }))
        const poolOne = Context.get(one, KeyPool.KeyPool)
        const poolTwo = Context.get(two, KeyPool.KeyPool)
        expect(poolOne).not.toBe(poolTwo)
        const scope = yield* Scope.make()
        yield* hold(poolOne, scope)
        expect(inFlightById(yield* poolTwo.status)).toEqual({ [idA]: 1, [idB]: 0 })
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.provide(registryInMemory)))

    it.effect("layerConfig reads the keys as secrets", () =>
      Effect.gen(function*() {
        const layer = KeyPool.layerConfig({
          providerId: Config.succeed("openai"),
          keys: Config.Array(Schema.Redacted(Schema.String), "OPENAI_API_KEYS")
        })
        const context = yield* Layer.build(layer).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { OPENAI_API_KEYS: `${keyA},${keyB}` } })
          )
        )
        const pool = Context.get(context, KeyPool.KeyPool)
        expect((yield* pool.status).map((s) => s.keyId)).toEqual([idA, idB])

        const missing = yield* Effect.exit(
          Layer.build(layer).pipe(
            Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
          )
        )
        expect(Exit.isFailure(missing)).toBe(true)
      }).pipe(Effect.provide(registryInMemory)))
  })
})

describe("KeyPool take and release", () => {
  it.effect("take and tryTake hold a key until release, without a scope; an unused lease is not counted", () =>
    Effect.gen(function*() {
      const pool = yield* poolInMemory({ providerId: "test", keys: [{ key: keyA, maxConcurrency: 1 }] })
      const lease = yield* pool.take()
      expect(lease.credentials.keyId).toBe(idA)
      expect(yield* pool.tryTake).toBeUndefined()
      const waiter = yield* Effect.forkChild(pool.take())
      yield* settle
      expect(waiter.pollUnsafe()).toBeUndefined()
      yield* pool.release(lease)
      const next = yield* Fiber.join(waiter)
      expect((yield* statusOf(pool, idA)).inFlight).toBe(1)
      yield* pool.release(next)
      expect(yield* statusOf(pool, idA)).toMatchObject({ inFlight: 0, totalRequests: 2 })
      const tried = yield* pool.tryTake
      expect(tried?.credentials.keyId).toBe(idA)
      yield* pool.release(tried!, { unused: true })
      expect(yield* statusOf(pool, idA)).toMatchObject({ inFlight: 0, totalRequests: 2 })
    }))

  it.effect(
    "a call's Exit is reported before the key is released: failures count, success clears, interruptions and " +
      "defects say nothing",
    () =>
      Effect.gen(function*() {
        const pool = yield* poolInMemory({ providerId: "test", keys: [keyA], rateLimitCooldown: { jitter: false } })
        const cycle = (exit: Exit.Exit<unknown, LlmError.LlmError>) =>
          Effect.flatMap(pool.take(), (lease) => {
            const outcome = Stored.outcomeOf(exit)
            return Effect.andThen(
              outcome === undefined ? Effect.void : pool.report(lease, outcome),
              pool.release(lease)
            )
          })
        yield* cycle(Exit.fail(timeout))
        yield* cycle(Exit.fail(timeout))
        expect((yield* statusOf(pool, idA)).failures).toBe(2)
        yield* cycle(Exit.interrupt())
        yield* cycle(Exit.die(new Error("bug")))
        expect((yield* statusOf(pool, idA)).failures).toBe(2)
        yield* cycle(Exit.succeed("reply"))
        expect((yield* statusOf(pool, idA)).failures).toBe(0)
        // Reported before it is released: a rate-limited key goes to cooling, not back to ready.
        yield* cycle(Exit.fail(rateLimit()))
        const status = yield* statusOf(pool, idA)
        expect(status.coolingUntil).toBe(1_000)
        expect(status.inFlight).toBe(0)
      })
  )

  it.effect("take with cooledBy waits for a cooling key only when its cooldown ends in time", () =>
    Effect.gen(function*() {
      const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
      const first = yield* pool.take()
      yield* pool.report(first, rateLimit("8 seconds"))
      yield* pool.release(first)
      // The cooldown ends at 8 s, after 5 s: no wait, the pool's own 60 s notwithstanding.
      const error = yield* Effect.flip(pool.take({ cooledBy: 5_000 }))
      expect(error).toMatchObject({ _tag: "NoCapacityError", availableAt: 8_000 })
      expect(yield* Clock.currentTimeMillis).toBe(0)
      // Ending by 8 s, it is waited for.
      const waiter = yield* Effect.forkChild(pool.take({ cooledBy: 8_000 }))
      yield* TestClock.adjust("8 seconds")
      const lease = yield* Fiber.join(waiter)
      expect(lease.credentials.keyId).toBe(idA)
      yield* pool.release(lease)
    }))

  it.effect("fromAcquire makes a whole pool of a scoped acquire: take holds a scope that release closes", () =>
    Effect.gen(function*() {
      const inner = yield* poolInMemory({ providerId: "test", keys: [keyA, keyB] })
      const reported: Array<KeyPool.Outcome> = []
      // A decorator: it records every outcome and defers to a real pool.
      const pool = KeyPool.fromAcquire({
        providerId: inner.providerId,
        acquire: inner.acquire,
        report: (lease, outcome) =>
          Effect.andThen(Effect.sync(() => reported.push(outcome)), inner.report(lease, outcome)),
        status: inner.status
      })
      // It cannot be tried without waiting, so tryTake says no.
      expect(yield* pool.tryTake).toBeUndefined()
      const lease = yield* pool.take()
      expect(lease.credentials.keyId).toBe(idA)
      expect((yield* statusOf(inner, idA)).inFlight).toBe(1)
      yield* pool.report(lease, timeout)
      yield* pool.release(lease)
      expect(yield* statusOf(inner, idA)).toMatchObject({ inFlight: 0, failures: 1 })
      yield* Effect.flatMap(pool.take(), (next) => Effect.andThen(pool.report(next, "success"), pool.release(next)))
      expect(reported).toEqual([timeout, "success"])
      expect((yield* inner.status).map((key) => key.inFlight)).toEqual([0, 0])
      // Its acquire is the one it was given.
      yield* Effect.scoped(
        Effect.flatMap(pool.acquire, (held) => Effect.andThen(pool.report(held, "success"), pool.status))
      )
      expect(reported).toEqual([timeout, "success", "success"])

      const scope = yield* Scope.make()
      const foreign = yield* Scope.provide(inner.acquire, scope)
      const exit = yield* Effect.exit(pool.release(foreign))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("tryTakeKey takes the named key when it is usable now, whatever its load, and never waits", () =>
    Effect.gen(function*() {
      const pool = yield* poolInMemory({ providerId: "test", keys: [{ key: keyA, maxConcurrency: 2 }, keyB] })
      const first = (yield* pool.tryTakeKey(idA))!
      expect(first.credentials.keyId).toBe(idA)
      // A is busier than B, and still handed out by name.
      const second = (yield* pool.tryTakeKey(idA))!
      expect(second.credentials.keyId).toBe(idA)
      // At its cap: no.
      expect(yield* pool.tryTakeKey(idA)).toBeUndefined()
      yield* pool.release(second)
      yield* pool.report(first, rateLimit("8 seconds"))
      yield* pool.release(first)
      // Cooling: no, until its cooldown ends.
      expect(yield* pool.tryTakeKey(idA)).toBeUndefined()
      expect(yield* pool.tryTakeKey("sk-…none#0000")).toBeUndefined()
      yield* TestClock.adjust("8 seconds")
      const back = (yield* pool.tryTakeKey(idA))!
      expect(back.credentials.keyId).toBe(idA)
      yield* pool.release(back)
      expect(yield* statusOf(pool, idA)).toMatchObject({ inFlight: 0, totalRequests: 3 })
      // A pool of a scoped acquire cannot tell without waiting.
      expect(yield* KeyPool.fromAcquire(pool).tryTakeKey(idA)).toBeUndefined()
    }))

  it.effect("a lease another pool issued is a defect to release", () =>
    Effect.gen(function*() {
      const pool = yield* poolInMemory({ providerId: "test", keys: [keyA] })
      const other = yield* poolInMemory({ providerId: "test", keys: [keyA] })
      const lease = yield* other.take()
      const exit = yield* Effect.exit(pool.release(lease))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      yield* other.release(lease)
    }))
})

// ---------------------------------------------------------------------------
// Properties

type Command =
  | { readonly _tag: "acquire" }
  | { readonly _tag: "release"; readonly holder: number }
  | { readonly _tag: "interrupt"; readonly holder: number }
  | {
    readonly _tag: "report"
    readonly holder: number
    readonly outcome: "success" | "rateLimit" | "auth" | "other"
    readonly retryAfter: number | undefined
  }
  | { readonly _tag: "tick"; readonly millis: number }

const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.constant({ _tag: "acquire" as const }), weight: 4 },
  { arbitrary: fc.record({ _tag: fc.constant("release" as const), holder: fc.nat(40) }), weight: 2 },
  { arbitrary: fc.record({ _tag: fc.constant("interrupt" as const), holder: fc.nat(40) }), weight: 2 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("report" as const),
      holder: fc.nat(40),
      outcome: fc.constantFrom("success" as const, "rateLimit" as const, "auth" as const, "other" as const),
      retryAfter: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: undefined })
    }),
    weight: 2
  },
  {
    arbitrary: fc.record({ _tag: fc.constant("tick" as const), millis: fc.integer({ min: 0, max: 3_000 }) }),
    weight: 1
  }
)

const keyArbitrary = fc.record({
  weight: fc.integer({ min: 1, max: 3 }),
  maxConcurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })
})

const poolArbitrary = fc.record({
  keys: fc.array(keyArbitrary, { minLength: 1, maxLength: 5 }),
  wait: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: undefined })
})

interface Holder {
  readonly fiber: Fiber.Fiber<void, LlmError.NoCapacityError>
  readonly release: Deferred.Deferred<void>
  readonly lease: Ref.Ref<KeyPool.Lease | undefined>
}

const outcomeOf = (command: Extract<Command, { _tag: "report" }>): KeyPool.Outcome => {
  switch (command.outcome) {
    case "success":
      return "success"
    case "rateLimit":
      return rateLimit(command.retryAfter === undefined ? undefined : Duration.millis(command.retryAfter))
    case "auth":
      return invalidKey
    case "other":
      return timeout
  }
}

describe("KeyPool properties", () => {
  const noJitter = { nextDoubleUnsafe: () => 0.5 }

  effectProp(
    "the cooldown without retryAfter runs initial, 2x, 4x ... up to the cap (and maxCooldown), and a success starts " +
      "it over",
    fc.tuple(
      fc.integer({ min: 1, max: 5_000 }),
      fc.integer({ min: 1, max: 100_000 }),
      fc.array(fc.constantFrom("rateLimit" as const, "success" as const), { maxLength: 30 }),
      fc.integer({ min: 1, max: 200_000 })
    ),
    ([initial, max, outcomes, cap]) =>
      Effect.sync(() => {
        const cooldown = { initialMillis: initial, maxMillis: max, jitter: false, capMillis: cap }
        const group = Memory.makeGroup()
        const [slot] = Memory.join(group, [{ id: idA, weight: 1, maxConcurrency: Infinity }])
        const tell = (outcome: KeyPool.Outcome, now: number) =>
          Memory.apply(group, slot!, Stored.sharedVerdictOf(Stored.verdictOf(outcome), cooldown, noJitter)!, now)
        let now = 0
        let streak = 0
        for (const outcome of outcomes) {
          const taken = Memory.leastLoaded(group, now, 0)
          expect(taken).toBe(slot)
          Memory.take(group, slot!)
          if (outcome === "success") {
            tell("success", now)
            streak = 0
          } else {
            tell(rateLimit(), now)
            streak++
            const length = slot!.coolingUntil - now
            expect(length).toBe(Math.min(cap, max, initial * 2 ** (streak - 1)))
            now = slot!.coolingUntil
          }
          Memory.drop(group, slot!)
          expect(Memory.invariantViolation(group)).toBeUndefined()
        }
      })
  )

  effectProp(
    "with jitter a cooldown stays within 80% to 120% of its step and never passes the cap",
    fc.tuple(
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 1, max: 60_000 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true })
    ),
    ([rateLimits, max, draw]) =>
      Effect.sync(() => {
        const cooldown = { initialMillis: 1_000, maxMillis: max, jitter: true, capMillis: Number.POSITIVE_INFINITY }
        const step = Math.min(max, 1_000 * 2 ** (rateLimits - 1))
        const group = Memory.makeGroup()
        const [slot] = Memory.join(group, [{ id: idA, weight: 1, maxConcurrency: Infinity }])
        const verdict = Stored.sharedVerdictOf(Stored.verdictOf(rateLimit()), cooldown, {
          nextDoubleUnsafe: () => draw
        })!
        // The `rateLimits`th rate limit in a row: each earlier one reported once its cooldown ended.
        let now = 0
        for (let i = 1; i < rateLimits; i++) now = Memory.apply(group, slot!, verdict, now)[0]
        const length = Memory.apply(group, slot!, verdict, now)[0] - now
        expect(length).toBeLessThanOrEqual(max)
        expect(length).toBeGreaterThanOrEqual(Math.floor(step * 0.8))
        expect(length).toBeLessThanOrEqual(Math.ceil(step * 1.2))
      })
  )

  effectProp(
    "the slow-start share is monotone, starts at a tenth and is full exactly from the window's end",
    fc.tuple(
      fc.integer({ min: 1, max: 600_000 }),
      fc.array(fc.integer({ min: 0, max: 700_000 }), { minLength: 2, maxLength: 20 })
    ),
    ([window, times]) =>
      Effect.sync(() => {
        const sorted = [...times].sort((a, b) => a - b)
        const shares = sorted.map((t) => Memory.levelAt(t, window) / Memory.levels)
        for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeGreaterThanOrEqual(shares[i - 1]!)
        for (const [i, t] of sorted.entries()) {
          expect(shares[i]! === 1).toBe(t >= window)
          expect(shares[i]!).toBeGreaterThanOrEqual(0.1)
        }
        expect(Memory.levelAt(0, window)).toBe(1)
        expect(Memory.levelAt(window, window)).toBe(Memory.levels)
      })
  )

  effectProp(
    "after any interleaving of acquire, release, interruption, reports and time, in-flight returns to zero and the " +
      "heaps hold",
    fc.tuple(poolArbitrary, fc.array(commandArbitrary, { maxLength: 60 })),
    ([config, commands]) =>
      Effect.gen(function*() {
        const keys = config.keys.map((k, i) => ({
          key: `sk-prop-key-${String(i).padStart(6, "0")}`,
          weight: k.weight,
          ...(k.maxConcurrency === undefined ? {} : { maxConcurrency: k.maxConcurrency })
        }))
        const options: KeyPool.Options = {
          providerId: "prop",
          keys,
          rateLimitCooldown: { initial: "500 millis", max: "2 seconds" },
          slowStart: "3 seconds",
          whenExhausted: config.wait === undefined
            ? { _tag: "Fail" }
            : { _tag: "Wait", maxWait: Duration.millis(config.wait) }
        }
        // The pool over a memory store whose group the test reads.
        const group = Memory.makeGroup()
        const store: KeyPool.LeaseStore["Service"] = {
          leases: (leases) => Effect.sync(() => Memory.leasesOf(group, leases)),
          loads: () => Effect.die("a store leasing every key publishes no loads"),
          leaseUncapped: true
        }
        const core = yield* Stored.makeCore(options.providerId, options.keys, undefined, { store, key: "prop" })
        const pool = yield* Stored.service(core, Stored.settingsOf(options))
        const holders: Array<Holder> = []
        // A disabled key's request count is frozen from the moment it is disabled.
        const frozen = new Map<number, number>()

        const check = () => {
          expect(Memory.invariantViolation(group)).toBeUndefined()
          for (const [slot, total] of frozen) expect(core.totals[slot]).toBe(total)
        }

        for (const command of commands) {
          const holder = holders.length === 0 || command._tag === "acquire" || command._tag === "tick"
            ? undefined
            : holders[command.holder % holders.length]!
          switch (command._tag) {
            case "acquire": {
              const release = yield* Deferred.make<void>()
              const lease = yield* Ref.make<KeyPool.Lease | undefined>(undefined)
              const fiber = yield* Effect.forkChild(
                Effect.scoped(
                  Effect.andThen(Effect.flatMap(pool.acquire, (l) => Ref.set(lease, l)), Deferred.await(release))
                )
              )
              holders.push({ fiber, release, lease })
              break
            }
            case "release":
              if (holder !== undefined) yield* Deferred.succeed(holder.release, undefined)
              break
            case "interrupt":
              if (holder !== undefined) yield* Fiber.interrupt(holder.fiber)
              break
            case "report": {
              const lease = holder === undefined ? undefined : yield* Ref.get(holder.lease)
              if (lease !== undefined) {
                yield* pool.report(lease, outcomeOf(command))
                if (command.outcome === "auth" && !frozen.has(lease.slot)) {
                  frozen.set(lease.slot, core.totals[lease.slot]!)
                }
              }
              break
            }
            case "tick":
              yield* TestClock.adjust(Duration.millis(command.millis))
              break
          }
          yield* settle
          check()
        }

        yield* Fiber.interruptAll(holders.map((h) => h.fiber))
        check()
        expect(group.slots.map((slot) => slot.inFlight)).toEqual(group.slots.map(() => 0))
        expect(group.saturated).toBe(0)

        // Once every cooldown has passed, any enabled key is usable again at once.
        yield* TestClock.adjust("1 hour")
        const failing = yield* Stored.service(core, Stored.settingsOf({ ...options, whenExhausted: { _tag: "Fail" } }))
        const after = yield* Effect.exit(cycle(failing))
        expect(Exit.isSuccess(after)).toBe(group.enabled > 0)
        check()
      }),
    150
  )

  effectProp(
    "with equal weights, N concurrent holders spread with max minus min in flight at most 1",
    fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 4 })),
    ([keyCount, holders, weight]) =>
      Effect.gen(function*() {
        const keys = Array.from(
          { length: keyCount },
          (_, i) => ({ key: `sk-spread-key-${String(i).padStart(6, "0")}`, weight })
        )
        const pool = yield* poolInMemory({ providerId: "spread", keys })
        const scope = yield* Scope.make()
        // A few idle cycles first, so the round-robin sequence is not at its start.
        for (let i = 0; i < keyCount + 1; i++) yield* cycle(pool)
        yield* Effect.forEach(Array.from({ length: holders }), () => hold(pool, scope), {
          concurrency: "unbounded",
          discard: true
        })
        const loads = (yield* pool.status).map((s) => s.inFlight)
        expect(loads.reduce((a, b) => a + b, 0)).toBe(holders)
        expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1)
        yield* Scope.close(scope, Exit.void)
        expect((yield* pool.status).every((s) => s.inFlight === 0)).toBe(true)
      }),
    100
  )
})

describe("KeyPool over a provided LeaseStore", () => {
  const capped = { providerId: "openai", keys: [{ key: "sk-stored-key-0001", maxConcurrency: 1 }] }
  const fail = { _tag: "Fail" } as const

  it.effect("pools share a key's leases only when they name one key of the store", () =>
    Effect.gen(function*() {
      const store = yield* Layer.build(KeyPool.layerStoreMemory)
      const pool = (key?: string) =>
        Effect.provide(KeyPool.make({ ...capped, whenExhausted: fail, ...(key === undefined ? {} : { key }) }), store)
      const [a, b] = [yield* pool("openai"), yield* pool("openai")]
      yield* Effect.scoped(Effect.gen(function*() {
        yield* a.acquire
        expect((yield* Effect.flip(b.acquire))._tag).toBe("NoCapacityError")
        // Without a key each pool is its own.
        yield* (yield* pool()).acquire
        yield* (yield* pool()).acquire
      }))
      yield* Effect.scoped(b.acquire)
    }))

  it.effect("a take waiting on a key another pool of the store holds wakes at its release, without the clock moving", () =>
    Effect.gen(function*() {
      const store = yield* Layer.build(KeyPool.layerStoreMemory)
      const pool = Effect.provide(
        KeyPool.make({ ...capped, key: "openai", whenExhausted: waitUpTo("1 minute") }),
        store
      )
      const [a, b] = [yield* pool, yield* pool]
      const held = yield* a.take()
      const fiber = yield* Effect.forkChild(b.take())
      yield* settle
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* a.release(held)
      const lease = yield* Fiber.join(fiber)
      expect(lease.credentials.keyId).toBe(held.credentials.keyId)
      expect(yield* Clock.currentTimeMillis).toBe(0)
      yield* b.release(lease)
    }))

  it.effect("a blocked pick of the memory store hands out a wake that completes at the next release", () =>
    Effect.gen(function*() {
      const store = Context.get(yield* Layer.build(KeyPool.layerStoreMemory), KeyPool.LeaseStore)
      const leases = yield* store.leases({
        key: "openai",
        candidates: [{ id: idA, weight: 1, maxConcurrency: 1 }],
        slowStartMillis: 0
      })
      const taken = yield* Effect.orDie(leases.pick)
      const blocked = yield* Effect.orDie(leases.pick)
      if (taken._tag !== "Taken" || blocked._tag !== "Blocked") throw new Error("expected a lease, then none")
      expect(blocked).toMatchObject({ allDisabled: false, availableAt: undefined, releasable: true })
      const woken = yield* Effect.forkChild(blocked.wake!)
      yield* settle
      expect(woken.pollUnsafe()).toBeUndefined()
      yield* Effect.orDie(leases.release(taken.index, taken.lease, undefined))
      yield* Fiber.join(woken)
    }))

  it.effect("pools on one key of the memory store count each other's calls on a key without a cap at once", () =>
    Effect.gen(function*() {
      const store = yield* Layer.build(KeyPool.layerStoreMemory)
      const pool = Effect.provide(KeyPool.make({ providerId: "openai", keys: [keyA, keyB], key: "openai" }), store)
      const [a, b] = [yield* pool, yield* pool]
      const lease = yield* a.take()
      expect(inFlightById(yield* b.status)).toEqual({
        [lease.credentials.keyId]: 1,
        [lease.credentials.keyId === idA ? idB : idA]: 0
      })
      expect((yield* b.take()).credentials.keyId).not.toBe(lease.credentials.keyId)
    }))

  it.effect("an empty key is refused, naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(poolInMemory({ ...capped, key: "" }))
      expect(error).toMatchObject({ _tag: "OptionsError", module: "KeyPool", option: "key" })
    }))

  it(
    "is required: a pool, its layers or a registry's pool left without one do not compile (the typecheck of the " +
      "tests proves it)",
    () => {
      const options = { providerId: "openai", keys: [keyA] }
      // @ts-expect-error: `KeyPool.make` requires the `LeaseStore`.
      const made: Effect.Effect<KeyPool.Service, unknown> = KeyPool.make(options)
      // @ts-expect-error: `KeyPool.layer` requires it too, beside the registry.
      const layered: Layer.Layer<KeyPool.KeyPool, unknown> = KeyPool.layer(options).pipe(
        Layer.provide(KeyPool.KeyPoolRegistry.layer)
      )
      // @ts-expect-error: and `KeyPool.layerConfig`.
      const configured: Layer.Layer<KeyPool.KeyPool, unknown> = KeyPool.layerConfig({
        providerId: Config.succeed("openai"),
        keys: Config.succeed([keyA])
      }).pipe(Layer.provide(KeyPool.KeyPoolRegistry.layer))
      const pooled = (registry: KeyPool.RegistryService) => {
        // @ts-expect-error: and a registry's pool.
        const pool: Effect.Effect<KeyPool.Service, unknown> = registry.pool(options)
        return pool
      }
      const inMemory: Layer.Layer<KeyPool.KeyPool, unknown> = KeyPool.layer(options).pipe(
        Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
      )
      expect([made, layered, configured, pooled, inMemory].every(Boolean)).toBe(true)
    }
  )

  // Pools over one store, each of registry 0 or 1, provider id 0 or 1, and a key of the store or none.
  const placed = fc.array(
    fc.record({
      registry: fc.integer({ min: 0, max: 1 }),
      provider: fc.integer({ min: 0, max: 1 }),
      key: fc.option(fc.constantFrom("k0", "k1"), { nil: undefined })
    }),
    { minLength: 2, maxLength: 4 }
  )

  effectProp(
    "a registry's pools share a key's state in the store they are given only with their registry's of their provider " +
      "id; a pool naming a key, with every pool naming it",
    placed,
    (pools) =>
      Effect.gen(function*() {
        const registries = [yield* KeyPool.makeRegistry, yield* KeyPool.makeRegistry]
        const made = yield* Effect.forEach(pools, (place) =>
          registries[place.registry]!.pool({
            ...capped,
            providerId: `provider-${place.provider}`,
            whenExhausted: fail,
            ...(place.key === undefined ? {} : { key: place.key })
          }))
        for (const [i, one] of pools.entries()) {
          for (const [j, other] of pools.entries()) {
            if (i === j) continue
            const shared = one.key !== undefined || other.key !== undefined
              ? one.key === other.key
              : one.registry === other.registry && one.provider === other.provider
            yield* Effect.scoped(Effect.gen(function*() {
              yield* made[i]!.acquire
              const lease = yield* made[j]!.tryTake
              if (lease !== undefined) yield* made[j]!.release(lease)
              expect({ pools: [one, other], shared: lease === undefined }).toEqual({ pools: [one, other], shared })
            }))
          }
        }
      }).pipe(Effect.provide(KeyPool.layerStoreMemory)),
    50
  )
})
