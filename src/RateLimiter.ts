/**
 * A token bucket that paces calls to a provider, an optional cap on calls in flight, and an optional tokens-per-minute
 * budget. In every window of length `t` it admits at most `capacity + refillRate * t` tokens, however many fibers call
 * it. Waiters are served strictly in arrival order, so a large request is never starved by small ones that arrived
 * after it. Time is read only through Effect's `Clock`, so `TestClock` drives it in tests.
 *
 * A limiter requires its two stores, `BucketStore` and `SlotStore`: `layerStoreMemory`, this process's alone, or
 * `layerStoreRedis`, for limits shared by every instance (docs/store.md).
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as ChatRequest from "./ChatRequest.js"
import { formatDuration } from "./internal/llmError/describe.js"
import * as Invalid from "./internal/optionsError.js"
import { uniqueId } from "./internal/persistence/uniqueId.js"
import { estimatedPromptTokens } from "./internal/promptSize.js"
import * as Internal from "./internal/rateLimiter/limiter.js"
import * as Memory from "./internal/rateLimiter/memory.js"
import * as Redis from "./internal/rateLimiter/redis/layer.js"
import { viaShared } from "./internal/store/deprecatedShared.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Store from "./Store.js"

/**
 * How to build a limiter.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** Tokens the bucket holds, the largest burst. A positive finite number; the bucket starts full. */
  readonly capacity: number
  /** Tokens added per second. A positive finite number. */
  readonly refillRate: number
  /** The most `consume` scopes open at once, a positive integer. Default: no cap. */
  readonly maxConcurrency?: number | undefined
  /**
   * A budget of model tokens per minute: a second bucket of this capacity refilling at `tokensPerMinute / 60` per
   * second (see `ConsumeOptions.tokens` and `ConsumeResult.reconcile`). A positive finite number. Default: no budget.
   */
  readonly tokensPerMinute?: number | undefined
  /**
   * The name of the limiter's state in its stores (`BucketStore`, `SlotStore`): limiters that give the same key over
   * stores kept in one place (`layerStoreRedis` on one Redis) draw from one limit: across all of them, no window `t`
   * admits more than `capacity + refillRate * t`. A non-empty string. Default: a name of its own, shared with nobody.
   */
  readonly key?: string | undefined
  /**
   * Keeps the bucket, the budget and the in-flight cap in a shared store (`Store.make`) under `key`: the same as `key`
   * with the stores of `layerStoreRedis(store)`.
   *
   * @deprecated since 0.3.0: provide `layerStoreRedis(store)` and give `key`. Removed in 0.4.0.
   */
  readonly shared?: Store.Shared | undefined
}

/**
 * The tokens-per-minute budget, as `status` reports it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface BudgetStatus {
  /** Model tokens that can be consumed now; below zero while a debt is paid back. */
  readonly available: number
  /** `tokensPerMinute`. */
  readonly capacity: number
  /** Calls waiting for the budget. */
  readonly waiting: number
}

/**
 * A limiter's state at one instant.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Status {
  /** Tokens in the bucket now; fractional while a token is refilling. */
  readonly available: number
  readonly capacity: number
  /** Tokens per second. */
  readonly refillRate: number
  /** Calls waiting for tokens. */
  readonly waiting: number
  /** Calls holding a slot: `consume` scopes still open. */
  readonly inFlight: number
  /** Present when the limiter caps calls in flight. */
  readonly maxConcurrency?: number
  /** Present when the limiter has a tokens-per-minute budget. */
  readonly budget?: BudgetStatus
}

/**
 * What `consume` takes.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ConsumeOptions {
  /** Request tokens to take from the bucket. Default 1. */
  readonly cost?: number | undefined
  /**
   * Model tokens to take from the tokens-per-minute budget: an estimate of the call's usage (`estimateTokens`), settled
   * by `ConsumeResult.reconcile`. Not read without `tokensPerMinute` (`Llm` estimates only when a limiter reads it).
   * Default 0.
   */
  readonly tokens?: number | undefined
  /**
   * When the slot, the tokens or the budget are not free now: `"delay"` waits for them in arrival order; `"fail"` fails
   * at once with `RateLimiterExceededError`, taking nothing. Default `"delay"`.
   */
  readonly onExceeded?: "delay" | "fail" | undefined
}

