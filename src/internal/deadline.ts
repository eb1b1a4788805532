/**
 * One deadline for a whole call, handed down from a caller that spans several
 * `Llm` calls (a `Router`'s attempts and fallbacks) to each `Llm`, which
 * bounds its own retries by it. An `Llm` already runs its retries under a
 * timer, so the router needs no timer (no forked fiber per call) of its own
 * when every deployment honours the deadline handed down.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { timeoutFail } from "./timeout.js"

/** The deadline of the current call, in epoch milliseconds of the `Clock`; `Infinity` when none was handed down. */
export const current: FiberRef.FiberRef<number> = FiberRef.unsafeMake(Infinity)

const honouring = new WeakSet<object>()

/** Marks a service whose calls are bounded by `current` (what `Llm.make` builds). */
export const honour = <S extends object>(service: S): S => {
  honouring.add(service)
  return service
}

export const honours = (service: object): boolean => honouring.has(service)

/** `self` bounded by `own` and by the deadline handed down, whichever ends first. */
export const within = <A, E, E2>(
  self: Effect.Effect<A, E>,
  own: Duration.Duration,
  onTimeout: (timeout: Duration.Duration) => E2
): Effect.Effect<A, E | E2> =>
  Effect.withFiberRuntime((fiber) => {
    const at = fiber.getFiberRef(current)
    if (at === Infinity) return timeoutFail(self, own, () => onTimeout(own))
    const now = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock).unsafeCurrentTimeMillis()
    const left = Duration.millis(Math.max(0, at - now))
    const bound = Duration.lessThan(left, own) ? left : own
    return timeoutFail(self, bound, () => onTimeout(bound))
  })
