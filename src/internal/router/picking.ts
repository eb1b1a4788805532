/**
 * Addressing and picking: which deployments a request's model names, which of
 * them a call may try now, and which one the strategy picks among those.
 *
 * The picking rules are plain scans over the usable deployments (a router has a
 * handful, so a scan beats keeping a heap in order). Each takes one uniform
 * number in [0, 1) drawn from Effect's `Random` by the caller, so a seeded
 * `Random` makes every choice reproducible.
 */
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { NoCapacityError } from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import * as Cooldown from "./cooldown.js"
import type { Candidate, State } from "./deployment.js"
import { provider, type Settings } from "./settings.js"

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
      return weighted(candidates, u)
    case "least-busy":
      return leastBusy(candidates, u)
    case "lowest-latency":
      return lowestLatency(candidates, u, settings.exploration)
    case "lowest-cost":
      return lowestCost(candidates, u, (state) =>
        state.price === undefined
          ? Infinity
          : Pricing.estimate(state.price, request, { defaultMaxTokens: settings.replyTokens }))
    case "priority":
      return priority(candidates, u)
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

// ---------------------------------------------------------------------------
// The picking rules.

/** Index by weight: each candidate's chance is its weight over the total. */
export const weighted = (candidates: ReadonlyArray<Candidate>, u: number): number => {
  let total = 0
  for (const candidate of candidates) total += candidate.weight
  let point = u * total
  for (let i = 0; i < candidates.length; i++) {
    point -= candidates[i]!.weight
    if (point < 0) return i
  }
  return candidates.length - 1
}

/** Picks uniformly among the indices where `score` is lowest. */
const lowest = (candidates: ReadonlyArray<Candidate>, u: number, score: (candidate: Candidate) => number): number => {
  let best = Infinity
  let ties = 0
  for (const candidate of candidates) {
    const value = score(candidate)
    if (value < best) {
      best = value
      ties = 1
    } else if (value === best) ties++
  }
  let chosen = Math.floor(u * ties)
  for (let i = 0; i < candidates.length; i++) {
    if (score(candidates[i]!) === best && chosen-- === 0) return i
  }
  return 0
}

/** Fewest calls in flight per unit of weight; ties shared at random. */
export const leastBusy = (candidates: ReadonlyArray<Candidate>, u: number): number =>
  lowest(candidates, u, (candidate) => candidate.inFlight / candidate.weight)

/**
 * Lowest mean latency, except that a share `exploration` of the picks goes to
 * a candidate chosen uniformly, so a deployment that was slow (or failing) and
 * has recovered gets measured again. A candidate never measured counts as 0 ms,
 * so each one is tried early.
 */
export const lowestLatency = (candidates: ReadonlyArray<Candidate>, u: number, exploration: number): number =>
  u < exploration
    ? Math.min(candidates.length - 1, Math.floor((u / exploration) * candidates.length))
    : lowest(candidates, (u - exploration) / (1 - exploration), (candidate) => candidate.latencyMillis ?? 0)

/** The first candidate in the order they were listed. */
export const priority = (_candidates: ReadonlyArray<Candidate>, _u: number): number => 0

/** Lowest cost (as `costOf` prices it); ties shared at random. */
export const lowestCost = <C extends Candidate>(
  candidates: ReadonlyArray<C>,
  u: number,
  costOf: (candidate: C) => number
): number => lowest(candidates, u, costOf as (candidate: Candidate) => number)
