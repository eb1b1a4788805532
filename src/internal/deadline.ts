/**
 * One deadline for a whole call, handed down from a caller that spans several
 * `Llm` calls (a `Router`'s attempts and fallbacks) to each `Llm`, which
 * bounds its own retries by it. An `Llm` already runs its retries under a
 * timer, so the router needs no timer (no forked fiber per call) of its own
 * when every deployment honours the deadline handed down.
 *
 * The deadline travels with the request object: a copy of the request made
 * for the call, registered in a `WeakMap`. Neither a `FiberRef` (setting one
 * copies the fiber's whole `FiberRefs`, to set and to restore, and makes
 * every finalizer of the call diff them) nor a symbol-keyed field on the
 * request (an extra hidden class that every wire encoder's property reads
 * then meet, measured at about a tenth of a routed call) is as cheap; the copy
 * keeps a deadline off a request object the caller reuses for other calls.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { timeoutFail } from "./timeout.js"

const deadlines = new WeakMap<object, number>()

/** The deadline (epoch milliseconds of the `Clock`) handed down with `request`; `Infinity` when none was. */
export const of = (request: object): number => deadlines.get(request) ?? Infinity

/** A copy of `request` that carries `at`, or `request` when it carries a sooner deadline already. */
export const handDown = <R extends object>(request: R, at: number): R => {
  if (of(request) <= at) return request
  const carrier = { ...request }
  deadlines.set(carrier, at)
  return carrier
}

const honouring = new WeakSet<object>()

/** Marks a service whose calls are bounded by the deadline handed down (what `Llm.make` builds). */
export const honour = <S extends object>(service: S): S => {
  honouring.add(service)
  return service
}

export const honours = (service: object): boolean => honouring.has(service)

/** `self` bounded by `own` and by the deadline `at` handed down, whichever ends first. */
export const within = <A, E, E2>(
  self: Effect.Effect<A, E>,
  own: Duration.Duration,
  at: number,
  onTimeout: (timeout: Duration.Duration) => E2
): Effect.Effect<A, E | E2> =>
  at === Infinity
    ? timeoutFail(self, own, () => onTimeout(own))
    : Effect.withFiberRuntime((fiber) => {
      const now = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock).unsafeCurrentTimeMillis()
      const left = Duration.millis(Math.max(0, at - now))
      const bound = Duration.lessThan(left, own) ? left : own
      return timeoutFail(self, bound, () => onTimeout(bound))
    })
