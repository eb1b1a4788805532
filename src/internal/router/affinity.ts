/**
 * Session affinity (`Router.Options.affinity`): which deployment, and which of its keys, answered a session's last
 * call, kept for a time to live every answer restarts, so the session's next call goes where the provider's prompt
 * cache is warm. Kept under the session's digest in the router's `Router.AffinityStore`.
 *
 * A pin says where to go first, never more: a deployment that cannot take the call now is left as any other, and the
 * session is pinned to wherever the call is answered.
 */
import { hash } from "node:crypto"
import type { Pin } from "../../Router.js"
import type { RouterCall } from "../routerCall.js"

/** The session's deployment when it is among the usable `candidates` and the call has tried nothing yet. */
export const pinnedAmong = <S extends { readonly name: string }>(
  pin: Pin | undefined,
  tried: ReadonlyArray<S>,
  candidates: ReadonlyArray<S>
): S | undefined =>
  pin === undefined || tried.length !== 0 ? undefined : candidates.find((state) => state.name === pin.deployment)

/** Where an attempt's `Llm` tells the key it took (`RouterCall.tookKey`). */
export interface TakenKey {
  key: string | undefined
}

/** What an attempt of a session's call is told besides `call`: its pinned key, and where to report the key it takes. */
export const pinnedCall = (
  call: RouterCall,
  pin: Pin | undefined,
  deployment: string,
  taken: TakenKey
): RouterCall => ({
  ...call,
  key: pin !== undefined && pin.deployment === deployment ? pin.key : undefined,
  tookKey: (keyId) => {
    taken.key = keyId
  }
})

/** Pins are kept under the session's digest: a client chooses the session, and may send a megabyte of it. */
export const digestOf = (session: string): string => hash("sha256", session, "base64url")
