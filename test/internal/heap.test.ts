import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Heap from "../../src/internal/heap.js"

// Items are ids 0..size-1 whose priorities live outside the heap, as the key
// pool's slots do; ties go to the lower id so pop order is a total order.
const makeHeap = (priorities: Array<number>) =>
  Heap.make<number>(
    (a, b) => priorities[a]! < priorities[b]! || (priorities[a] === priorities[b] && a < b),
    (id) => id
  )

const reference = (members: ReadonlySet<number>, priorities: ReadonlyArray<number>) =>
  [...members].sort((a, b) => priorities[a]! - priorities[b]! || a - b)

type Op =
  | { readonly _tag: "push"; readonly id: number; readonly priority: number }
  | { readonly _tag: "update"; readonly id: number; readonly priority: number }
  | { readonly _tag: "remove"; readonly id: number }
  | { readonly _tag: "pop" }

const ids = 24
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ _tag: fc.constant("push" as const), id: fc.nat(ids - 1), priority: fc.integer({ min: -20, max: 20 }) }),
  fc.record({ _tag: fc.constant("update" as const), id: fc.nat(ids - 1), priority: fc.integer({ min: -20, max: 20 }) }),
  fc.record({ _tag: fc.constant("remove" as const), id: fc.nat(ids - 1) }),
  fc.record({ _tag: fc.constant("pop" as const) })
)

describe("internal/heap", () => {
  it("random push/update/remove/pop keep the invariant, and pops come out in sorted order", () =>
    fc.assert(fc.property(fc.array(opArbitrary, { maxLength: 200 }), (ops) => {
      const priorities = Array.from({ length: ids }, () => 0)
      const heap = makeHeap(priorities)
      const members = new Set<number>()
      for (const op of ops) {
        switch (op._tag) {
          case "push":
            priorities[op.id] = op.priority
            heap.push(op.id)
            members.add(op.id)
            break
          case "update":
            priorities[op.id] = op.priority
            heap.update(op.id)
            break
          case "remove":
            expect(heap.remove(op.id)).toBe(members.delete(op.id))
            break
          case "pop": {
            const expected = reference(members, priorities)[0]
            expect(heap.pop()).toBe(expected)
            if (expected !== undefined) members.delete(expected)
            break
          }
        }
        expect(Heap.invariantViolation(heap)).toBeUndefined()
        expect(heap.size).toBe(members.size)
        expect(heap.peek()).toBe(reference(members, priorities)[0])
      }
      const drained: Array<number> = []
      for (let id = heap.pop(); id !== undefined; id = heap.pop()) drained.push(id)
      expect(drained).toEqual(reference(members, priorities))
    })))

  it("update moves an item both ways", () => {
    const priorities = [5, 3, 8, 1, 9]
    const heap = makeHeap(priorities)
    for (const id of [0, 1, 2, 3, 4]) heap.push(id)
    expect(heap.peek()).toBe(3)
    priorities[3] = 10
    heap.update(3)
    expect(heap.peek()).toBe(1)
    priorities[4] = 0
    heap.update(4)
    expect(heap.peek()).toBe(4)
    expect(Heap.invariantViolation(heap)).toBeUndefined()
    expect([heap.pop(), heap.pop(), heap.pop(), heap.pop(), heap.pop(), heap.pop()]).toEqual([4, 1, 0, 2, 3, undefined])
  })

  it("push of a present item re-orders it instead of duplicating it", () => {
    const priorities = [2, 1]
    const heap = makeHeap(priorities)
    heap.push(0)
    heap.push(1)
    priorities[0] = 0
    heap.push(0)
    expect(heap.size).toBe(2)
    expect(heap.items()).toHaveLength(2)
    expect(heap.peek()).toBe(0)
  })

  it("remove and update of an absent item change nothing", () => {
    const priorities = [1, 2, 3]
    const heap = makeHeap(priorities)
    heap.push(1)
    expect(heap.remove(0)).toBe(false)
    heap.update(2)
    expect(heap.has(2)).toBe(false)
    expect(heap.size).toBe(1)
    expect(heap.remove(1)).toBe(true)
    expect(heap.has(1)).toBe(false)
    expect(heap.peek()).toBeUndefined()
  })

  it("invariantViolation notices a heap broken behind its back", () => {
    const priorities = [1, 2, 3]
    const heap = makeHeap(priorities)
    for (const id of [0, 1, 2]) heap.push(id)
    priorities[2] = -1
    expect(Heap.invariantViolation(heap)).toMatch(/less than its parent/)
  })
})
