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
 * the router hands it to its own deployments. `Elsewhere` reaches them the
 * same way, to say whether the router has somewhere else to go.
 */
import * as Context from "effect/Context"
import type { LlmError } from "../LlmError.js"

/** Whether the call in progress makes one attempt only; `false` unless a router probes. */
export const OneAttempt = Context.Reference<boolean>("effect-llm-router/internal/OneAttempt", {
  defaultValue: () => false
})

/** What `Elsewhere` holds: whether the call could go on elsewhere now. */
export interface Onward {
  /** Whether, were the attempt in progress to fail with `tag`, another deployment or a fallback would take the call. */
  elsewhere(tag: LlmError["_tag"]): boolean
}

/**
 * Whether the call in progress has somewhere else to go: a `Router` provides
 * it once per call; `Llm.make`'s calls read it only when they would wait on
 * the same deployment, and when the router has another deployment or a
 * fallback for the error they would fail with, leave the wait to the router
 * (which moves on at once):
 * - a phase timeout (`TimeoutError` of phase `headers`, `firstToken` or
 *   `idle`: a silent provider, a slow first token, a stall) is not retried;
 * - a deployment whose keys are all cooling is not waited for, unless the
 *   call's last rate limit came with a `Retry-After` short enough to wait out
 *   (`Llm.Options.maxRateLimitWait`).
 */
export const Elsewhere = Context.Reference<Onward | undefined>("effect-llm-router/internal/Elsewhere", {
  defaultValue: () => undefined
})
