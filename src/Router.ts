/**
 * An `Llm` made of several deployments (each an `Llm` of its own: a provider, a model, keys and limits), which picks
 * one per call, falls back to others when a call fails, and cools failing deployments down. It is provided under the
 * `Llm` Tag, so an application swaps a single `Llm` for a router without changing a line:
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
 * }).pipe(Layer.provide(Router.layerStoreMemory))
 * Llm.chat({ model: "fast", messages: [Message.user("Hi")] }).pipe(Effect.provide(router))
 * ```
 *
 * A request's `model` names a deployment, a group (`groups`) or a model. A stream opens with a `ChatChunk.Start` chunk
 * naming the deployment and model that answer. A router requires its stores (breakers, learned limits, session pins):
 * `layerStoreMemory`, this process's alone, or `layerStoreRedis`, shared by the instances on one Redis. docs/router.md
 * says how picking, failover, cooldowns, mid-stream failures, hedging and affinity work; docs/telemetry.md, its spans.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Budget from "./Budget.js"
import * as internal from "./internal/router/service.js"
import * as StoresMemory from "./internal/router/stores/memory.js"
import * as StoresRedis from "./internal/router/stores/redis/layer.js"
import * as Tags from "./internal/router/stores/tags.js"
import * as Llm from "./Llm.js"
import type { LlmError } from "./LlmError.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Pricing from "./Pricing.js"
import type * as ProviderConfig from "./ProviderConfig.js"
import type * as RateLimiter from "./RateLimiter.js"
import type * as Store from "./Store.js"
import type * as UsageLedger from "./UsageLedger.js"

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
 * One deployment: an `Llm` serving one model, with how the router treats it. `llm` may provide `KeyPool` and
 * `RateLimiter` as well (as `ProviderConfig`'s deployments do); when it does, `status` reports its keys and its bucket.
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
  /**
   * Share of `weighted` picks relative to the other deployments (the seed's `model_weight`).
   * Default 1; must be > 0.
   */
  readonly weight?: number
  /** The context window in tokens, for `ContextLengthError` fallbacks. Default: unknown. */
  readonly contextWindow?: number
  /** Group names that address this deployment (`"fast"`, `"smart"`). Default none. */
  readonly groups?: ReadonlyArray<string>
  /** The price, for `lowest-cost` and budget estimates. Default: the built-in price of `model` (`Pricing.lookup`). */
  readonly price?: Pricing.Price
  /**
   * Whether the deployment goes on from a last assistant message (an assistant prefill, as Anthropic's API does): how
   * `midStream: "continue"` resumes a broken stream; one that refuses it (400) gets a continuation turn instead.
   * Default: its layer's `ProviderClient.prefill`, else false.
   * (`OpenAiChat.Options.prefill` sets it for the compatible servers that need their vendor's flags: vLLM, DeepSeek.)
   */
  readonly prefill?: boolean
}

/**
 * Where a call goes when its address fails with one of `on`, or has no deployment usable now (`NoCapacityError`:
 * breakers open, keys cooling, rate-limit holds) whatever `on` lists: a deployment, group or model name.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Fallback {
  readonly to: string
  readonly on: ReadonlyArray<ErrorTag>
}

/**
 * When a deployment's breaker opens, for how long, and which errors count (docs/router.md, "Cooldowns").
 *
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
   * The errors that count against a deployment. Default: `ProviderUnavailableError`, `TimeoutError`,
   * `TransportError`, `StreamTruncatedError`, `AuthError`, `ModelNotFoundError`, `NoCapacityError` (errors of the
   * request itself, such as `InvalidRequestError` or `ContextLengthError`, say nothing of the deployment's health).
   */
  readonly on?: ReadonlyArray<ErrorTag>
}

/**
 * How a router learns each deployment's stream limits (`Options.learnedLimits`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface LearnedLimitsOptions {
  /** The quantile of the recent samples a limit starts from, in (0, 1]. Default 0.99. */
  readonly quantile?: number
  /** What the quantile is multiplied by, at least 1. Default 4. */
  readonly factor?: number
  /** The shortest learned limit. Default 2 seconds. */
  readonly floor?: Duration.Input
  /** The streams seen before a limit is learned. Default 20. */
  readonly minSamples?: number
  /** The recent streams a limit is learned from, at least `minSamples`. Default 200. */
  readonly window?: number
  /**
   * The first-token limit of a deployment's stream before its own is learned, while another deployment or a fallback
   * could take the call (the last one left is never cut by it); `false`: none. Default 15 seconds, as a chat model's
   * first token comes within a few: set it higher for reasoning models that stream nothing until they answer.
   *
   * @since 0.3.0
   */
  readonly initialFirstToken?: Duration.Input | false
}

