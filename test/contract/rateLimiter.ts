/**
 * The contract every backend of a `RateLimiter` keeps, run against each (`test/RateLimiterContract.test.ts`): a
 * bucket grants its capacity and refuses past it, naming what was short, on every instance; costs, the in-flight cap
 * and the tokens-per-minute budget take what they say and give back what they hold; tokens come back with time;
 * concurrent takes are granted exactly what is left; and, for a backend on a server, the server down and back. A new
 * backend is one more `rateLimiterContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type { RateLimiter } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"

/** A limit of the contract: `RateLimiter.Options` without where it is kept. */
export type ContractOptions = Omit<RateLimiter.Options, "shared">

/** A backend's server going away and coming back. */
export interface Faults {
  /** Takes the server down and waits until it is. */
  readonly stop: Effect.Effect<void>
  /** Brings it back and waits until the backend uses it again. */
  readonly start: Effect.Effect<void>
}

/** One test's backend. */
export interface Backend {
  /** Two instances' limiters over `options`, in a namespace no other call shares. */
  readonly instances: (
    options: ContractOptions
  ) => Effect.Effect<readonly [RateLimiter.Service, RateLimiter.Service], never, Scope.Scope>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  readonly faults: Faults | undefined
}

export interface RateLimiterBackend {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  /** Whether it runs on a server, whose faults (`Backend.faults`) the contract plays. */
  readonly server: boolean
  readonly connect: Effect.Effect<Backend, never, Scope.Scope>
}

// A refill too slow to give back a whole token during a test: what is taken stays taken.
const still = 0.001

const fail = { onExceeded: "fail" } as const

/** Takes a permit and keeps it (its scope) open until the test's scope closes. */
const hold = (limiter: RateLimiter.Service, options: RateLimiter.ConsumeOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const exit = yield* Effect.exit(Scope.provide(limiter.consume({ ...fail, ...options }), scope))
    if (Exit.isFailure(exit)) yield* Scope.close(scope, Exit.void)
    return { exit, release: Scope.close(scope, Exit.void) }
  })

const take = (limiter: RateLimiter.Service, options: RateLimiter.ConsumeOptions = {}) =>
  Effect.scoped(limiter.consume({ ...fail, ...options }))

const faultsOf = (backend: Backend): Faults => {
  if (backend.faults === undefined) throw new Error("a backend on a server gives its faults")
  return backend.faults
}

interface Batch {
  /** Takes made at once, each of `cost`, each on the instance it names. */
  readonly takes: ReadonlyArray<0 | 1>
  readonly cost: number
}

const on = fc.constantFrom(0 as const, 1 as const)
const batches: fc.Arbitrary<ReadonlyArray<Batch>> = fc.array(
  fc.record({ takes: fc.array(on, { minLength: 1, maxLength: 6 }), cost: fc.integer({ min: 1, max: 3 }) }),
  { minLength: 1, maxLength: 6 }
)

