/**
 * An `Llm` made of several deployments (each an `Llm` of its own: a provider,
 * a model, keys and limits), which picks one per call, falls back to others
 * when a call fails, and cools failing deployments down. It is provided under
 * the `Llm` Tag, so an application swaps a single `Llm` for a router without
 * changing a line:
 *
 * ```ts
 * const router = Router.layer({
 *   deployments: [
 *     { name: "openai-mini", model: "gpt-4o-mini", llm: openAiLayer, weight: 3, groups: ["fast"] },
 *     { name: "groq-llama", model: "llama-3.1-8b-instant", llm: groqLayer, weight: 1, groups: ["fast"] },
 *     { name: "claude", model: "claude-sonnet-4-5", llm: anthropicLayer, groups: ["smart"], contextWindow: 200_000 }
 *   ],
 *   strategy: "lowest-latency",
 *   fallbacks: { fast: [{ to: "smart", on: ["ContextLengthError", "ProviderUnavailableError"] }] }
 * })
 * Llm.chat({ model: "fast", messages: [Message.user("Hi")] }).pipe(Effect.provide(router))
 * ```
 *
 * ## Addressing
 * A request's `model` names a deployment, a group (every deployment listing it
 * in `groups`), or a model (every deployment serving it). The chosen
 * deployment is called with its own `model`. A request with no model goes to
 * `Options.model`, or else to every deployment.
 *
 * ## Picking
 * Among the addressed deployments that are usable now (cooldown not open, not
 * held back by the provider's rate-limit headers, not tried already in this
 * call), the strategy picks one: `weighted` (chance proportional to `weight`,
 * LLM-API-BalancedCall's model weights; key weights stay in each deployment's
 * `KeyPool`), `least-busy` (fewest calls in flight through the router per unit
 * of weight), `lowest-latency` (lowest exponentially weighted mean latency,
 * with a share of picks spread uniformly so a recovered deployment is measured
 * again; for a stream, the time to its first chunk), `lowest-cost` (the lowest
 * `Pricing.estimate` of the request at the deployment's price; unpriced
 * deployments last), `priority` (the first listed). Randomness comes from Effect's `Random`, so a seeded `Random`
 * reproduces every choice.
 *
 * ## Failing over
 * After a failure whose tag is in `Options.retryOn` the router tries another
 * usable deployment of the same address. Otherwise, or when none is left, it
 * follows the first fallback (of the failed deployment's name, then of the
 * address) whose `on` lists the error's tag, each fallback at most once per
 * call. A fallback on `ContextLengthError` only considers deployments with a
 * larger `contextWindow` than the one that failed. The error that ends the
 * chain is the last one, with `attempts` listing every deployment tried (its
 * name, error tag and message). A stream falls over only before its first
 * chunk; after it, a failure fails the stream. One `deadline` bounds the whole
 * call, every deployment's own retries included (`TimeoutError`); it reaches
 * each deployment's `Llm` through any decorator in between, and a router that
 * is a deployment of this one ends by the sooner of its own and this one's.
 *
 * ## Cooldowns and adaptive limits
 * A deployment whose calls fail `cooldown.failures` times (with the tags in
 * `cooldown.on`) within `cooldown.window` is skipped for `cooldown.period`;
 * then one call probes it (half-open): success closes the breaker, failure
 * opens it for another period. A reply whose rate-limit headers say no request
 * (or no token) remains, and a `RateLimitError` with `retryAfter`, hold the
 * deployment back until the reset. All of it is read from `Clock`.
 *
 * ## Budgets and spend
 * With `budget`, every attempt is checked against the limits of `overall`, of
 * its deployment and of its groups before it is sent, and charged after
 * (`Budget.guarded`); a refused attempt fails with `BudgetExceededError`, and
 * the router tries another deployment. With `ledger`, every call's usage and
 * cost is recorded under its deployment (`UsageLedger.tracked`).
 *
 * ## Status
 * `Router.status` has the shape of LLM-API-BalancedCall's `system-load`
 * (`load_percent`), `system-capacity` (`total_max`, `details`) and, per
 * deployment, `model-load` (`type`, `current`, `max`, `weight`, `keys`), plus
 * this router's own fields (cooldown, latency, rate-limit bucket, spend and
 * budgets), so a gateway can serve each part as it is. Keys appear masked only.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Pull from "effect/Pull"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse, RateLimitSnapshot } from "./ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "./Embedding.js"
import * as ChunkSources from "./internal/chunkSource.js"
import * as Deadline from "./internal/deadline.js"
import * as Cooldown from "./internal/routerCooldown.js"
import * as Strategy from "./internal/routerStrategy.js"
import * as Budget from "./Budget.js"
import * as KeyPool from "./KeyPool.js"
import * as Llm from "./Llm.js"
import {
  type Attempt,
  type LlmError,
  ModelNotFoundError,
  NoCapacityError,
  StreamTruncatedError,
  TimeoutError,
  withAttempts
} from "./LlmError.js"
import * as Pricing from "./Pricing.js"
import * as ProviderConfig from "./ProviderConfig.js"
import * as RateLimiter from "./RateLimiter.js"
import * as UsageLedger from "./UsageLedger.js"

/**
 * The `_tag` of an `LlmError`.
 *
 * @since 0.1.0
 * @category Models
 */