/**
 * Session affinity (`Options.affinity`): how long a session stays pinned and how many sessions are kept.
 *
 * @since 0.3.0
 * @category Models
 */
export interface AffinityOptions {
  /** How long after its last answer a session stays pinned. Default 5 minutes. */
  readonly ttl?: Duration.Input
  /** In memory: the most sessions kept, the least recently answered dropped first. Default 10,000. */
  readonly maxSessions?: number
}

/**
 * The router's deployments and how it treats them; only `deployments` is required.
 *
 * @example
 * ```ts
 * import type { Router } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const options: Router.Options = {
 *   deployments: [
 *     { name: "a", model: "model-a", llm: LlmTest.layer([LlmTest.reply("from a")]), groups: ["fast"] },
 *     { name: "b", model: "model-b", llm: LlmTest.layer([LlmTest.reply("from b")]), groups: ["smart"] }
 *   ],
 *   strategy: "least-busy",
 *   fallbacks: { fast: [{ to: "smart", on: ["ProviderUnavailableError"] }] },
 *   cooldown: { failures: 3, window: "1 minute", period: "30 seconds" },
 *   deadline: "2 minutes"
 * }
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options<D extends Deployment<unknown, unknown> = Deployment<unknown, unknown>> {
  /** At least one; `priority` follows this order. */
  readonly deployments: ReadonlyArray<D>
  /** Default `"weighted"`. */
  readonly strategy?: StrategyName
  /** Fallbacks by deployment, group or model name, tried in order. Default none. */
  readonly fallbacks?: Readonly<Record<string, ReadonlyArray<Fallback>>>
  /**
   * Errors after which another deployment of the same address is tried before any fallback. Default:
   * `RateLimitError`, `ProviderUnavailableError`, `TimeoutError`, `TransportError`, `NoCapacityError`,
   * `StreamTruncatedError`, `OutputDecodeError` (a reply cut or garbled on the way, or output that fails its
   * schema, which another deployment may get right), `AuthError`, `BudgetExceededError`.
   */
  readonly retryOn?: ReadonlyArray<ErrorTag>
  /** The breaker of each deployment; each field has its own default. */
  readonly cooldown?: CooldownOptions
  /**
   * One bound on a call with every attempt and fallback (for a stream: each opening, to its first chunk). Default 10
   * minutes.
   */
  readonly deadline?: Duration.Input
  /** `lowest-latency`: the weight of the newest latency in the mean. Default 0.3. */
  readonly latencyAlpha?: number
  /** `lowest-latency`: the share of picks spread uniformly. Default 0.05. */
  readonly exploration?: number
  /** The address of requests that name no model. Default: every deployment. */
  readonly model?: string
  /** `lowest-cost` and budget estimates: the reply tokens to count for requests without `maxTokens`. Default 256. */
  readonly replyTokens?: number
  /**
   * Spend limits: each attempt is checked against the limits of `overall`, of its deployment's name and of its groups
   * before it is sent (`Budget.guarded`), and fails with `BudgetExceededError` when it would pass one (another
   * deployment is then tried). Default: none.
   */
  readonly budget?: Budget.Service
  /** Records each call's usage and cost under its deployment's name (`UsageLedger.tracked`). Default: none. */
  readonly ledger?: UsageLedger.Service
  /**
   * A stream broken after its first chunk: `"restart"` sends the request on by the call's rules (`retryOn`,
   * fallbacks) behind a `ChatChunk.Restart` chunk (`collect` keeps what follows it); `"continue"` asks the next
   * deployment to go on from exactly the text already sent (`Deployment.prefill`, else a continuation turn) behind a
   * `ChatChunk.Continue` chunk, its usage counting both attempts, and fails a stream broken in a tool call or whose
   * reply was whole; `"fail"` fails the stream. Default `"restart"` (the gateway's: `"continue"`).
   */
  readonly midStream?: "restart" | "continue" | "fail"
  /**
   * With no answer (for a stream, no first chunk) after `after`, the next usable deployment of the address is tried
   * too; the first to answer wins, the other is interrupted (key and permit freed, nothing billed). A failure before
   * `after` fails over at once. Default: off.
   */
  readonly hedge?: { readonly after: Duration.Input }
  /**
   * First-token and idle limits learned from each deployment's own streams; each attempt keeps the sooner of these and
   * its adapter's own, so a usually fast provider is left in seconds when it goes silent, and a slow one is never cut
   * sooner than its history says. Unstreamed calls keep their adapter's limits (an unstreamed reply's wait grows with
   * its length). `false` turns learning off. Default: on, with the defaults of `LearnedLimitsOptions`.
   */
  readonly learnedLimits?: LearnedLimitsOptions | false
  /**
   * The longest a `Retry-After` or rate-limit headers hold a deployment back (not a day for 86400). Default 5 minutes.
   */
  readonly maxHold?: Duration.Input
  /**
   * With every deployment of the address held back by a rate limit (keys cooling, a `Retry-After`), a call waits for
   * the first to be free when that is within this, else fails with `NoCapacityError` (its `availableAt` says when).
   * Default: 5 seconds, as an `Llm`'s.
   */
  readonly maxRateLimitWait?: Duration.Input
  /**
   * How long in all a deployment's own retries (its `Llm`'s retry policy) may wait while the router has somewhere else
   * to go for the failure (another deployment, a fallback); a longer retry is left to the router, which moves on at
   * once. Default: 1 second, the default policy's first retry and no more, so a fallback answers within about a second.
   *
   * @since 0.3.0
   */
  readonly maxRetryWait?: Duration.Input
  /**
   * Where the router keeps its breakers, learned limits and pins in its stores: routers naming the same key of one
   * store share them for the deployments they name alike, in memory as in Redis. Default `"router"`: give each router
   * its own key to keep them apart.
   *
   * @since 0.3.0
   */
  readonly key?: string | undefined
  /**
   * Shares the breakers and rate-limit holds, per deployment name, with every router of the same `store` and `key`
   * (default `"router"`): a deployment one instance sees failing cools for all, one instance probes it
   * (docs/store.md). Default: in memory.
   *
   * @deprecated since 0.3.0: provide `layerStoreRedis(store)` and give `key`. Removed in 0.4.0.
   */
  readonly shared?: { readonly store: Store.Store | Store.Options; readonly key?: string } | undefined
  /**
   * Session affinity: a call with a `session` (`ChatRequest.session`) goes first to the deployment and key that
   * answered the session's last call, while usable and within `ttl`, so the provider's prompt cache stays warm.
   * Failover is unchanged, and the session is pinned to wherever the call is answered. `true`: the defaults of
   * `AffinityOptions`. Default: off.
   */
  readonly affinity?: boolean | AffinityOptions | undefined
}

