/**
 * How pools are made once their options are checked, all by the one algorithm over the provided lease store
 * (`keyPool/stored.ts`): a standalone pool under its `key` or one no other pool names; a registry's under its `key` or
 * one of the registry's per provider id (and endpoint), so a registry's pools share each key's state. Also
 * `KeyPool.fromAcquire` and the registry's tag.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as KeyPool from "../../KeyPool.js"
import { OptionsError } from "../../OptionsError.js"
import type * as ProviderClient from "../../ProviderClient.js"
import * as Invalid from "../optionsError.js"
import { uniqueId } from "../persistence/uniqueId.js"
import * as Steps from "../steps.js"
import { viaShared } from "../store/deprecatedShared.js"
import { LeaseStore } from "./leaseStore.js"
import * as Redis from "./redis/layer.js"
import * as Stored from "./stored.js"

// An entry without a usable key, as its error shows it: a missing one (an unset variable's `undefined`) as such, else
// masked.
const badKey = (entry: unknown): string | undefined => {
  const key = typeof entry === "object" && entry !== null && !Redacted.isRedacted(entry)
    ? (entry as { readonly key?: unknown }).key
    : entry
  const value = Redacted.isRedacted(key) ? Redacted.value(key) : key
  return typeof value === "string" && value !== ""
    ? undefined
    : value === undefined || value === null
    ? String(value)
    : "<redacted>"
}

// Why the key listed at `index` cannot be one, or undefined. The error never shows a key.
function invalidKey(entry: KeyPool.Options["keys"][number], index: number): OptionsError | undefined {
  const bad = badKey(entry)
  if (bad !== undefined) {
    return new OptionsError({ module: "KeyPool", option: `keys[${index}]`, value: bad, expected: "a non-empty key" })
  }
  // Read without making the key's record: the pool makes it once, after every key is checked. A weight is 1 unless
  // given, a cap of requests in flight none.
  const listed = Stored.listedOptions(entry)
  const maxConcurrency = listed?.maxConcurrency ?? Infinity
  return Invalid.positive("KeyPool", `keys[${index}].weight`, listed?.weight ?? 1) ??
    (maxConcurrency === Infinity
      ? undefined
      : Invalid.positive("KeyPool", `keys[${index}].maxConcurrency`, maxConcurrency, { integer: true }))
}

/** Why the options cannot make a pool, or undefined: the first problem, the keys checked a step at a time. */
const invalidOptions = (options: KeyPool.Options): Effect.Effect<OptionsError | undefined> => {
  const cooldown = options.rateLimitCooldown
  const timing = Invalid.duration("KeyPool", "rateLimitCooldown.initial", cooldown?.initial, true) ??
    Invalid.duration("KeyPool", "rateLimitCooldown.max", cooldown?.max, true) ??
    Invalid.duration("KeyPool", "maxCooldown", options.maxCooldown, true) ??
    Invalid.duration("KeyPool", "slowStart", options.slowStart) ??
    Invalid.nonEmpty("KeyPool", "key", options.key, { optional: true })
  if (timing !== undefined) return Effect.succeed(timing)
  // A pool without keys could only ever fail its calls with NoCapacityError.
  if (options.keys.length === 0) {
    return Effect.succeed(
      new OptionsError({ module: "KeyPool", option: "keys", value: "[]", expected: "at least one key" })
    )
  }
  return Effect.suspend(() => {
    let problem: OptionsError | undefined
    const checked = Steps.inSteps(options.keys, (chunk, from) => {
      for (let i = 0; i < chunk.length && problem === undefined; i++) problem = invalidKey(chunk[i]!, from + i)
    })
    return Effect.map(checked, () => problem)
  })
}

// `options` checked: `OptionsError` when they are invalid.
const validated = (options: KeyPool.Options): Effect.Effect<void, OptionsError> =>
  Effect.flatMap(invalidOptions(options), (invalid) => invalid === undefined ? Effect.void : Effect.fail(invalid))

/**
 * A pool over the provided `KeyPool.LeaseStore`: pools naming one key (and endpoint) of one store are one pool. With
 * the deprecated `shared`: over its store's Redis layer, under its key.
 */
const overStore = (
  given: KeyPool.Options,
  unnamed: (options: KeyPool.Options) => string
): Effect.Effect<KeyPool.Service, OptionsError, LeaseStore> =>
  viaShared(
    "KeyPool",
    given,
    (options) =>
      Effect.andThen(
        validated(options),
        Effect.flatMap(
          Effect.service(LeaseStore),
          (store) => Stored.make(options, { store, key: options.key ?? unnamed(options) }, Stored.settingsOf(options))
        )
      ),
    (shared) => Effect.succeed(Redis.layer(shared.store))
  )

/** A standalone pool (`KeyPool.make`): over the provided store, under a key no other pool names unless it names one. */
export const make = (options: KeyPool.Options): Effect.Effect<KeyPool.Service, OptionsError, LeaseStore> =>
  overStore(options, uniqueId)

/**
 * A registry with no pools yet: each pool picks among the keys it lists only; one without a `key` of its own is kept
 * under a key of the registry's, provider id and endpoint, so the same key listed by two pools is one key (its calls,
 * cooldowns and disable count once).
 */
export const makeRegistry: Effect.Effect<KeyPool.RegistryService> = Effect.sync(() => {
  const registry = uniqueId()
  const unnamed = (options: KeyPool.Options) => JSON.stringify([registry, options.providerId])
  return { pool: (options) => overStore(options, unnamed) }
})

/** A lease of a pool built by `fromAcquire`, with the scope its `acquire` runs in. */
class ScopedLease implements KeyPool.Lease {
  readonly credentials: ProviderClient.Credentials
  readonly slot: number
  constructor(readonly lease: KeyPool.Lease, readonly scope: Scope.Closeable) {
    this.credentials = lease.credentials
    this.slot = lease.slot
  }
}

/**
 * `KeyPool.fromAcquire`: each `take` acquires in a scope of its own, closed by `release`. Such a pool can be neither
 * tried without waiting (`tryTake` always says no) nor told how long to wait, so `take` waits as `acquire` does.
 */
export const fromAcquire = (scoped: KeyPool.ScopedService): KeyPool.Service => {
  const foreign = Effect.die(new Error(`KeyPool ${scoped.providerId}: a lease this pool did not issue was given to it`))
  const take = Effect.flatMap(Scope.make(), (scope) =>
    Effect.map(
      Effect.onError(Scope.provide(scoped.acquire, scope), (cause) => Scope.close(scope, Exit.failCause(cause))),
      (lease): KeyPool.Lease => new ScopedLease(lease, scope)
    ))
  return {
    providerId: scoped.providerId,
    acquire: scoped.acquire,
    take: () => take,
    tryTake: Effect.succeed(undefined),
    tryTakeKey: () => Effect.succeed(undefined),
    release: (lease) => lease instanceof ScopedLease ? Scope.close(lease.scope, Exit.void) : foreign,
    report: (lease, outcome) => scoped.report(lease instanceof ScopedLease ? lease.lease : lease, outcome),
    status: scoped.status
  }
}

/** `KeyPool.KeyPoolRegistry`: the registry pools built with `KeyPool.layer` share state through. */
export class KeyPoolRegistry extends Context.Service<KeyPoolRegistry, KeyPool.RegistryService>()(
  "effect-llm-router/KeyPoolRegistry"
) {
  /** A registry with no pools yet, as a layer: one value, so every layer providing it in one build shares it. */
  static readonly layer: Layer.Layer<KeyPoolRegistry> = Layer.effect(KeyPoolRegistry, makeRegistry)
}
