import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fc from "fast-check"
import * as Memory from "../../src/internal/keyPool/memory.js"
import { inSteps, itemsPerStep, mapInSteps } from "../../src/internal/steps.js"
import type * as KeyPool from "../../src/KeyPool.js"

describe("steps", () => {
  it("mapInSteps is map, and inSteps hands every item once, in order, with its index, for any length", () =>
    fc.assert(
      fc.asyncProperty(fc.nat({ max: 3 * itemsPerStep + 7 }), (length) =>
        Effect.runPromise(Effect.gen(function*() {
          const items = Array.from({ length }, (_, i) => `item-${i}`)
          expect(yield* mapInSteps(items, (item, index) => `${index}:${item}`)).toStrictEqual(
            items.map((item, index) => `${index}:${item}`)
          )
          const seen: Array<readonly [string, number]> = []
          const chunks: Array<number> = []
          yield* inSteps(items, (chunk, from) => {
            chunks.push(chunk.length)
            chunk.forEach((item, i) => seen.push([item, from + i]))
          })
          expect(seen).toStrictEqual(items.map((item, index) => [item, index]))
          expect(chunks.every((size) => size > 0 && size <= itemsPerStep)).toBe(true)
          expect(chunks.length).toBe(Math.ceil(length / itemsPerStep))
        }))),
      { numRuns: 30 }
    ))

  it.effect("another fiber runs between two steps, never inside one", () =>
    Effect.gen(function*() {
      let ticks = 0
      const ticker = yield* Effect.forkChild(
        Effect.forever(Effect.sync(() => ticks++).pipe(Effect.andThen(Effect.yieldNow)))
      )
      yield* Effect.yieldNow
      const items = Array.from({ length: 3 * itemsPerStep + 1 }, (_, i) => i)
      // The other fiber's count as each item is mapped.
      const at = yield* mapInSteps(items, () => ticks)
      yield* Fiber.interrupt(ticker)
      const steps = Array.from({ length: 4 }, (_, k) => at.slice(k * itemsPerStep, (k + 1) * itemsPerStep))
      for (const step of steps) expect(new Set(step).size).toBe(1)
      // The ticker yields twice a tick (`Effect.forever` yields too), so it ticks at least every other step.
      for (let k = 2; k < steps.length; k++) expect(steps[k]![0]!).toBeGreaterThan(steps[k - 2]![0]!)
    }))

  it("Memory.joinInSteps gives a group the slots join gives it, duplicates and keys already there included", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 5_000 }), { maxLength: 3 * itemsPerStep }),
        fc.array(fc.nat({ max: 5_000 }), { maxLength: 50 }),
        (listed, present) =>
          Effect.runPromise(Effect.gen(function*() {
            const candidates = (ids: ReadonlyArray<number>): Array<KeyPool.LeaseCandidate> =>
              ids.map((id) => ({ id: `key-${id}`, weight: 1 + (id % 3), maxConcurrency: Infinity }))
            const stepped = Memory.makeGroup()
            const whole = Memory.makeGroup()
            Memory.join(stepped, candidates(present))
            Memory.join(whole, candidates(present))
            const slots = yield* Memory.joinInSteps(stepped, candidates(listed))
            const expected = Memory.join(whole, candidates(listed))
            const shape = (slot: Memory.Slot) => [slot.index, slot.id, slot.weight]
            expect(slots.map(shape)).toStrictEqual(expected.map(shape))
            expect(stepped.slots.map(shape)).toStrictEqual(whole.slots.map(shape))
            expect(stepped.ready.size).toBe(whole.ready.size)
          }))
      ),
      { numRuns: 30 }
    ))
})