/**
 * One key of a deployment, as LLM-API-BalancedCall's `system-capacity` lists it (`key`, `weight`, `current`), masked.
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
 * One deployment as LLM-API-BalancedCall's `model-load` returns a model (`type`, `current`, `max`, `weight`, `keys`),
 * plus the router's own fields.
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
  /**
   * Where its calls go, and so its keys (the root its layer's client sends to, `ProviderClient.baseUrl`, without
   * credentials); `null` when its layer does not say.
   *
   * @since 0.3.0
   */
  readonly endpoint: string | null
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
  /**
   * Its streams' learned limits (`Options.learnedLimits`) in milliseconds, each `null` until learned, and the streams
   * they are learned from; `null` when learning is off.
   */
  readonly learnedLimits: {
    readonly firstTokenMillis: number | null
    readonly idleMillis: number | null
    readonly streams: number
  } | null
  /** The deployment's request bucket, when its layer provides its `RateLimiter`. */
  readonly rateLimit: RateLimiter.Status | null
  /** US dollars spent through this deployment (priced calls), when the router has a `ledger`; else `null`. */
  readonly spend: number | null
  /** Sessions pinned to it now (`Options.affinity`); `null` without affinity. */
  readonly pinnedSessions: number | null
  /**
   * The budget limits this deployment's calls count against (`overall`, its name, its groups), when the router has a
   * `budget`.
   */
  readonly budgets: ReadonlyArray<Budget.LimitStatus>
}

