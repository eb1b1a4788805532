/**
 * The keys of one provider, least-loaded first: requests in flight divided by weight, ties going to the key picked
 * longest ago, so idle traffic rotates through every key. `report` tells the pool how a call went: a `RateLimitError`
 * cools the key down (longer at each consecutive one), an `AuthError` disables it (a 403 for that pool only,
 * docs/router.md), success clears its failure count. A key back from a cooldown warms up over `slowStart`.
 *
 * A pool keeps its keys' leases, cooldowns and disables in the `LeaseStore` it requires: `layerStoreMemory`, this
 * process's alone, or `layerStoreRedis`, shared by every instance. docs/llm.md and docs/store.md say how.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Tag from "./internal/keyPool/leaseStore.js"
import * as Memory from "./internal/keyPool/memory.js"
import * as Redis from "./internal/keyPool/redis/layer.js"
import * as Registry from "./internal/keyPool/registry.js"
import type { LlmError, NoCapacityError } from "./LlmError.js"
import type { OptionsError } from "./OptionsError.js"
import type * as ProviderClient from "./ProviderClient.js"
import type * as Store from "./Store.js"

/**
 * One key with its share of the traffic.
 *
 * @since 0.1.0
 * @category Models
 */
export interface KeyOptions {
  readonly key: Redacted.Redacted<string> | string
  /** The key's share of concurrent requests relative to the others. Default 1; must be > 0. */
  readonly weight?: number
  /** The most requests this key may have in flight at once. Default: unbounded. */
  readonly maxConcurrency?: number
}

/**
 * What `acquire` does when no key is usable: `Fail` fails at once with `NoCapacityError`; `Wait` waits for a release
 * or the earliest cooldown end, at most `maxWait`, and fails at once when waiting cannot help (every key disabled, or
 * the earliest cooldown ends after `maxWait` and no key is merely at its cap).
 *
 * @since 0.1.0
 * @category Models
 */
export type WhenExhausted =
  | { readonly _tag: "Fail" }
  | { readonly _tag: "Wait"; readonly maxWait: Duration.Input }

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /**
   * Pools with the same id and `endpoint` share each key's state through `KeyPoolRegistry` (a key listed by two of
   * them is one key); also errors' `provider`.
   */
  readonly providerId: string
  /**
   * The server the keys are sent to: pools of one `providerId` share a state only when their `endpoint`s are equal
   * too, so a key is never disabled by another endpoint's 401s. Only compared, never shown, as a URL may hold
   * credentials. Default: none, one state per `providerId`.
   *
   * @since 0.3.0
   */
  readonly endpoint?: string | undefined
  /**
   * At least one; a key listed twice counts once (its first listing wins).
   * Keys that end alike get different ids.
   */
  readonly keys: ReadonlyArray<KeyOptions | Redacted.Redacted<string> | string>
  /**
   * The cooldown of a key rate-limited without `retryAfter` (one with it cools for exactly that): `initial`, doubled at
   * each consecutive rate limit up to `max`, jittered by ±20% unless `jitter` is false; a success starts over. A rate
   * limit reported while the key already cools (a request sent before) does not count again. Default
   * `{ initial: "1 second", max: "30 seconds", jitter: true }`.
   */
  readonly rateLimitCooldown?: {
    readonly initial?: Duration.Input
    readonly max?: Duration.Input
    readonly jitter?: boolean
  }
  /**
   * The longest a key cools down, whatever a provider's `retry-after` asks (a `retry-after: 86400` would otherwise
   * bench the key for a day) and whatever `rateLimitCooldown.max` says. Default 5 minutes.
   */
  readonly maxCooldown?: Duration.Input
  /**
   * How long a key back from a cooldown takes to reach its full share of concurrent requests, from a tenth of its
   * weight. Default 10 seconds; 0 disables.
   */
  readonly slowStart?: Duration.Input
  /**
   * Default `{ _tag: "Wait", maxWait: "60 seconds" }`: a rate-limited key usually frees within a minute, and a caller
   * that slows down for it is better served than one that fails. Routers that fall back to another deployment want
   * `Fail`.
   */
  readonly whenExhausted?: WhenExhausted
  /**
   * Where the pool is kept in its `LeaseStore`: pools naming the same key (and `endpoint`) of one store are one pool.
   * Default: a key no other pool names; under `layer`, one of its `KeyPoolRegistry`'s per `providerId`.
   *
   * @since 0.3.0
   */
  readonly key?: string | undefined
  /**
   * Keeps each key's leases, cooldown and disabled state in a shared store (`Store.make`) under `key` (and
   * `endpoint`), so every instance naming the same store, key and endpoint sees one pool: a 429 on one instance cools
   * the key for all (docs/store.md). Such a pool does not join a `KeyPoolRegistry`. Default: in this process's memory.
   *
   * @deprecated Since 0.3.0, removed in 0.4.0: provide `layerStoreRedis(store)` and name the pool with `key`.
   */
  readonly shared?: Store.Shared | undefined
}

