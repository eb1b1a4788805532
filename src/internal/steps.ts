/**
 * Work over a long list (a provider.json's keys, a pool's keys, their status) done a step at a time, other fibers (a
 * server's requests) run between the steps, so a long list never holds the process in one run.
 */
import * as Effect from "effect/Effect"

export const itemsPerStep = 2_000

/** `step` over `items`, `itemsPerStep` at a time (`from`: the chunk's first index), other fibers run between. */
export function inSteps<A>(
  items: ReadonlyArray<A>,
  step: (chunk: ReadonlyArray<A>, from: number) => void
): Effect.Effect<void> {
  const steps = Math.ceil(items.length / itemsPerStep)
  return Effect.forEach(Array.from({ length: steps }, (_, i) => i), (i) => {
    step(items.slice(i * itemsPerStep, (i + 1) * itemsPerStep), i * itemsPerStep)
    return i === steps - 1 ? Effect.void : Effect.yieldNow
  }, { discard: true })
}

/** `items.map(f)`, `itemsPerStep` at a time, other fibers run between. */
export function mapInSteps<A, B>(items: ReadonlyArray<A>, f: (item: A, index: number) => B): Effect.Effect<Array<B>> {
  return Effect.suspend(() => {
    const mapped: Array<B> = []
    return Effect.as(
      inSteps(items, (chunk) => {
        for (const item of chunk) mapped.push(f(item, mapped.length))
      }),
      mapped
    )
  })
}