/**
 * The whole router: `system-load`'s `load_percent` (`loadPercent`) and `system-capacity`'s `total_max` (`totalMax`)
 * and `details` in one value; `details[name]` is what `model-load` returns for that deployment.
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

/**
 * The router: an `Llm` (its calls routed over the deployments) with its `status`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service extends Llm.Service {
  readonly status: Effect.Effect<Status>
  /**
   * The deployments whose cloud credential (`ProviderClient.credential`) gives no token now, by name, each with its
   * `AuthError` detail (the credential tried, never a secret); deployments that send keys are not asked. A credential
   * that gave nothing is not asked again for 5 seconds (on the `Clock`), so a readiness probe (a gateway's `/ready`)
   * answers at once.
   *
   * @since 0.3.0
   */
  readonly unavailableCredentials: Effect.Effect<Readonly<Record<string, string>>>
}

/**
 * The router itself, for `status`; `layer` provides it along with `Llm`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, Router } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const router = yield* Router.Router
 *   const reply = yield* router.chat({ model: "smart", messages: [Message.user("Hi")] })
 *   const { loadPercent } = yield* router.status
 *   return { text: reply.text, loadPercent }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class Router extends Context.Service<Router, Service>()("effect-llm-router/Router") {}

/**
 * The router's status now (see `Status`).
 *
 * @example
 * ```ts
 * import { Console, Effect } from "effect"
 * import { Router } from "effect-llm-router"
 *
 * const report = Effect.gen(function*() {
 *   const { details, loadPercent } = yield* Router.status
 *   yield* Console.log(`load ${loadPercent}%`)
 *   for (const [name, load] of Object.entries(details)) {
 *     yield* Console.log(`${name}: ${load.inFlight} in flight, cooldown ${load.cooldown.state}`)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const status: Effect.Effect<Status, never, Router> = Router.use((router) => router.status)

/**
 * Builds the router in the current scope, each deployment's layer once, over the stores it requires (`Stores`; none
 * with the deprecated `shared`). Invalid options (no deployments, a name listed twice, a weight that is not > 0, a
 * fallback or `model` naming nothing, `exploration`, `latencyAlpha` or `cooldown.failures` out of range, an unknown
 * `midStream`, a `hedge.after` that is not a duration) fail with `OptionsError`, which names the option and the value.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, Router } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const router = yield* Router.make({
 *       deployments: [
 *         { name: "a", model: "model-a", llm: LlmTest.layer([LlmTest.reply("from a")]) },
 *         { name: "b", model: "model-b", llm: LlmTest.layer([LlmTest.reply("from b")]) }
 *       ],
 *       strategy: "priority"
 *     })
 *     const reply = yield* router.chat({ messages: [Message.user("Hi")] }) // reply.text: "from a"
 *     return { reply, status: yield* router.status }
 *   })
 * ).pipe(Effect.provide(Router.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function make<D extends Deployment<unknown, unknown>>(
  options: Options<D> & { readonly shared: NonNullable<Options["shared"]> }
): Effect.Effect<Service, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Scope.Scope>
export function make<D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Effect.Effect<Service, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Scope.Scope | Stores>
export function make<D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Effect.Effect<Service, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Scope.Scope | Stores> {
  return internal.make(options)
}

/**
 * The router as `Llm` (and as `Router`, for `status`): the application's code is the same as with a single `Llm`. It
 * requires its stores, as `make` does.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Llm, Message, Router } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const router = Router.layer({
 *   deployments: [
 *     { name: "mini-a", model: "gpt-4o-mini", llm: LlmTest.layer([LlmTest.reply("a")]), weight: 3, groups: ["fast"] },
 *     { name: "mini-b", model: "gpt-4o-mini", llm: LlmTest.layer([LlmTest.reply("b")]), weight: 1, groups: ["fast"] }
 *   ]
 * }).pipe(Layer.provide(Router.layerStoreMemory))
 * const reply = Llm.chat({ model: "fast", messages: [Message.user("Hi")] }).pipe(Effect.provide(router))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export function layer<D extends Deployment<unknown, unknown>>(
  options: Options<D> & { readonly shared: NonNullable<Options["shared"]> }
): Layer.Layer<Llm.Llm | Router, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]>>
export function layer<D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Layer.Layer<Llm.Llm | Router, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Stores>
export function layer<D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Layer.Layer<Llm.Llm | Router, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Stores> {
  return Layer.effectContext(
    Effect.map(make(options), (service) => Context.make(Llm.Llm, service).pipe(Context.add(Router, service)))
  )
}

/**
 * A breaker's state (`DeploymentLoad.cooldown.state`): `closed` lets calls through, `open` skips the deployment until
 * its period is over, `half-open` lets one call (the probe) through.
 *
 * @since 0.3.0
 * @category Stores
 */
