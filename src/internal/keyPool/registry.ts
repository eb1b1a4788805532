/**
 * How pools are made once their options are checked: a standalone pool over a state of its own, or a registry's,
 * over one state per provider id and endpoint (a later pool of them adds the keys the state lacks); a pool with
 * `shared` keeps its state in its store (`keyPool/shared.ts`) either way. The registry's tag,
 * `KeyPool.KeyPoolRegistry`, is here.
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as KeyPool from "../../KeyPool.js"
import type { OptionsError } from "../../OptionsError.js"
import { makeService, settingsOf } from "./service.js"
import * as Shared from "./shared.js"
import { addKeys, invalidOptions, makeState, type State } from "./state.js"

// `options` checked: `OptionsError` when they are invalid.
const validated = (options: KeyPool.Options): Effect.Effect<void, OptionsError> => {
  const invalid = invalidOptions(options)
  return invalid === undefined ? Effect.void : Effect.fail(invalid)
}

/** A standalone pool with its own state (`KeyPool.make`). */
export const make = (options: KeyPool.Options): Effect.Effect<KeyPool.Service, OptionsError> =>
  Effect.andThen(
    validated(options),
    Effect.suspend(() => {
      const settings = settingsOf(options)
      if (options.shared !== undefined) return Shared.make(options, options.shared, settings)
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
        Effect.suspend(() => {
          const settings = settingsOf(options)
          if (options.shared !== undefined) return Shared.make(options, options.shared, settings)
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
