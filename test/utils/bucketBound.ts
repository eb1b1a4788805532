/**
 * Checks that what a token bucket admitted stays within `capacity + refillRate * t`,
 * as seen from outside it: grants stamped by a client, or requests stamped by the
 * simulator when they arrive.
 */

/** A token bucket's limit: `capacity` tokens, refilled at `refillRate` a second. */
export interface Bucket {
  readonly capacity: number
  readonly refillRate: number
}

/** One admission seen from outside: when, and how many tokens it took. */
export interface Grant {
  readonly at: number
  readonly cost: number
}

/** Requests stamped on arrival (epoch milliseconds), each one token. */
export const arrivalGrants = (arrivals: ReadonlyArray<number>): ReadonlyArray<Grant> =>
  arrivals.map((at) => ({ at, cost: 1 }))

/**
 * The first window of `grants` whose costs pass `capacity + refillRate * t`, `t` widened by
 * `slackMillis`; undefined when none does. The slack is the spread of the delay between the
 * bucket's grant and the moment it is seen: two grants the bucket made apart can be seen
 * closer by as much as that spread.
 */
export const overWindowBound = (grants: ReadonlyArray<Grant>, bucket: Bucket, slackMillis: number) => {
  const sorted = [...grants].sort((a, b) => a.at - b.at)
  for (let i = 0; i < sorted.length; i++) {
    let sum = 0
    for (let j = i; j < sorted.length; j++) {
      sum += sorted[j]!.cost
      const allowed = bucket.capacity + bucket.refillRate * (sorted[j]!.at - sorted[i]!.at + slackMillis) / 1000
      if (sum > allowed + 1e-9) return { from: sorted[i]!.at, to: sorted[j]!.at, sum, allowed }
    }
  }
  return undefined
}

/**
 * The most slack a windowed bound over `bucket` may take and still fail a limiter that let
 * `admitted` tokens through in `windowMillis`: widened by `(admitted - capacity) / refillRate`
 * seconds less its own length, that window fits the bound; a token's refill short of it, it
 * does not. A slack past this makes the bound blind to that over-admission.
 */
export const slackThatFails = (bucket: Bucket, admitted: number, windowMillis: number) =>
  ((admitted - bucket.capacity) / bucket.refillRate) * 1000 - windowMillis - 1000 / bucket.refillRate

/**
 * The whole run's bound, which needs no slack: every grant came after the load started
 * (`startedAt`, on the same clock as the bucket's) and before it was seen, so the run's
 * grants fit in `capacity + refillRate * (lastSeen - startedAt)`. Undefined when they do.
 * It checks one window only, but however slow the machine.
 */
export const overRunBound = (grants: ReadonlyArray<Grant>, bucket: Bucket, startedAt: number) => {
  const lastSeen = grants.reduce((last, grant) => Math.max(last, grant.at), startedAt)
  const sum = grants.reduce((total, grant) => total + grant.cost, 0)
  // One millisecond for the clocks' rounding (Redis' TIME in microseconds, the stamps in milliseconds).
  const allowed = bucket.capacity + bucket.refillRate * (lastSeen - startedAt + 1) / 1000
  return sum > allowed + 1e-9 ? { startedAt, lastSeen, sum, allowed } : undefined
}
