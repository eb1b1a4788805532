import { describe, expect, it } from "@effect/vitest"
import { Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Budget from "../../src/Budget.js"
import * as Llm from "../../src/Llm.js"
import * as Pricing from "../../src/Pricing.js"
import * as UsageLedger from "../../src/UsageLedger.js"
import { budgetLayerInMemory } from "../utils/memoryStores.js"
import { trackedSimulator } from "../utils/trackedSimulator.js"

const key = "sk-sim-budget-000000000005"

describe("Budget over loopback", () => {
  it.live("calls are charged their cost until the next one would pass the limit; that one is never sent", () =>
    Effect.gen(function*() {
      const provider = yield* trackedSimulator(key, "sim", { replyTokens: 20 })
      const price = Pricing.lookup("gpt-4o-mini")!
      const request = { messages: [Message.user("Spend a little")], maxTokens: 20 }
      const estimate = Pricing.estimate(price, request)
      // Room for three calls' estimates, not four.
      const limit = estimate * 3.5
      const layer = Budget.guard({ price, provider: "sim", scopes: ["sim"] }).pipe(
        Layer.provideMerge(
          Layer.merge(provider, budgetLayerInMemory({ limits: [{ scope: "sim", limit, period: "1 day" }] }))
        )
      )
      yield* Effect.gen(function*() {
        let sent = 0
        while (sent < 100) {
          const outcome = yield* Effect.result(
            sent % 2 === 0 ? Llm.chat(request) : Stream.runDrain(Llm.chatStream(request))
          )
          if (outcome._tag === "Failure") {
            expect(outcome.failure).toMatchObject({ _tag: "BudgetExceededError", scope: "sim", limit, estimate })
            break
          }
          sent++
        }
        const { overall } = yield* (yield* UsageLedger.UsageLedger).totals
        expect(overall.requests).toBe(sent)
        const [status] = yield* (yield* Budget.Budget).status
        expect(status!.reserved).toBe(0)
        expect(status!.spent).toBeCloseTo(overall.cost, 12)
        // Each call cost at most its estimate, so at least three fit; and the loop ended on a refusal.
        expect(sent).toBeGreaterThanOrEqual(3)
        expect(sent).toBeLessThan(100)
        expect(status!.spent + estimate).toBeGreaterThan(limit)
      }).pipe(Effect.provide(layer))
    }))
})