/**
 * A key handed out by `acquire`, valid until its scope closes.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Lease {
  /** The key (`Redacted`) and its masked id. */
  readonly credentials: ProviderClient.Credentials
  /** The key's position in the pool that issued the lease; only that pool (or one sharing its state) accepts it. */
  readonly slot: number
}

/**
 * One key as `status` shows it: never the key itself.
 *
 * @since 0.1.0
 * @category Models
 */
export interface KeyStatus {
  /** The masked key with its fingerprint (`sk-…f3a9#0d64`, `LlmError.maskKey`). */
  readonly keyId: string
  readonly weight: number
  /** `undefined` when unbounded. */
  readonly maxConcurrency: number | undefined
  readonly inFlight: number
  /** Leases handed out since the pool was made. */
  readonly totalRequests: number
  /** Failures reported since the last success. */
  readonly failures: number
  /** Epoch milliseconds when the key's cooldown ends, while it is cooling down. */
  readonly coolingUntil: number | undefined
  /**
   * The part of its weight the key takes traffic with now: 0 while cooling or disabled, from 0.1 up to 1 while it warms
   * up after a cooldown (`Options.slowStart`), else 1.
   */
  readonly share: number
  /** Why the key was disabled (an `AuthError` reason), once it is. */
  readonly disabled: string | undefined
}

/**
 * How a call with a lease went: `"success"` or the `LlmError` it failed with.
 *
 * @since 0.1.0
 * @category Models
 */
export type Outcome = "success" | LlmError

/**
 * What `take` takes.
 *
 * @since 0.3.0
 * @category Models
 */
export interface TakeOptions {
  /**
   * Wait for a cooling key only when its cooldown ends by this time (epoch milliseconds, on the `Clock`); when none
   * will, fail at once with `NoCapacityError`. Waits for a release are unchanged.
   * Default: any cooldown within `maxWait`.
   */
  readonly cooledBy?: number | undefined
}

/**
 * What `release` gives back.
 *
 * @since 0.3.0
 * @category Models
 */
export interface ReleaseOptions {
  /** The lease carried no call: it does not count in `KeyStatus.totalRequests`. Default false. */
  readonly unused?: boolean | undefined
}

