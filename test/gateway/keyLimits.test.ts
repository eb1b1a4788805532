import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { memoryKeyLimits } from "../utils/memoryKeyLimits.js"

const monthly = { limit: 10, period: "month" } as const

describe("what a gateway key keeps across reloads", () => {
  it.effect("its budget: the same one while its limit and period are the same, else one over the same spend", () =>
    Effect.gen(function*() {
      const limits = yield* memoryKeyLimits
      const first = yield* limits.budget(new Map(), "app", monthly)
      const paid = yield* first.budget.check({ estimate: 2 })
      yield* first.budget.charge(paid, 1.5)
      // A call still in flight at the reload: its worst case stays reserved, in the counter the new budget reads.
      const inFlight = yield* first.budget.check({ estimate: 0.5 })
      const kept = new Map([["app", first]])

      expect(yield* limits.budget(kept, "app", monthly)).toBe(first)
      const raised = yield* limits.budget(kept, "app", { ...monthly, limit: 20 })
      expect(raised.budget).not.toBe(first.budget)
      const [status] = yield* raised.budget.status
      expect(status).toMatchObject({ limit: 20, spent: 1.5, reserved: 0.5 })
      // Charged by the budget that reserved it, it counts against the new one at its real cost.
      yield* first.budget.charge(inFlight, 0.25)
      const [settled] = yield* raised.budget.status
      expect(settled).toMatchObject({ spent: 1.75, reserved: 0 })
      expect(yield* Effect.flip(raised.budget.check({ estimate: 18.5 }))).toMatchObject({
        _tag: "BudgetExceededError",
        spent: 1.75
      })
      // A key seen for the first time starts empty.
      const [fresh] = yield* (yield* limits.budget(kept, "other", monthly)).budget.status
      expect(fresh!.spent).toBe(0)
    }))

  it.effect("its budget after a reload that changed its period: counted in the new period, whatever the old settles", () =>
    Effect.gen(function*() {
      const limits = yield* memoryKeyLimits
      const first = yield* limits.budget(new Map(), "app", monthly)
      const inFlight = yield* first.budget.check({ estimate: 0.5 })
      const daily = yield* limits.budget(new Map([["app", first]]), "app", { limit: 10, period: "1 day" })
      yield* daily.budget.charge(yield* daily.budget.check({ estimate: 1 }), 1)
      // The call in flight at the reload ends: charged to the month it was reserved in, not over the day's count.
      yield* first.budget.charge(inFlight, 0.25)
      const [day] = yield* daily.budget.status
      expect(day).toMatchObject({ spent: 1, reserved: 0 })
      const [month] = yield* first.budget.status
      expect(month).toMatchObject({ spent: 0.25, reserved: 0 })
    }))

  it.effect("its rate limiter: shared while its rate limit is the same and a holder is open, else a new one", () =>
    Effect.gen(function*() {
      const limits = yield* memoryKeyLimits
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
