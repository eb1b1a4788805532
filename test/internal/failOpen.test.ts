/**
 * Fail-open's shared rules (`internal/persistence/failOpen.ts`) over their whole domain, and the budget's and the
 * bucket's decorators over a shared store that goes away: an outage never renews what the shared store had used up.
 * The same behaviour over a real redis-server is in the contracts (`test/contract/budget.ts`, `rateLimiter.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Budget, RateLimiter } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as BudgetFailOpen from "../../src/internal/budget/failOpen.js"
import * as BudgetMemory from "../../src/internal/budget/memory.js"
import { outage, shareOfRemainder } from "../../src/internal/persistence/failOpen.js"
import * as LimiterFailOpen from "../../src/internal/rateLimiter/failOpen.js"
import * as LimiterMemory from "../../src/internal/rateLimiter/memory.js"
import { StoreUnavailableError } from "../../src/Store.js"
import { effectProp } from "../utils/effectProp.js"

const away = new StoreUnavailableError({ address: "test", reason: "stopped" })

/** `effect`, or the store unavailable while `down()`. */
const unlessDown = (down: () => boolean) => <A>(effect: Effect.Effect<A, StoreUnavailableError>) =>
  Effect.suspend(() => down() ? Effect.fail(away) : effect)

describe("shareOfRemainder", () => {
  it("is a share of what is left, never below zero, whatever is gone", () =>
    fc.assert(fc.property(
      fc.double({ min: 0, max: 1e9, noNaN: true }),
      fc.double({ min: -1e9, max: 2e9, noNaN: true }),
      fc.integer({ min: 1, max: 1000 }),
      (limit, gone, instances) => {
        const share = shareOfRemainder(limit, gone, instances)
        expect(share).toBeGreaterThanOrEqual(0)
        expect(share * instances).toBeCloseTo(Math.max(0, limit - gone), 3)
        if (gone >= limit) expect(share).toBe(0)
      }
    )))
})

describe("outage", () => {
  it.effect("begins its state at an outage's first step, keeps it through the outage, and ends it on a success", () =>
    Effect.gen(function*() {
      let down = false
      let begun = 0
      const outages = outage(Effect.sync(() => ++begun))
      const step = outages.orLocal(
        unlessDown(() => down)(Effect.succeed(0)),
        (state) => Effect.succeed(state)
      )
      expect(yield* step).toBe(0)
      expect(begun).toBe(0)
      down = true
      expect(yield* Effect.all([step, step, step], { concurrency: "unbounded" })).toEqual([1, 1, 1])
      down = false
      expect(yield* step).toBe(0)
      down = true
      expect(yield* step).toBe(2)
    }))
})

const long = "36500 days"

describe("budget fail-open", () => {
  // What the shared store counted before the outage (as this instance read it), then checks during it: the checks
  // granted never add up to more than the instance's share of what was left.
  effectProp(
    "during an outage the checks granted stay within the share of what was left when last read; none when never read",
    fc.record({
      limit: fc.integer({ min: 0, max: 100 }),
      spentBefore: fc.integer({ min: 0, max: 150 }),
      instances: fc.integer({ min: 1, max: 4 }),
      estimates: fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 12 }),
      read: fc.boolean()
    }),
    ({ estimates, instances, limit, read, spentBefore }) =>
      Effect.gen(function*() {
        let down = false
        const memory = BudgetMemory.budgetStore()
        const shared = unlessDown(() => down)
        const sharedStore: Budget.BudgetStore["Service"] = {
          reserve: (held) => shared(memory.reserve(held)),
          settle: (held, cost) => shared(memory.settle(held, cost)),
          release: (held) => shared(memory.release(held)),
          spend: (counters) => shared(memory.spend(counters))
        }
        // The committed spend as the Redis store would have read it; none when this instance never read it.
        const known: BudgetFailOpen.Known = () => read ? spentBefore : undefined
        const store = BudgetFailOpen.failOpen(sharedStore, known, instances, () => Effect.void)
        const counters = [{ name: "overall", period: long, limit }] as const
        down = true
        let granted = 0
        for (const [i, estimate] of estimates.entries()) {
          const held = { id: `call-${i}`, counters, estimate, at: 0 }
          if (!read) {
            // Never read: nothing granted, the store's own unavailability answered.
            expect(yield* Effect.flip(store.reserve(held))).toBe(away)
            continue
          }
          const answer = yield* store.reserve(held)
          if (answer._tag === "Reserved") {
            granted += estimate
            yield* store.settle(held, estimate)
          } else {
            // Refused naming what is gone of the limit: what was known, and what the share has committed.
            expect(answer.committed).toBeCloseTo(spentBefore + granted, 6)
          }
        }
        expect(granted).toBeLessThanOrEqual(Math.max(0, limit - spentBefore) / instances + 1e-9)
        const [status] = yield* store.spend(counters)
        // What was last known spent (nothing known when never read), and what this instance did since.
        expect(status!.spent).toBeCloseTo((read ? spentBefore : 0) + granted, 6)
      })
  )
})

describe("bucket fail-open", () => {
  // A shared bucket taken down to some level, then an outage some time later: what the outage's local bucket grants
  // is no more than the share of that level refilled since (and of what refills during the outage).
  effectProp(
    "during an outage the tokens granted stay within the share of the level last known, refilled",
    fc.record({
      capacity: fc.integer({ min: 1, max: 100 }),
      taken: fc.integer({ min: 0, max: 150 }),
      instances: fc.integer({ min: 1, max: 4 }),
      idleMillis: fc.integer({ min: 0, max: 20_000 }),
      tries: fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 12 })
    }),
    ({ capacity, idleMillis, instances, taken, tries }) =>
      Effect.gen(function*() {
        let down = false
        const refillRate = 1
        const options: RateLimiter.BucketOptions = { key: "bucket", capacity, refillRate }
        const shared = unlessDown(() => down)
        const memory = yield* LimiterMemory.bucketStore().bucket(options)
        const sharedBucket: RateLimiter.Bucket = {
          take: (amount) => shared(memory.take(amount)),
          tryTake: (amount) => shared(memory.tryTake(amount)),
          give: (amount) => shared(memory.give(amount)),
          charge: (amount) => shared(memory.charge(amount)),
          reset: shared(memory.reset),
          peek: shared(memory.peek)
        }
        const stores = LimiterFailOpen.failOpen(
          {
            buckets: { bucket: () => Effect.succeed(sharedBucket) },
            slots: LimiterMemory.slotStore()
          },
          LimiterMemory.slotStore(),
          instances
        )
        const bucket = yield* stores.buckets.bucket(options)
        const { level } = yield* bucket.charge(taken)
        yield* TestClock.adjust(idleMillis)
        down = true
        let granted = 0
        for (const amount of tries) {
          if ((yield* bucket.tryTake(amount)).granted) granted += amount
        }
        const left = Math.min(capacity, level + idleMillis * refillRate / 1000)
        expect(granted).toBeLessThanOrEqual(Math.max(0, left) / instances + 1e-6)
      })
  )
})
