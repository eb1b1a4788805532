import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as Internal from "../../src/internal/rateLimiter.js"
import * as RateLimiter from "../../src/RateLimiter.js"

const advance = (millis: number) => TestClock.adjust(Duration.millis(millis))
const settle = advance(0)
const isPending = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.sync(() => fiber.pollUnsafe() === undefined)

describe("RateLimiter fast paths", () => {
  it.effect("tryTakePermit does not pass calls waiting for a slot", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 10, refillRate: 1, maxConcurrency: 1 })
      const fast = Internal.fastPath(limiter)
      const release = yield* fast.takePermit(1)
      const waiter = yield* Effect.forkChild(Effect.scoped(Effect.andThen(limiter.consume(), Effect.sleep("1 second"))))
      yield* settle
      expect(yield* fast.tryTakePermit(1)).toBeUndefined()
      yield* release
      // The slot is free again, but the waiter asked first.
      expect(yield* fast.tryTakePermit(1)).toBeUndefined()
      yield* advance(1000)
      yield* Fiber.join(waiter)
      const next = yield* fast.tryTakePermit(1)
      expect(next).toBeDefined()
      expect((yield* limiter.status).inFlight).toBe(1)
      yield* next!
      expect(yield* limiter.status).toMatchObject({ inFlight: 0, available: 8 })
    }))

  it.effect("takePermit and tryTakePermit refuse a cost the bucket can never grant", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 5, refillRate: 1 })
      const fast = Internal.fastPath(limiter)
      expect(yield* Effect.flip(fast.takePermit(6))).toMatchObject({ _tag: "RateLimiterCostError", cost: 6, capacity: 5 })
      expect(yield* Effect.flip(fast.tryTakePermit(-1))).toMatchObject({ _tag: "RateLimiterCostError", cost: -1 })
      expect((yield* limiter.status).available).toBe(5)
    }))

  it.effect("reserve holds the estimate until reconcile settles it, once", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.make({ capacity: 10, refillRate: 1, tokensPerMinute: 6000 })
      const fast = Internal.fastPath(limiter)
      expect(fast.hasTokenBudget).toBe(true)
      const reservation = yield* fast.reserve(5000)
      expect((yield* limiter.status).budget?.available).toBe(1000)
      yield* fast.reconcile(reservation, 3000)
      yield* fast.reconcile(reservation, 0)
      expect((yield* limiter.status).budget?.available).toBe(3000)
      // The request bucket is the permit's, not the budget's.
      expect((yield* limiter.status).available).toBe(10)
      expect(Internal.fastPath(yield* RateLimiter.make({ capacity: 1, refillRate: 1 })).hasTokenBudget).toBe(false)
    }))

  it.effect("the unlimited limiter's fast paths never wait and count calls in flight", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.makeUnlimited
      const fast = Internal.fastPath(limiter)
      const first = yield* fast.tryTakePermit(1e12)
      const second = yield* fast.takePermit(1e12)
      expect((yield* limiter.status).inFlight).toBe(2)
      yield* first!
      yield* second
      expect((yield* limiter.status).inFlight).toBe(0)
      expect(fast.hasTokenBudget).toBe(false)
    }))

  it.effect("a limiter written by hand gets fast paths derived from its consume", () =>
    Effect.gen(function*() {
      const inner = yield* RateLimiter.make({ capacity: 2, refillRate: 1, maxConcurrency: 1 })
      const costs: Array<number | undefined> = []
      // A decorator: it records every cost and defers to a real limiter.
      const decorated: RateLimiter.Service = {
        consume: (options) => Effect.andThen(Effect.sync(() => costs.push(options?.cost)), inner.consume(options)),
        status: inner.status,
        reset: inner.reset
      }
      const fast = Internal.fastPath(decorated)
      expect(fast.hasTokenBudget).toBe(false)
      const release = yield* fast.takePermit(1)
      expect((yield* inner.status).inFlight).toBe(1)
      // The slot is held: the derived try fails at once instead of waiting.
      expect(yield* fast.tryTakePermit(1)).toBeUndefined()
      const waiter = yield* Effect.forkChild(fast.takePermit(1))
      yield* settle
      expect(yield* isPending(waiter)).toBe(true)
      yield* release
      const next = yield* Fiber.join(waiter)
      expect((yield* inner.status).inFlight).toBe(1)
      yield* next
      expect(yield* inner.status).toMatchObject({ inFlight: 0, available: 0 })
      expect(costs).toEqual([1, 1, 1])
      expect(yield* Effect.flip(fast.takePermit(3))).toMatchObject({ _tag: "RateLimiterCostError", cost: 3 })
    }))
})
