/**
 * What a `Router` tells the `Llm` it calls about the call in progress: one `Context.Reference`, provided by the router
 * around each attempt and read by `Llm.make`'s calls when they start. Being in the context, it passes through any
 * decorator between the router and the `Llm` (a budget, a ledger, one an application writes) without a line of code. A
 * router inside a router reads the outer one's and provides its own: the sooner deadline, a probe of either, itself as
 * the place to go on.
 *
 * A probe (`oneAttempt`) makes one attempt whatever the retry policy says: a probe that retried would keep a recovering
 * deployment busy, and its last failure would open the breaker for another period. `onward` is read only before a call
 * would wait on the same deployment (a phase timeout it would retry, keys all cooling, a backoff past `retryWait`): the
 * call leaves that wait to the router when it has somewhere else to go. With `affinity`, the call takes the session's
 * last key (`key`) when it is usable now and reports the key it took (`tookKey`), to pin the session to it. The
 * transport keeps learned `limits` when they are sooner than the adapter's own.
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
 * Whether the call should leave a wait that fails with `tag` to the router: another deployment or a fallback takes it.
 */
export const goesElsewhere = (call: RouterCall, tag: LlmError["_tag"]): boolean =>
  call.onward !== undefined && call.onward.elsewhere(tag)