/**
 * What a `consume` got.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ConsumeResult {
  /** How long the call waited for its slot, tokens and budget. */
  readonly delay: Duration.Duration
  /** The bucket's capacity. */
  readonly limit: number
  /** Tokens left in the bucket; fractional while a token is refilling. */
  readonly remaining: number
  /** How long until the bucket is full again, with nothing else taken. */
  readonly resetAfter: Duration.Duration
  /**
   * Settles the budget against the model tokens the call used: unused tokens go back; tokens beyond the estimate are
   * taken at once, into debt if the budget is short.
   * Settles once; later calls, and a usage that is not a non-negative finite number, do nothing.
   * Not called, the estimate stays spent, as a provider counts a request it never reported on.
   */
  readonly reconcile: (actualTokens: number) => Effect.Effect<void>
}

/**
 * A cost the limiter can never grant: above the bucket's capacity (waiting would
 * never end), negative, or not a finite number.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RateLimiterCostError extends Schema.TaggedError<RateLimiterCostError>()("RateLimiterCostError", {
  cost: Schema.Number,
  capacity: Schema.Number,
  /** Which bucket refused: the request bucket or the tokens-per-minute budget. */
  bucket: Schema.Literals(["requests", "tokensPerMinute"])
}) {
  override get message() {
    const what = this.bucket === "requests" ? "rate limiter" : "tokens-per-minute budget"
    return Number.isFinite(this.cost) && this.cost >= 0
      ? `A cost of ${this.cost} exceeds the ${what}'s capacity of ${this.capacity}, so it could never be granted. ` +
        `Lower the cost or raise the capacity.`
      : `A cost of ${this.cost} is not a non-negative finite number, so the ${what} cannot grant it.`
  }
}

/**
 * A `consume` with `onExceeded: "fail"` that found its slot, tokens or budget taken. It took nothing.
 *
 * @since 0.1.0
 * @category Errors
 */
export class RateLimiterExceededError extends Schema.TaggedError<RateLimiterExceededError>()(
  "RateLimiterExceededError",
  {
    /** What was short: the request bucket, the tokens-per-minute budget or the in-flight cap. */
    bucket: Schema.Literals(["requests", "tokensPerMinute", "concurrency"]),
    /** That bucket's capacity. */
    limit: Schema.Number,
    /** What was left in it. */
    remaining: Schema.Number,
    /** When the tokens are due, if nobody else takes them; absent for the in-flight cap, which frees as calls end. */
    retryAfter: Schema.optional(Schema.Duration)
  }
) {
  override get message() {
    const what = this.bucket === "requests"
      ? "rate limiter's bucket"
      : this.bucket === "tokensPerMinute"
      ? "tokens-per-minute budget"
      : "cap on calls in flight"
    const wait = this.retryAfter === undefined
      ? ""
      : ` for about ${formatDuration(this.retryAfter)}`
    const left = Math.floor(this.remaining * 100) / 100
    return `The ${what} (${this.limit}) has ${left} left. Wait${wait}, or consume with onExceeded: "delay".`
  }
}

/**
 * A limiter. `Llm` takes each attempt's permit with `consume` (`onExceeded: "fail"` first, `"delay"` when refused) and
 * closes its scope when the attempt ends, so a limiter written by hand, or a decorator of one, is used as it is.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /**
   * Takes a slot (with `maxConcurrency`), the budget's `tokens` (with `tokensPerMinute`) and `cost` request tokens, in
   * arrival order; waits for them or fails at once, per `onExceeded`. The slot is held until the scope closes, which
   * suits a stream that must keep its slot while it is read; the tokens are spent. Fails with `RateLimiterCostError`
   * when the cost or the tokens could never be granted, and with `StoreUnavailableError` when its store
   * (`layerStoreRedis`) is unavailable under `onUnavailable: "fail-closed"`.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { RateLimiter } from "effect-llm-router"
   *
   * const program = Effect.gen(function*() {
   *   const limiter = yield* RateLimiter.make({ capacity: 10, refillRate: 2, maxConcurrency: 4 })
   *   const { delay, remaining } = yield* Effect.scoped(limiter.consume({ cost: 2 }))
   *   return { delay, remaining }
   * }).pipe(Effect.scoped, Effect.provide(RateLimiter.layerStoreMemory))
   * ```
   */
  readonly consume: (
    options?: ConsumeOptions
  ) => Effect.Effect<
    ConsumeResult,
    RateLimiterCostError | RateLimiterExceededError | Store.StoreUnavailableError,
    Scope.Scope
  >
  /**
   * The store's levels (less what other instances' waiting calls hold there), and this limiter's calls in flight
   * and waiting.
   */
  readonly status: Effect.Effect<Status>
  /** Fills the bucket (and the budget, forgiving any debt) and serves waiters. */
  readonly reset: Effect.Effect<void>
}