export type ErrorTag = LlmError["_tag"]

/**
 * How the router picks among usable deployments (see the module docs).
 *
 * @since 0.1.0
 * @category Models
 */
export type StrategyName = "weighted" | "least-busy" | "lowest-latency" | "lowest-cost" | "priority"

/**
 * One deployment: an `Llm` serving one model, with how the router treats it.
 * `llm` may provide `KeyPool` and `RateLimiter` as well (as `ProviderConfig`'s
 * deployments do); when it does, `status` reports its keys and its bucket.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Deployment<E = never, R = never> {
  /** Unique among the router's deployments; names it in fallbacks, errors and status. */
  readonly name: string
  /** The model the deployment serves; every call through it is sent with this model. */
  readonly model: string
  /** The provider, for status. Default: `name`. */
  readonly provider?: string
  readonly llm: Layer.Layer<Llm.Llm, E, R>
  /** Share of `weighted` picks relative to the other deployments (the seed's `model_weight`). Default 1; must be > 0. */
  readonly weight?: number
  /** The context window in tokens, for `ContextLengthError` fallbacks. Default: unknown. */
  readonly contextWindow?: number
  /** Group names that address this deployment (`"fast"`, `"smart"`). Default none. */
  readonly groups?: ReadonlyArray<string>
  /**
   * The deployment's price, for `lowest-cost` and for budget estimates.
   * Default: the built-in price of `model` (`Pricing.lookup`), if any.
   */
  readonly price?: Pricing.Price
}

/**
 * Where a call goes when its address fails with one of `on`: a deployment,
 * group or model name.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Fallback {
  readonly to: string
  readonly on: ReadonlyArray<ErrorTag>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface CooldownOptions {
  /** Failures within `window` that open the breaker. Default 3. */
  readonly failures?: number
  /** Default 1 minute. */
  readonly window?: Duration.Input
  /** How long an open breaker skips the deployment before one call probes it. Default 30 seconds. */
  readonly period?: Duration.Input
  /**
   * The errors that count against a deployment. Default: `ProviderUnavailableError`,
   * `TimeoutError`, `TransportError`, `StreamTruncatedError`, `AuthError`,
   * `ModelNotFoundError`, `NoCapacityError` (errors of the request itself,
   * such as `InvalidRequestError` or `ContextLengthError`, say nothing of the
   * deployment's health).
   */
  readonly on?: ReadonlyArray<ErrorTag>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options<D extends Deployment<unknown, unknown> = Deployment<unknown, unknown>> {
  readonly deployments: ReadonlyArray<D>
  /** Default `"weighted"`. */
  readonly strategy?: StrategyName
  /** Fallbacks by deployment, group or model name, tried in order. Default none. */
  readonly fallbacks?: Readonly<Record<string, ReadonlyArray<Fallback>>>
  /**
   * Errors after which another deployment of the same address is tried before
   * any fallback. Default: `RateLimitError`, `ProviderUnavailableError`,
   * `TimeoutError`, `TransportError`, `NoCapacityError`, `StreamTruncatedError`,
   * `AuthError`, `BudgetExceededError`.
   */
  readonly retryOn?: ReadonlyArray<ErrorTag>
  readonly cooldown?: CooldownOptions
  /** One bound on a call with every attempt and fallback (for a stream: until its first chunk). Default 10 minutes. */
  readonly deadline?: Duration.Input
  /** `lowest-latency`: the weight of the newest latency in the mean. Default 0.3. */
  readonly latencyAlpha?: number
  /** `lowest-latency`: the share of picks spread uniformly. Default 0.05. */
  readonly exploration?: number
  /** The address of requests that name no model. Default: every deployment. */
  readonly model?: string
  /**
   * `lowest-cost` and budget estimates: the reply tokens to count for requests
   * without `maxTokens`. Default 256.
   */
  readonly replyTokens?: number
  /**
   * Spend limits: each attempt is checked against the limits of `overall`, of
   * its deployment's name and of its groups before it is sent (`Budget.guarded`),
   * and fails with `BudgetExceededError` when it would pass one (another
   * deployment is then tried). Default: none.
   */
  readonly budget?: Budget.Service
  /** Records each call's usage and cost under its deployment's name (`UsageLedger.tracked`). Default: none. */
  readonly ledger?: UsageLedger.Service
}

/**
 * One key of a deployment, as LLM-API-BalancedCall's `system-capacity` lists
 * it (`key`, `weight`, `current`), masked.
 *
 * @since 0.1.0
 * @category Models
 */
