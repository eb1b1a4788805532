/**
 * A binary min-heap of items that each carry a small non-negative integer id, with a position index so an item whose
 * priority changed can be moved, or removed, in O(log n) instead of being searched for.
 *
 * The heap does not own priorities: `less` reads them wherever the caller keeps them, and the caller calls `update`
 * after changing one, so two heaps (the key pool's ready and cooling keys) order the same items by different fields
 * without copying them.
 */

/** An indexed min-heap. Not thread-safe by design: callers update it inside one synchronous step. */
export interface Heap<A> {
  readonly size: number
  readonly has: (item: A) => boolean
  /** The least item, without removing it. */
  readonly peek: () => A | undefined
  readonly push: (item: A) => void
  readonly pop: () => A | undefined
  /** Removes the item if present; returns whether it was. */
  readonly remove: (item: A) => boolean
  /** Restores the order after the item's priority changed (either way). No-op when absent. */
  readonly update: (item: A) => void
  /** The items in heap-array order (for inspection). */
  readonly items: () => ReadonlyArray<A>
}

const absent = -1

class HeapImpl<A> implements Heap<A> {
  private readonly array: Array<A> = []
  // positions[id] is the item's index in `array`, or -1; ids index it directly
  // because a Map lookup per comparison would dominate the cost of a sift.
  private readonly positions: Array<number> = []

  constructor(
    private readonly less: (a: A, b: A) => boolean,
    private readonly idOf: (a: A) => number
  ) {}

  get size(): number {
    return this.array.length
  }

  has(item: A): boolean {
    return this.position(item) !== absent
  }

  peek(): A | undefined {
    return this.array[0]
  }

  push(item: A): void {
    const id = this.idOf(item)
    if (this.position(item) !== absent) {
      this.update(item)
      return
    }
    while (this.positions.length <= id) this.positions.push(absent)
    this.place(item, this.array.length)
    this.siftUp(this.array.length - 1)
  }

  pop(): A | undefined {
    const top = this.array[0]
    if (top !== undefined) this.removeAt(0)
    return top
  }

  remove(item: A): boolean {
    const at = this.position(item)
    if (at === absent) return false
    this.removeAt(at)
    return true
  }

  update(item: A): void {
    const at = this.position(item)
    if (at === absent) return
    if (this.siftUp(at) === at) this.siftDown(at)
  }

  items(): ReadonlyArray<A> {
    return this.array.slice()
  }

  private position(item: A): number {
    return this.positions[this.idOf(item)] ?? absent
  }

  private removeAt(at: number): void {
    const array = this.array
    const removed = array[at]!
    const last = array.pop()!
    this.positions[this.idOf(removed)] = absent
    if (at < array.length) {
      this.place(last, at)
      if (this.siftUp(at) === at) this.siftDown(at)
    }
  }

  /** Puts `item` at `at` in the array and records it there. */
  private place(item: A, at: number): void {
    this.array[at] = item
    this.positions[this.idOf(item)] = at
  }

  private siftUp(start: number): number {
    const array = this.array
    const item = array[start]!
    let at = start
    while (at > 0) {
      const parentAt = (at - 1) >> 1
      const parent = array[parentAt]!
      if (!this.less(item, parent)) break
      this.place(parent, at)
      at = parentAt
    }
    this.place(item, at)
    return at
  }

  private siftDown(start: number): void {
    const array = this.array
    const length = array.length
    const item = array[start]!
    let at = start
    for (;;) {
      const leftAt = 2 * at + 1
      if (leftAt >= length) break
      const rightAt = leftAt + 1
      let childAt = leftAt
      let child = array[leftAt]!
      if (rightAt < length) {
        const right = array[rightAt]!
        if (this.less(right, child)) {
          childAt = rightAt
          child = right
        }
      }
      if (!this.less(child, item)) break
      this.place(child, at)
      at = childAt
    }
    this.place(item, at)
  }

  /** @internal */
  violation(): string | undefined {
    const array = this.array
    for (let at = 0; at < array.length; at++) {
      const item = array[at]!
      if (this.positions[this.idOf(item)] !== at) return `position of id ${this.idOf(item)} is not ${at}`
      if (at > 0 && this.less(item, array[(at - 1) >> 1]!)) return `item at ${at} is less than its parent`
    }
    let indexed = 0
    for (const at of this.positions) if (at !== absent) indexed++
    return indexed === array.length ? undefined : `${indexed} positions recorded for ${array.length} items`
  }
}

/** An empty heap ordered by `less`; `idOf`'s ids index an array of that size, so they must be small and distinct. */
export function make<A>(less: (a: A, b: A) => boolean, idOf: (a: A) => number): Heap<A> {
  return new HeapImpl(less, idOf)
}

/** For tests: why the heap is broken (a child less than its parent, a stale position index), or `undefined`. */
export function invariantViolation<A>(heap: Heap<A>): string | undefined {
  return (heap as HeapImpl<A>).violation()
}
