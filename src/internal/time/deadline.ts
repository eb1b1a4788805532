/**
 * One deadline for a whole call, from a caller that spans several `Llm` calls
 * (a `Router`'s attempts and fallbacks) to each `Llm`, which bounds its own
 * retries by it.
 *
 * The router provides `CallDeadline` (epoch milliseconds of the `Clock`) for
 * each attempt; `Llm.make`'s calls read it when they start and end by the
 * sooner of it and their own deadline. A decorator between the two (a budget,
 * a ledger, one an application writes) passes it on without a line of code:
 * it is in the context its call runs in. A router inside a router reads the
 * outer one's and provides the sooner of it and its own.
 *
 * A service whose calls end by the deadline they find there says so in its
 * type, with the optional member `[KeepsDeadline]: true` of `Llm.Service`
 * (`Llm.make` and `Router` set it; a decorator that spreads the service it
 * wraps keeps it). A router all of whose deployments keep the deadline needs
 * no timer (no forked fiber per call) of its own; otherwise a timer bounds
 * the call.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { timeoutFail } from "./timeout.js"

/** The deadline of the call in progress, in `Clock` milliseconds; `Infinity` when none was set. */
export const CallDeadline = Context.Reference<number>("effect-llm-router/internal/CallDeadline", {
  defaultValue: () => Infinity
})

/** The key of `Llm.Service`'s optional member that says its calls end by `CallDeadline`. */
export const KeepsDeadline: unique symbol = Symbol.for("effect-llm-router/KeepsDeadline")

/** Whether every call of `service` ends by the `CallDeadline` it runs under. */
export const keeps = (service: { readonly [KeepsDeadline]?: true | undefined }): boolean =>
  service[KeepsDeadline] === true

/** `self` bounded by `own` and by the deadline `at`, whichever ends first. */
export const within = <A, E, E2>(
  self: Effect.Effect<A, E>,
  own: Duration.Duration,
  at: number,
  onTimeout: (timeout: Duration.Duration) => E2
): Effect.Effect<A, E | E2> =>
  at === Infinity
    ? timeoutFail(self, own, () => onTimeout(own))
    : Effect.clockWith((clock) => {
      const left = Duration.millis(Math.max(0, at - clock.currentTimeMillisUnsafe()))
      const bound = Duration.isLessThan(left, own) ? left : own
      return timeoutFail(self, bound, () => onTimeout(bound))
    })
