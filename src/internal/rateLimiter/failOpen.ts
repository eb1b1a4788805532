/**
 * Fail-open, as a decorator over `RateLimiter`'s stores (the shared part is `persistence/failOpen.ts`): every step goes
 * to the shared store and, while that fails with `StoreUnavailableError`, to a local store holding `1 / instances` of
 * each limit. A slot is given back where it was taken; tokens given back go to the store serving at that moment.
 *
 * An outage never refills a bucket: its local bucket begins at `1 / instances` of the level the shared bucket last
 * answered (refilled since at its rate), so an instance that had emptied it starts its outage empty. A bucket this
 * instance never reached in the shared store begins empty too, and refills at its share of the rate: the others may
 * have emptied it.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as RateLimiter from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"
import { countShareOf, orLocal, outage, shareOf, shareOfRemainder } from "../persistence/failOpen.js"
import { monotonicMillis } from "../time/monotonic.js"
import type { Stores } from "./limiter.js"
import * as Memory from "./memory.js"

/** What the shared bucket last answered: its level, at this instance's monotonic `Clock` time. */
interface Known {
  readonly level: number
  readonly at: number
}

/** The shared bucket of `options`, falling back on an outage's local bucket, begun from the level last known. */
function bucketOf(
  shared: RateLimiter.Bucket,
  options: RateLimiter.BucketOptions,
  instances: number,
  clock: Clock.Clock
): RateLimiter.Bucket {
  let known: Known | undefined
  const seen = (result: RateLimiter.BucketResult): RateLimiter.BucketResult => {
    known = { level: result.level, at: monotonicMillis(clock) }
    return result
  }
  const local = { key: options.key, capacity: shareOf(options.capacity, instances) }
  // The shared bucket's level now, as last known, refilled since at its rate.
  const levelOf = (last: Known) => {
    const elapsed = Math.max(0, monotonicMillis(clock) - last.at)
    return Math.min(options.capacity, last.level + elapsed * options.refillRate / 1000)
  }
  const begin = Effect.gen(function*() {
    const bucket = yield* Memory.bucketStore().bucket({
      ...local,
      refillRate: shareOf(options.refillRate, instances)
    })
    // A bucket never reached in the shared store may have been emptied there: it starts empty.
    const left = known === undefined
      ? 0
      : shareOfRemainder(options.capacity, options.capacity - levelOf(known), instances)
    if (left < local.capacity) yield* Effect.orDie(bucket.charge(local.capacity - left))
    return bucket
  })
  const outages = outage(begin)
  // A step on the shared bucket, else on the outage's.
  const step = (run: (bucket: RateLimiter.Bucket) => Effect.Effect<RateLimiter.BucketResult, StoreUnavailableError>) =>
    outages.orLocal(Effect.map(run(shared), seen), (bucket) => Effect.orDie(run(bucket)))
  return {
    take: (amount) => step((bucket) => bucket.take(amount)),
    tryTake: (amount) => step((bucket) => bucket.tryTake(amount)),
    give: (amount) => step((bucket) => bucket.give(amount)),
    charge: (amount) => step((bucket) => bucket.charge(amount)),
    reset: step((bucket) => bucket.reset),
    peek: step((bucket) => bucket.peek)
  }
}

/**
 * `shared`, falling back while it is unavailable on `local` slots with `1 / instances` of each cap, and on outage
 * buckets.
 */
export const failOpen = (shared: Stores, local: RateLimiter.SlotStore["Service"], instances: number): Stores => ({
  buckets: {
    bucket: (options) =>
      Effect.clockWith((clock) =>
        Effect.map(shared.buckets.bucket(options), (sharedBucket) => bucketOf(sharedBucket, options, instances, clock))
      )
  },
  slots: {
    slots: (options) =>
      Effect.zipWith(
        shared.slots.slots(options),
        local.slots({ ...options, limit: countShareOf(options.limit, instances) }),
        (sharedSlots, localSlots) => ({ tryAcquire: orLocal(sharedSlots.tryAcquire, localSlots.tryAcquire) })
      )
  }
})
