/**
 * The memory backend of `RateLimiter`'s stores: the steps of the Redis bucket script (`redis/bucket.ts`) on a level
 * kept in this process and read on the `Clock`'s monotonic time, so `TestClock` drives it and a stepped wall clock
 * does not refill it, and slots counted in a map. Buckets of one
 * store under one key are one bucket, as they are in Redis.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RateLimiter from "../../RateLimiter.js"
import { monotonicMillis } from "../time/monotonic.js"

type Step = "take" | "try" | "give" | "charge" | "reset" | "peek"

interface Level {
  level: number
  at: number
}

/** A `BucketStore` in this process' memory. */
export function bucketStore(): RateLimiter.BucketStore["Service"] {
  const levels = new Map<string, Level>()
  const bucket = Effect.fnUntraced(function*(options: RateLimiter.BucketOptions) {
    const { capacity, key } = options
    const rate = options.refillRate / 1000
    const clock = yield* Clock.Clock
    function step(name: Step, amount: number): RateLimiter.BucketResult {
      const now = monotonicMillis(clock)
      const kept = levels.get(key)
      let level = kept === undefined ? capacity : kept.level
      const at = kept === undefined ? now : kept.at
      if (now > at) level = Math.min(capacity, level + (now - at) * rate)
      let granted = true
      let wait = 0
      if (name === "take") {
        level -= amount
        if (level < -1e-9) wait = -level / rate
      } else if (name === "try") {
        if (level >= amount - 1e-9) level -= amount
        else {
          granted = false
          wait = (amount - level) / rate
        }
      } else if (name === "give") level = Math.min(capacity, level + amount)
      else if (name === "charge") level -= amount
      else if (name === "reset") level = capacity
      // A full bucket is what a missing one reads as, so a full one is forgotten: nothing lingers per key.
      if (level >= capacity) levels.delete(key)
      else if (name !== "peek") levels.set(key, { level, at: Math.max(now, at) })
      // Exact, where the script rounds to a millionth of a token and a microsecond: TestClock admits calls to the
      // fraction of a millisecond that an ideal bucket would.
      return { granted, level, waitMillis: wait }
    }
    function of(name: Step) {
      return (amount: number) => Effect.sync(() => step(name, amount))
    }
    return {
      take: of("take"),
      tryTake: of("try"),
      give: of("give"),
      charge: of("charge"),
      reset: Effect.sync(() => step("reset", 0)),
      peek: Effect.sync(() => step("peek", 0))
    } satisfies RateLimiter.Bucket
  })
  return { bucket }
}

/** A `SlotStore` in this process' memory. */
export function slotStore(): RateLimiter.SlotStore["Service"] {
  const held = new Map<string, number>()
  function slots(options: RateLimiter.SlotsOptions): Effect.Effect<RateLimiter.Slots> {
    return Effect.sync(() => {
      const { key, limit } = options
      const tryAcquire = Effect.sync(() => {
        const inUse = held.get(key) ?? 0
        if (inUse >= limit) return Option.none<Effect.Effect<void>>()
        held.set(key, inUse + 1)
        let released = false
        return Option.some(Effect.sync(() => {
          if (released) return
          released = true
          const left = (held.get(key) ?? 1) - 1
          if (left <= 0) held.delete(key)
          else held.set(key, left)
        }))
      })
      return { tryAcquire }
    })
  }
  return { slots }
}