export interface KeyLoad {
  /** The masked key (`sk-…f3a9`). */
  readonly key: string
  readonly weight: number
  /** Calls in flight with this key. */
  readonly current: number
  /** The key's concurrency cap; `null` when unbounded. */
  readonly max: number | null
  /** Epoch milliseconds when its cooldown ends, while cooling down. */
  readonly cooling_until: number | null
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
   * `concurrency` when the deployment caps calls in flight (its limiter's
   * `maxConcurrency`, or every key capped): `current` counts calls in flight;
   * `qps` when it is limited by rate only: `current` counts calls started in
   * the current second.
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
  readonly in_flight: number
  readonly requests: number
  readonly failures: number
  readonly cooldown: {
    readonly state: "closed" | "open" | "half-open"
    /** While open: epoch milliseconds when a probe may go. */
    readonly until: number | null
    /** Failures counted in the current window. */
    readonly recent_failures: number
  }
  /** Epoch milliseconds until which the provider's rate limits hold it back; `null` when they do not. */
  readonly limited_until: number | null
  /** Times the provider's rate limits (remaining 0, or a `RateLimitError` with `retryAfter`) held it back. */
  readonly rate_limited: number
  /** Mean latency in milliseconds; `null` before the first success. */
  readonly latency_ms: number | null
  /** The deployment's request bucket, when its layer provides its `RateLimiter`. */
  readonly rate_limit: RateLimiter.Status | null
  /** US dollars spent through this deployment (priced calls), when the router has a `ledger`; else `null`. */
  readonly spend: number | null
  /** The budget limits this deployment's calls count against (`overall`, its name, its groups), when the router has a `budget`. */
  readonly budgets: ReadonlyArray<Budget.LimitStatus>
}

/**
 * The whole router: `system-load`'s `load_percent` and `system-capacity`'s
 * `total_max` and `details` in one value. `details[name]` is what `model-load`
 * returns for that deployment.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Status {
  /** Calls in flight (or started this second) over the bounded capacity, in percent, two decimals. */
  readonly load_percent: number
  /** Sum of the bounded deployments' `max`, by type. */
  readonly total_max: { readonly concurrency: number; readonly qps: number }
  readonly details: Readonly<Record<string, DeploymentLoad>>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Llm.Service {
  readonly status: Effect.Effect<Status>
}

/**
 * The router itself, for `status`; `layer` provides it along with `Llm`.
 *
 * @since 0.1.0
 * @category Tags
 */
export class Router extends Context.Service<Router, Service>()("effect-llm-router/Router") {}

/**
 * @since 0.1.0
 * @category Accessors
 */
export const status: Effect.Effect<Status, never, Router> = Router.use((router) => router.status)

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

interface State extends Strategy.Candidate {
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly weight: number
  readonly contextWindow: number | undefined
  readonly groups: ReadonlyArray<string>
  readonly llm: Llm.Service
  readonly price: Pricing.Price | undefined
  readonly keyPool: KeyPool.Service | undefined
  readonly limiter: RateLimiter.Service | undefined
  readonly breaker: Cooldown.Breaker
  inFlight: number
  latencyMillis: number | undefined
  limitedUntil: number
  requests: number
  failures: number
  rateLimited: number
  secondStart: number
  secondCount: number
}

/** One call's progress through its deployments. */
interface Call {
  readonly request: ChatRequest
  readonly address: string
  readonly attempts: Array<Attempt>
  readonly tried: Array<State>
  readonly usedFallbacks: Array<Fallback>
  /** A `ContextLengthError` fallback only goes to larger windows than this. */
  minContext: number
  last: { readonly state: State; readonly error: LlmError } | undefined
}

/** One attempt at a deployment: the request with the deployment's model. */
type Send<A> = (state: State, request: ChatRequest) => Effect.Effect<A, LlmError>

/** Gives an effect back the interruptibility of a caller that runs in an uninterruptible region. */
type Restore = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

/**
 * A deployment's stream after its first chunk: its pull (the first chunk
 * still in it), the scope the pull was taken in (closing it lets go of what
 * the stream holds), and the deployment.
 */
interface Opened {
  readonly pull: Pull.Pull<ChunkSources.Batch, LlmError>
  readonly scope: Scope.Closeable
  readonly state: State
}

const defaultRetryOn: ReadonlyArray<ErrorTag> = [
  "RateLimitError",
  "ProviderUnavailableError",
  "TimeoutError",
  "TransportError",
  "NoCapacityError",
  "StreamTruncatedError",
  "AuthError",
  "BudgetExceededError"
]

const defaultCooldownOn: ReadonlyArray<ErrorTag> = [
  "ProviderUnavailableError",
  "TimeoutError",
  "TransportError",
  "StreamTruncatedError",
  "AuthError",
  "ModelNotFoundError",
  "NoCapacityError"
]

const provider = "router"