/**
 * A pool. `Llm` holds its keys with `tryTake` or `take`, tells the outcome with `report`, and gives them back with
 * `release`; a pool written by hand implements these (or is built with `fromAcquire`).
 *
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly providerId: string
  /**
   * The least-loaded usable key, given back when the scope closes. Fails with `NoCapacityError` (`model` empty,
   * `availableAt` the earliest cooldown end) per `Options.whenExhausted`.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { KeyPool, LlmError } from "effect-llm-router"
   *
   * const program = Effect.gen(function*() {
   *   const pool = yield* KeyPool.make({ providerId: "openai", keys: ["sk-one", "sk-two"] })
   *   yield* Effect.scoped(Effect.gen(function*() {
   *     const lease = yield* pool.acquire
   *     // ... call the provider with lease.credentials, then say how it went:
   *     yield* pool.report(lease, new LlmError.RateLimitError({ provider: "openai", model: "gpt-4o-mini" }))
   *   }))
   *   return yield* pool.status
   * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
   * ```
   */
  readonly acquire: Effect.Effect<Lease, NoCapacityError, Scope.Scope>
  /**
   * The least-loaded usable key without a scope, waiting and failing as `acquire` does; give it back with `release`.
   * Run it uninterruptibly, so the lease cannot be lost before `release`: its waits stay interruptible.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { KeyPool } from "effect-llm-router"
   *
   * const program = Effect.gen(function*() {
   *   const pool = yield* KeyPool.make({ providerId: "openai", keys: ["sk-one"] })
   *   return yield* Effect.acquireUseRelease(
   *     pool.take(),
   *     (lease) => Effect.andThen(pool.report(lease, "success"), Effect.succeed(lease.credentials.keyId)),
   *     (lease) => pool.release(lease)
   *   )
   * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
   * ```
   *
   * @since 0.3.0
   */
  readonly take: (options?: TakeOptions) => Effect.Effect<Lease, NoCapacityError>
  /**
   * `take` when a key is usable now, `undefined` otherwise: never waits.
   *
   * @since 0.3.0
   */
  readonly tryTake: Effect.Effect<Lease | undefined>
  /**
   * The key whose masked id is `keyId` when it is usable now (enabled, not cooling, below its cap), whatever its load;
   * `undefined` otherwise (or for a pool that cannot tell without waiting). A router with `affinity` asks for a
   * session's last key, so the provider's prompt cache stays warm. Give it back with `release`.
   *
   * @since 0.3.0
   */
  readonly tryTakeKey: (keyId: string) => Effect.Effect<Lease | undefined>
  /**
   * Gives back a key from `take` or `tryTake` (`report` its outcome before). A lease given back already is not given
   * back, nor counted, again. A lease from an unrelated pool is a defect.
   *
   * @since 0.3.0
   */
  readonly release: (lease: Lease, options?: ReleaseOptions) => Effect.Effect<void>
  /**
   * `RateLimitError`: cool the key down for its `retryAfter` (or `rateLimitCooldown`), at most `maxCooldown`; a
   * cooldown is only ever extended. `AuthError`: disable the key for good, for every pool sharing its state, but a
   * `forbidden` one (a 403: the key may not do what this pool asks, such as a project key limited to some models),
   * which this pool alone stops using (since 0.3.0); a `credential_unavailable` one counts a failure. Success: clear
   * its failure count. Other errors: count a failure. A lease from an unrelated pool is a defect.
   */
  readonly report: (lease: Lease, outcome: Outcome) => Effect.Effect<void>
  /** Every key in the order first listed, with masked ids. */
  readonly status: Effect.Effect<ReadonlyArray<KeyStatus>>
}

/**
 * The service's tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * // Which keys are cooling down or disabled, by masked id only.
 * const report = Effect.gen(function*() {
 *   const pool = yield* KeyPool.KeyPool
 *   for (const key of yield* pool.status) {
 *     yield* Effect.log(`${key.keyId}: ${key.inFlight} in flight`, key.coolingUntil ?? "", key.disabled ?? "")
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class KeyPool extends Context.Service<KeyPool, Service>()("effect-llm-router/KeyPool") {}

/**
 * A standalone pool over the `LeaseStore` provided (none with the deprecated `shared`), under its `key`. Invalid
 * options (no keys, an empty or missing key such as an unset environment variable's `undefined`, a weight that is not
 * > 0, a `maxConcurrency` below 1) fail with `OptionsError`, which never shows a key.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const pool = yield* KeyPool.make({
 *     providerId: "openai",
 *     keys: [Redacted.make("sk-proj-4fa0c19e77d2f3a9"), Redacted.make("sk-proj-90b1e5c3d7a81c42")]
 *   })
 *   const lease = yield* Effect.scoped(pool.acquire)
 *   return lease.credentials.keyId // "sk-…f3a9#98c2": masked, never the key
 * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function make(options: Options & { readonly shared: Store.Shared }): Effect.Effect<Service, OptionsError>
export function make(options: Options): Effect.Effect<Service, OptionsError, LeaseStore>
export function make(options: Options): Effect.Effect<Service, OptionsError, LeaseStore> {
  return Registry.make(options)
}

/**
 * A pool written around a scoped `acquire`, for `fromAcquire`.
 *
 * @since 0.3.0
 * @category Models
 */
export type ScopedService = Pick<Service, "providerId" | "acquire" | "report" | "status">

