/**
 * The shared store several instances of an application keep their limits in, so N instances behind a load balancer
 * admit what one would, not N times it. Memory is the default; given a `Store` (Redis) through each concept's
 * `layerStoreRedis`, `RateLimiter`, `KeyPool`, `Budget` and `Router` share their state with every instance that names
 * the same store and key. Each Redis step is one Lua script that reads the time inside it (`TIME`), so the instances'
 * clocks do not matter. Without Redis, `onUnavailable` decides. See docs/store.md.
 *
 * @since 0.3.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Redis from "effect/persistence/Redis"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Invalid from "./internal/optionsError.js"
import type { StoreUnavailableError } from "./internal/persistence/unavailable.js"
import * as internalConnection from "./internal/store/connection.js"
import { maxTimerMillis } from "./internal/time/watchdog.js"
import type { OptionsError } from "./OptionsError.js"

// The one error of a store away, declared with its maker, where every store makes it.
export { StoreUnavailableError } from "./internal/persistence/unavailable.js"

/**
 * How to reach the store and what to do without it.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Options {
  /**
   * The Redis URL, `redis://host:port` (a password as `redis://:secret@host:port`), plain or `Redacted` (as
   * `ProviderConfig` reads a `store.redis`, which may be `env:NAME`).
   */
  readonly redis: string | Redacted.Redacted<string>
  /**
   * While Redis is unreachable: `"fail-closed"` fails calls (`StoreUnavailableError`, or `NoCapacityError` from a key
   * pool) so no limit is ever passed; `"fail-open"` keeps serving with each instance holding `1 / instances` of what
   * was left of every limit when it last read it (a bucket it never read starts empty, a budget it never read is
   * refused until Redis answers), its keys' cooldowns and disables as it last read them. Default `"fail-closed"`.
   */
  readonly onUnavailable?: "fail-open" | "fail-closed" | undefined
  /**
   * How many instances share the store: under `"fail-open"` each keeps this share of the limits. A positive integer,
   * default 1.
   */
  readonly instances?: number | undefined
  /**
   * The longest one Redis command may take before the store counts as unavailable: at most 2^31 - 1 ms (about 24.8
   * days, the longest a timer waits). Default 500 milliseconds.
   */
  readonly commandTimeout?: Duration.Input | undefined
  /**
   * How long a key lease outlives the instance that holds it: leases are renewed while their calls run, so an instance
   * that dies frees its keys within this. Default 10 seconds.
   */
  readonly leaseTtl?: Duration.Input | undefined
  /**
   * How often each instance publishes its calls in flight on a key pool's keys without a cap: the others pick among
   * those keys by least load over the counts last published, so the shorter, the closer to even. Default 100
   * milliseconds.
   */
  readonly publishPeriod?: Duration.Input | undefined
  /**
   * How long published counts stand: an instance that dies stops publishing, and its counts stop counting within
   * this. Longer than `publishPeriod`. Default 1 second.
   */
  readonly publishTtl?: Duration.Input | undefined
  /** The prefix of every Redis key the store writes. Default `"effect-llm-router"`. */
  readonly prefix?: string | undefined
}

/**
 * A connected store, to give to the stores' Redis layers: `RateLimiter.layerStoreRedis`, `KeyPool.layerStoreRedis`,
 * `Budget.layerStoreRedis`, `Router.layerStoreRedis`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Store {
  /** The Redis host and port, never a password. */
  readonly address: string
  readonly onUnavailable: "fail-open" | "fail-closed"
  readonly connection: Connection
}

/**
 * A store's connection: what the shared limiters, key pools, breakers, budgets and cache run their Redis scripts
 * through. `make` builds it; a hand-written `Store` (a wrapper that counts or traces commands, say) gives its own.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Connection {
  readonly prefix: string
  readonly onUnavailable: "fail-open" | "fail-closed"
  readonly instances: number
  readonly leaseTtlMillis: number
  /** `Options.publishPeriod` and `Options.publishTtl`. */
  readonly publishPeriodMillis: number
  readonly publishTtlMillis: number
  /** The store's scope: fibers that serve it (lease renewals) live as long as its connection. */
  readonly scope: Scope.Scope
  /**
   * Runs a script. Fails with `StoreUnavailableError` when Redis is not connected, or the command failed or outlived
   * `commandTimeout`; logs the first failure of an outage and the return.
   */
  readonly eval: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => (...params: Config["params"]) => Effect.Effect<Config["result"], StoreUnavailableError>
  /**
   * Runs a script without waiting for its reply: for a write whose loss an expiry already covers (a lease's release).
   * Sent at once, so the commands this instance sends after it see its effect; a failure, or Redis away, drops it.
   */
  readonly post: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => (...params: Config["params"]) => Effect.Effect<void>
  /** Sends one command, failing as `eval` does. */
  readonly send: <A>(...args: ReadonlyArray<string>) => Effect.Effect<A, StoreUnavailableError>
  /** A script for a caller that builds its arguments once (`Bound`). */
  readonly bind: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => Bound<Config["result"]>
}