const invalid = (options: Options): string | undefined => {
  if (options.deployments.length === 0) return "Router: at least one deployment is needed"
  const names = new Set<string>()
  const addresses = new Set<string>()
  for (const deployment of options.deployments) {
    if (deployment.name === "") return "Router: a deployment has an empty name"
    if (names.has(deployment.name)) return `Router: the deployment name ${deployment.name} is listed twice`
    names.add(deployment.name)
    const weight = deployment.weight ?? 1
    if (!(Number.isFinite(weight) && weight > 0)) {
      return `Router: deployment ${deployment.name} has weight ${weight}; it must be a positive number`
    }
    addresses.add(deployment.name).add(deployment.model)
    for (const group of deployment.groups ?? []) addresses.add(group)
  }
  for (const [from, fallbacks] of Object.entries(options.fallbacks ?? {})) {
    if (!addresses.has(from)) return `Router: fallbacks are given for ${from}, which names no deployment, group or model`
    for (const fallback of fallbacks) {
      if (!addresses.has(fallback.to)) {
        return `Router: the fallback of ${from} goes to ${fallback.to}, which names no deployment, group or model`
      }
    }
  }
  if (options.model !== undefined && !addresses.has(options.model)) {
    return `Router: model ${options.model} names no deployment, group or model`
  }
  const exploration = options.exploration ?? 0.05
  if (!(exploration >= 0 && exploration < 1)) return `Router: exploration must be in [0, 1), got ${exploration}`
  const alpha = options.latencyAlpha ?? 0.3
  if (!(alpha > 0 && alpha <= 1)) return `Router: latencyAlpha must be in (0, 1], got ${alpha}`
  const failures = options.cooldown?.failures ?? 3
  if (!(Number.isInteger(failures) && failures >= 1)) return `Router: cooldown.failures must be a whole number >= 1, got ${failures}`
  return undefined
}

interface Built {
  readonly deployment: Deployment<unknown, unknown>
  readonly context: Context.Context<Llm.Llm>
}

const replyTokensDefault = 256

// The deployment's Llm, checked against the budget and recorded in the
// ledger when the options have them. It still keeps the call's deadline when
// the Llm it wraps does: the deadline is in the context the wrappers run in.
const decorate = (options: Options, deployment: Deployment<unknown, unknown>, llm: Llm.Service, price: Pricing.Price | undefined) => {
  let out = llm
  if (options.budget !== undefined) {
    out = Budget.guarded(out, options.budget, {
      scopes: [deployment.name, ...(deployment.groups ?? [])],
      price,
      defaultMaxTokens: options.replyTokens ?? replyTokensDefault,
      provider: deployment.provider ?? deployment.name
    })
  }
  if (options.ledger !== undefined) out = UsageLedger.tracked(out, options.ledger, deployment.name)
  return out
}

