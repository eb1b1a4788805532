import { it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"

/**
 * A property over fast-check arbitraries, each run an Effect with a fresh
 * `TestClock` and scope (`@effect/vitest` 4's `it.effect.prop` takes Effect's own
 * `Arbitrary`, not fast-check's).
 */
export const effectProp = <A>(
  name: string,
  arbitrary: fc.Arbitrary<A>,
  property: (value: A) => Effect.Effect<unknown, unknown, Scope.Scope>,
  numRuns = 100
) =>
  it(name, () =>
    fc.assert(
      fc.asyncProperty(
        arbitrary,
        (value) =>
          Effect.runPromise(Effect.asVoid(property(value)).pipe(Effect.scoped, Effect.provide(TestClock.layer())))
      ),
      { numRuns }
    ))
