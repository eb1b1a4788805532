/**
 * What a `Router` tells the `Llm` it calls about the call in progress: one
 * `Context.Reference`, provided by the router around each attempt and read by
 * `Llm.make`'s calls when they start.
 *
 * - `deadline`: when the whole call ends (the router's, with every attempt and
 *   fallback); a call ends by the sooner of it and its own.
 * - `oneAttempt`: the attempt is a breaker's half-open probe, whose single
 *   outcome decides whether a failing deployment takes traffic again; the call
 *   makes one attempt whatever its retry policy says (a probe that retried
 *   would keep a recovering deployment busy, and its last failure would open
 *   the breaker for another period).
 * - `onward`: whether the router has somewhere else to go; a call reads it
 *   only before it would wait on the same deployment (a phase timeout it would
 *   retry, keys all cooling, a retry's backoff past `retryWait`), and leaves
 *   that wait to the router when it has.
 * - `retryWait`: how long in all the call's retries may wait on the deployment
 *   while the router has somewhere else to go (`Router.Options.maxRetryWait`).
 * - `inAttemptSpan`: the call runs under a router's attempt span, which stands
 *   for the call span the `Llm` would make.
 * - `limits`: a stream's phase limits the router learned for the deployment
 *   (`Router.Options.learnedLimits`), which the transport keeps when they are
 *   sooner than the adapter's own.
 * - `key` and `tookKey`: a router with `affinity` names the key its session's
 *   last call used on this deployment (`key`), which the call takes when that
 *   key is usable now (`KeyPool.Service.tryTakeKey`), and is told the key the
 *   call took (`tookKey`), to pin the session to it.
 *
 * It is in the context the call runs in, so a decorator between the router
 * and the `Llm` (a budget, a ledger, one an application writes) passes it on
 * without a line of code. A router inside a router reads the outer one's and
 * provides its own: the sooner deadline, a probe of either, itself as the
 * place to go on.
 */
import * as Context from "effect/Context"
import type { LlmError } from "../LlmError.js"

/** Where else a call may go: whether, were its attempt to fail with `tag` now, the router would take it elsewhere. */
export interface Onward {
  elsewhere(tag: LlmError["_tag"]): boolean
}

/** Phase limits in milliseconds; `undefined` for none. */
export interface PhaseLimits {
  readonly headers: number | undefined
  readonly firstToken: number | undefined
  readonly idle: number | undefined
}

/** The call in progress, as a router sees it. */
export interface RouterCall {
  /** When the call ends, in `Clock` milliseconds; `Infinity` when no router set one. */
  readonly deadline: number
  /** Whether the call makes one attempt only: a router's half-open probe. */
  readonly oneAttempt: boolean
  /** The router that could take the call elsewhere; `undefined` outside a router. */
  readonly onward: Onward | undefined
  /** Milliseconds the call's retries may wait in all while `onward` could take it elsewhere; `Infinity`: no bound. */
  readonly retryWait: number
  /** Whether the call runs under a router's attempt span (then it makes no call span of its own). */
  readonly inAttemptSpan: boolean
  /** A stream's learned phase limits for the deployment it is sent to; `undefined`: the adapter's own only. */
  readonly limits: PhaseLimits | undefined
  /** The masked id of the key to take when it is usable now; undefined: the least-loaded one. */
  readonly key: string | undefined
  /** Told the masked id of each key the call takes; undefined: nobody asks. */
  readonly tookKey: ((keyId: string) => void) | undefined
}

/** A call no router runs. */
export const outside: RouterCall = {
  deadline: Infinity,
  oneAttempt: false,
  onward: undefined,
  retryWait: Infinity,
  inAttemptSpan: false,
  limits: undefined,
  key: undefined,
  tookKey: undefined
}

/** The call in progress: `outside` unless a router provides it. */
export const RouterCall = Context.Reference<RouterCall>("effect-llm-router/internal/RouterCall", {
  defaultValue: () => outside
})

/**
 * Whether the call should leave a wait that fails with `tag` to the router:
 * it runs in a router with another deployment or a fallback for it.
 */
export const goesElsewhere = (call: RouterCall, tag: LlmError["_tag"]): boolean =>
  call.onward !== undefined && call.onward.elsewhere(tag)