const makeService = (options: Options, built: ReadonlyArray<Built>): Service => {
  const states: Array<State> = built.map(({ context, deployment }) => {
    const price = deployment.price ?? Pricing.lookup(deployment.model)
    return {
      name: deployment.name,
      provider: deployment.provider ?? deployment.name,
      model: deployment.model,
      weight: deployment.weight ?? 1,
      contextWindow: deployment.contextWindow,
      groups: deployment.groups ?? [],
      llm: decorate(options, deployment, Context.get(context, Llm.Llm), price),
      price,
      keyPool: Context.getOrUndefined(context as Context.Context<unknown>, KeyPool.KeyPool),
      limiter: Context.getOrUndefined(context as Context.Context<unknown>, RateLimiter.RateLimiter),
      breaker: Cooldown.make(),
      inFlight: 0,
      latencyMillis: undefined,
      limitedUntil: 0,
      requests: 0,
      failures: 0,
      rateLimited: 0,
      secondStart: 0,
      secondCount: 0
    }
  })

  // Address -> deployments, in listing order (the order `priority` follows).
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
  const everyone = options.model === undefined ? states : addresses.get(options.model)!

  const fallbacks = options.fallbacks ?? {}
  const retryOn = new Set(options.retryOn ?? defaultRetryOn)
  const cooldownOn = new Set(options.cooldown?.on ?? defaultCooldownOn)
  const cooldown: Cooldown.Settings = {
    failures: options.cooldown?.failures ?? 3,
    windowMillis: Duration.toMillis(options.cooldown?.window ?? "1 minute"),
    periodMillis: Duration.toMillis(options.cooldown?.period ?? "30 seconds")
  }
  const deadline = Duration.fromInputUnsafe(options.deadline ?? "10 minutes")
  const deadlineMillis = Duration.toMillis(deadline)
  const keepsDeadlines = states.every((state) => Deadline.keeps(state.llm))
  const alpha = options.latencyAlpha ?? 0.3
  const exploration = options.exploration ?? 0.05
  const drawsRandom = options.strategy !== "priority"
  const replyTokens = options.replyTokens ?? replyTokensDefault
  const pickIndex = (candidates: ReadonlyArray<State>, u: number, request: ChatRequest): number => {
    switch (options.strategy ?? "weighted") {
      case "weighted":
        return Strategy.weighted(candidates, u)
      case "least-busy":
        return Strategy.leastBusy(candidates, u)
      case "lowest-latency":
        return Strategy.lowestLatency(candidates, u, exploration)
      case "lowest-cost":
        return Strategy.lowestCost(candidates, u, (state) =>
          state.price === undefined
            ? Infinity
            : Pricing.estimate(state.price, request, { defaultMaxTokens: replyTokens }))
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
  const usable = (members: ReadonlyArray<State>, call: Call, now: number): ReadonlyArray<State> => {
    let i = 0
    while (i < members.length && isUsable(members[i]!, call, now)) i++
    if (i === members.length) return members
    const out = members.slice(0, i)
    for (i++; i < members.length; i++) if (isUsable(members[i]!, call, now)) out.push(members[i]!)
    return out
  }

  const noneUsable = (call: Call, members: ReadonlyArray<State>, now: number) => {
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

  const record = (call: Call, state: State, error: LlmError) => {
    call.attempts.push({ deployment: state.name, error: error._tag, message: error.message })
    call.last = { state, error }
  }

  const holdUntil = (state: State, until: number) => {
    if (until <= state.limitedUntil) return
    state.limitedUntil = until
    state.rateLimited++
  }

  // What the provider's rate-limit headers said of a reply: none left holds the
  // deployment back. A request refills in reset / limit (buckets refill
  // continuously); tokens wait for the whole reset.
  const holdFor = (state: State, rateLimit: RateLimitSnapshot, now: number) => {
    const requests = rateLimit.remainingRequests === 0 && rateLimit.resetRequests !== undefined
      ? now + Duration.toMillis(rateLimit.resetRequests) / Math.max(1, rateLimit.limitRequests ?? 1)
      : 0
    const tokens = rateLimit.remainingTokens === 0 && rateLimit.resetTokens !== undefined
      ? now + Duration.toMillis(rateLimit.resetTokens)
      : 0
    holdUntil(state, Math.max(requests, tokens))
  }

  // Bookkeeping when an attempt starts; says whether it is a cooldown's probe.
  const enter = (state: State, now: number): boolean => {
    const probe = Cooldown.onSend(state.breaker, now)
    state.inFlight++
    state.requests++
    if (now - state.secondStart >= 1000) {
      state.secondStart = now
      state.secondCount = 0
    }
    state.secondCount++
    return probe
  }

  // Bookkeeping when an attempt succeeds. `held`: a stream, which keeps its
  // deployment busy until the consumer's stream ends.
  const settleSuccess = (state: State, startMillis: number, now: number, reply: unknown, held: boolean) => {
    if (!held) state.inFlight--
    Cooldown.onSuccess(state.breaker)
    state.latencyMillis = Strategy.ewma(state.latencyMillis, now - startMillis, alpha)
    const rateLimit = (reply as Partial<ChatResponse>).rateLimit
    if (rateLimit !== undefined) holdFor(state, rateLimit, now)
  }

  // Bookkeeping when an attempt fails; `error` is undefined when it was
  // interrupted or died, which counts neither way for the breaker.
  const settleFailure = (state: State, probe: boolean, now: number, error: LlmError | undefined) => {
    state.inFlight--
    if (error === undefined) return Cooldown.onNeutral(state.breaker, probe)
    state.failures++
    if (error._tag === "RateLimitError" && error.retryAfter !== undefined) {
      holdUntil(state, now + Duration.toMillis(error.retryAfter))
    }
    if (cooldownOn.has(error._tag)) Cooldown.onFailure(state.breaker, now, cooldown, probe)
    else Cooldown.onNeutral(state.breaker, probe)
  }

  const findFallback = (call: Call, deployment: string | undefined, from: string, tag: ErrorTag) => {
    for (const name of deployment === undefined || deployment === from ? [from] : [deployment, from]) {
      for (const fallback of fallbacks[name] ?? []) {
        if (!call.usedFallbacks.includes(fallback) && fallback.on.includes(tag)) return fallback
      }
    }
    return undefined
  }

  const unknownAddress = (name: string) =>
    Effect.fail(
      new ModelNotFoundError({
        provider,
        model: name,
        detail: `no deployment, group or model is named ${name}; known: ${[...addresses.keys()].join(", ")}`
      })
    )

  // One call: tries the address's deployments, then its fallbacks, until one
  // succeeds. A class rather than closures: nothing is allocated per call
  // beyond the instance.
  class Routing<A> implements Call {
    readonly address: string
    readonly attempts: Array<Attempt> = []
    readonly tried: Array<State> = []
    readonly usedFallbacks: Array<Fallback> = []
    minContext = 0
    last: Call["last"] = undefined
    members: ReadonlyArray<State>
    from: string
    /** The call's deadline (`Clock` milliseconds), set for each attempt as `Deadline.CallDeadline`. */
    deadlineAt = Infinity
    constructor(
      readonly request: ChatRequest,
      address: string,
      members: ReadonlyArray<State>,
      readonly send: Send<A>,
      readonly held: boolean,
      readonly clock: Clock.Clock,
      /** The fiber's `Random`: a seeded one reproduces every pick. */
      readonly random: Random.Random
    ) {
      this.address = address === "" ? "every deployment" : address
      this.members = members
      this.from = address
    }

    // The next attempt, picked at once: `Random` draws synchronously, so no
    // effect is needed per draw. Only ever called while the call runs (in
    // `run`'s callback or an attempt's continuation), so the clock it reads is
    // current.
    next(): Effect.Effect<A, LlmError> {
      return this.step(drawsRandom ? this.random.nextDoubleUnsafe() : 0)
    }

    step(u: number): Effect.Effect<A, LlmError> {
      const now = this.clock.currentTimeMillisUnsafe()
      if (now >= this.deadlineAt) return Effect.fail(this.timedOut())
      const candidates = usable(this.members, this, now)
      if (candidates.length === 0) {
        return this.fallBack(this.last?.state, this.last?.error ?? noneUsable(this, this.members, now))
      }
      const state = candidates.length === 1 ? candidates[0]! : candidates[pickIndex(candidates, u, this.request)]!
      this.tried.push(state)
      // The attempt's bookkeeping is settled however the attempt ends,
      // interrupted included; the attempt itself runs as the caller does.
      const attempt = Effect.acquireUseRelease(
        Effect.sync(() => enter(state, now)),
        () => Effect.provideService(this.send(state, this.routed(state)), Deadline.CallDeadline, this.deadlineAt),
        (probe, exit) =>
          Effect.sync(() => {
            const end = this.clock.currentTimeMillisUnsafe()
            if (exit._tag === "Success") settleSuccess(state, now, end, exit.value, this.held)
            else settleFailure(state, probe, end, exit.cause.reasons.find(Cause.isFailReason)?.error)
          })
      )
      return Effect.matchCauseEffect(attempt, {
        onFailure: (cause) => {
          const error = cause.reasons.find(Cause.isFailReason)?.error
          return error === undefined ? Effect.failCause(cause) : this.failed(state, error)
        },
        onSuccess: Effect.succeed
      })
    }

    // The request as the deployment gets it: with its model.
    routed(state: State): ChatRequest {
      return this.request.model === state.model ? this.request : { ...this.request, model: state.model }
    }

    failed(state: State, error: LlmError): Effect.Effect<A, LlmError> {
      record(this, state, error)
      if (this.clock.currentTimeMillisUnsafe() >= this.deadlineAt) return Effect.fail(this.timedOut())
      return retryOn.has(error._tag) ? this.next() : this.fallBack(state, error)
    }

    fallBack(failed: State | undefined, error: LlmError): Effect.Effect<A, LlmError> {
      const fallback = findFallback(this, failed?.name, this.from, error._tag)
      if (fallback === undefined) return Effect.fail(this.attempts.length === 0 ? error : withAttempts(error, this.attempts))
      this.usedFallbacks.push(fallback)
      if (error._tag === "ContextLengthError") {
        this.minContext = Math.max(this.minContext, failed?.contextWindow ?? error.contextWindow ?? 0)
      }
      this.from = fallback.to
      this.members = addresses.get(fallback.to)!
      return this.next()
    }

    timedOut(): LlmError {
      return withAttempts(
        new TimeoutError({
          provider,
          model: this.address,
          timeout: deadline,
          detail: "the call's deadline passed, every attempt and fallback included"
        }),
        this.attempts
      )
    }
  }

  // Starts a call under the deadline, with the fiber's clock and random
  // source. The deadline is the sooner of the router's own and the one the
  // call runs under (a router above this one), and each attempt runs under it
  // (`Deadline.CallDeadline`); it is checked between attempts. When a
  // deployment may not keep it, a timer bounds the call too. `restore`: the
  // caller runs the call in an uninterruptible region of its own (a stream,
  // until its source is handed out), and the timer waits as the caller does.
  const run = <A>(request: ChatRequest, send: Send<A>, held: boolean, restore?: Restore): Effect.Effect<A, LlmError> =>
    Effect.withFiber((fiber) => {
      const name = request.model ?? options.model ?? ""
      const members = request.model === undefined ? everyone : addresses.get(request.model)
      if (members === undefined) return unknownAddress(name)
      const clock = fiber.getRef(Clock.Clock)
      const routing = new Routing(request, name, members, send, held, clock, fiber.getRef(Random.Random))
      const inherited = fiber.getRef(Deadline.CallDeadline)
      routing.deadlineAt = Math.min(inherited, clock.currentTimeMillisUnsafe() + deadlineMillis)
      if (keepsDeadlines) return routing.next()
      const calls = Effect.suspend(() => routing.next())
      const bounded = Deadline.within(
        restore === undefined ? calls : Effect.uninterruptible(calls),
        deadline,
        inherited,
        () => routing.timedOut()
      )
      return restore === undefined ? bounded : restore(bounded)
    })

  const sendChat: Send<ChatResponse> = (state, routed) => state.llm.chat(routed)
  const chat = (request: ChatRequest): Effect.Effect<ChatResponse, LlmError> => run(request, sendChat, false)

  // A deployment's stream, read through its own pull (taken in a scope of the
  // attempt's, which holds what the stream holds) up to its first chunk, with
  // the deployment it holds until the stream is closed. Any `Llm` is read this
  // way: for one built by `Llm.make` or a router, the pull is its source's own.
  const openSend = (restore: Restore): Send<Opened> => (state, routed) => {
    const scope = Scope.makeUnsafe()
    return Effect.onError(
      Effect.map(
        restore(ChunkSources.openToFirst(state.llm.chatStream(routed), scope, () =>
          new StreamTruncatedError({ provider: state.provider, model: state.model, detail: "the stream ended before any chunk" }))),
        (pull): Opened => ({ pull, scope, state })
      ),
      (cause) => Scope.close(scope, Exit.failCause(cause))
    )
  }

  // The deployment's stream as the router gives it out: a Finish chunk's
  // rate-limit headers hold the deployment back, a failure after the first
  // chunk counts towards its cooldown, and closing frees the deployment and
  // closes the scope with the stream's outcome (what a budget charges by).
  const routedSource = ({ pull, scope, state }: Opened, clock: Clock.Clock): ChunkSources.ChunkSource => {
    let outcome: Exit.Exit<void, LlmError> = Exit.void
    return {
      pull: Effect.matchEffect(pull, {
        onFailure: (error) => {
          if (!Cause.isDone(error)) {
            outcome = Exit.fail(error)
            if (cooldownOn.has(error._tag)) {
              state.failures++
              Cooldown.onFailure(state.breaker, clock.currentTimeMillisUnsafe(), cooldown, false)
            }
          }
          return Effect.fail(error)
        },
        onSuccess: (chunk) => {
          for (const item of chunk) {
            if (item._tag === "Finish" && item.rateLimit !== undefined) holdFor(state, item.rateLimit, clock.currentTimeMillisUnsafe())
          }
          return Effect.succeed(chunk)
        }
      }),
      close: Effect.suspend(() => {
        state.inFlight--
        return Scope.close(scope, outcome)
      })
    }
  }

  // The call runs in this region (each deployment's stream opened through its
  // `restore`), so no interruption lands between a stream opened and the
  // source handed out.
  const openSource = (request: ChatRequest): Effect.Effect<ChunkSources.ChunkSource, LlmError> =>
    Effect.clockWith((clock) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.map(run(request, openSend(restore), true, restore), (opened) => routedSource(opened, clock))
      )
    )

  const chatStream = (request: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
    ChunkSources.streamFromSource(openSource(request))

  // Embeddings go the same way as a chat with the same model: addressed,
  // picked, retried elsewhere and fallen back by the same rules, with the
  // embedding request sent as it is (its model the deployment's). It weighs
  // nothing for lowest cost or a budget: `Pricing` prices chat tokens only.
  const embed = (request: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError> => {
    const asChat: ChatRequest = request.model === undefined ? { messages: [] } : { messages: [], model: request.model }
    const sendEmbedding: Send<EmbeddingResponse> = (state) =>
      state.llm.embed(request.model === state.model ? request : { ...request, model: state.model })
    return run(asChat, sendEmbedding, false)
  }

  const status = Effect.clockWith((clock) =>
    Effect.map(
      Effect.all([
        Effect.forEach(states, (state) =>
          Effect.all([
            state.keyPool === undefined ? Effect.succeed(undefined) : state.keyPool.status,
            state.limiter === undefined ? Effect.succeed(undefined) : state.limiter.status
          ])),
        options.ledger === undefined ? Effect.succeed(undefined) : options.ledger.totals,
        options.budget === undefined ? Effect.succeed([]) : options.budget.status
      ]),
      ([snapshots, totals, limits]): Status => {
        const now = clock.currentTimeMillisUnsafe()
        const details: Record<string, DeploymentLoad> = {}
        let concurrency = 0
        let qps = 0
        let used = 0
        states.forEach((state, i) => {
          const [keys, limiter] = snapshots[i]!
          const spend = totals === undefined ? null : totals.byDeployment[state.name]?.cost ?? 0
          const load = deploymentLoad(state, keys, limiter, now, spend, limits)
          details[state.name] = load
          if (load.max === null) return
          if (load.type === "concurrency") concurrency += load.max
          else qps += load.max
          used += load.current
        })
        const total = concurrency + qps
        return {
          load_percent: total === 0 ? 0 : Math.round((used / total) * 10_000) / 100,
          total_max: { concurrency, qps },
          details
        }
      }
    )
  )

  // A router keeps the deadline it runs under too, so it can be a deployment of another router.
  const service: Service = { chat, chatStream, embed, status, [Deadline.KeepsDeadline]: true }
  return service
}

const deploymentLoad = (
  state: State,
  keys: ReadonlyArray<KeyPool.KeyStatus> | undefined,
  limiter: RateLimiter.Status | undefined,
  now: number,
  spend: number | null,
  limits: ReadonlyArray<Budget.LimitStatus>
): DeploymentLoad => {
  const keyCaps = keys?.map((key) => key.maxConcurrency)
  const keyCap = keyCaps !== undefined && keyCaps.length > 0 && keyCaps.every((cap) => cap !== undefined)
    ? keyCaps.reduce((sum: number, cap) => sum + cap!, 0)
    : undefined
  const concurrencyCap = limiter?.maxConcurrency ?? keyCap
  const rate = limiter !== undefined && Number.isFinite(limiter.refillRate) ? limiter.refillRate : undefined
  const qps = concurrencyCap === undefined && rate !== undefined
  const breaker = state.breaker
  return {
    type: qps ? "qps" : "concurrency",
    current: qps ? (now - state.secondStart < 1000 ? state.secondCount : 0) : state.inFlight,
    max: qps ? rate! : concurrencyCap ?? null,
    weight: state.weight,
    keys: (keys ?? []).map((key) => ({
      key: key.keyId,
      weight: key.weight,
      current: key.inFlight,
      max: key.maxConcurrency ?? null,
      cooling_until: key.coolingUntil ?? null,
      disabled: key.disabled ?? null
    })),
    provider: state.provider,
    model: state.model,
    groups: state.groups,
    in_flight: state.inFlight,
    requests: state.requests,
    failures: state.failures,
    cooldown: {
      state: breaker.state === "open" && now >= breaker.openUntil ? "half-open" : breaker.state,
      until: breaker.state === "open" && now < breaker.openUntil ? breaker.openUntil : null,
      recent_failures: breaker.recent.length
    },
    limited_until: state.limitedUntil > now ? state.limitedUntil : null,
    rate_limited: state.rateLimited,
    latency_ms: state.latencyMillis === undefined ? null : Math.round(state.latencyMillis * 100) / 100,
    rate_limit: limiter ?? null,
    spend,
    budgets: limits.filter((limit) =>
      limit.scope === Budget.overall || limit.scope === state.name || state.groups.includes(limit.scope)
    )
  }
}

/**
 * Builds the router in the current scope: each deployment's layer is built
 * once, here. Invalid options (no deployments, a name listed twice, a weight
 * that is not > 0, a fallback or `model` naming nothing, `exploration`,
 * `latencyAlpha` or `cooldown.failures` out of range) are a defect whose
 * message names the problem.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = <D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Effect.Effect<Service, Layer.Error<D["llm"]>, Layer.Services<D["llm"]> | Scope.Scope> =>
  Effect.suspend(() => {
    const problem = invalid(options as Options)
    if (problem !== undefined) return Effect.die(new Error(problem))
    return Effect.map(
      Effect.forEach(options.deployments, (deployment) =>
        Effect.map(
          Layer.build(deployment.llm as Layer.Layer<Llm.Llm, Layer.Error<D["llm"]>, Layer.Services<D["llm"]>>),
          (context) => ({ deployment, context })
        )),
      (built) => makeService(options as Options, built)
    )
  })

/**
 * The router as `Llm` (and as `Router`, for `status`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = <D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Layer.Layer<Llm.Llm | Router, Layer.Error<D["llm"]>, Layer.Services<D["llm"]>> =>
  Layer.effectContext(
    Effect.map(make(options), (service) => Context.make(Llm.Llm, service).pipe(Context.add(Router, service)))
  )

/**
 * Router options built from a `provider.json`: every model of every provider
 * is a deployment named `provider/model_name`, with its `weight`, `groups` and
 * `context_window`. All of them share one key-pool registry, so the models of
 * a provider share its keys.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Effect.Effect<Options<Deployment<never, HttpClient.HttpClient>>> =>
  Effect.map(ProviderConfig.deployments(config), (deployments) => ({
    ...options,
    deployments: deployments.map(({ layer, settings }) => {
      const { entry, provider } = settings
      const price = ProviderConfig.priceOf(settings)
      return {
        name: `${provider}/${entry.model_name}`,
        model: entry.model_name,
        provider,
        llm: layer,
        ...(entry.weight !== undefined ? { weight: entry.weight } : {}),
        ...(entry.context_window !== undefined ? { contextWindow: entry.context_window } : {}),
        ...(entry.groups !== undefined ? { groups: entry.groups } : {}),
        ...(price !== undefined ? { price } : {})
      }
    })
  }))

/**
 * A router over every model of a `provider.json` (see `fromConfig`).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Layer.Layer<Llm.Llm | Router, never, HttpClient.HttpClient> =>
  Layer.unwrap(Effect.map(fromConfig(config, options), layer))
