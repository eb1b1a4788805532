/**
 * The contract every backend of a `RateLimiter` keeps, run against each (`test/RateLimiterContract.test.ts`): a
 * bucket grants its capacity and refuses past it, naming what was short, on every instance; costs, the in-flight cap
 * and the tokens-per-minute budget take what they say and give back what they hold; tokens come back with time;
 * concurrent takes are granted exactly what is left; and, for a backend on a server, the server down and back, and
 * slow (answering later than the store's command bound: the step ends at the bound, on the `TestClock`, and once the
 * server answers promptly again the state is the server's). A new backend is one more `rateLimiterContract(...)` line
 * there.
 */
import { describe, expect, it } from "@effect/vitest"
import { RateLimiter } from "effect-llm-router"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import {
  atBound,
  type ContractBackend,
  type Faults,
  type FaultyOptions,
  type InstancesBackend,
  onServer,
  unavailableAtBound,
  unavailableEach
} from "../utils/slowStore.js"

/** A limit of the contract: `RateLimiter.Options` without where it is kept. */
export type ContractOptions = Omit<RateLimiter.Options, "shared">

/** One test's backend: two instances' limiters over `options`. */
export type Backend = InstancesBackend<ContractOptions, RateLimiter.Service>

export type RateLimiterBackend = ContractBackend<Backend>

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
            const faults = onServer(connected.faults)
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

      it.effect(
        "slow: a take fails with StoreUnavailableError at the store's bound, not before; answering again, the bucket " +
          "is the server's, which applied the take it answered late",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
            const [first, second] = yield* connected.instances({ capacity: 3, refillRate: still })
            yield* take(first)
            yield* faults.pause
            yield* unavailableAtBound(faults, [["a take", take(second)]])
            yield* faults.resume
            // Three, less the take before and the one the server applied after its bound: one left.
            yield* take(first)
            expect((yield* Effect.flip(take(second)))._tag).toBe("RateLimiterExceededError")
          }),
        60_000
      )
    }
  })
}

/** One test's stores: two instances' `BucketStore` and `SlotStore` over one place, as separate processes would have. */
export interface StoreBackend {
  readonly instances: Effect.Effect<
    readonly [
      Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>,
      Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>
    ],
    never,
    Scope.Scope
  >
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  /**
   * For a backend on a server: stores of one instance of `instances` under `onUnavailable`, with the server's faults.
   */
  readonly faulty:
    | ((options: FaultyOptions) => Effect.Effect<
      { readonly stores: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>; readonly faults: Faults },
      never,
      Scope.Scope
    >)
    | undefined
}

export interface BucketStoreBackend {
  readonly name: string
  readonly clock: "test" | "live"
  /** `false` for a backend that keeps buckets only (SQL): the slots' case is not its. */
  readonly slots?: false
  readonly connect: Effect.Effect<StoreBackend, never, Scope.Scope>
}

type Step = "take" | "tryTake" | "give" | "charge" | "reset" | "peek"

/** Steps made at once by several callers, each on the instance it names: one kind and one amount, so the results, as a multiset, do not depend on the order they reach the store. */
interface StepBatch {
  readonly step: Step
  readonly amount: number
  readonly callers: ReadonlyArray<0 | 1>
}

/** What a step saw, the wait as the tokens it stands for (`waitMillis` times the refill rate). */
interface Seen {
  readonly granted: boolean
  readonly level: number
  readonly waitTokens: number
}

/**
 * The bucket's steps with no time passing: what every backend must answer. Levels and amounts are whole tokens, so
 * a refill too slow to add a hundredth of a token during the test cannot change a decision on any backend's clock.
 */
