/**
 * A request timeout for the provider's hot path.
 *
 * `Effect.timeoutOrElse` races two forked fibers (the work and a sleeping
 * one); on a loopback call that is a noticeable share of the client's CPU for
 * a short stream. Here the work runs in one detached fiber raced against a
 * plain timer when the `Clock` is the live one. Under any other clock
 * (`TestClock`) it is `Effect.timeoutOrElse`, so tests drive it with
 * `TestClock.adjust`.
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

const liveClock = Effect.runSync(Effect.clockWith(Effect.succeed))

/** Whether `clock` is the default, live one (not `TestClock`). */
export const isLiveClock = (clock: Clock.Clock): boolean => clock === liveClock

/** `setTimeout` takes a 32-bit signed delay; longer waits never fire in practice. */
export const maxTimerMillis = 2_147_483_647

export const timeoutFail = <A, E, E2>(
  self: Effect.Effect<A, E>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2> => {
  const millis = Duration.toMillis(duration)
  if (millis > maxTimerMillis) return self
  return Effect.clockWith((clock) =>
    !isLiveClock(clock)
      ? Effect.timeoutOrElse(self, { duration, orElse: () => Effect.fail(onTimeout()) })
      : Effect.uninterruptibleMask((restore) =>
        // A detached fiber costs less than a child fiber (no supervision to
        // register and undo); it is interrupted below on every path that does
        // not await it.
        Effect.flatMap(Effect.forkDetach(restore(self)), (fiber) =>
          Effect.onInterrupt(
            restore(Effect.callback<A, E | E2>((resume) => {
              const timer = setTimeout(() => {
                // The request is interrupted (so aborted) before the failure is reported.
                resume(Effect.andThen(Fiber.interrupt(fiber), Effect.fail(onTimeout())))
              }, millis)
              const unobserve = fiber.addObserver((exit) => {
                clearTimeout(timer)
                resume(exit)
              })
              return Effect.sync(() => {
                clearTimeout(timer)
                unobserve()
              })
            })),
            () => Fiber.interrupt(fiber)
          ))
      )
  )
}