/**
 * A whole pool from a scoped `acquire`, `report` and `status`. It cannot tell whether a key is free without waiting,
 * so `tryTake` and `tryTakeKey` always answer `undefined` (`Llm` then waits as `acquire` does), nor how long to wait,
 * so `TakeOptions.cooledBy` is not heeded.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * // A pool that logs every outcome and defers to a real one.
 * const program = Effect.gen(function*() {
 *   const inner = yield* KeyPool.make({ providerId: "openai", keys: ["sk-one"] })
 *   return KeyPool.fromAcquire({
 *     ...inner,
 *     report: (lease, outcome) =>
 *       Effect.andThen(Effect.log(lease.credentials.keyId, outcome), inner.report(lease, outcome))
 *   })
 * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const fromAcquire: (scoped: ScopedService) => Service = Registry.fromAcquire

/**
 * One key of a lease group, as the store knows it: by masked id, never the key.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseCandidate {
  /** A masked key id (`KeyStatus.keyId`). */
  readonly id: string
  readonly weight: number
  /** `Infinity`: unbounded. */
  readonly maxConcurrency: number
}

/**
 * Where a pool's keys are kept in a `LeaseStore`: groups under one key of one store are one group.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeasesOptions {
  readonly key: string
  readonly candidates: ReadonlyArray<LeaseCandidate>
  /** The warm-up after a cooldown (`Options.slowStart`), in milliseconds; 0: none. */
  readonly slowStartMillis: number
}

/**
 * A lease a pick took: `lease` names it to `release`.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseTaken {
  readonly _tag: "Taken"
  readonly index: number
  readonly lease: string
  /** See `LeaseBlocked.stateVersion`. */
  readonly stateVersion?: string | undefined
}

/**
 * Why a pick handed out nothing.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseBlocked {
  readonly _tag: "Blocked"
  readonly allDisabled: boolean
  /** The earliest cooldown end (the store's epoch ms), when some enabled key cools. */
  readonly availableAt: number | undefined
  /** Some enabled key is at its cap, so a release may free one. */
  readonly releasable: boolean
  /** The store's time when it looked (epoch ms), to measure `availableAt` against. */
  readonly now: number
  /**
   * Completes at the store's next change that may free a key, where the store can tell (in memory); without it a
   * waiting pool looks again every 50 ms.
   */
  readonly wake?: Effect.Effect<void> | undefined
  /**
   * A token that changes with each cooldown and disable, where the store keeps one (Redis): a pool reads `status` again
   * when it moves, so it learns of a cooldown another instance set without a status read of its own.
   */
  readonly stateVersion?: string | undefined
}

/**
 * Why `pickBelow` handed out nothing: the key picked elsewhere is no more loaded than the least loaded here.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseDeclined {
  readonly _tag: "Declined"
}

/**
 * A key's load as `pickBelow` compares it: calls in flight, and its weight times its warm-up share.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseLoad {
  readonly inFlight: number
  readonly share: number
}

/**
 * A rate limit told to the store: the cooldown asked for, and how one without `askedMillis` is drawn
 * (`Options.rateLimitCooldown`, the jitter already drawn).
 *
 * @since 0.3.0
 * @category Stores
 */
export interface RateLimitedVerdict {
  readonly askedMillis: number | undefined
  readonly initialMillis: number
  readonly maxMillis: number
  readonly jitterFactor: number
  readonly capMillis: number
}

/**
 * What a release tells of its key: a success clears its rate-limit count, a rate limit counts and extends its
 * cooldown, a disable is for good.
 *
 * @since 0.3.0
 * @category Stores
 */
export type LeaseVerdict = "success" | { readonly disabled: string } | RateLimitedVerdict

/**
 * One key as the store counts it.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LeaseKeyState {
  /** Leases held. */
  readonly inFlight: number
  /** The store's epoch ms; 0: never cooled. */
  readonly coolingUntil: number
  readonly disabled: string | undefined
}

