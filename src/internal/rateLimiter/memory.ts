/**
 * The memory backend of `RateLimiter`'s stores: a bucket's steps (`level.ts`) on a level read on the `Clock`'s
 * monotonic time, so `TestClock` drives it and a stepped wall clock does not refill it, and slots counted in a map.
 * Buckets of one store under one key are one bucket, as they are in Redis.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as RateLimiter from "../../RateLimiter.js"
import { monotonicMillis } from "../time/monotonic.js"
import * as Level from "./level.js"

export function bucketStore(): RateLimiter.BucketStore["Service"] {
  const levels = new Map<string, Level.Level>()
  const bucket = Effect.fnUntraced(function*(options: RateLimiter.BucketOptions) {
    const { capacity, key } = options
    const perMilli = options.refillRate / 1000
    const clock = yield* Clock.Clock
    function step(name: Level.Step, amount: number): RateLimiter.BucketResult {
      const stepped = Level.step({
        name,
        amount,
        capacity,
        perMilli,
        kept: levels.get(key),
        now: monotonicMillis(clock)
      })
      if (stepped.kept === undefined) levels.delete(key)
      else levels.set(key, stepped.kept)
      // Exact, where the script rounds to a millionth of a token and a microsecond: TestClock admits calls to the
      // fraction of a millisecond that an ideal bucket would.
      return stepped.result
    }
    return Level.bucketOf((name) => (amount) => Effect.sync(() => step(name, amount)))
  })
  return { bucket }
}

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
