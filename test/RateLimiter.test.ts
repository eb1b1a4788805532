import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as Message from "../src/Message.js"
import * as RateLimiter from "../src/RateLimiter.js"
import { effectProp } from "./utils/effectProp.js"
import { limiterInMemory, limiterLayerInMemory } from "./utils/memoryStores.js"

const now = Clock.currentTimeMillis
const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))
/** Lets forked fibers run until they suspend, without moving the clock. */
const settle = advance(0)
const isPending = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.sync(() => fiber.pollUnsafe() === undefined)
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Waits for `cost` tokens and spends them: a `consume` whose scope closes at once. */
// An in-memory limiter has no store to lose.
const take = (limiter: RateLimiter.Service, cost = 1) =>
  Effect.scoped(limiter.consume({ cost })).pipe(
    Effect.catchTag("RateLimiterExceededError", Effect.die),
    Effect.catchTag("StoreUnavailableError", Effect.die)
  )
/** `true` when `cost` tokens were free now and taken; `false` when the bucket was short. */
const tryTake = (limiter: RateLimiter.Service, cost = 1) =>
  Effect.scoped(limiter.consume({ cost, onExceeded: "fail" })).pipe(
    Effect.as(true),
    Effect.catchTag("RateLimiterExceededError", () => Effect.succeed(false))
  )
/** `RateLimiter.withPermit` over this limiter. */
const permitted = (limiter: RateLimiter.Service) => <A, E>(self: Effect.Effect<A, E>, cost = 1) =>
  RateLimiter.withPermit(self, { cost }).pipe(
    Effect.catchTag("StoreUnavailableError", Effect.die),
    Effect.provideService(RateLimiter.RateLimiter, limiter)
  )

