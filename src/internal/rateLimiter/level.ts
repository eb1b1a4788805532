/**
 * A token bucket's steps on its level, written once for the backends that keep the level themselves (`memory.ts`,
 * `sql.ts`); the Redis backend runs the same steps in its script (`redis/bucket.ts`). A missing bucket reads as a full
 * one, and a step that leaves it full forgets it, so nothing lingers per key.
 */
import type * as Effect from "effect/Effect"
import type * as RateLimiter from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"

/** A step of a bucket: one operation of `RateLimiter.Bucket`. */
export type Step = "take" | "try" | "give" | "charge" | "reset" | "peek"

/** The bucket whose steps `of` makes, each of an amount (a reset's and a peek's of none, made once). */
export function bucketOf(
  of: (name: Step) => (amount: number) => Effect.Effect<RateLimiter.BucketResult, StoreUnavailableError>
): RateLimiter.Bucket {
  return {
    take: of("take"),
    tryTake: of("try"),
    give: of("give"),
    charge: of("charge"),
    reset: of("reset")(0),
    peek: of("peek")(0)
  }
}

/** A bucket's level and when it was read (milliseconds). */
export interface Level {
  readonly level: number
  readonly at: number
}

/** What a step answers, and the level to keep after it: `undefined` when the bucket is full (forgotten). */
export interface Stepped {
  readonly result: RateLimiter.BucketResult
  readonly kept: Level | undefined
}

/**
 * `name` of `amount` at `now` on the bucket of `capacity` refilling `perMilli` tokens a millisecond, `kept` its stored
 * level (`undefined`: a full one). A peek changes what is kept only to forget a bucket that has refilled.
 */
export function step(options: {
  readonly name: Step
  readonly amount: number
  readonly capacity: number
  readonly perMilli: number
  readonly kept: Level | undefined
  readonly now: number
}): Stepped {
  const { amount, capacity, kept, name, now, perMilli } = options
  let level = kept === undefined ? capacity : kept.level
  const at = kept === undefined ? now : kept.at
  if (now > at) level = Math.min(capacity, level + (now - at) * perMilli)
  let granted = true
  let wait = 0
  if (name === "take") {
    level -= amount
    if (level < -1e-9) wait = -level / perMilli
  } else if (name === "try") {
    if (level >= amount - 1e-9) level -= amount
    else {
      granted = false
      wait = (amount - level) / perMilli
    }
  } else if (name === "give") level = Math.min(capacity, level + amount)
  else if (name === "charge") level -= amount
  else if (name === "reset") level = capacity
  const result = { granted, level, waitMillis: wait }
  if (level >= capacity) return { result, kept: undefined }
  return { result, kept: name === "peek" ? kept : { level, at: Math.max(now, at) } }
}

/** When a level kept at `kept` will have refilled to `capacity`: a bucket full by then may be swept. */
export function fullAt(kept: Level, capacity: number, perMilli: number): number {
  return kept.at + (capacity - kept.level) / perMilli
}