/**
 * The leases of one group of keys: each step is atomic, whichever instance takes it.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Leases {
  /** The least loaded usable key (in flight over weight times warm-up share, ties to the one picked longest ago). */
  readonly pick: Effect.Effect<LeaseTaken | LeaseBlocked, Store.StoreUnavailableError>
  /** `pick`, declining when the least loaded key is no less loaded than `bar`. */
  readonly pickBelow: (bar: LeaseLoad) => Effect.Effect<
    LeaseTaken | LeaseBlocked | LeaseDeclined,
    Store.StoreUnavailableError
  >
  /** A lease of key `index` when it is usable now, whatever its load; `undefined` otherwise. */
  readonly pickOne: (index: number) => Effect.Effect<LeaseTaken | undefined, Store.StoreUnavailableError>
  /**
   * Drops the lease (`""`: none) and applies the verdict to key `index`; gives the key's cooldown end and the store's
   * time (0, 0: none).
   */
  readonly release: (
    index: number,
    lease: string,
    verdict: LeaseVerdict | undefined
  ) => Effect.Effect<readonly [coolingUntil: number, now: number], Store.StoreUnavailableError>
  /** Every key's state, with the store's time. */
  readonly status: Effect.Effect<
    { readonly now: number; readonly keys: ReadonlyArray<LeaseKeyState> },
    Store.StoreUnavailableError
  >
}

/**
 * Where the loads of a pool's keys without a cap are published: its `LeasesOptions.key`, and the keys' masked ids.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LoadsOptions {
  readonly key: string
  readonly ids: ReadonlyArray<string>
}

/**
 * A key's shared state, as a publish reads it.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface PublishedKeyState {
  readonly disabled: string | undefined
  /** The store's epoch ms; 0: never cooled. */
  readonly coolingUntil: number
  /** Rate limits since the key's last success. */
  readonly rateLimits: number
}

/**
 * What a publish read.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface LoadsView {
  /** The store's time when it read (epoch ms). */
  readonly now: number
  /** The other instances' calls in flight, per key. */
  readonly elsewhere: ReadonlyArray<number>
  /** The keys' states, when they changed since this publisher last read them. */
  readonly keys: ReadonlyArray<PublishedKeyState> | undefined
}

/**
 * One instance's published loads of a pool's keys without a cap: its counts lapse once it stops publishing.
 *
 * @since 0.3.0
 * @category Stores
 */
export interface Loads {
  /** Publishes this instance's `counts` (per key, in the order of `LoadsOptions.ids`) and reads the others'. */
  readonly publish: (counts: ReadonlyArray<number>) => Effect.Effect<LoadsView, Store.StoreUnavailableError>
  /** Tells the store a verdict on key `index`; gives its cooldown end and the store's time (0, 0: none). */
  readonly tell: (
    index: number,
    verdict: LeaseVerdict
  ) => Effect.Effect<readonly [coolingUntil: number, now: number], Store.StoreUnavailableError>
  /** `tell` without waiting. */
  readonly post: (index: number, verdict: LeaseVerdict) => Effect.Effect<void>
  /** Runs `step` every publish period of the store, for as long as the store lives. */
  readonly every: (step: Effect.Effect<void>) => Effect.Effect<void>
}

/**
 * Where pools keep what every instance of them shares, under their `Options.key`: each key's leases, cooldown,
 * rate-limit count and disable, and the loads instances publish of the keys without a cap. One store holds both, so a
 * publish reads the keys' states in the same step.
 *
 * @since 0.3.0
 * @category Stores
 */
export const LeaseStore: typeof Tag.LeaseStore = Tag.LeaseStore

/**
 * @since 0.3.0
 * @category Stores
 */
export type LeaseStore = Tag.LeaseStore

/**
 * A `LeaseStore` in this process's memory, on the `Clock` (`TestClock` drives its cooldowns): pools naming one key of
 * it share their keys, and a waiting call wakes at the release it waits for. Each build of the layer is a store of its
 * own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyPool.LeaseStore
 *   const leases = yield* store.leases({
 *     key: "openai",
 *     candidates: [{ id: "sk-…f3a9", weight: 1, maxConcurrency: 2 }],
 *     slowStartMillis: 0
 *   })
 *   return yield* leases.pick
 * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreMemory: Layer.Layer<LeaseStore> = Layer.effect(
  LeaseStore,
  Effect.map(Effect.scope, Memory.leaseStore)
)

/**
 * A `LeaseStore` in Redis (`Store.make`): leases renewed while held and lapsing within the store's `leaseTtl` once
 * their instance is gone, published loads lapsing within its `publishTtl`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { KeyPool, Store } from "effect-llm-router"
 *
 * const Leases = Layer.unwrap(
 *   Effect.map(Store.make({ redis: "redis://localhost:6379" }), KeyPool.layerStoreRedis)
 * )
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerStoreRedis = (store: Store.Store): Layer.Layer<LeaseStore> => Redis.layer(store)

/**
 * @since 0.1.0
 * @category Models
 */
