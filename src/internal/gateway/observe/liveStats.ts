/**
 * The dashboard's live figures the router's status does not keep: per deployment, a bounded window of recent latencies
 * and times to first token and the cost so far, fed from each request's record (`record.ts`), and request and error
 * rates from the router's cumulative counts, sampled at each read. A finished request only writes into a ring buffer;
 * the windows are sorted for their quantiles only when the dashboard asks.
 */
import type * as Router from "../../../Router.js"

/** A ring buffer of the last `capacity` numbers pushed. */
export class Window {
  private readonly values: Float64Array
  private next = 0
  private count = 0

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity)
  }

  push(value: number): void {
    this.values[this.next] = value
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1
    if (this.count < this.capacity) this.count++
  }

  /** How many numbers it holds: those pushed, up to `capacity`. */
  get size(): number {
    return this.count
  }

  /** The numbers it holds, ascending (a copy). */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort()
  }
}

/**
 * The `q` quantile (0 < q ≤ 1) of ascending `sorted` by nearest rank: the smallest value with at least `q` of the
 * values at or below it. `undefined` for no values.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number | undefined {
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

/** The median and 95th percentile of a window, in its unit; `null` while it is empty. */
export interface Quantiles {
  readonly p50: number
  readonly p95: number
}

export function quantiles(window: Window): Quantiles | null {
  if (window.size === 0) return null
  const sorted = window.sorted()
  return { p50: quantile(sorted, 0.5)!, p95: quantile(sorted, 0.95)! }
}

/** The figures of one deployment. */
export interface Recorded {
  /** Milliseconds from each request to the end of its answer (a stream's last event), the latest ones. */
  readonly latency: Window
  /** Milliseconds from each streamed request to its first chunk, the latest ones. */
  readonly firstToken: Window
  /** US dollars of its priced replies so far. */
  cost: number
}

/** The latencies and times to first token each deployment keeps: enough for a steady p95, little memory. */
export const windowSize = 512

/** A deployment as the router's status names it. */
export interface Named {
  readonly name: string
  readonly provider: string
  readonly model: string
}

/**
 * The deployment a reply came from, by the `provider/model` it reports: the deployment of that name, else the
 * provider's deployment whose model the reply's is a dated version of (`gpt-4o-mini-2024-07-18` of `gpt-4o-mini`),
 * the longest such model; `undefined` when none.
 */
export function resolve(deployments: ReadonlyArray<Named>, reported: string): string | undefined {
  let found: Named | undefined
  for (const deployment of deployments) {
    if (deployment.name === reported) return deployment.name
    const prefix = `${deployment.provider}/${deployment.model}-`
    if (reported.startsWith(prefix) && (found === undefined || deployment.model.length > found.model.length)) {
      found = deployment
    }
  }
  return found?.name
}

/** One reading of the router's cumulative counts, at a Clock time in milliseconds. */
interface Sample {
  readonly at: number
  readonly counts: ReadonlyMap<string, { readonly requests: number; readonly failures: number }>
}

/** A deployment's rates over the last `Rates.span` (or since the start, when that is shorter). */
export interface Rate {
  /** Attempts a second. */
  readonly requests: number
  /** The share of those attempts that failed, 0 to 1; `null` when there were none. */
  readonly errors: number | null
}

/**
 * Request and error rates from the router's cumulative counts: each reading is kept (at most one per `gap`),
 * the oldest dropped once a newer one is older than `span`, and a rate is the change since the oldest kept.
 */
export class Rates {
  private readonly samples: Array<Sample>

  constructor(start: number, readonly span = 10_000, readonly gap = 250) {
    this.samples = [{ at: start, counts: new Map() }]
  }

  /** The rates at `now` of `details` (the router's status), this reading kept. */
  read(details: Router.Status["details"], now: number): ReadonlyMap<string, Rate> {
    const counts = new Map<string, { readonly requests: number; readonly failures: number }>()
    for (const name in details) {
      counts.set(name, { requests: details[name]!.requests, failures: details[name]!.failures })
    }
    if (now - this.samples[this.samples.length - 1]!.at >= this.gap) this.samples.push({ at: now, counts })
    while (this.samples.length > 1 && this.samples[1]!.at <= now - this.span) this.samples.shift()
    const base = this.samples[0]!
    const seconds = (now - base.at) / 1000
    const rates = new Map<string, Rate>()
    for (const [name, current] of counts) {
      const before = base.counts.get(name) ?? { requests: 0, failures: 0 }
      // A probe the shared store refused is taken back from `requests`: the counts may step down.
      const requests = Math.max(0, current.requests - before.requests)
      const failures = Math.max(0, current.failures - before.failures)
      rates.set(name, {
        requests: seconds > 0 ? requests / seconds : 0,
        errors: requests === 0 ? null : Math.min(1, failures / requests)
      })
    }
    return rates
  }

  /** Readings kept: bounded by `span / gap` and one. */
  get size(): number {
    return this.samples.length
  }
}

export interface LiveStats {
  /**
   * A finished request: `deployment` (the `provider/model` its reply reported; nothing is recorded without one),
   * its latency and time to first token in milliseconds, and its cost.
   */
  readonly record: (
    deployment: string | undefined,
    latency: number,
    firstToken: number | undefined,
    cost: number | undefined
  ) => void
  /** The figures of the deployment named `name`, if any request of it was recorded. */
  readonly recorded: (name: string) => Recorded | undefined
  readonly rates: Rates
}

/** The live figures of `deployments` (the router's), from `start` (Clock milliseconds). */
export function makeLiveStats(deployments: ReadonlyArray<Named>, start: number): LiveStats {
  const byName = new Map<string, Recorded>()
  // Each reported `provider/model` resolved once.
  const resolved = new Map<string, Recorded>()
  for (const deployment of deployments) {
    byName.set(deployment.name, { latency: new Window(windowSize), firstToken: new Window(windowSize), cost: 0 })
  }
  function lookup(reported: string): Recorded | undefined {
    let found = resolved.get(reported)
    if (found === undefined) {
      const name = resolve(deployments, reported)
      if (name === undefined) return undefined
      found = byName.get(name)!
      resolved.set(reported, found)
    }
    return found
  }
  return {
    record: (deployment, latency, firstToken, cost) => {
      if (deployment === undefined) return
      const recorded = lookup(deployment)
      if (recorded === undefined) return
      recorded.latency.push(latency)
      if (firstToken !== undefined) recorded.firstToken.push(firstToken)
      if (cost !== undefined) recorded.cost += cost
    },
    recorded: (name) => byName.get(name),
    rates: new Rates(start)
  }
}
