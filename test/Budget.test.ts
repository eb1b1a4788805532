import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Budget from "../src/Budget.js"
import * as ChatChunk from "../src/ChatChunk.js"
import * as Llm from "../src/Llm.js"
import { ProviderUnavailableError } from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import * as Pricing from "../src/Pricing.js"
import { StoreUnavailableError } from "../src/Store.js"
import { budgetInMemory, budgetLayerInMemory } from "./utils/memoryStores.js"

const hour = 3_600_000

// An in-memory budget has no store to lose: its check fails only with BudgetExceededError.
const refused = (budget: Budget.Service, call: Budget.Call) =>
  Effect.flatMap(
    Effect.flip(budget.check(call)),
    (error) => error._tag === "BudgetExceededError" ? Effect.succeed(error) : Effect.die(error)
  )
describe("Budget.check and charge", () => {
  it.effect("refuses a call that would pass the limit, naming scope, limit, spent, estimate and period end", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 hour" }] })
      yield* budget.charge(yield* budget.check({ estimate: 0.6 }), 0.6)
      const error = yield* refused(budget, { estimate: 0.5, provider: "openai", model: "gpt-4o" })
      expect(error._tag).toBe("BudgetExceededError")
      expect(error).toMatchObject({ scope: "overall", limit: 1, spent: 0.6, estimate: 0.5, periodEnd: hour })
      expect(error.message).toContain("openai (gpt-4o) would pass the overall budget (spent $0.6 of $1")
      expect(error.message).toContain("1970-01-01T01:00:00.000Z")
      // What fits still passes.
      yield* budget.check({ estimate: 0.4 })
    }))

  it.effect("a window is fixed: spend starts again from zero when it ends", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 hour" }] })
      yield* TestClock.adjust("30 minutes")
      yield* budget.charge(yield* budget.check({ estimate: 1 }), 1)
      yield* TestClock.adjust(Duration.millis(30 * 60_000 - 1))
      expect((yield* refused(budget, { estimate: 0.01 })).periodEnd).toBe(hour)
      yield* TestClock.adjust("1 millis")
      yield* budget.check({ estimate: 1 })
      const [status] = yield* budget.status
      expect(status).toStrictEqual({
        scope: "overall",
        limit: 1,
        period: "1h",
        spent: 0,
        reserved: 1,
        periodStart: hour,
        periodEnd: 2 * hour
      })
    }))

  it.effect("month is the UTC calendar month", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 31, 23, 59))
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 10, period: "month" }] })
      yield* budget.charge(yield* budget.check({ estimate: 10 }), 10)
      const error = yield* refused(budget, { estimate: 1 })
      expect(error.periodEnd).toBe(Date.UTC(2026, 1, 1))
      yield* TestClock.setTime(Date.UTC(2026, 1, 1))
      yield* budget.check({ estimate: 10 })
      const [status] = yield* budget.status
      expect(status!.periodEnd).toBe(Date.UTC(2026, 2, 1))
    }))

  it.effect("reserves the estimate until charged, then keeps the real cost; a second charge does nothing", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 day" }] })
      const first = yield* budget.check({ estimate: 0.8 })
      expect((yield* refused(budget, { estimate: 0.3 })).spent).toBe(0.8)
      yield* budget.charge(first, 0.5)
      yield* budget.charge(first, 0.9)
      const second = yield* budget.check({ estimate: 0.3 })
      yield* budget.charge(second, undefined)
      const [status] = yield* budget.status
      expect(status!.spent).toBeCloseTo(0.8, 12)
      expect(status!.reserved).toBe(0)
    }))

  it.effect(
    "an in-flight estimate stays reserved across a window's end, and its cost lands in the window it ends " +
      "in",
    () =>
      Effect.gen(function*() {
        const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 hour" }] })
        const inFlight = yield* budget.check({ estimate: 0.7 })
        yield* TestClock.adjust("1 hour")
        expect((yield* refused(budget, { estimate: 0.5 })).spent).toBe(0.7)
        yield* budget.charge(inFlight, 0.2)
        const [status] = yield* budget.status
        expect(status).toMatchObject({ spent: 0.2, reserved: 0, periodStart: hour })
      })
  )

  it.effect("overall limits apply to every call, a scope's only to calls that list it", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({
        limits: [
          { scope: "overall", limit: 10, period: "1 day" },
          { scope: "east", limit: 1, period: "1 day" },
          { scope: "fast", limit: 2, period: "1 minute" }
        ]
      })
      yield* budget.check({ estimate: 5 })
      expect((yield* refused(budget, { estimate: 5, scopes: ["east"] })).scope).toBe("east")
      expect((yield* refused(budget, { estimate: 5.5, scopes: ["west", "fast"] })).scope).toBe("overall")
      yield* budget.check({ estimate: 1, scopes: ["east", "fast"] })
      const byScope = Object.fromEntries((yield* budget.status).map((s) => [s.scope, s.reserved]))
      expect(byScope).toStrictEqual({ overall: 6, east: 1, fast: 1 })
    }))

  it.effect("a zero limit admits nothing, not even a call estimated at 0", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 0, period: "1 day" }] })
      expect((yield* refused(budget, { estimate: 0 }))._tag).toBe("BudgetExceededError")
    }))

  it.effect("float sums of cents do not refuse a call that fits exactly", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 0.03, period: "1 day" }] })
      for (let i = 0; i < 3; i++) yield* budget.charge(yield* budget.check({ estimate: 0.01 }), 0.01)
      yield* refused(budget, { estimate: 0.01 })
    }))

  it.effect("two concurrent calls that each fit alone: exactly one passes", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 day" }] })
      const results = yield* Effect.all([budget.check({ estimate: 0.6 }), budget.check({ estimate: 0.6 })], {
        concurrency: "unbounded",
        mode: "result"
      })
      expect(results.filter(Result.isSuccess).length).toBe(1)
    }))

  // fast-check's arbitraries, run by fast-check itself: `it.effect.prop` takes
  // Effect's own `Arbitrary` (or a Schema) in Effect 4.
  it("under any concurrency, the admitted estimates never pass the limit", () =>
    fc.assert(fc.asyncProperty(
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }),
      fc.double({ min: 0.01, max: 5, noNaN: true }),
      (estimates, limit) =>
        Effect.runPromise(
          Effect.gen(function*() {
            const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit, period: "1 day" }] })
            const results = yield* Effect.all(estimates.map((estimate) => budget.check({ estimate })), {
              concurrency: "unbounded",
              mode: "result"
            })
            const admitted = results.filter(Result.isSuccess).reduce((sum, r) => sum + r.success.estimate, 0)
            expect(admitted).toBeLessThanOrEqual(limit + 1e-9)
            const [status] = yield* budget.status
            expect(status!.reserved).toBeCloseTo(admitted, 9)
          }).pipe(Effect.provide(TestClock.layer()))
        )
    )))

  it.effect("a bad limit fails with OptionsError naming it by position", () =>
    Effect.gen(function*() {
      const negative = yield* Effect.flip(budgetInMemory({ limits: [{ scope: "east", limit: -1, period: "1 day" }] }))
      expect(negative).toMatchObject({ _tag: "OptionsError", module: "Budget", option: "limits[0].limit", value: "-1" })
      expect(negative.message).toBe("Budget: limits[0].limit must be 0 or more dollars, got -1")
      const zero = yield* Effect.flip(budgetInMemory({
        limits: [{ scope: "east", limit: 1, period: "1 day" }, { scope: "west", limit: 1, period: "0 millis" }]
      }))
      expect(zero).toMatchObject({ _tag: "OptionsError", option: "limits[1].period", value: "\"0 millis\"" })
      expect(zero.message).toContain("must be a positive, finite duration or \"month\"")
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(budgetLayerInMemory({
        limits: [{ scope: "east", limit: Number.NaN, period: "month" }]
      }))))
      expect(layered).toMatchObject({ _tag: "OptionsError", option: "limits[0].limit", value: "NaN" })
    }))
})

