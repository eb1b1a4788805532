/**
 * A timeout that fails with an error of the caller's, over the `Clock`
 * (`Effect.timeoutOrElse`): the live clock and `TestClock` take one path.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** `setTimeout` takes a 32-bit signed delay; a longer wait is a chain of timers. */
export const maxTimerMillis = 2_147_483_647

/** `self`, or `onTimeout()` once `duration` has passed (the work is interrupted first); no bound when infinite. */
export const timeoutFail = <A, E, E2>(
  self: Effect.Effect<A, E>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2> =>
  Duration.isFinite(duration)
    ? Effect.timeoutOrElse(self, { duration, orElse: () => Effect.fail(onTimeout()) })
    : self
