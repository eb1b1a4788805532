import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import type { Settled } from "../../src/internal/keyPoolOutcome.js"
import * as Internal from "../../src/internal/keyPoolService.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as LlmError from "../../src/LlmError.js"

const keyA = "sk-alpha-secret-value-0001"
const keyB = "sk-bravo-secret-value-0002"
const idA = LlmError.maskKey(keyA)

const timeout = new LlmError.TimeoutError({ provider: "test", model: "m" })
const rateLimit = new LlmError.RateLimitError({ provider: "test", model: "m" })

const statusOf = (pool: KeyPool.Service, keyId: string) =>
  Effect.map(pool.status, (statuses) => statuses.find((s) => s.keyId === keyId)!)

/** Lets forked fibers run up to their next suspension. */
const settle = Effect.repeat(Effect.yieldNow, { times: 5 })

describe("KeyPool fast paths", () => {
  it.effect("take and tryTake hold a key until release, without a scope", () =>
    Effect.gen(function*() {
      const pool = yield* KeyPool.make({ providerId: "test", keys: [{ key: keyA, maxConcurrency: 1 }] })
      const fast = Internal.fastPath(pool)
      const lease = yield* fast.take
      expect(lease.credentials.keyId).toBe(idA)
      expect(yield* fast.tryTake).toBeUndefined()
      const waiter = yield* Effect.forkChild(fast.take)
      yield* settle
      expect(waiter.pollUnsafe()).toBeUndefined()
      yield* fast.release(lease, undefined)
      const next = yield* Fiber.join(waiter)
      expect((yield* statusOf(pool, idA)).inFlight).toBe(1)
      yield* fast.release(next, "success")
      expect(yield* statusOf(pool, idA)).toMatchObject({ inFlight: 0, totalRequests: 2 })
      const tried = yield* fast.tryTake
      expect(tried?.credentials.keyId).toBe(idA)
      yield* fast.release(tried!, undefined)
    }))

  it.effect("release reports an Exit: failures count, success clears, interruptions and defects say nothing", () =>
    Effect.gen(function*() {
      const pool = yield* KeyPool.make({ providerId: "test", keys: [keyA], rateLimitCooldown: { jitter: false } })
      const fast = Internal.fastPath(pool)
      const cycle = (outcome: Settled) => Effect.flatMap(fast.take, (lease) => fast.release(lease, outcome))
      yield* cycle(timeout)
      yield* cycle(Exit.fail(timeout))
      expect((yield* statusOf(pool, idA)).failures).toBe(2)
      yield* cycle(Exit.interrupt())
      yield* cycle(Exit.die(new Error("bug")))
      expect((yield* statusOf(pool, idA)).failures).toBe(2)
      yield* cycle(Exit.succeed("reply"))
      expect((yield* statusOf(pool, idA)).failures).toBe(0)
      // Reported before it is released: a rate-limited key goes to cooling, not back to ready.
      yield* cycle(Exit.fail(rateLimit))
      const status = yield* statusOf(pool, idA)
      expect(status.coolingUntil).toBe(1_000)
      expect(status.inFlight).toBe(0)
    }))

  it.effect("takeCooledBy waits for a cooling key only when its cooldown ends in time", () =>
    Effect.gen(function*() {
      const pool = yield* KeyPool.make({ providerId: "test", keys: [keyA] })
      const fast = Internal.fastPath(pool)
      yield* fast.release(yield* fast.take, new LlmError.RateLimitError({ provider: "test", model: "m", retryAfter: Duration.seconds(8) }))
      // The cooldown ends at 8 s, after 5 s: no wait, the pool's own 60 s notwithstanding.
      const error = yield* Effect.flip(fast.takeCooledBy(5_000))
      expect(error).toMatchObject({ _tag: "NoCapacityError", availableAt: 8_000 })
      expect(yield* Clock.currentTimeMillis).toBe(0)
      // Ending by 8 s, it is waited for.
      const waiter = yield* Effect.forkChild(fast.takeCooledBy(8_000))
      yield* TestClock.adjust("8 seconds")
      const lease = yield* Fiber.join(waiter)
      expect(lease.credentials.keyId).toBe(idA)
      yield* fast.release(lease, "success")
    }))

  it.effect("a pool written by hand gets fast paths derived from acquire and report", () =>
    Effect.gen(function*() {
      const inner = yield* KeyPool.make({ providerId: "test", keys: [keyA, keyB] })
      const reported: Array<KeyPool.Outcome> = []
      // A decorator: it records every outcome and defers to a real pool.
      const decorated: KeyPool.Service = {
        providerId: inner.providerId,
        acquire: inner.acquire,
        report: (lease, outcome) => Effect.andThen(Effect.sync(() => reported.push(outcome)), inner.report(lease, outcome)),
        status: inner.status
      }
      const fast = Internal.fastPath(decorated)
      // It cannot be tried without waiting, so tryTake says no.
      expect(yield* fast.tryTake).toBeUndefined()
      const lease = yield* fast.take
      expect(lease.credentials.keyId).toBe(idA)
      expect((yield* statusOf(inner, idA)).inFlight).toBe(1)
      yield* fast.release(lease, Exit.fail(timeout))
      expect(yield* statusOf(inner, idA)).toMatchObject({ inFlight: 0, failures: 1 })
      // An interruption is not reported; success is.
      yield* Effect.flatMap(fast.take, (next) => fast.release(next, Exit.interrupt()))
      yield* Effect.flatMap(fast.take, (next) => fast.release(next, Exit.void))
      expect(reported).toEqual([timeout, "success"])
      expect((yield* inner.status).map((key) => key.inFlight)).toEqual([0, 0])

      const scope = yield* Scope.make()
      const foreign = yield* Scope.provide(inner.acquire, scope)
      const exit = yield* Effect.exit(fast.release(foreign, undefined))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      yield* Scope.close(scope, Exit.void)
    }))
})