export const rateLimiterContract = (backend: RateLimiterBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`RateLimiter contract: ${backend.name}`, () => {
    test(
      "a bucket grants its capacity, on either instance, and refuses past it naming the bucket and when tokens are due",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({ capacity: 3, refillRate: still })
          yield* take(first)
          yield* take(second)
          yield* take(first, { cost: 1 })
          const refused = yield* Effect.flip(take(second))
          expect(refused).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "requests", limit: 3 })
          if (refused._tag !== "RateLimiterExceededError") return
          expect(refused.remaining).toBeLessThan(1)
          // A token is due in about 1 / refillRate: 1,000 s less what refilled since.
          expect(Duration.toSeconds(refused.retryAfter!)).toBeGreaterThan(990)
          expect(Duration.toSeconds(refused.retryAfter!)).toBeLessThanOrEqual(1000)
          expect((yield* first.status).available).toBeLessThan(1)
        }),
      30_000
    )

    test(
      "a cost takes that many tokens; one past the capacity could never be granted and fails so, taking nothing",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({ capacity: 5, refillRate: still })
          yield* take(first, { cost: 3 })
          expect((yield* Effect.flip(take(second, { cost: 3 })))._tag).toBe("RateLimiterExceededError")
          const never = yield* Effect.flip(take(second, { cost: 6 }))
          expect(never).toMatchObject({ _tag: "RateLimiterCostError", cost: 6, capacity: 5, bucket: "requests" })
          yield* take(second, { cost: 2 })
          expect((yield* Effect.flip(take(first)))._tag).toBe("RateLimiterExceededError")
        }),
      30_000
    )

    test(
      "the in-flight cap holds a slot until the permit's scope closes, across instances",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({ capacity: 100, refillRate: 100, maxConcurrency: 2 })
          const one = yield* hold(first)
          const two = yield* hold(second)
          expect(Exit.isSuccess(one.exit) && Exit.isSuccess(two.exit)).toBe(true)
          const third = yield* hold(first)
          expect(third.exit).toMatchObject({ _tag: "Failure" })
          expect(yield* Effect.flip(take(second))).toMatchObject({
            _tag: "RateLimiterExceededError",
            bucket: "concurrency",
            limit: 2
          })
          yield* one.release
          yield* take(second)
          expect(Exit.isSuccess((yield* hold(first)).exit)).toBe(true)
        }),
      30_000
    )

    test(
      "the tokens-per-minute budget takes a call's tokens and refuses what it has not got",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({ capacity: 100, refillRate: 100, tokensPerMinute: 0.06 * 1000 })
          yield* take(first, { tokens: 40 })
          const refused = yield* Effect.flip(take(second, { tokens: 30 }))
          expect(refused).toMatchObject({ _tag: "RateLimiterExceededError", bucket: "tokensPerMinute", limit: 60 })
          yield* take(second, { tokens: 20 })
        }),
      30_000
    )

    test(
      "tokens come back with time, up to the capacity",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          // A token each 100 ms.
          const [first, second] = yield* instances({ capacity: 2, refillRate: 10 })
          yield* take(first, { cost: 2 })
          yield* elapse("500 millis")
          // Full again, and no more than full.
          yield* take(second, { cost: 2 })
          expect((yield* Effect.flip(take(first, { cost: 2 })))._tag).toBe("RateLimiterExceededError")
        }),
      30_000
    )

    test(
      "concurrent takes from two instances are granted exactly what is left",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const run = (capacity: number, plan: ReadonlyArray<Batch>) =>
            Effect.scoped(Effect.gen(function*() {
              const limiters = yield* instances({ capacity, refillRate: still })
              let left = capacity
              for (const batch of plan) {
                const outcomes = yield* Effect.forEach(
                  batch.takes,
                  (instance) => Effect.exit(take(limiters[instance], { cost: batch.cost })),
                  { concurrency: "unbounded" }
                )
                const granted = outcomes.filter(Exit.isSuccess).length
                expect(granted).toBe(Math.min(batch.takes.length, Math.floor(left / batch.cost)))
                left -= granted * batch.cost
              }
            }))
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 3, max: 20 }),
                batches,
                (capacity, plan) => Effect.runPromise(run(capacity, plan))
              ),
              { numRuns: 20 }
            )
          )
        }),
      120_000
    )

    if (backend.server) {
      it.live(
        "down: a take fails with StoreUnavailableError, never granted past the limit; back, it serves again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = faultsOf(connected)
            const [first, second] = yield* connected.instances({ capacity: 3, refillRate: still })
            yield* take(first)
            yield* faults.stop
            expect((yield* Effect.flip(take(second)))._tag).toBe("StoreUnavailableError")
            yield* faults.start
            // Restarted empty, the bucket is full again: the store kept no tokens.
            const again = Effect.retry(take(second), {
              while: (error) => error._tag === "StoreUnavailableError",
              schedule: Schedule.spaced("100 millis"),
              times: 100
            })
            yield* again
          }),
        60_000
      )
    }
  })
}