describe("RateLimiter bucket", () => {
  it.effect("bursts up to capacity at once, then refills refillRate tokens per second", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 2 })
      for (const _ of range(5)) expect(yield* tryTake(limiter)).toBe(true)
      expect(yield* tryTake(limiter)).toBe(false)

      const one = yield* Effect.forkChild(take(limiter))
      yield* advance(499)
      expect(yield* isPending(one)).toBe(true)
      yield* advance(1)
      yield* Fiber.join(one)

      const four = yield* Effect.forkChild(Effect.all(range(4).map(() => take(limiter)), { concurrency: "unbounded" }))
      yield* advance(1999)
      expect(yield* isPending(four)).toBe(true)
      expect((yield* limiter.status).waiting).toBe(1)
      yield* advance(1)
      yield* Fiber.join(four)
      expect(yield* now).toBe(2500)
    }))

  it.effect(
    "a burst of 200 concurrent calls at capacity 20, refill 10/s takes about 18 s and never exceeds the " +
      "bucket",
    () =>
      Effect.gen(function*() {
        const capacity = 20
        const refillRate = 10
        const limiter = yield* limiterInMemory({ capacity, refillRate })
        const admitted: Array<number> = []
        const calls = yield* Effect.forkChild(
          Effect.forEach(
            range(200),
            () => permitted(limiter)(Effect.flatMap(now, (t) => Effect.sync(() => admitted.push(t)))),
            { concurrency: "unbounded", discard: true }
          )
        )
        for (let t = 0; t <= 20_000; t += 250) {
          yield* advance(t === 0 ? 0 : 250)
          const bound = capacity + refillRate * (t / 1000)
          expect(admitted.length).toBeLessThanOrEqual(bound)
          // Demand is there all along, so it admits all the bucket allows.
          expect(admitted.length).toBeGreaterThanOrEqual(Math.min(200, bound - 1))
          const status = yield* limiter.status
          expect(status.available).toBeGreaterThanOrEqual(0)
          expect(status.available).toBeLessThanOrEqual(capacity)
          expect(status.waiting).toBe(200 - admitted.length)
        }
        yield* Fiber.join(calls)
        const finished = Math.max(...admitted)
        expect(finished).toBeGreaterThanOrEqual(17_900)
        expect(finished).toBeLessThanOrEqual(18_100)
        for (const t of admitted) {
          expect(admitted.filter((u) => u <= t).length).toBeLessThanOrEqual(capacity + refillRate * (t / 1000))
        }
      })
  )

  it.effect("consume with onExceeded fail never waits and never jumps the queue", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      expect((yield* Effect.flip(tryTake(limiter, 6)))._tag).toBe("RateLimiterCostError")
      expect((yield* Effect.flip(tryTake(limiter, -1)))._tag).toBe("RateLimiterCostError")
      expect(yield* tryTake(limiter, 5)).toBe(true)
      expect(yield* tryTake(limiter)).toBe(false)
      const waiter = yield* Effect.forkChild(take(limiter, 3))
      yield* advance(2000)
      // Two tokens are there, but the waiter asked first.
      expect(yield* tryTake(limiter)).toBe(false)
      expect(yield* isPending(waiter)).toBe(true)
      yield* advance(1000)
      yield* Fiber.join(waiter)
      expect((yield* limiter.status).available).toBe(0)
    }))

  it.effect("reset fills the bucket and serves waiters at once", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 4, refillRate: 0.5 })
      yield* take(limiter, 4)
      const waiter = yield* Effect.forkChild(take(limiter, 3))
      yield* settle
      expect(yield* isPending(waiter)).toBe(true)
      yield* limiter.reset
      yield* Fiber.join(waiter)
      expect(yield* now).toBe(0)
      const status = yield* limiter.status
      expect(status).toEqual({ available: 1, capacity: 4, refillRate: 0.5, waiting: 0, inFlight: 0 })
    }))

  it.effect("a cost above capacity fails at once with a typed error instead of waiting forever", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      const error = yield* Effect.flip(take(limiter, 6))
      expect(error._tag).toBe("RateLimiterCostError")
      expect(error.cost).toBe(6)
      expect(error.capacity).toBe(5)
      expect(error.bucket).toBe("requests")
      expect(error.message).toContain("exceeds the rate limiter's capacity of 5")

      let ran = false
      const viaPermit = yield* Effect.flip(permitted(limiter)(Effect.sync(() => (ran = true)), 7))
      expect(viaPermit).toMatchObject({ _tag: "RateLimiterCostError", cost: 7 })
      expect(ran).toBe(false)

      const negative = yield* Effect.flip(take(limiter, -1))
      expect(negative.cost).toBe(-1)
      expect(negative.message).toContain("not a non-negative finite number")
      expect((yield* Effect.flip(take(limiter, Number.NaN))).cost).toBeNaN()
      expect((yield* limiter.status).available).toBe(5)
    }))

  it.effect("bad options fail make with a typed error naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [RateLimiter.Options, string, string, string]> = [
        [{ capacity: 0, refillRate: 1 }, "capacity", "0", "a positive finite number"],
        [{ capacity: 1, refillRate: Infinity }, "refillRate", "Infinity", "a positive finite number"],
        [{ capacity: 1, refillRate: Number.NaN }, "refillRate", "NaN", "a positive finite number"],
        [{ capacity: 1, refillRate: 1, maxConcurrency: 2.5 }, "maxConcurrency", "2.5", "a positive integer"],
        [{ capacity: 1, refillRate: 1, tokensPerMinute: -5 }, "tokensPerMinute", "-5", "a positive finite number"]
      ]
      for (const [options, option, value, expected] of cases) {
        const error = yield* Effect.flip(Effect.scoped(limiterInMemory(options)))
        expect(error._tag).toBe("OptionsError")
        expect(error.module).toBe("RateLimiter")
        expect(error.option).toBe(option)
        expect(error.value).toBe(value)
        expect(error.expected).toBe(expected)
        expect(error.message).toBe(`RateLimiter: ${option} must be ${expected}, got ${value}`)
      }
    }))

  it.effect("maxConcurrency caps calls in flight; the slot is freed when a call ends", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 100, refillRate: 100, maxConcurrency: 3 })
      const running = yield* Ref.make(0)
      let peak = 0
      const call = Effect.gen(function*() {
        peak = Math.max(peak, yield* Ref.updateAndGet(running, (n) => n + 1))
        yield* Effect.sleep("1 second")
        yield* Ref.update(running, (n) => n - 1)
      })
      const calls = yield* Effect.forkChild(
        Effect.forEach(range(10), () => permitted(limiter)(call), { concurrency: "unbounded", discard: true })
      )
      yield* settle
      const first = yield* limiter.status
      expect(first.inFlight).toBe(3)
      expect(first.maxConcurrency).toBe(3)
      // Only calls holding a slot have taken a token.
      expect(first.available).toBe(97)
      yield* advance(3000)
      expect(yield* isPending(calls)).toBe(true)
      expect((yield* limiter.status).inFlight).toBe(1)
      yield* advance(1000)
      yield* Fiber.join(calls)
      expect(peak).toBe(3)
      expect((yield* limiter.status).inFlight).toBe(0)
    }))

  it.effect("consume with onExceeded fail does not pass calls waiting for a slot", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, maxConcurrency: 1 })
      const held = yield* Scope.make()
      yield* Scope.provide(limiter.consume(), held)
      const waiter = yield* Effect.forkChild(permitted(limiter)(Effect.sleep("1 second")))
      yield* settle
      expect(yield* tryTake(limiter)).toBe(false)
      yield* Scope.close(held, Exit.void)
      // The slot is free again, but the waiter asked first.
      expect(yield* tryTake(limiter)).toBe(false)
      yield* advance(1000)
      yield* Fiber.join(waiter)
      expect(yield* tryTake(limiter)).toBe(true)
      expect(yield* limiter.status).toMatchObject({ inFlight: 0, available: 8 })
    }))

  it.effect("a failing call frees its slot too", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, maxConcurrency: 1 })
      expect(yield* Effect.flip(permitted(limiter)(Effect.fail("boom")))).toBe("boom")
      expect(yield* permitted(limiter)(Effect.succeed(42))).toBe(42)
      expect((yield* limiter.status).inFlight).toBe(0)
    }))
  it.effect("consume holds its slot until its scope closes", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, maxConcurrency: 1 })
      const scope = yield* Scope.make()
      yield* Scope.provide(limiter.consume({ cost: 2 }), scope)
      expect(yield* limiter.status).toMatchObject({ inFlight: 1, available: 8 })
      const second = yield* Effect.forkChild(Effect.scoped(limiter.consume()))
      yield* advance(5000)
      expect(yield* isPending(second)).toBe(true)
      yield* Scope.close(scope, Exit.void)
      // It waited for the slot, not for tokens.
      expect(Duration.toMillis((yield* Fiber.join(second)).delay)).toBe(5000)
      expect((yield* limiter.status).inFlight).toBe(0)
      const error = yield* Effect.flip(Effect.scoped(limiter.consume({ cost: 11 })))
      expect(error).toMatchObject({ _tag: "RateLimiterCostError", cost: 11 })
    }))

  it.effect("a call interrupted while it waits for a slot leaks neither the slot nor tokens", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, maxConcurrency: 1 })
      const scope = yield* Scope.make()
      yield* Scope.provide(limiter.consume(), scope)
      const waiting = yield* Effect.forkChild(permitted(limiter)(Effect.void, 3))
      yield* settle
      yield* Fiber.interrupt(waiting)
      expect(yield* limiter.status).toMatchObject({ inFlight: 1, available: 9, waiting: 0 })
      yield* Scope.close(scope, Exit.void)
      expect(yield* permitted(limiter)(Effect.succeed("next"), 9)).toBe("next")
      expect(yield* limiter.status).toMatchObject({ inFlight: 0, available: 0 })
    }))

  it.effect("withPermit leaves the scope of the effect it wraps alone", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1 })
      let closed = false
      yield* Effect.scoped(
        Effect.gen(function*() {
          yield* RateLimiter.withPermit(Effect.addFinalizer(() => Effect.sync(() => (closed = true)))).pipe(
            Effect.provideService(RateLimiter.RateLimiter, limiter)
          )
          expect(closed).toBe(false)
        })
      )
      expect(closed).toBe(true)
    }))
})