const modelStep = (capacity: number, level: number, step: Step, amount: number): Seen => {
  switch (step) {
    case "take":
      return { granted: true, level: level - amount, waitTokens: Math.max(0, amount - level) }
    case "tryTake":
      return level >= amount
        ? { granted: true, level: level - amount, waitTokens: 0 }
        : { granted: false, level, waitTokens: amount - level }
    case "give":
      return { granted: true, level: Math.min(capacity, level + amount), waitTokens: 0 }
    case "charge":
      return { granted: true, level: level - amount, waitTokens: 0 }
    case "reset":
      return { granted: true, level: capacity, waitTokens: 0 }
    case "peek":
      return { granted: true, level, waitTokens: 0 }
  }
}

const stepOf = (bucket: RateLimiter.Bucket, step: Step, amount: number) =>
  step === "take"
    ? bucket.take(amount)
    : step === "tryTake"
    ? bucket.tryTake(amount)
    : step === "give"
    ? bucket.give(amount)
    : step === "charge"
    ? bucket.charge(amount)
    : step === "reset"
    ? bucket.reset
    : bucket.peek

const byValue = (a: Seen, b: Seen) =>
  Number(a.granted) - Number(b.granted) || a.level - b.level || a.waitTokens - b.waitTokens

const stepBatches: fc.Arbitrary<ReadonlyArray<StepBatch>> = fc.array(
  fc.record({
    step: fc.constantFrom<Step>("take", "tryTake", "tryTake", "give", "charge", "reset", "peek"),
    amount: fc.integer({ min: 0, max: 6 }),
    callers: fc.array(on, { minLength: 1, maxLength: 5 })
  }),
  { minLength: 1, maxLength: 12 }
)

// A tenth of a token per ten thousand seconds: during a test, far below the hundredth the comparison allows.
const slow = 0.00001

// Within a hundredth of a token: the Redis script rounds to a millionth and reads Redis' clock.
const tolerance = 0.01

let storeKeys = 0

type Stores = Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>

function bucketOn(stores: Stores, options: RateLimiter.BucketOptions): Effect.Effect<RateLimiter.Bucket> {
  return Effect.provide(Effect.flatMap(RateLimiter.BucketStore, (store) => store.bucket(options)), stores)
}

function slotsOn(stores: Stores, options: RateLimiter.SlotsOptions): Effect.Effect<RateLimiter.Slots> {
  return Effect.provide(Effect.flatMap(RateLimiter.SlotStore, (store) => store.slots(options)), stores)
}

/**
 * One instance's stores of `backend` under `onUnavailable`, on a server with faults: a bucket of 4, 3 of them taken,
 * and `limit` slots.
 */
const faultyBucket = Effect.fnUntraced(function*(
  backend: BucketStoreBackend,
  onUnavailable: "fail-open" | "fail-closed",
  limit: number
) {
  const { faults, stores } = yield* onServer((yield* backend.connect).faulty)({ onUnavailable, instances: 2 })
  const options = { key: `contract-${storeKeys++}`, capacity: 4, refillRate: slow }
  const bucket = yield* bucketOn(stores, options)
  const slots = yield* slotsOn(stores, { key: options.key, limit })
  yield* Effect.orDie(bucket.take(3))
  return { bucket, faults, slots }
})

