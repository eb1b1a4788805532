import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Generation from "../../src/internal/gateway/server.js"

/** A generation named `name` whose scope's close is recorded in `closed`. */
const named = (name: string, closed: Array<string>) =>
  Effect.as(Effect.addFinalizer(() => Effect.sync(() => closed.push(name))), name)

describe("a gateway's generations", () => {
  it.effect("a replaced generation closes when its last lease ends, not before; one failing to build never serves", () =>
    Effect.gen(function*() {
      const closed: Array<string> = []
      const generations = yield* Generation.makeGenerations<string>()
      // Before the first is served a request holds none (the server answers it as the gateway starting).
      expect(yield* Effect.scoped(generations.lease)).toBeUndefined()
      yield* generations.replace(() => named("first", closed))
      const request = yield* Scope.make()
      expect(yield* Scope.provide(generations.lease, request)).toBe("first")

      let previous: string | undefined
      yield* generations.replace((before) => {
        previous = before
        return named("second", closed)
      })
      expect(previous).toBe("first")
      expect(generations.current()).toBe("second")
      // The request that began on the first still holds it.
      expect(closed).toEqual([])
      yield* Scope.close(request, Exit.void)
      expect(closed).toEqual(["first"])

      const refused = yield* Effect.flip(
        generations.replace(() => Effect.andThen(named("broken", closed), Effect.fail("bad file")))
      )
      expect(refused).toBe("bad file")
      expect(closed).toEqual(["first", "broken"])
      expect(generations.current()).toBe("second")
      expect(yield* Effect.scoped(generations.lease)).toBe("second")
      // The current generation holds its own lease: a request ending does not close it.
      expect(closed).toEqual(["first", "broken"])
    }).pipe(Effect.scoped))

  it.effect("closing the scope they were made in closes the generation served", () =>
    Effect.gen(function*() {
      const closed: Array<string> = []
      const scope = yield* Scope.make()
      const generations = yield* Scope.provide(Generation.makeGenerations<string>(), scope)
      yield* generations.replace(() => named("only", closed))
      yield* Scope.close(scope, Exit.void)
      expect(closed).toEqual(["only"])
    }))
})