describe("RateLimiter consume", () => {
  it.effect("reports how long it waited, what is left and when the bucket is full again", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 4, refillRate: 2 })
      const first = yield* take(limiter, 3)
      expect(Duration.toMillis(first.delay)).toBe(0)
      expect(first.limit).toBe(4)
      expect(first.remaining).toBe(1)
      // Three tokens at two a second.
      expect(Duration.toMillis(first.resetAfter)).toBe(1500)
      const second = yield* Effect.forkChild(take(limiter, 2))
      yield* advance(500)
      const waited = yield* Fiber.join(second)
      expect(Duration.toMillis(waited.delay)).toBe(500)
      expect(waited.remaining).toBe(0)
      expect(Duration.toMillis(waited.resetAfter)).toBe(2000)
    }))

  it.effect("onExceeded fail names the bucket that was short and when its tokens are due, and takes nothing", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 4, refillRate: 2, maxConcurrency: 1, tokensPerMinute: 600 })
      yield* take(limiter, 3)
      const requests = yield* Effect.flip(Effect.scoped(limiter.consume({ cost: 3, onExceeded: "fail" })))
      expect(requests._tag).toBe("RateLimiterExceededError")
      expect(requests).toMatchObject({ bucket: "requests", limit: 4, remaining: 1 })
      expect(requests._tag === "RateLimiterExceededError" && Duration.toMillis(requests.retryAfter!)).toBe(1000)
      expect(requests.message).toContain("rate limiter's bucket (4) has 1 left")

      const held = yield* Scope.make()
      yield* Scope.provide(limiter.consume({ tokens: 100, onExceeded: "fail" }), held)
      const budget = yield* Effect.flip(Effect.scoped(limiter.consume({ tokens: 600, onExceeded: "fail" })))
      // 100 tokens short, at 10 a second.
      expect(budget).toMatchObject({
        _tag: "RateLimiterExceededError",
        bucket: "tokensPerMinute",
        limit: 600,
        remaining: 500
      })
      expect(budget._tag === "RateLimiterExceededError" && Duration.toMillis(budget.retryAfter!)).toBe(10_000)
      const slot = yield* Effect.flip(Effect.scoped(limiter.consume({ tokens: 100, onExceeded: "fail" })))
      expect(slot).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "concurrency", limit: 1, remaining: 0 })
      expect(slot._tag === "RateLimiterExceededError" && slot.retryAfter).toBeUndefined()
      // The refused calls took nothing: one request token and 100 budget tokens are out, for the held call.
      expect(yield* limiter.status).toMatchObject({ available: 0, inFlight: 1, budget: { available: 500 } })
      yield* Scope.close(held, Exit.void)
      expect((yield* limiter.status).inFlight).toBe(0)
    }))

  it.effect("the scope frees the slot when the work in it fails or is interrupted", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 10, maxConcurrency: 1 })
      expect(yield* Effect.flip(Effect.scoped(Effect.andThen(limiter.consume(), Effect.fail("boom"))))).toBe("boom")
      const running = yield* Effect.forkChild(Effect.scoped(Effect.andThen(limiter.consume(), Effect.never)))
      yield* settle
      expect((yield* limiter.status).inFlight).toBe(1)
      yield* Fiber.interrupt(running)
      expect((yield* limiter.status).inFlight).toBe(0)
      expect(yield* tryTake(limiter)).toBe(true)
    }))

  it("the exceeded error's message gives a wait a person can read, never \"about 0\"", () => {
    const error = (millis: number) =>
      new RateLimiter.RateLimiterExceededError({
        bucket: "requests",
        limit: 4,
        remaining: 0,
        retryAfter: Duration.millis(millis)
      })
    expect(error(0).message).toContain("Wait for about 0.1 s,")
    expect(error(1).message).toContain("Wait for about 0.1 s,")
    expect(error(1450).message).toContain("Wait for about 1.5 s,")
    expect(error(90_000).message).toContain("Wait for about 1m 30s,")
  })
})

