/**
 * The deprecated `shared` option of `Budget`, `KeyPool`, `RateLimiter` and `Router` (since 0.3.0, removed in 0.4.0),
 * read only here, as what it stands for: the same constructor with `key: shared.key` over the store's Redis layer.
 */
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { OptionsError } from "../../OptionsError.js"
import * as Invalid from "../optionsError.js"

/**
 * `make(options)`, or with `options.shared`, `make` given `key: shared.key` (else its own) over `layerOf(shared)`;
 * `OptionsError` naming `shared.key` when it is not a non-empty string (`optional`: or absent).
 */
export const viaShared = <
  O extends { readonly shared?: { readonly key?: string | undefined } | undefined; readonly key?: string | undefined },
  A,
  E,
  R,
  L,
  LE,
  LR
>(
  module: string,
  options: O,
  make: (options: O) => Effect.Effect<A, E, R>,
  layerOf: (shared: NonNullable<O["shared"]>) => Effect.Effect<Layer.Layer<L>, LE, LR>,
  how?: { readonly optional?: boolean | undefined }
): Effect.Effect<A, E | LE | OptionsError, R | LR> => {
  const shared = options.shared as NonNullable<O["shared"]> | undefined
  if (shared === undefined) return make(options)
  const invalid = Invalid.nonEmpty(module, "shared.key", shared.key, how)
  if (invalid !== undefined) return Effect.fail(invalid)
  return Effect.flatMap(
    layerOf(shared),
    (layer) => Effect.provide(make({ ...options, shared: undefined, key: shared.key ?? options.key }), layer)
  )
}