/**
 * The service's tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * const report = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.RateLimiter
 *   const { available, capacity, waiting, inFlight } = yield* limiter.status
 *   yield* Effect.log(`${available}/${capacity} tokens, ${waiting} waiting, ${inFlight} in flight`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class RateLimiter extends Context.Service<RateLimiter, Service>()("effect-llm-router/RateLimiter") {}

/**
 * A bucket's options in a `BucketStore`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface BucketOptions {
  /** Where the bucket is kept: buckets under one key of one store are one bucket. */
  readonly key: string
  /** Tokens the bucket holds; a bucket never seen before is full. */
  readonly capacity: number
  /** Tokens added per second, continuously. */
  readonly refillRate: number
}

/**
 * What a bucket step saw.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface BucketResult {
  /** Whether the step got what it asked (a `tryTake` may not). */
  readonly granted: boolean
  /** The level after the step, to a millionth of a token; below zero while reservations wait. */
  readonly level: number
  /** How long a `take` waits for its tokens, or a refused `tryTake` would have; to a microsecond, rounded up. */
  readonly waitMillis: number
}

/**
 * A token bucket in a store: each step one atomic change of its level, refilled first on the store's clock.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Bucket {
  /** Reserves `amount` tokens at once, the level going below zero when they are not there; says how long to wait. */
  readonly take: (amount: number) => Effect.Effect<BucketResult, Store.StoreUnavailableError>
  /** Takes `amount` tokens only if they are there now. */
  readonly tryTake: (amount: number) => Effect.Effect<BucketResult, Store.StoreUnavailableError>
  /** Puts tokens back, never above the capacity. */
  readonly give: (amount: number) => Effect.Effect<BucketResult, Store.StoreUnavailableError>
  /** Takes tokens at once, into debt. */
  readonly charge: (amount: number) => Effect.Effect<BucketResult, Store.StoreUnavailableError>
  /** Fills the bucket. */
  readonly reset: Effect.Effect<BucketResult, Store.StoreUnavailableError>
  /** Reads the level. */
  readonly peek: Effect.Effect<BucketResult, Store.StoreUnavailableError>
}

/**
 * Where limiters keep their token buckets: `layerStoreMemory` or `layerStoreRedis`. Every backend gives the same
 * results for the same steps (the contract suite runs each).
 *
 * @since 0.3.0
 * @category Stores
 */
export class BucketStore extends Context.Service<BucketStore, {
  readonly bucket: (options: BucketOptions) => Effect.Effect<Bucket>
}>()("effect-llm-router/RateLimiter/BucketStore") {}

/**
 * In-flight slots' options in a `SlotStore`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface SlotsOptions {
  /** Where the slots are kept: slots under one key of one store are one set. */
  readonly key: string
  /** How many may be held at once. */
  readonly limit: number
}

/**
 * A set of in-flight slots in a store.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Slots {
  /** Takes a slot if one is free, giving the effect that frees it (once); none when all are held. */
  readonly tryAcquire: Effect.Effect<Option.Option<Effect.Effect<void>>, Store.StoreUnavailableError>
}

/**
 * Where limiters keep their in-flight slots (`maxConcurrency`). A store of its own beside `BucketStore`: a slot has
 * a holder and must lapse when its holder dies (a lease in Redis), where a bucket refills by time alone.
 *
 * @since 0.3.0
 * @category Stores
 */
export class SlotStore extends Context.Service<SlotStore, {
  readonly slots: (options: SlotsOptions) => Effect.Effect<Slots>
}>()("effect-llm-router/RateLimiter/SlotStore") {}