describe("RateLimiter waiters", () => {
  it.effect("an interrupted waiter leaves the tokens it did not get", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      yield* take(limiter, 5)
      const waiter = yield* Effect.forkChild(take(limiter, 3))
      yield* advance(2000)
      expect(yield* limiter.status).toMatchObject({ available: 2, waiting: 1 })
      yield* Fiber.interrupt(waiter)
      expect(yield* limiter.status).toMatchObject({ available: 2, waiting: 0 })
      expect(yield* tryTake(limiter, 2)).toBe(true)
    }))

  it.effect("interrupting the head of the queue serves those behind it at once", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      yield* take(limiter, 5)
      const big = yield* Effect.forkChild(take(limiter, 5))
      yield* settle
      const small = yield* Effect.forkChild(take(limiter, 1))
      yield* advance(1500)
      expect(yield* isPending(small)).toBe(true)
      yield* Fiber.interrupt(big)
      yield* settle
      expect(yield* isPending(small)).toBe(false)
      expect(yield* now).toBe(1500)
    }))

  it.effect("a waiter interrupted just as it is served gives its tokens back", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      yield* take(limiter, 5)
      const waiter = yield* Effect.forkChild(take(limiter, 3))
      yield* settle
      // The interrupt reaches the fiber before the wake-up that reset sends it.
      waiter.interruptUnsafe()
      yield* limiter.reset
      const exit = yield* Fiber.await(waiter)
      expect(Exit.hasInterrupts(exit)).toBe(true)
      expect(yield* limiter.status).toMatchObject({ available: 5, waiting: 0 })
    }))

  it.effect("waiters are served first come, first served: a large request is not overtaken by small ones", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 5, refillRate: 1 })
      yield* take(limiter, 5)
      const served: Array<readonly [string, number]> = []
      const request = (name: string, cost: number) =>
        Effect.forkChild(
          Effect.andThen(take(limiter, cost), Effect.flatMap(now, (t) => Effect.sync(() => served.push([name, t]))))
        )
      yield* request("big", 5)
      yield* advance(2000)
      // Two tokens are free, enough for each small request, but the big one asked first.
      for (const name of ["a", "b", "c"]) {
        yield* request(name, 1)
        yield* settle
      }
      expect(served).toEqual([])
      yield* advance(2000)
      expect(served).toEqual([])
      yield* advance(4000)
      expect(served).toEqual([["big", 5000], ["a", 6000], ["b", 7000], ["c", 8000]])
    }))

  it.effect("closing the limiter's scope interrupts its waiters instead of leaving them hanging", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const limiter = yield* Scope.provide(limiterInMemory({ capacity: 1, refillRate: 1 }), scope)
      yield* take(limiter)
      const waiter = yield* Effect.forkChild(take(limiter))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      expect(Exit.hasInterrupts(yield* Fiber.await(waiter))).toBe(true)
    }))
})

/** Consumes `tokens` of the budget (and one request token) and gives the result. */
const spend = (limiter: RateLimiter.Service, tokens: number) =>
  Effect.scoped(limiter.consume({ tokens })).pipe(
    Effect.catchTag("RateLimiterExceededError", Effect.die),
    Effect.catchTag("StoreUnavailableError", Effect.die)
  )