/**
 * A script run with arguments already strings: the number of keys, then the keys and the other arguments, as
 * `Redis.script` lists them.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Bound<A> {
  /** As `Connection.eval`. */
  readonly eval: (args: ReadonlyArray<string>) => Effect.Effect<A, StoreUnavailableError>
  /**
   * Sends the command when run, and returns the wait for its reply (failing as `eval` does), to run once: commands
   * started together go out in one write, and their round trips overlap.
   */
  readonly start: (args: ReadonlyArray<string>) => Effect.Effect<Effect.Effect<A, StoreUnavailableError>>
  /** As `Connection.post`. */
  readonly post: (args: ReadonlyArray<string>) => Effect.Effect<void>
}

/**
 * Where a layer keeps its state: the store, and the name its state has there. Instances that give the same store and
 * key share one limiter, or one pool.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Shared {
  readonly store: Store
  readonly key: string
}

// A command's wait is kept by one timer (`commandTimeout`): longer than a timer holds, it would fire at once.
const withinTimers: Invalid.AtMost = { millis: maxTimerMillis, why: "about 24.8 days, the longest a timer waits" }

/** `Options.publishPeriod` and `Options.publishTtl`, defaults applied, in milliseconds. */
export const publishMillis = (options: Options): { readonly period: number; readonly ttl: number } => ({
  period: Duration.toMillis(options.publishPeriod ?? "100 millis"),
  ttl: Duration.toMillis(options.publishTtl ?? "1 second")
})

// Counts that lapse before the next publish would leave an instance's calls uncounted between publishes.
const publishTtlTooShort = (options: Options): OptionsError | undefined => {
  const { period, ttl } = publishMillis(options)
  return ttl > period
    ? undefined
    : Invalid.make("Store", "publishTtl", `${ttl} ms`, `longer than publishPeriod (${period} ms)`)
}

const validate = (options: Options): OptionsError | undefined => {
  const url = internalConnection.urlOf(options)
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    // A URL may carry a password: never shown.
    const shown = typeof url === "string" ? url.replace(/\/\/[^@/]*@/, "//<redacted>@") : url
    return Invalid.make("Store", "redis", shown, "a redis:// or rediss:// URL")
  }
  if (
    options.onUnavailable !== undefined && options.onUnavailable !== "fail-open" &&
    options.onUnavailable !== "fail-closed"
  ) {
    return Invalid.make("Store", "onUnavailable", options.onUnavailable, `"fail-open" or "fail-closed"`)
  }
  return Invalid.positive("Store", "instances", options.instances, { integer: true, optional: true }) ??
    Invalid.duration("Store", "commandTimeout", options.commandTimeout, true, withinTimers) ??
    Invalid.duration("Store", "leaseTtl", options.leaseTtl, true) ??
    Invalid.duration("Store", "publishPeriod", options.publishPeriod, true) ??
    Invalid.duration("Store", "publishTtl", options.publishTtl, true) ??
    publishTtlTooShort(options) ??
    (options.prefix === undefined || options.prefix !== ""
      ? undefined
      : Invalid.make("Store", "prefix", "", "a non-empty string"))
}

/**
 * A Redis store whose connection lives in the current scope. It connects in the background and reconnects by itself:
 * a store whose Redis is down still builds, and behaves per `onUnavailable`. Fails with `OptionsError` naming a bad
 * option.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyPool, RateLimiter, Store } from "effect-llm-router"
 *
 * // Every instance runs this: they share one bucket and one pool.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* Store.make({ redis: "redis://127.0.0.1:6379", onUnavailable: "fail-open", instances: 3 })
 *   const limiter = yield* RateLimiter.make({ capacity: 20, refillRate: 5, key: "openai" }).pipe(
 *     Effect.provide(RateLimiter.layerStoreRedis(store))
 *   )
 *   const pool = yield* KeyPool.make({ providerId: "openai", keys: ["sk-one", "sk-two"], key: "openai" }).pipe(
 *     Effect.provide(KeyPool.layerStoreRedis(store))
 *   )
 *   return { limiter, pool }
 * }))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Store, OptionsError, Scope.Scope> =>
  Effect.suspend(() => {
    const invalid = validate(options)
    return invalid === undefined ? internalConnection.make(options) : Effect.fail(invalid)
  })
