import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"

const monthly = { limit: 10, period: "month" } as const

describe("what a gateway key keeps across reloads", () => {
  it.effect("its budget: the same one while its limit and period are the same, else one charged what it spent", () =>
    Effect.gen(function*() {
      const limits = yield* KeyLimits.make(undefined)
      const first = yield* limits.budget(new Map(), "app", monthly)
      const paid = yield* first.budget.check({ estimate: 2 })
      yield* first.budget.charge(paid, 1.5)
      // A call still in flight at the reload: its worst case counts as spent.
      yield* first.budget.check({ estimate: 0.5 })
      const kept = new Map([["app", first]])

      expect(yield* limits.budget(kept, "app", monthly)).toBe(first)
      const raised = yield* limits.budget(kept, "app", { ...monthly, limit: 20 })
      expect(raised.budget).not.toBe(first.budget)
      const [status] = yield* raised.budget.status
      expect(status).toMatchObject({ limit: 20, reserved: 0 })
      expect(status!.spent).toBeCloseTo(2, 12)
      // A key seen for the first time starts empty.
      const [fresh] = yield* (yield* limits.budget(kept, "other", monthly)).budget.status
      expect(fresh!.spent).toBe(0)
    }))

  it.effect("its rate limiter: shared while its rate limit is the same and a holder is open, else a new one", () =>
    Effect.gen(function*() {
      const limits = yield* KeyLimits.make(undefined)
      const rate = { capacity: 2, refillRate: 0.001 }
      const before = yield* Scope.make()
      const limiter = yield* Scope.provide(limits.limiter("app", rate), before)
      yield* Effect.scoped(limiter.consume())
      const after = yield* Scope.make()
      expect(yield* Scope.provide(limits.limiter("app", rate), after)).toBe(limiter)
      expect(yield* Scope.provide(limits.limiter("app", { ...rate, capacity: 3 }), after)).not.toBe(limiter)
      yield* Scope.close(before, Exit.void)
      yield* Scope.close(after, Exit.void)
      const again = yield* Effect.scoped(limits.limiter("app", rate))
      expect(again).not.toBe(limiter)
    }).pipe(Effect.scoped))
})
