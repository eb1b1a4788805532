/**
 * The router's picking rules, as plain scans over the usable deployments (a
 * router has a handful, so a scan beats keeping a heap in order). Each takes
 * one uniform number in [0, 1) drawn from Effect's `Random` by the caller, so
 * a seeded `Random` makes every choice reproducible.
 */

export interface Candidate {
  readonly weight: number
  /** Calls in flight through the router. */
  readonly inFlight: number
  /** Exponentially weighted mean latency in milliseconds; undefined before the first success. */
  readonly latencyMillis: number | undefined
}

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

/** The next mean after a sample: `alpha` is the weight of the newest sample. */
export const ewma = (previous: number | undefined, sample: number, alpha: number): number =>
  previous === undefined ? sample : previous + alpha * (sample - previous)