export type BreakerState = "closed" | "open" | "half-open"

/**
 * A deployment's breaker in a `BreakerStore`: under `key`, with the router's cooldown rules (`CooldownOptions`) in
 * milliseconds. Breakers under one key of one store are one breaker.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface BreakerOptions {
  readonly key: string
  /** Failures within `windowMillis` that open the breaker. */
  readonly failures: number
  readonly windowMillis: number
  /** How long an open breaker stays open before its probe may go. */
  readonly periodMillis: number
}

/**
 * What a breaker's store says after a step, its times in milliseconds from the store's now (each router sets its own
 * clock's deadlines from them, whatever the instances' clocks say).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface BreakerReply {
  readonly state: BreakerState
  /** While open: how long until the probe may go; else 0. */
  readonly openMillis: number
  /** While half-open: whether a probe is out. */
  readonly probing: boolean
  /** While closed: the failures counted in the window; else 0. */
  readonly failures: number
  /** How long a rate limit holds the deployment back; 0 when none does. */
  readonly heldMillis: number
  /** `send`'s answer: whether the attempt may go (the probe taken, or no breaker in the way); true after the others. */
  readonly granted: boolean
}

/**
 * A deployment's breaker: its atomic steps, each answering the state it leaves. A step never fails: a breaker only
 * spares a failing deployment, so a backend that cannot reach its server answers from memory (`layerStoreRedis`).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Breaker {
  /** An attempt goes out: refused while open, or half-open with the probe out; once the period is over, takes it. */
  readonly send: Effect.Effect<BreakerReply>
  /** A success: closes the breaker and forgets its failures. */
  readonly success: Effect.Effect<BreakerReply>
  /** A failure that counts: `failures` within the window open the breaker; the probe's (`probe`) opens it again. */
  readonly failure: (probe: boolean) => Effect.Effect<BreakerReply>
  /** A probe that ended with no verdict (interrupted, or an error that is the caller's): the next call may probe. */
  readonly release: Effect.Effect<BreakerReply>
  /** A rate limit holds the deployment back for `millis` more (the longer of this and a hold already set). */
  readonly hold: (millis: number) => Effect.Effect<BreakerReply>
  /** The breaker as it is, unchanged. */
  readonly peek: Effect.Effect<BreakerReply>
}

/**
 * Where routers keep their deployments' breakers and rate-limit holds (`layerStoreMemory`, `layerStoreRedis`), under
 * `Options.key` and the deployment's name. A router reads them from a mirror of the store's last answer, so a closed
 * breaker with no failure costs no step; a store other processes write (`shared: true`) is read four times a second.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Router.BreakerStore
 *   const breaker = yield* store.breaker({
 *     key: "router:openai",
 *     failures: 3,
 *     windowMillis: 60_000,
 *     periodMillis: 30_000
 *   })
 *   yield* breaker.failure(false)
 *   return yield* breaker.peek // { state: "closed", failures: 1, ... }
 * }).pipe(Effect.provide(Router.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Stores
 */
export const BreakerStore: typeof Tags.BreakerStore = Tags.BreakerStore

/**
 * @since 0.3.0
 * @category Stores
 */
export type BreakerStore = Tags.BreakerStore

/**
 * Where a session's calls go first (`Options.affinity`): the deployment that answered its last call, and the key it
 * took there.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Pin {
  readonly deployment: string
  /** The key's masked id (`KeyPool.KeyStatus.keyId`); undefined when the deployment's layer names none. */
  readonly key: string | undefined
}