describe("RateLimiter tokens-per-minute budget", () => {
  it.effect("consume holds the estimate; reconcile refunds what was not used", () =>
    Effect.gen(function*() {
      // 6000 per minute: 100 tokens per second.
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 6000 })
      const result = yield* spend(limiter, 5000)
      expect((yield* limiter.status).budget).toEqual({ available: 1000, capacity: 6000, waiting: 0 })
      yield* result.reconcile(3000)
      expect((yield* limiter.status).budget?.available).toBe(3000)
      // Settled once: a second reconcile changes nothing.
      yield* result.reconcile(0)
      expect((yield* limiter.status).budget?.available).toBe(3000)

      const next = yield* Effect.forkChild(spend(limiter, 4000))
      yield* advance(9900)
      expect(yield* isPending(next)).toBe(true)
      expect((yield* limiter.status).budget?.waiting).toBe(1)
      yield* advance(100)
      expect(Duration.toMillis((yield* Fiber.join(next)).delay)).toBe(10_000)
    }))

  it.effect("a refund never fills the budget past tokensPerMinute", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      const result = yield* spend(limiter, 500)
      yield* advance(60_000)
      yield* result.reconcile(0)
      expect((yield* limiter.status).budget?.available).toBe(600)
    }))

  it.effect("usage above the estimate goes into debt that later calls wait out", () =>
    Effect.gen(function*() {
      // 600 per minute: 10 tokens per second.
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      yield* Effect.flatMap(spend(limiter, 100), (result) => result.reconcile(700))
      expect((yield* limiter.status).budget?.available).toBe(-100)
      const next = yield* Effect.forkChild(spend(limiter, 50))
      yield* advance(14_900)
      expect(yield* isPending(next)).toBe(true)
      yield* advance(100)
      yield* Fiber.join(next)
      expect((yield* limiter.status).budget?.available).toBe(0)
    }))

  it.effect("a refund serves a call waiting for the budget at once", () =>
    Effect.gen(function*() {
      // 600 per minute: 10 tokens per second.
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      const first = yield* spend(limiter, 600)
      const next = yield* Effect.forkChild(spend(limiter, 300))
      yield* advance(1000)
      expect(yield* isPending(next)).toBe(true)
      // 590 tokens back (10 refilled meanwhile): enough for the waiter now, not in 29 more seconds.
      yield* first.reconcile(10)
      yield* settle
      expect(Duration.toMillis((yield* Fiber.join(next)).delay)).toBe(1000)
      expect((yield* limiter.status).budget).toEqual({ available: 300, capacity: 600, waiting: 0 })
    }))

  it.effect("a usage that is not a count leaves the estimate spent", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      yield* Effect.flatMap(spend(limiter, 100), (result) => result.reconcile(Number.NaN))
      yield* Effect.flatMap(spend(limiter, 100), (result) => result.reconcile(-3))
      expect((yield* limiter.status).budget?.available).toBe(400)
    }))

  it.effect("an estimate above tokensPerMinute, or not a count, fails typed", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      const error = yield* Effect.flip(spend(limiter, 601))
      expect(error._tag).toBe("RateLimiterCostError")
      expect(error.bucket).toBe("tokensPerMinute")
      expect(error.cost).toBe(601)
      expect(error.capacity).toBe(600)
      expect(error.message).toContain("tokens-per-minute budget")
      expect(yield* Effect.flip(spend(limiter, Number.NaN))).toMatchObject({ bucket: "tokensPerMinute" })
      // Nothing was taken from either bucket.
      expect(yield* limiter.status).toMatchObject({ available: 10, budget: { available: 600 } })
    }))

  it.effect("without reconcile the estimate stays spent, as when the call fails", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, tokensPerMinute: 600 })
      const reply = yield* RateLimiter.withPermit(Effect.succeed({ used: 50 }), { tokens: 200 }).pipe(
        Effect.provideService(RateLimiter.RateLimiter, limiter)
      )
      expect(reply.used).toBe(50)
      expect((yield* limiter.status).budget?.available).toBe(400)
      yield* Effect.scoped(Effect.flatMap(limiter.consume({ tokens: 200 }), (result) => result.reconcile(50)))
      expect((yield* limiter.status).budget?.available).toBe(350)
    }))

  it.effect("a call interrupted while it waits for its permit gives its estimate back", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 10, refillRate: 1, maxConcurrency: 1, tokensPerMinute: 600 })
      const held = yield* Scope.make()
      yield* Scope.provide(limiter.consume(), held)
      const waiting = yield* Effect.forkChild(spend(limiter, 300))
      yield* settle
      expect((yield* limiter.status).budget?.available).toBe(300)
      yield* Fiber.interrupt(waiting)
      expect(yield* limiter.status).toMatchObject({ inFlight: 1, available: 9, budget: { available: 600 } })
      yield* Scope.close(held, Exit.void)
    }))

  it.effect("without tokensPerMinute, tokens pass at once and status has no budget", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterInMemory({ capacity: 1, refillRate: 1 })
      const result = yield* spend(limiter, 1_000_000)
      yield* result.reconcile(5)
      expect(Duration.toMillis(result.delay)).toBe(0)
      expect("budget" in (yield* limiter.status)).toBe(false)
    }))

  it("estimateTokens counts about a token per four characters of prompt, plus maxTokens", () => {
    const request: ChatRequest.Input = {
      messages: [
        Message.system("a".repeat(40)),
        Message.user([Message.text("b".repeat(79)), Message.image("https://x/y.png")])
      ]
    }
    // ceil(119 / 4) = 30, plus 4 per message.
    expect(RateLimiter.estimateTokens(request)).toBe(38)
    expect(RateLimiter.estimateTokens({ ...request, maxTokens: 100 })).toBe(138)
    expect(RateLimiter.estimateTokens(request, { defaultMaxTokens: 500 })).toBe(538)
    expect(RateLimiter.estimateTokens({ ...request, maxTokens: 100 }, { defaultMaxTokens: 500 })).toBe(138)
    const withTools: ChatRequest.Input = {
      messages: [Message.user("hi")],
      tools: [{ name: "f", parameters: { type: "object" } }]
    }
    expect(RateLimiter.estimateTokens(withTools)).toBeGreaterThan(
      RateLimiter.estimateTokens({ messages: [Message.user("hi")] })
    )
  })
})

