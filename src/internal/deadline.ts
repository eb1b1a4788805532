/**
 * One deadline for a whole call, handed down from a caller that spans several
 * `Llm` calls (a `Router`'s attempts and fallbacks) to each `Llm`, which
 * bounds its own retries by it. An `Llm` already runs its retries under a
 * timer, so the router needs no timer (no forked fiber per call) of its own
 * when every deployment honours the deadline handed down.
 *
 * The deadline is kept per fiber in a `WeakMap` rather than a `FiberRef`:
 * setting a `FiberRef` copies the fiber's whole `FiberRefs` (twice per call,
 * to set and to restore), and every finalizer of the call then diffs them,
 * which cost the router a measurable share of a call. The price is that a
 * deadline is seen only by code on the fiber it was handed down on, which is
 * where `Llm` reads it: at the start of a call, before it forks anything.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { timeoutFail } from "./timeout.js"

type AnyFiber = Fiber.RuntimeFiber<unknown, unknown>

// Epoch milliseconds of the `Clock`, per fiber, while a deadline is handed down.
const deadlines = new WeakMap<AnyFiber, number>()

/** The deadline handed down to `fiber`; `Infinity` when none was. */
export const current = (fiber: AnyFiber): number => deadlines.get(fiber) ?? Infinity

/**
 * Runs `self` with `at` handed down on `fiber` (or the deadline already handed
 * down, when sooner), and restores what was there when it ends.
 */
export const handDown = <A, E>(fiber: AnyFiber, at: number, self: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  const previous = deadlines.get(fiber)
  if (previous !== undefined && previous <= at) return self
  return Effect.suspend(() => {
    deadlines.set(fiber, at)
    return Effect.onExit(self, () => {
      if (previous === undefined) deadlines.delete(fiber)
      else deadlines.set(fiber, previous)
      return Effect.void
    })
  })
}

const honouring = new WeakSet<object>()

/** Marks a service whose calls are bounded by the deadline handed down (what `Llm.make` builds). */
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
    const at = current(fiber)
    if (at === Infinity) return timeoutFail(self, own, () => onTimeout(own))
    const now = Context.get(fiber.getFiberRef(DefaultServices.currentServices), Clock.Clock).unsafeCurrentTimeMillis()
    const left = Duration.millis(Math.max(0, at - now))
    const bound = Duration.lessThan(left, own) ? left : own
    return timeoutFail(self, bound, () => onTimeout(bound))
  })