/**
 * A router's pins in an `AffinityStore`: under `key`, each living `ttlMillis` after its last answer; in memory, at
 * most `maxSessions` (the least recently answered dropped first); `counts` over `deployments`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface PinsOptions {
  readonly key: string
  readonly ttlMillis: number
  readonly maxSessions: number
  readonly deployments: ReadonlyArray<string>
}

/**
 * A router's sessions' pins, kept under each session's SHA-256 digest, never the session itself. A step never fails:
 * a pin only saves cost, so a backend that cannot reach its server keeps them in memory (`layerStoreRedis`).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Pins {
  /** The session's pin, while it lives. */
  readonly lookup: (session: string) => Effect.Effect<Pin | undefined>
  /** Pins the session for another time to live. */
  readonly pin: (session: string, pin: Pin) => Effect.Effect<void>
  /** The sessions pinned now, by deployment name (a deployment with none is absent). */
  readonly counts: Effect.Effect<ReadonlyMap<string, number>>
}

/**
 * Where routers keep their sessions' pins (`Options.affinity`): `layerStoreMemory`, `layerStoreRedis`. Routers over
 * the same deployments naming one key of one store share their pins. Without one in context, a router keeps its pins
 * in memory of its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Router.AffinityStore
 *   const pins = yield* store.pins({ key: "router", ttlMillis: 300_000, maxSessions: 10_000, deployments: ["a", "b"] })
 *   yield* pins.pin("session-1", { deployment: "a", key: undefined })
 *   return yield* pins.lookup("session-1") // { deployment: "a", key: undefined }
 * }).pipe(Effect.provide(Router.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Stores
 */
export const AffinityStore: typeof Tags.AffinityStore = Tags.AffinityStore

/**
 * @since 0.3.0
 * @category Stores
 */
export type AffinityStore = Tags.AffinityStore

/**
 * A phase of a stream whose times a deployment's learned limits come from (`Options.learnedLimits`): the time to its
 * first chunk (`"firstChunk"`) and its longest wait between chunks (`"gap"`).
 *
 * @since 0.3.0
 * @category Stores
 */
export type StreamPhase = "firstChunk" | "gap"

/**
 * A deployment's stream samples in a `LearnedLimitStore`: under `key`, each phase's latest `window` samples, whose
 * `quantile` is answered once `minSamples` are in. Samples under one key of one store are one set: routers sharing a
 * key give the same options (a router's come from its `Options.learnedLimits`).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface SamplesOptions {
  readonly key: string
  /** In (0, 1]. */
  readonly quantile: number
  readonly minSamples: number
  /** At least `minSamples`. */
  readonly window: number
}

/**
 * What a store says of one phase's samples: how many it keeps (at most the window), and their quantile in
 * milliseconds once `minSamples` are in (the sample at `ceil(quantile * count)` in order); undefined before.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface PhaseSamples {
  readonly count: number
  readonly quantile: number | undefined
}

/**
 * What a deployment's samples are after a step: both phases'.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface SamplesReply {
  readonly firstChunk: PhaseSamples
  readonly gap: PhaseSamples
}

/**
 * A deployment's stream samples: its atomic steps, each answering both phases. A step never fails: a learned limit
 * only cuts a silent stream sooner, so a backend that cannot reach its server answers from memory
 * (`layerStoreRedis`).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Samples {
  /** One stream's sample of `phase`, in milliseconds: the oldest of a full window leaves it. */
  readonly add: (phase: StreamPhase, millis: number) => Effect.Effect<SamplesReply>
  /** The samples as they are, unchanged. */
  readonly peek: Effect.Effect<SamplesReply>
}

/**
 * Where routers keep what their deployments' streams taught them (`Options.learnedLimits`; `layerStoreMemory`,
 * `layerStoreRedis`), under `Options.key` and the deployment's name. A stream does not wait for its samples to be
 * stored; a store other processes write (`shared: true`) is read every second, so routers on one Redis learn from
 * every instance's streams.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Router.LearnedLimitStore
 *   const samples = yield* store.samples({ key: "router:openai", quantile: 0.5, minSamples: 1, window: 200 })
 *   yield* samples.add("firstChunk", 800)
 *   return yield* samples.peek // { firstChunk: { count: 1, quantile: 800 }, gap: { count: 0, quantile: undefined } }
 * }).pipe(Effect.provide(Router.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Stores
 */
