/**
 * Addressing and picking: which deployments a request's model names, which of
 * them a call may try now, and which one the strategy picks among those.
 */
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { NoCapacityError } from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import * as Cooldown from "./cooldown.js"
import type { State } from "./deployment.js"
import { provider, type Settings } from "./settings.js"
import * as Strategy from "./strategy.js"

/** What picking reads of a call in progress. */
export interface Call {
  /** The address as errors name it. */
  readonly address: string
  /** The deployments the call has tried already. */
  readonly tried: ReadonlyArray<State>
  /** A `ContextLengthError` fallback only goes to larger windows than this. */
  readonly minContext: number
}

/** Picks the index of one of `candidates` (two or more) from a uniform `u` in [0, 1). */
export type Pick = (candidates: ReadonlyArray<State>, u: number, request: ChatRequest) => number

/** Address (deployment, group or model name) -> deployments, in listing order (the order `priority` follows). */
export const addressesOf = (states: ReadonlyArray<State>): ReadonlyMap<string, ReadonlyArray<State>> => {
  const addresses = new Map<string, Array<State>>()
  const address = (name: string, state: State) => {
    const list = addresses.get(name)
    if (list === undefined) addresses.set(name, [state])
    else if (!list.includes(state)) list.push(state)
  }
  for (const state of states) {
    address(state.name, state)
    for (const group of state.groups) address(group, state)
    address(state.model, state)
  }
  return addresses
}

/** The strategy of `settings` as one function. */
export const picker = (settings: Settings): Pick => (candidates, u, request) => {
  switch (settings.strategy) {
    case "weighted":
      return Strategy.weighted(candidates, u)
    case "least-busy":
      return Strategy.leastBusy(candidates, u)
    case "lowest-latency":
      return Strategy.lowestLatency(candidates, u, settings.exploration)
    case "lowest-cost":
      return Strategy.lowestCost(candidates, u, (state) =>
        state.price === undefined
          ? Infinity
          : Pricing.estimate(state.price, request, { defaultMaxTokens: settings.replyTokens }))
    case "priority":
      return Strategy.priority(candidates, u)
  }
}

const isUsable = (state: State, call: Call, now: number) =>
  !call.tried.includes(state) &&
  Cooldown.isAvailable(state.breaker, now) &&
  state.limitedUntil <= now &&
  (call.minContext === 0 || (state.contextWindow ?? 0) > call.minContext)

// The members a call may try now: `members` itself when all of them are
// usable (the usual case, and nothing to allocate).
export const usable = (members: ReadonlyArray<State>, call: Call, now: number): ReadonlyArray<State> => {
  let i = 0
  while (i < members.length && isUsable(members[i]!, call, now)) i++
  if (i === members.length) return members
  const out = members.slice(0, i)
  for (i++; i < members.length; i++) if (isUsable(members[i]!, call, now)) out.push(members[i]!)
  return out
}

/**
 * When the first of `members` held back only by a rate limit (its keys
 * cooling, a `Retry-After`, rate-limit headers) is usable again; `Infinity`
 * when none is (every one tried, breaker open or too small).
 */
export const firstUnheld = (members: ReadonlyArray<State>, call: Call, now: number): number => {
  let at = Infinity
  for (const state of members) {
    if (
      state.limitedUntil < at && isUsable(state, call, state.limitedUntil) && Cooldown.isAvailable(state.breaker, now)
    ) {
      at = state.limitedUntil
    }
  }
  return at
}

/** The error when none of `members` is usable, with when the first of them may be again. */
export const noneUsable = (call: Call, members: ReadonlyArray<State>, now: number): NoCapacityError => {
  let availableAt = Infinity
  for (const state of members) {
    if (call.tried.includes(state)) continue
    const breaker = state.breaker
    const free = Math.max(state.limitedUntil, breaker.state === "open" ? breaker.openUntil : now)
    if (free < availableAt) availableAt = free
  }
  return new NoCapacityError({
    provider,
    model: call.address,
    detail: `no deployment of ${call.address} is usable now (cooling down, rate-limited, already tried, or too small)`,
    ...(Number.isFinite(availableAt) && availableAt > now ? { availableAt } : {})
  })
}
