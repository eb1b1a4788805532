/**
 * The lines of requests refused before authentication (`observe/refusalLines.ts`), on the `TestClock`: a
 * burst of `refusalLinesPerSecond`, then as many a second; the first line written after some were not says how many;
 * over any arrivals, the lines written and the counts they carry add up to every refusal.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { refusalLines, refusalLinesPerSecond } from "../../src/internal/gateway/observe/refusalLines.js"

describe("the lines of requests refused before authentication", () => {
  it.effect("a burst of refusalLinesPerSecond written, the rest counted, told by the first line a second later", () =>
    Effect.gen(function*() {
      const lines = yield* refusalLines
      const taken = yield* Effect.replicateEffect(lines.take, refusalLinesPerSecond + 25)
      expect(taken.slice(0, refusalLinesPerSecond)).toEqual(Array(refusalLinesPerSecond).fill(0))
      expect(taken.slice(refusalLinesPerSecond)).toEqual(Array(25).fill(undefined))
      yield* TestClock.adjust("1 second")
      expect(yield* lines.take).toBe(25)
      expect(yield* lines.take).toBe(0)
    }).pipe(Effect.scoped))

  it.effect("over any arrivals: each second writes at most its share, and every refusal is a line or counted in one", () =>
    Effect.gen(function*() {
      const arrivals = fc.sample(
        fc.array(fc.record({ after: fc.integer({ min: 0, max: 400 }), count: fc.integer({ min: 1, max: 40 }) }), {
          minLength: 1,
          maxLength: 40
        }),
        { numRuns: 30, seed: 59 }
      )
      for (const bursts of arrivals) {
        const lines = yield* refusalLines
        let written = 0
        let told = 0
        let elapsed = 0
        for (const { after, count } of bursts) {
          yield* TestClock.adjust(after)
          elapsed += after
          for (let i = 0; i < count; i++) {
            const suppressed = yield* lines.take
            if (suppressed !== undefined) {
              written++
              told += suppressed
            }
          }
        }
        // The bucket's bound: its burst, and its refill over the time elapsed.
        expect(written).toBeLessThanOrEqual(refusalLinesPerSecond + Math.floor(elapsed / 1000 * refusalLinesPerSecond))
        const total = bursts.reduce((sum, { count }) => sum + count, 0)
        yield* TestClock.adjust("1 second")
        const last = yield* lines.take
        expect(written + 1 + told + last!).toBe(total + 1)
      }
    }).pipe(Effect.scoped))
})