export interface RegistryService {
  /**
   * A pool of the keys `options.keys` lists, and only those. Each key's state (calls in flight, cooldown, disable) is
   * shared with every pool of the same `providerId` and `endpoint` that lists it too, so a 401 through one disables it
   * in all; a key keeps the weight and cap the first pool listing it gave. `rateLimitCooldown`, `slowStart` and
   * `whenExhausted` are per pool. With `options.key`, the state is that key's in the `LeaseStore`, not the registry's.
   *
   * Before 0.3.0 a pool picked among every key of the pools of its provider id (the union).
   */
  readonly pool: (options: Options) => Effect.Effect<Service, OptionsError, LeaseStore>
}

/**
 * A registry with no pools yet.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * // Two pools of one provider share the state of the key both list; each picks among its own keys only.
 * const program = Effect.gen(function*() {
 *   const registry = yield* KeyPool.makeRegistry
 *   yield* registry.pool({ providerId: "openai", keys: ["sk-one", "sk-both"] })
 *   const second = yield* registry.pool({ providerId: "openai", keys: ["sk-both"] })
 *   return (yield* second.status).length // 1
 * }).pipe(Effect.provide(KeyPool.layerStoreMemory))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeRegistry: Effect.Effect<RegistryService> = Registry.makeRegistry

/**
 * The registry pools built with `layer` share state through: one state per key among the pools of one provider id and
 * endpoint. `KeyPoolRegistry.layer` is a single value, so every layer that provides it within one build shares it.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, OpenAiChat, RateLimiter } from "effect-llm-router"
 *
 * const keys = KeyPool.layer({ providerId: "openai", keys: [process.env.OPENAI_API_KEY!] })
 * const model = (name: string) =>
 *   Llm.layer({ model: name }).pipe(
 *     Layer.provide(OpenAiChat.layer({ baseUrl: "https://api.openai.com/v1" })),
 *     Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3 })),
 *     Layer.provide(RateLimiter.layerStoreMemory),
 *     Layer.provide(keys)
 *   )
 * // One registry under both models: their calls share the key's load and cooldowns, in this process's memory.
 * const Models = Layer.mergeAll(model("gpt-4o"), model("gpt-4o-mini")).pipe(
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
 * )
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export const KeyPoolRegistry: typeof Registry.KeyPoolRegistry = Registry.KeyPoolRegistry

/**
 * @since 0.1.0
 * @category Tags
 */
export type KeyPoolRegistry = Registry.KeyPoolRegistry

/**
 * A pool of the keys it lists, sharing each key's state with every pool of the same `providerId` and `endpoint` in the
 * registry that lists it too, kept in the `LeaseStore` provided.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * const Keys = KeyPool.layer({ providerId: "anthropic", keys: [process.env.ANTHROPIC_API_KEY!] }).pipe(
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
 * )
 * const program = Effect.gen(function*() {
 *   const pool = yield* KeyPool.KeyPool
 *   return yield* pool.status
 * }).pipe(Effect.provide(Keys))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options): Layer.Layer<KeyPool, OptionsError, KeyPoolRegistry | LeaseStore> =>
  Layer.effect(KeyPool, Effect.flatMap(KeyPoolRegistry, (registry) => registry.pool(options)))

/**
 * `layer` with its options read from `Config`, keys as secrets (`Config.Redacted`), over the `LeaseStore` provided.
 *
 * @example
 * ```ts
 * import { Config, Layer } from "effect"
 * import { KeyPool } from "effect-llm-router"
 *
 * const Keys = KeyPool.layerConfig({
 *   providerId: Config.succeed("openai"),
 *   keys: Config.all([Config.Redacted("OPENAI_API_KEY"), Config.Redacted("OPENAI_API_KEY_2")])
 * }).pipe(Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  options: Config.Wrap<Options>
): Layer.Layer<KeyPool, Config.ConfigError | OptionsError, KeyPoolRegistry | LeaseStore> =>
  Layer.effect(
    KeyPool,
    Effect.flatMap(Effect.all([Config.unwrap(options), KeyPoolRegistry]), ([resolved, registry]) =>
      registry.pool(resolved))
  )