describe("Budget's store", () => {
  const limits = [{ scope: Budget.overall, limit: 10, period: "1 day" as const }]

  it("is required: a budget or its layer left without one does not compile (the typecheck of the tests proves it)", () => {
    // @ts-expect-error: `Budget.make` requires the `BudgetStore`.
    const made: Effect.Effect<Budget.Service, unknown> = Budget.make({ limits })
    // @ts-expect-error: `Budget.layer` requires it too.
    const layered: Layer.Layer<Budget.Budget, unknown> = Budget.layer({ limits })
    const inMemory: Effect.Effect<Budget.Service, unknown> = Budget.make({ limits }).pipe(
      Effect.provide(Budget.layerStoreMemory)
    )
    expect([made, layered, inMemory].every(Boolean)).toBe(true)
  })

  it.effect("budgets giving one key over one store hold one budget; another key, or none, is apart", () =>
    Effect.gen(function*() {
      const first = yield* Budget.make({ limits, key: "team" })
      const second = yield* Budget.make({ limits, key: "team" })
      const other = yield* Budget.make({ limits, key: "other" })
      const unnamed = yield* Budget.make({ limits })
      yield* first.charge(yield* first.check({ estimate: 6 }), 6)
      const [shared] = yield* second.status
      expect(shared).toMatchObject({ spent: 6, reserved: 0 })
      expect((yield* refused(second, { estimate: 5 })).spent).toBe(6)
      expect((yield* other.status)[0]).toMatchObject({ spent: 0 })
      expect((yield* unnamed.status)[0]).toMatchObject({ spent: 0 })
    }).pipe(Effect.provide(Budget.layerStoreMemory)))

  it.effect("a call charged 0 is released: nothing spent, nothing left reserved, once", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits })
      const reservation = yield* budget.check({ estimate: 4 })
      yield* budget.charge(reservation, 0)
      yield* budget.charge(reservation, 3)
      expect((yield* budget.status)[0]).toMatchObject({ spent: 0, reserved: 0 })
    }))

  it.effect("a store that is unavailable refuses a check with NoCapacityError, and its status is empty", () =>
    Effect.gen(function*() {
      const away = Effect.fail(new StoreUnavailableError({ address: "the test's store", reason: "away" }))
      const budget = yield* Budget.make({ limits }).pipe(
        Effect.provideService(
          Budget.BudgetStore,
          Budget.BudgetStore.of({
            reserve: () => away,
            settle: () => away,
            release: () => away,
            spend: () => away
          })
        )
      )
      const error = yield* Effect.flip(budget.check({ estimate: 1, provider: "openai", model: "gpt-4o" }))
      expect(error).toMatchObject({
        _tag: "NoCapacityError",
        provider: "openai",
        model: "gpt-4o",
        storeUnavailable: true
      })
      expect(yield* budget.status).toEqual([])
    }))

  it.effect("an empty key fails with OptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(budgetInMemory({ limits, key: "" }))
      expect(error).toMatchObject({ _tag: "OptionsError", module: "Budget", option: "key" })
    }))
})