export const bucketStoreContract = (backend: BucketStoreBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`BucketStore and SlotStore contract: ${backend.name}`, () => {
    test(
      "property: any batches of steps from concurrent callers on two instances see what the model bucket answers",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const run = (capacity: number, plan: ReadonlyArray<StepBatch>) =>
            Effect.gen(function*() {
              const options = { key: `contract-${storeKeys++}`, capacity, refillRate: slow }
              const buckets = [
                yield* bucketOn(first, options),
                yield* bucketOn(second, options)
              ] as const
              let level = capacity
              for (const { amount, callers, step } of plan) {
                const results = yield* Effect.forEach(
                  callers,
                  (caller) => Effect.orDie(stepOf(buckets[caller], step, amount)),
                  { concurrency: "unbounded" }
                )
                const seen = results.map((result) => ({
                  granted: result.granted,
                  level: result.level,
                  waitTokens: result.waitMillis * slow / 1000
                })).sort(byValue)
                const expected = callers.map(() => {
                  const next = modelStep(capacity, level, step, amount)
                  level = next.level
                  return next
                }).sort(byValue)
                expect(seen.map((s) => s.granted)).toEqual(expected.map((s) => s.granted))
                seen.forEach((s, i) => {
                  expect(Math.abs(s.level - expected[i]!.level)).toBeLessThan(tolerance)
                  expect(Math.abs(s.waitTokens - expected[i]!.waitTokens)).toBeLessThan(tolerance)
                })
              }
            })
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 1, max: 12 }),
                stepBatches,
                (capacity, plan) => Effect.runPromise(run(capacity, plan))
              ),
              { numRuns: 30 }
            )
          )
        }),
      120_000
    )

    test(
      "a take that must wait says how long, to when the bucket has refilled its tokens",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = { key: `contract-${storeKeys++}`, capacity: 4, refillRate: 2 }
          const one = yield* bucketOn(first, options)
          const two = yield* bucketOn(second, options)
          expect((yield* Effect.orDie(one.take(4))).waitMillis).toBe(0)
          const waited = yield* Effect.orDie(two.take(2))
          // Two tokens at two a second; a live clock may have refilled some since, never a whole token.
          expect(waited.waitMillis).toBeGreaterThan(500)
          expect(waited.waitMillis).toBeLessThanOrEqual(1000)
          yield* elapse("3500 millis")
          // Both reservations paid back and four tokens refilled, never past the capacity.
          expect((yield* Effect.orDie(one.peek)).level).toBeCloseTo(4, 1)
          expect((yield* Effect.orDie(two.tryTake(5))).granted).toBe(false)
        }),
      30_000
    )

    test.skipIf(backend.slots === false)(
      "slots: at most the limit held across instances, each freed once",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = { key: `contract-${storeKeys++}`, limit: 2 }
          const one = yield* slotsOn(first, options)
          const two = yield* slotsOn(second, options)
          const a = yield* Effect.orDie(one.tryAcquire)
          const b = yield* Effect.orDie(two.tryAcquire)
          expect(Option.isSome(a) && Option.isSome(b)).toBe(true)
          expect(Option.isNone(yield* Effect.orDie(one.tryAcquire))).toBe(true)
          if (Option.isNone(a)) return
          yield* a.value
          yield* a.value
          const c = yield* Effect.orDie(two.tryAcquire)
          expect(Option.isSome(c)).toBe(true)
          // Freed twice, the first slot counted once: the limit is held again.
          expect(Option.isNone(yield* Effect.orDie(one.tryAcquire))).toBe(true)
        }),
      30_000
    )

    if (backend.clock === "live") {
      it.live(
        "down: fail-closed steps fail with StoreUnavailableError; restarted empty, the bucket reads full",
        () =>
          Effect.gen(function*() {
            const { bucket, faults, slots } = yield* faultyBucket(backend, "fail-closed", 2)
            yield* faults.stop
            yield* unavailableEach([
              bucket.take(1),
              bucket.tryTake(1),
              bucket.give(1),
              bucket.peek,
              bucket.reset,
              slots.tryAcquire
            ])
            yield* faults.start
            // Restarted empty: the bucket the store kept is gone, and reads as a full one.
            expect((yield* Effect.orDie(bucket.peek)).level).toBeCloseTo(4, 3)
          }),
        60_000
      )

      it.live(
        "down: fail-open serves each instance's share from memory (1 / instances of each cap, and of the tokens the " +
          "shared bucket last had: an outage never refills it), then the shared one",
        () =>
          Effect.gen(function*() {
            const { bucket, faults, slots } = yield* faultyBucket(backend, "fail-open", 4)
            yield* faults.stop
            // Half of the one token left, not half the capacity.
            expect((yield* Effect.orDie(bucket.peek)).level).toBeCloseTo(0.5, 3)
            expect((yield* Effect.orDie(bucket.tryTake(1))).granted).toBe(false)
            expect((yield* Effect.orDie(bucket.tryTake(0.49))).granted).toBe(true)
            expect((yield* Effect.orDie(bucket.tryTake(0.1))).granted).toBe(false)
            // A give fills it no further than half the capacity.
            expect((yield* Effect.orDie(bucket.give(4))).level).toBeCloseTo(2, 6)
            // Half the slots.
            expect(Option.isSome(yield* Effect.orDie(slots.tryAcquire))).toBe(true)
            expect(Option.isSome(yield* Effect.orDie(slots.tryAcquire))).toBe(true)
            expect(Option.isNone(yield* Effect.orDie(slots.tryAcquire))).toBe(true)
            yield* faults.start
            // Back on Redis, restarted empty: the shared bucket reads full.
            expect((yield* Effect.orDie(bucket.peek)).level).toBeCloseTo(4, 3)
            expect((yield* Effect.orDie(bucket.tryTake(4))).granted).toBe(true)
          }),
        60_000
      )

      it.effect(
        "down: fail-open, a bucket first reached during the outage (an instance started in it) starts empty and " +
          "refills at its share of the rate, up to its share of the capacity",
        () =>
          Effect.gen(function*() {
            const { faulty } = yield* backend.connect
            if (faulty === undefined) throw new Error("a backend on a server gives its faults")
            const { faults, stores } = yield* faulty({ onUnavailable: "fail-open", instances: 2 })
            yield* faults.stop
            const bucket = yield* bucketOn(stores, { key: `contract-${storeKeys++}`, capacity: 4, refillRate: 2 })
            expect((yield* Effect.orDie(bucket.tryTake(0.01))).granted).toBe(false)
            // Half the rate: one token a second.
            yield* TestClock.adjust("1 second")
            expect((yield* Effect.orDie(bucket.tryTake(1))).granted).toBe(true)
            expect((yield* Effect.orDie(bucket.tryTake(0.01))).granted).toBe(false)
            // Never past half the capacity.
            yield* TestClock.adjust("1 minute")
            expect((yield* Effect.orDie(bucket.peek)).level).toBeCloseTo(2, 6)
            yield* faults.start
          }),
        60_000
      )

      it.effect(
        "slow: fail-closed steps fail with StoreUnavailableError at the store's bound, not before; answering again, " +
          "the bucket is the server's, which applied the take it answered late",
        () =>
          Effect.gen(function*() {
            const { bucket, faults, slots } = yield* faultyBucket(backend, "fail-closed", 2)
            yield* faults.pause
            yield* unavailableAtBound(faults, [["a take", bucket.take(1)], ["a slot", slots.tryAcquire]])
            yield* faults.resume
            expect((yield* Effect.orDie(bucket.peek)).level).toBeCloseTo(0, 3)
          }),
        60_000
      )

      it.effect(
        "slow: fail-open steps answer from the instance's share at the store's bound, not before; answering again, " +
          "from the server",
        () =>
          Effect.gen(function*() {
            const { bucket, faults } = yield* faultyBucket(backend, "fail-open", 1)
            yield* faults.pause
            // The share is half the one token the server had: a try of it is granted, at the bound.
            const local = yield* Effect.orDie(atBound("a try", bucket.tryTake(0.5), faults))
            expect(local.granted).toBe(true)
            expect(local.level).toBeCloseTo(0, 3)
            yield* faults.resume
            // The server's bucket: its one token, less the try it answered late if that reached it.
            const { level } = yield* Effect.orDie(bucket.peek)
            expect([0.5, 1].some((server) => Math.abs(level - server) < 1e-3)).toBe(true)
            expect((yield* Effect.orDie(bucket.tryTake(level + 0.25))).granted).toBe(false)
          }),
        60_000
      )
    }
  })
}