describe("RateLimiter stores", () => {
  it.effect("limiters given one key over one memory store draw from one bucket; other keys from their own", () =>
    Effect.gen(function*() {
      const stores = yield* Layer.build(RateLimiter.layerStoreMemory)
      const make = (key: string) => Effect.provide(RateLimiter.make({ capacity: 3, refillRate: 1, key }), stores)
      const [first, second, other] = [yield* make("a"), yield* make("a"), yield* make("b")]
      expect(yield* tryTake(first, 2)).toBe(true)
      expect(yield* tryTake(second, 2)).toBe(false)
      expect(yield* tryTake(second, 1)).toBe(true)
      expect(yield* tryTake(other, 3)).toBe(true)
      // A waiter on one is served when the shared bucket has refilled its tokens.
      const waiter = yield* Effect.forkChild(take(second, 2))
      yield* advance(1999)
      expect(yield* isPending(waiter)).toBe(true)
      yield* advance(1)
      yield* Fiber.join(waiter)
      expect((yield* first.status).available).toBe(0)
    }))

  it.effect("each given memory stores of its own has its own bucket, whatever its key", () =>
    Effect.gen(function*() {
      const first = yield* limiterInMemory({ capacity: 2, refillRate: 1, key: "same" })
      const second = yield* limiterInMemory({ capacity: 2, refillRate: 1, key: "same" })
      expect(yield* tryTake(first, 2)).toBe(true)
      expect(yield* tryTake(second, 2)).toBe(true)
    }))

  it("are required: a limiter or its layers left without them do not compile (the typecheck of the tests proves it)", () => {
    const options = { capacity: 2, refillRate: 1 }
    // @ts-expect-error: `RateLimiter.make` requires the `BucketStore` and the `SlotStore`.
    const made: Effect.Effect<RateLimiter.Service, unknown, Scope.Scope> = RateLimiter.make(options)
    // @ts-expect-error: `RateLimiter.layer` requires them too.
    const layered: Layer.Layer<RateLimiter.RateLimiter, unknown> = RateLimiter.layer(options)
    // @ts-expect-error: and `RateLimiter.layerConfig`.
    const configured: Layer.Layer<RateLimiter.RateLimiter, unknown> = RateLimiter.layerConfig(Config.succeed(options))
    const inMemory: Layer.Layer<RateLimiter.RateLimiter, unknown> = RateLimiter.layer(options).pipe(
      Layer.provide(RateLimiter.layerStoreMemory)
    )
    expect([made, layered, configured, inMemory].every(Boolean)).toBe(true)
  })

  it.effect("an empty key fails make with a typed error naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(limiterInMemory({ capacity: 1, refillRate: 1, key: "" })))
      expect(error).toMatchObject({ _tag: "OptionsError", module: "RateLimiter", option: "key" })
    }))
})

