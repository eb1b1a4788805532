/**
 * How pools are made once their options are checked: a standalone pool over a state of its own, or a registry's,
 * over one state per provider id and endpoint (a later pool of them adds the keys the state lacks); a pool with
 * `shared` keeps its state in that store (`keyPool/stored.ts`) either way. The registry's tag,
 * `KeyPool.KeyPoolRegistry`, is here.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as KeyPool from "../../KeyPool.js"
import type { OptionsError } from "../../OptionsError.js"
import { uniqueId } from "../store/leases.js"
import { LeaseStore } from "./leaseStore.js"
import * as Redis from "./redis.js"
import { makeService, settingsOf } from "./service.js"
import { addKeys, invalidOptions, makeState, type State } from "./state.js"
import * as Stored from "./stored.js"

// `options` checked: `OptionsError` when they are invalid.
const validated = (options: KeyPool.Options): Effect.Effect<void, OptionsError> => {
  const invalid = invalidOptions(options)
  return invalid === undefined ? Effect.void : Effect.fail(invalid)
}

/**
 * Where a pool keeps its state when not in this process' heap: the deprecated `shared` read in the one place it is
 * (it names the Redis store and the key), else a provided `KeyPool.LeaseStore` under `options.key` (by default a key
 * no other pool names).
 */
const backendOf = (options: KeyPool.Options): Effect.Effect<Stored.Backend | undefined> =>
  options.shared !== undefined
    ? Effect.succeed({ store: Redis.leaseStore(options.shared.store), key: options.shared.key })
    : Effect.map(
      Effect.serviceOption(LeaseStore),
      Option.match({
        onNone: () => undefined,
        onSome: (store) => ({ store, key: options.key ?? uniqueId() })
      })
    )

/** A standalone pool with its own state (`KeyPool.make`), or over the provided store. */
export const make = (options: KeyPool.Options): Effect.Effect<KeyPool.Service, OptionsError> =>
  Effect.andThen(
    validated(options),
    Effect.flatMap(backendOf(options), (backend) => {
      const settings = settingsOf(options)
      if (backend !== undefined) return Stored.make(options, backend, settings)
      return Effect.map(Ref.make(makeState(options.providerId, options.keys)), (ref) => makeService(ref, settings))
    })
  )

/** A registry with no pools yet (`KeyPool.makeRegistry`). */
export const makeRegistry: Effect.Effect<KeyPool.RegistryService> = Effect.sync(() => {
  // By provider id, then endpoint (`undefined`: none given).
  const states = new Map<string, Map<string | undefined, Ref.Ref<State>>>()
  return {
    pool: (options) =>
      Effect.andThen(
        validated(options),
        Effect.flatMap(backendOf(options), (backend) => {
          const settings = settingsOf(options)
          if (backend !== undefined) return Stored.make(options, backend, settings)
          let endpoints = states.get(options.providerId)
          if (endpoints === undefined) {
            endpoints = new Map()
            states.set(options.providerId, endpoints)
          }
          const existing = endpoints.get(options.endpoint)
          if (existing === undefined) {
            const ref = Ref.makeUnsafe(makeState(options.providerId, options.keys))
            endpoints.set(options.endpoint, ref)
            return Effect.succeed(makeService(ref, settings))
          }
          return Effect.flatMap(
            Ref.modify(existing, (state) => [addKeys(state, options.keys), state]),
            (wake) =>
              Effect.as(
                wake === undefined ? Effect.void : Deferred.succeed(wake, undefined),
                makeService(existing, settings)
              )
          )
        })
      )
  }
})

/** `KeyPool.KeyPoolRegistry`: the registry pools built with `KeyPool.layer` share state through. */
export class KeyPoolRegistry extends Context.Service<KeyPoolRegistry, KeyPool.RegistryService>()(
  "effect-llm-router/KeyPoolRegistry"
) {
  /** A registry with no pools yet, as a layer: one value, so every layer providing it in one build shares it. */
  static readonly layer: Layer.Layer<KeyPoolRegistry> = Layer.effect(KeyPoolRegistry, makeRegistry)
}