describe("Budget.guard", () => {
  const price = { input: 1, output: 1 } // a dollar per million tokens
  const priced = (cost: number) => ({
    ...LlmTest.reply("ok", { usage: { promptTokens: 5, completionTokens: 5, totalTokens: 10 } }),
    cost
  })
  const request = (maxTokens: number) => ({ messages: [Message.user("hi")], maxTokens, model: "m" })
  // The guarded Llm is merged last, so it is the Llm the test sees; LlmTest and
  // Budget are the same instances it uses (layers are shared by reference).
  const setup = (script: ReadonlyArray<LlmTest.Answer>, limit: number) => {
    const inner = LlmTest.layer(script)
    const budget = budgetLayerInMemory({ limits: [{ scope: "overall", limit, period: "1 day" }] })
    return Layer.mergeAll(
      inner,
      budget,
      Budget.guard({ price, provider: "test" }).pipe(Layer.provide(Layer.merge(inner, budget)))
    )
  }

  it.effect("refuses a call whose estimate passes the budget before sending it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Llm.chat(request(2_000_000)))
      expect(error).toMatchObject({ _tag: "BudgetExceededError", provider: "test", model: "m", scope: "overall" })
      expect(error._tag === "BudgetExceededError" && error.estimate! > 2).toBe(true)
      expect(yield* LlmTest.requests).toStrictEqual([])
    }).pipe(Effect.provide(setup([], 1))))

  it.effect("reserves a prompt with a cache breakpoint at the write premium of its lifetime", () =>
    Effect.gen(function*() {
      const withWrites = { input: 1, cacheWrite: 1.25, cacheWrite1h: 2, output: 1 }
      const inner = LlmTest.layer([])
      const budget = budgetLayerInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 day" }] })
      const guarded = Budget.guard({ price: withWrites }).pipe(Layer.provide(Layer.merge(inner, budget)))
      // 600k bytes of prompt: under the limit at the input price, over it at twice the input price.
      const cached = {
        model: "m",
        maxTokens: 1,
        messages: [{ role: "system" as const, content: "s".repeat(600_000), cache: { ttl: "1h" as const } }]
      }
      const error = yield* Effect.flip(Effect.provide(Llm.chat(cached), Layer.mergeAll(inner, budget, guarded)))
      expect(error._tag).toBe("BudgetExceededError")
      // The prompt's bytes, its message's markers and the reply's priming, at twice the input price; the reply's token.
      expect(error._tag === "BudgetExceededError" && error.estimate).toBeCloseTo(((600_000 + 4 + 3) * 2 + 1) / 1e6, 12)
    }))

  it.effect("charges the response's cost, nothing for a failed call, the Finish cost for a stream", () =>
    Effect.gen(function*() {
      yield* Llm.chat(request(10))
      yield* Effect.flip(Llm.chat(request(10)))
      yield* ChatChunk.collect(Llm.chatStream(request(10)))
      yield* Stream.runDrain(Llm.chatStream(request(10)))
      const budget = yield* Budget.Budget
      const [status] = yield* budget.status
      expect(status!.reserved).toBe(0)
      // 0.25 + 0 + 0.125, and the cut stream (output, no Finish) keeps its estimate.
      const cutEstimate = Pricing.estimate(price, request(10))
      expect(status!.spent).toBeCloseTo(0.375 + cutEstimate, 12)
      expect((yield* LlmTest.requests).length).toBe(4)
    }).pipe(Effect.provide(setup([
      priced(0.25),
      new ProviderUnavailableError({ provider: "test", model: "m" }),
      priced(0.125),
      { chunks: [{ _tag: "TextDelta", text: "cut" }] }
    ], 10))))
})