describe("RateLimiter layers", () => {
  it.effect("layer provides the limiter under its tag", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      yield* take(limiter, 3)
      expect(yield* limiter.status).toMatchObject({ available: 0, capacity: 3, refillRate: 2 })
    }).pipe(Effect.provide(limiterLayerInMemory({ capacity: 3, refillRate: 2 }))))

  const fromConfig = Config.all({ capacity: Config.Number("CAPACITY"), refillRate: Config.Number("REFILL_RATE") })
  const withEnv = (entries: ReadonlyArray<readonly [string, string]>) =>
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: Object.fromEntries(entries) }))

  it.effect("layerConfig reads the options from Config and checks them", () =>
    Effect.gen(function*() {
      const status = yield* Effect.flatMap(RateLimiter.RateLimiter, (l) => l.status).pipe(
        Effect.provide(RateLimiter.layerConfig(fromConfig).pipe(Layer.provide(RateLimiter.layerStoreMemory))),
        withEnv([["CAPACITY", "7"], ["REFILL_RATE", "1.5"]])
      )
      expect(status).toMatchObject({ capacity: 7, refillRate: 1.5 })

      const bad = yield* Effect.flip(
        Effect.provide(
          RateLimiter.RateLimiter,
          RateLimiter.layerConfig(fromConfig).pipe(Layer.provide(RateLimiter.layerStoreMemory))
        ).pipe(
          withEnv([["CAPACITY", "7"], ["REFILL_RATE", "0"]])
        )
      )
      expect(bad).toMatchObject({ _tag: "OptionsError", option: "refillRate", value: "0" })

      const missing = yield* Effect.flip(
        Effect.provide(
          RateLimiter.RateLimiter,
          RateLimiter.layerConfig(fromConfig).pipe(Layer.provide(RateLimiter.layerStoreMemory))
        ).pipe(withEnv([["CAPACITY", "7"]]))
      )
      expect(missing).toBeInstanceOf(Config.ConfigError)
    }))

  it.effect("unlimited never waits", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      yield* Effect.all(range(1000).map(() => take(limiter, 1_000_000)))
      expect(yield* tryTake(limiter, 1e12)).toBe(true)
      expect(yield* permitted(limiter)(Effect.flatMap(limiter.status, (s) => Effect.succeed(s.inFlight)))).toBe(1)
      const result = yield* Effect.scoped(limiter.consume({ tokens: 1e9 }))
      expect(result).toMatchObject({ limit: Infinity, remaining: Infinity })
      yield* result.reconcile(1)
      expect(yield* limiter.status).toEqual({
        available: Infinity,
        capacity: Infinity,
        refillRate: Infinity,
        waiting: 0,
        inFlight: 0
      })
      expect(yield* now).toBe(0)
    }).pipe(Effect.provide(RateLimiter.unlimited)))
})

// ---------------------------------------------------------------------------
// Properties, driven by TestClock.

interface Admission {
  readonly cost: number
  readonly arrivedAt: number
  admittedAt: number
}

/**
 * The earliest first-come-first-served schedule a bucket of this shape allows:
 * each request goes as soon as it has arrived, the one before it has gone, and
 * its tokens have refilled. No correct limiter admits anyone earlier.
 */
const idealAdmissions = (capacity: number, refillRate: number, requests: ReadonlyArray<Admission>): Array<number> => {
  const perMilli = refillRate / 1000
  let level = capacity
  let at = 0
  return requests.map(({ arrivedAt, cost }) => {
    const start = Math.max(arrivedAt, at)
    level = Math.min(capacity, level + (start - at) * perMilli)
    at = start
    if (level < cost) {
      at = start + (cost - level) / perMilli
      level = cost
    }
    level -= cost
    return at
  })
}

/** Each request admitted when an ideal bucket serving in arrival order would admit it, to 0.01 ms. */
const expectOnTime = (capacity: number, refillRate: number, admissions: ReadonlyArray<Admission>) => {
  const ideal = idealAdmissions(capacity, refillRate, admissions)
  admissions.forEach((entry, i) => {
    expect(entry.admittedAt).toBeGreaterThanOrEqual(ideal[i]! - 0.01)
    expect(entry.admittedAt).toBeLessThanOrEqual(ideal[i]! + 0.01)
  })
}

/** Every window [A_i, A_j] of admission times holds at most capacity + rate * (A_j - A_i) tokens. */
const expectWindowsBounded = (capacity: number, refillRate: number, admissions: ReadonlyArray<Admission>) => {
  const sorted = [...admissions].sort((a, b) => a.admittedAt - b.admittedAt)
  for (let i = 0; i < sorted.length; i++) {
    let sum = 0
    for (let j = i; j < sorted.length; j++) {
      sum += sorted[j]!.cost
      const t = (sorted[j]!.admittedAt - sorted[i]!.admittedAt) / 1000
      expect(sum).toBeLessThanOrEqual(capacity + refillRate * t + 1e-6)
    }
  }
}

const rates = fc.integer({ min: 1, max: 40 }).map((n) => n / 4)

const arrivals = fc.integer({ min: 1, max: 6 }).chain((capacity) =>
  fc.record({
    capacity: fc.constant(capacity),
    refillRate: rates,
    // Each worker is one fiber issuing its requests one after another, pausing
    // between them; several workers are the concurrency.
    workers: fc.array(
      fc.array(fc.record({ cost: fc.integer({ min: 1, max: capacity }), pause: fc.integer({ min: 0, max: 3000 }) }), {
        minLength: 1,
        maxLength: 5
      }),
      { minLength: 1, maxLength: 6 }
    )
  })
)