/**
 * Both stores in this process' memory: limiters given the same `key` share a limit.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * // Two limiters of one process drawing from one bucket.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const first = yield* RateLimiter.make({ capacity: 10, refillRate: 2, key: "openai" })
 *   const second = yield* RateLimiter.make({ capacity: 10, refillRate: 2, key: "openai" })
 *   return [first, second] as const
 * })).pipe(Effect.provide(RateLimiter.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreMemory: Layer.Layer<BucketStore | SlotStore> = Layer.mergeAll(
  Layer.sync(BucketStore, Memory.bucketStore),
  Layer.sync(SlotStore, Memory.slotStore)
)

/**
 * Both stores in a shared `Store` (Redis): every instance giving the same `key` draws from one limit, its calls
 * waiting in the order they reach Redis. The store's `onUnavailable` decides what happens while Redis is away:
 * `"fail-closed"` fails `consume` with `StoreUnavailableError`; `"fail-open"` serves from memory with `1 / instances`
 * of each limit, and from Redis again at the first step that succeeds there.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { RateLimiter, Store } from "effect-llm-router"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* Store.make({ redis: "redis://127.0.0.1:6379", onUnavailable: "fail-open", instances: 3 })
 *   return yield* RateLimiter.make({ capacity: 20, refillRate: 5, key: "openai" }).pipe(
 *     Effect.provide(RateLimiter.layerStoreRedis(store))
 *   )
 * }))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreRedis = (store: Store.Store): Layer.Layer<BucketStore | SlotStore> =>
  Layer.effectContext(Effect.sync(() => {
    const { buckets, slots } = Redis.stores(store)
    return Context.make(BucketStore, buckets).pipe(Context.add(SlotStore, slots))
  }))

const validate = (options: Options): OptionsError | undefined =>
  Invalid.positive("RateLimiter", "capacity", options.capacity) ??
    Invalid.positive("RateLimiter", "refillRate", options.refillRate) ??
    Invalid.positive("RateLimiter", "maxConcurrency", options.maxConcurrency, { integer: true, optional: true }) ??
    Invalid.positive("RateLimiter", "tokensPerMinute", options.tokensPerMinute, { optional: true }) ??
    Invalid.nonEmpty("RateLimiter", "key", options.key, { optional: true })

/**
 * Builds a limiter over the stores provided (none with the deprecated `shared`), its refill fibers living in the
 * current scope. Fails with `OptionsError` naming the first option out of range.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * // Bursts of 20 calls, 3 a second after that, and 200,000 model tokens a minute.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.make({ capacity: 20, refillRate: 3, tokensPerMinute: 200_000 })
 *   const permit = yield* Effect.scoped(limiter.consume({ tokens: 1_500 }))
 *   // ... make the call, then settle the budget with the tokens it used:
 *   yield* permit.reconcile(1_200)
 *   return yield* limiter.status
 * })).pipe(Effect.provide(RateLimiter.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function make(
  options: Options & { readonly shared: Store.Shared }
): Effect.Effect<Service, OptionsError, Scope.Scope>
export function make(options: Options): Effect.Effect<Service, OptionsError, Scope.Scope | BucketStore | SlotStore>
export function make(options: Options): Effect.Effect<Service, OptionsError, Scope.Scope | BucketStore | SlotStore> {
  return viaShared("RateLimiter", options, makeOverStores, (shared) => Effect.succeed(layerStoreRedis(shared.store)))
}

const makeOverStores = Effect.fnUntraced(
  function*(options: Options): Effect.fn.Return<Service, OptionsError, Scope.Scope | BucketStore | SlotStore> {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    return yield* Internal.make(options, options.key ?? uniqueId(), {
      buckets: yield* BucketStore,
      slots: yield* SlotStore
    })
  }
)

/**
 * `make` as a layer, over the stores provided: the refill fibers live as long as the layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, OpenAiChat, RateLimiter } from "effect-llm-router"
 *
 * // At most 8 calls in flight, bursts of 20, then 3 a second.
 * const OpenAi = Llm.layer({ model: "gpt-4o-mini" }).pipe(
 *   Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3, maxConcurrency: 8 })),
 *   // Its buckets in this process's memory; `layerStoreRedis(store)` shares them between instances.
 *   Layer.provide(RateLimiter.layerStoreMemory),
 *   Layer.provide(OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" })),
 *   Layer.provide(KeyPool.layer({ providerId: "openai", keys: [process.env.OPENAI_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<RateLimiter, OptionsError, BucketStore | SlotStore> =>
  Layer.effect(RateLimiter, make(options))

/**
 * The limiter with its options read from `Config`, over the stores provided.
 *
 * @example
 * ```ts
 * import { Config, Layer } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * const Limiter = RateLimiter.layerConfig(Config.all({
 *   capacity: Config.Number("RATE_LIMIT_CAPACITY").pipe(Config.withDefault(20)),
 *   refillRate: Config.Number("RATE_LIMIT_REFILL_RATE").pipe(Config.withDefault(3))
 * })).pipe(Layer.provide(RateLimiter.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: Config.Config<Options>
): Layer.Layer<RateLimiter, Config.ConfigError | OptionsError, BucketStore | SlotStore> =>
  Layer.effect(RateLimiter, Effect.flatMap(config, (options) => make(options)))

/**
 * A limiter that never waits: every `consume` succeeds at once and the budget holds nothing. For tests, and for calls
 * with no configured limit. `status` reports an infinite capacity and counts calls in flight.
 *
 * @example
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.makeUnlimited
 *   const { delay } = yield* Effect.scoped(limiter.consume({ cost: 1_000 }))
 *   return Duration.toMillis(delay) // 0
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeUnlimited: Effect.Effect<Service> = Effect.sync(() => Internal.unlimited())

/**
 * A layer of `makeUnlimited`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, Ollama, RateLimiter } from "effect-llm-router"
 *
 * // A local Ollama needs no pacing.
 * const Local = Llm.layer({ model: "llama3.2" }).pipe(
 *   Layer.provide(RateLimiter.unlimited),
 *   Layer.provide(Ollama.layer()),
 *   Layer.provide(KeyPool.layer({ providerId: "ollama", keys: ["none"] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const unlimited: Layer.Layer<RateLimiter> = Layer.effect(RateLimiter, makeUnlimited)

/**
 * Runs `self` inside a `consume(options)` of the limiter in context: the slot is held while `self` runs and freed when
 * it ends, however it ends. The scope is its own, so a scope `self` needs is left to the caller.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * // A batch job that counts as two requests against the bucket.
 * const paced = RateLimiter.withPermit(Effect.log("exporting a batch"), { cost: 2 })
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const withPermit = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options?: ConsumeOptions
): Effect.Effect<
  A,
  E | RateLimiterCostError | RateLimiterExceededError | Store.StoreUnavailableError,
  R | RateLimiter
> =>
  Effect.flatMap(RateLimiter, (limiter) =>
    Effect.acquireUseRelease(
      Scope.make(),
      (scope) => Effect.andThen(Scope.provide(limiter.consume(options), scope), self),
      (scope, exit) => Scope.close(scope, exit)
    ))

/**
 * Options of `estimateTokens`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EstimateOptions {
  /**
   * Reply tokens to count when the request sets no `maxTokens`. Default: 0 (the reply is charged by
   * `ConsumeResult.reconcile`).
   */
  readonly defaultMaxTokens?: number | undefined
}

/**
 * A cheap estimate of the model tokens a request can use, to `consume` before the call (`ConsumeOptions.tokens`):
 * about one token per four characters of prompt (messages, tool definitions, a JSON schema response format), plus
 * `maxTokens`. Images are not counted. `ConsumeResult.reconcile` corrects it with the real usage afterwards.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message, RateLimiter } from "effect-llm-router"
 *
 * const request = { messages: [Message.user("Hello there")], maxTokens: 100 }
 * RateLimiter.estimateTokens(request) // 107: 3 for the text, 4 for the message, 100 for the reply
 *
 * // Take the estimate from the budget, then settle it with the real usage.
 * const paced = Effect.scoped(Effect.gen(function*() {
 *   const limiter = yield* RateLimiter.RateLimiter
 *   const permit = yield* limiter.consume({ tokens: RateLimiter.estimateTokens(request) })
 *   const reply = yield* Llm.chat(request)
 *   yield* permit.reconcile(reply.usage.totalTokens)
 *   return reply.text
 * }))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const estimateTokens = (request: ChatRequest.Input, options?: EstimateOptions): number =>
  estimatedPromptTokens(request) + (request.maxTokens ?? options?.defaultMaxTokens ?? 0)
