/**
 * What `Router.status` reports: each deployment's load in the shape
 * LLM-API-BalancedCall's `model-load` returns a model, plus the router's own
 * fields (breaker, hedges, rate-limit holds, spend, budgets), and the sums of
 * its `system-load` and `system-capacity` over them. Keys appear masked only.
 *
 * @since 0.2.0
 */
import type * as Budget from "./Budget.js"
import type * as RateLimiter from "./RateLimiter.js"

/**
 * One key of a deployment, as LLM-API-BalancedCall's `system-capacity` lists
 * it (`key`, `weight`, `current`), masked.
 *
 * @since 0.1.0
 * @category Models
 */
export interface KeyLoad {
  /** The masked key (`sk-…f3a9#0d64`). */
  readonly key: string
  readonly weight: number
  /** Calls in flight with this key. */
  readonly current: number
  /** The key's concurrency cap; `null` when unbounded. */
  readonly max: number | null
  /** Epoch milliseconds when its cooldown ends, while cooling down. */
  readonly coolingUntil: number | null
  readonly disabled: string | null
}

/**
 * One deployment as LLM-API-BalancedCall's `model-load` returns a model
 * (`type`, `current`, `max`, `weight`, `keys`), plus the router's own fields.
 *
 * @since 0.1.0
 * @category Models
 */
export interface DeploymentLoad {
  /**
   * `concurrency` when the deployment caps calls in flight (its limiter's `maxConcurrency`, or every key capped):
   * `current` counts calls in flight; `qps` when it is limited by rate only: `current` counts calls started in the
   * current second.
   */
  readonly type: "concurrency" | "qps"
  readonly current: number
  /** The cap (`concurrency`) or refill rate per second (`qps`); `null` when unbounded. */
  readonly max: number | null
  readonly weight: number
  /** Masked keys, when the deployment's layer provides its `KeyPool`; else empty. */
  readonly keys: ReadonlyArray<KeyLoad>
  readonly provider: string
  readonly model: string
  readonly groups: ReadonlyArray<string>
  /** Calls in flight through the router. */
  readonly inFlight: number
  readonly requests: number
  readonly failures: number
  readonly cooldown: {
    readonly state: "closed" | "open" | "half-open"
    /** While open: epoch milliseconds when a probe may go. */
    readonly until: number | null
    /** While half-open: whether the probe is out (the other calls go elsewhere until it ends). */
    readonly probing: boolean
    /** Failures counted in the current window. */
    readonly recentFailures: number
  }
  /** Hedges (`Options.hedge`) started on it, and its attempts cancelled because the other answered first. */
  readonly hedges: { readonly started: number; readonly cancelled: number }
  /**
   * Malformed stream events skipped in its replies that finished (each reply's `skippedEvents`; logged as they happen).
   */
  readonly skippedEvents: number
  /** Epoch milliseconds until which the provider's rate limits hold it back; `null` when they do not. */
  readonly limitedUntil: number | null
  /**
   * Times rate limits held it back: remaining 0, a `RateLimitError` with `retryAfter`, every key cooling
   * (`NoCapacityError`).
   */
  readonly rateLimited: number
  /** Mean latency in milliseconds; `null` before the first success. */
  readonly latencyMillis: number | null
  /** The deployment's request bucket, when its layer provides its `RateLimiter`. */
  readonly rateLimit: RateLimiter.Status | null
  /** US dollars spent through this deployment (priced calls), when the router has a `ledger`; else `null`. */
  readonly spend: number | null
  /**
   * The budget limits this deployment's calls count against (`overall`, its name, its groups), when the router has a
   * `budget`.
   */
  readonly budgets: ReadonlyArray<Budget.LimitStatus>
}

/**
 * The whole router: `system-load`'s `load_percent` (`loadPercent`) and
 * `system-capacity`'s `total_max` (`totalMax`) and `details` in one value.
 * `details[name]` is what `model-load` returns for that deployment.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Status {
  /** Calls in flight (or started this second) over the bounded capacity, in percent, two decimals. */
  readonly loadPercent: number
  /** Sum of the bounded deployments' `max`, by type. */
  readonly totalMax: { readonly concurrency: number; readonly qps: number }
  readonly details: Readonly<Record<string, DeploymentLoad>>
}
