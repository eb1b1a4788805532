/**
 * Elapsed time is measured on the `Clock`'s monotonic reading, never on its wall time: the wall clock may be stepped
 * (a VM's clock corrected after it was starved of CPU), which would refill a bucket or end a wait early. `TestClock`
 * moves the monotonic reading as it moves the wall time forward.
 */
import type * as Clock from "effect/Clock"

/** The `Clock`'s monotonic reading in milliseconds (an arbitrary origin: subtract two readings). */
export function monotonicMillis(clock: Clock.Clock): number {
  return Number(clock.monotonicTimeNanosUnsafe()) / 1_000_000
}