describe("RateLimiter properties", () => {
  effectProp(
    "under any arrivals and concurrency: bounded in every window, first come first served, no starvation",
    fc.tuple(arrivals),
    ([{ capacity, refillRate, workers }]) =>
      Effect.gen(function*() {
        const limiter = yield* limiterInMemory({ capacity, refillRate })
        const log: Array<Admission> = []
        const worker = (requests: ReadonlyArray<{ readonly cost: number; readonly pause: number }>) =>
          Effect.forEach(requests, ({ cost, pause }) =>
            Effect.gen(function*() {
              if (pause > 0) yield* Effect.sleep(Duration.millis(pause))
              const entry: Admission = { cost, arrivedAt: yield* now, admittedAt: Number.NaN }
              log.push(entry)
              yield* take(limiter, cost)
              entry.admittedAt = yield* now
            }), { discard: true })
        // The log's order must be the order requests reached the limiter, so no
        // fiber may be preempted between logging its arrival and asking.
        const all = yield* Effect.forkChild(
          Effect.forEach(workers, worker, { concurrency: "unbounded", discard: true }).pipe(
            Effect.provideService(References.MaxOpsBeforeYield, Number.MAX_SAFE_INTEGER)
          )
        )
        const costs = workers.flat()
        const horizon = costs.reduce((sum, r) => sum + r.pause + (r.cost * 1000) / refillRate, 0) + 10_000
        yield* advance(horizon)
        expect(yield* isPending(all)).toBe(false)
        yield* Fiber.join(all)

        expectWindowsBounded(capacity, refillRate, log)
        for (let i = 1; i < log.length; i++) {
          expect(log[i]!.admittedAt).toBeGreaterThanOrEqual(log[i - 1]!.admittedAt)
        }
        // Not earlier than the bucket allows, and not later either: nobody starves.
        expectOnTime(capacity, refillRate, log)
      }),
    50
  )

  effectProp(
    "with fractional capacity and costs: bounded in every window, first come first served, on time",
    fc.tuple(
      fc.integer({ min: 2, max: 24 }).chain((quarters) =>
        fc.record({
          capacity: fc.constant(quarters / 4),
          refillRate: rates,
          costs: fc.array(fc.integer({ min: 0, max: quarters }).map((q) => q / 4), { minLength: 1, maxLength: 20 })
        })
      )
    ),
    ([{ capacity, costs, refillRate }]) =>
      Effect.gen(function*() {
        const limiter = yield* limiterInMemory({ capacity, refillRate })
        const log: Array<Admission> = costs.map((cost) => ({ cost, arrivedAt: 0, admittedAt: Number.NaN }))
        const all = yield* Effect.forkChild(
          Effect.forEach(log, (entry) =>
            Effect.andThen(
              take(limiter, entry.cost),
              Effect.flatMap(now, (t) =>
                Effect.sync(() => {
                  entry.admittedAt = t
                }))
            ), { concurrency: "unbounded", discard: true })
        )
        yield* advance(
          (costs.reduce((a, b) => a + b, 0) * 1000) / refillRate + 10_000
        )
        yield* Fiber.join(all)
        expectWindowsBounded(capacity, refillRate, log)
        expectOnTime(capacity, refillRate, log)
      }),
    50
  )

  effectProp(
    "with demand waiting, it admits capacity + rate * t, less one request, by every t",
    fc.tuple(
      fc.integer({ min: 1, max: 8 }).chain((capacity) =>
        fc.record({
          capacity: fc.constant(capacity),
          refillRate: rates,
          costs: fc.array(fc.integer({ min: 1, max: capacity }), { minLength: 1, maxLength: 40 }),
          concurrency: fc.integer({ min: 1, max: 40 })
        })
      )
    ),
    ([{ capacity, concurrency, costs, refillRate }]) =>
      Effect.gen(function*() {
        const limiter = yield* limiterInMemory({ capacity, refillRate })
        const log: Array<Admission> = []
        const request = (cost: number) =>
          Effect.gen(function*() {
            const entry: Admission = { cost, arrivedAt: yield* now, admittedAt: Number.NaN }
            log.push(entry)
            yield* take(limiter, cost)
            entry.admittedAt = yield* now
          })
        const all = yield* Effect.forkChild(Effect.forEach(costs, request, { concurrency, discard: true }))
        const total = costs.reduce((a, b) => a + b, 0)
        yield* advance((total * 1000) / refillRate + 10_000)
        yield* Fiber.join(all)

        expectWindowsBounded(capacity, refillRate, log)
        // What is left in the bucket is less than the first waiter's cost.
        const slack = Math.max(...costs)
        const end = Math.max(...log.map((e) => e.admittedAt))
        for (let t = 0; t <= end; t += 50) {
          const admitted = log.filter((e) => e.admittedAt <= t).reduce((sum, e) => sum + e.cost, 0)
          const allowed = capacity + (refillRate * t) / 1000
          expect(admitted).toBeLessThanOrEqual(allowed + 1e-6)
          expect(admitted).toBeGreaterThanOrEqual(Math.min(total, allowed - slack))
        }
      }),
    50
  )
})
