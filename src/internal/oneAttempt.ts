/**
 * A call that makes one attempt only, whatever its `Llm`'s retry policy says:
 * a `Router`'s half-open probe, whose single outcome decides whether a
 * deployment that was failing takes traffic again. A probe that ran the whole
 * retry policy would keep a recovering deployment busy with retries, and its
 * last failure would open the breaker for another period.
 *
 * The router provides `OneAttempt` around a probe attempt only; `Llm.make`'s
 * calls read it when they start, as they read `CallDeadline`, so a decorator
 * between the two passes it on without a line of code, and a router inside
 * the router hands it to its own deployments.
 */
import * as Context from "effect/Context"

/** Whether the call in progress makes one attempt only; `false` unless a router probes. */
export const OneAttempt = Context.Reference<boolean>("effect-llm-router/internal/OneAttempt", {
  defaultValue: () => false
})