export const LearnedLimitStore: typeof Tags.LearnedLimitStore = Tags.LearnedLimitStore

/**
 * @since 0.3.0
 * @category Stores
 */
export type LearnedLimitStore = Tags.LearnedLimitStore

/**
 * The stores a router requires (`make`, `layer`): `layerStoreMemory` or `layerStoreRedis` provides all three.
 *
 * @since 0.3.0
 * @category Stores
 */
export type Stores = BreakerStore | LearnedLimitStore | AffinityStore

/**
 * The router's three stores in this process's memory, on the `Clock` (`TestClock` drives the breakers' periods).
 * Routers given the same `key` (or none: `"router"`) share the breakers and learned limits of the deployments they
 * name alike; each build of the layer is a store of its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * // Two routers of one process: a deployment one sees failing cools down for both.
 * const deployments = [{ name: "a", model: "model-a", llm: LlmTest.layer([LlmTest.reply("from a")]) }]
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const first = yield* Router.make({ deployments, key: "main" })
 *   const second = yield* Router.make({ deployments, key: "main" })
 *   return [first, second] as const
 * })).pipe(Effect.provide(Router.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreMemory: Layer.Layer<Stores> = Layer.effectContext(
  Effect.sync(() =>
    Context.make(BreakerStore, StoresMemory.breakerStore()).pipe(
      Context.add(AffinityStore, StoresMemory.affinityStore()),
      Context.add(LearnedLimitStore, StoresMemory.learnedLimitStore())
    )
  )
)

/**
 * The router's three stores in a shared `Store` (Redis): the routers of every instance giving the same `key` share
 * each deployment's breaker (a deployment one instance sees failing cools for all), learned limits and session pins.
 * While Redis is away each instance keeps its own in memory, whatever the store's `onUnavailable` (they spare failing
 * deployments, silent streams and cold caches, never a limit), until a step succeeds there again. Samples not added
 * for a week are dropped.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Router, Store } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* Store.make({ redis: "redis://127.0.0.1:6379" })
 *   return yield* Router.make({
 *     deployments: [{ name: "a", model: "model-a", llm: LlmTest.layer([LlmTest.reply("from a")]) }],
 *     affinity: true
 *   }).pipe(Effect.provide(Router.layerStoreRedis(store)))
 * }))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreRedis = (
  store: Store.Store
): Layer.Layer<Stores> => StoresRedis.layer(store)

// The configuration side builds routers from provider.json (`ProviderConfig`); the deprecated entry points below load
// it when called, so this module never imports it.
const configSide = Effect.promise(() => import("./internal/providerConfig/routerOptions.js"))

/**
 * Router options built from a provider.json.
 *
 * @deprecated since 0.3.0: use `ProviderConfig.routerOptions`, which this calls. Removed in 0.4.0.
 * @since 0.1.0
 * @category Constructors
 */
export const fromConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Effect.Effect<Options<Deployment<OptionsError, HttpClient.HttpClient>>> =>
  Effect.flatMap(configSide, (side) => side.routerOptions(config, options))

/**
 * A router over every model of a provider.json.
 *
 * @deprecated since 0.3.0: use `ProviderConfig.routerLayer`, which this calls. Removed in 0.4.0.
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: ProviderConfig.ProviderConfig,
  options?: Omit<Options, "deployments">
): Layer.Layer<Llm.Llm | Router, OptionsError, HttpClient.HttpClient> =>
  Layer.unwrap(Effect.map(configSide, (side) => side.routerLayer(config, options)))

/**
 * Router options for the router `name` of a provider.json's `router` section.
 *
 * @deprecated since 0.3.0: use `ProviderConfig.namedRouterOptions`, which this calls. Removed in 0.4.0.
 * @since 0.1.0
 * @category Constructors
 */
export const fromConfigNamed = (
  config: ProviderConfig.ProviderConfig,
  name: string
): Effect.Effect<Options<Deployment<OptionsError, HttpClient.HttpClient>>, ProviderConfig.ProviderConfigError> =>
  Effect.flatMap(configSide, (side) => side.namedRouterOptions(config, name))
