/**
 * How pools are made once their options are checked, all by the one algorithm over a lease store
 * (`keyPool/stored.ts`): over a provided `KeyPool.LeaseStore` (or the deprecated `shared`); else a standalone pool
 * over a memory store of its own (`keyPool/memory.ts`), or a registry's, over its own keys' states in the registry's
 * memory store (one group per provider id and endpoint, one state per key). Also the service
 * `KeyPool.fromAcquire` builds, and the registry's tag, `KeyPool.KeyPoolRegistry`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
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
import * as Memory from "./memory.js"
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
  // Read without making the key's record: the pool makes it once, after every key is checked.
  const maxConcurrency = Stored.maxConcurrencyOf(entry)
  return Invalid.positive("KeyPool", `keys[${index}].weight`, Stored.weightOf(entry)) ??
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
    Invalid.duration("KeyPool", "slowStart", options.slowStart)
  if (timing !== undefined) return Effect.succeed(timing)
  const key = Invalid.nonEmpty("KeyPool", "key", options.key, { optional: true })
  if (key !== undefined) return Effect.succeed(key)
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
 * Where a pool keeps its state when it is given one: a provided `KeyPool.LeaseStore` under `options.key` (by default a
 * key no other pool names).
 */
const backendOf = (options: KeyPool.Options): Effect.Effect<Stored.Backend | undefined> =>
  Effect.map(
    Effect.serviceOption(LeaseStore),
    Option.match({
      onNone: () => undefined,
      onSome: (store) => ({ store, key: options.key ?? uniqueId() })
    })
  )

// With the deprecated `shared`: over its store's Redis layer, under its key.
const viaSharedStore = <A, E>(
  options: KeyPool.Options,
  make: (options: KeyPool.Options) => Effect.Effect<A, E>
): Effect.Effect<A, E | OptionsError> =>
  viaShared(
    "KeyPool",
    options,
    make,
    (shared) => Effect.succeed(Redis.layer(shared.store))
  )

// A memory store of a pool (or registry) of its own: its pools lease every key, so it publishes no loads and the
// scope it would publish them in is never used.
const memoryStore = (): KeyPool.LeaseStore["Service"] => Memory.leaseStore(Scope.makeUnsafe())

/** A standalone pool (`KeyPool.make`): over the provided store, else over a memory store of its own. */
export const make = (options: KeyPool.Options): Effect.Effect<KeyPool.Service, OptionsError> =>
  viaSharedStore(options, (options) =>
    Effect.andThen(
      validated(options),
      Effect.flatMap(
        backendOf(options),
        (backend) => Stored.make(options, backend ?? { store: memoryStore(), key: "pool" }, Stored.settingsOf(options))
      )
    ))

/**
 * A registry with no pools yet (`KeyPool.makeRegistry`): each pool picks among the keys it lists only, over one state
 * per key in the registry's memory store, where the pools of one provider id and endpoint keep one group (the same key
 * listed by two of them is one key: its calls, cooldowns and disable count once).
 */
export const makeRegistry: Effect.Effect<KeyPool.RegistryService> = Effect.sync(() => {
  let store: KeyPool.LeaseStore["Service"] | undefined
  return {
    pool: (given) =>
      viaSharedStore(given, (options) =>
        Effect.andThen(
          validated(options),
          Effect.flatMap(backendOf(options), (backend) => {
            const settings = Stored.settingsOf(options)
            if (backend !== undefined) return Stored.make(options, backend, settings)
            store ??= memoryStore()
            const name = JSON.stringify([options.providerId, options.endpoint ?? null])
            return Effect.flatMap(
              Stored.makeCore(options.providerId, options.keys, undefined, { store, key: name }),
              (core) => Stored.service(core, settings)
            )
          })
        ))
  }
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
 * `KeyPool.fromAcquire`: each `take` acquires in a scope of its own, closed by `release`. Such a pool cannot be
 * tried without waiting, so `tryTake` (and `tryTakeKey`) always says no, nor told how long to wait, so `take` waits
 * as its `acquire` does.
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
    report: (lease, outcome) =>
      lease instanceof ScopedLease ? scoped.report(lease.lease, outcome) : scoped.report(lease, outcome),
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
