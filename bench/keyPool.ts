/**
 * KeyPool acquire/release cost at 10 and 10,000 keys.
 *
 *   node --import tsx bench/keyPool.ts
 *
 * The heap makes a pair O(log n), so 10,000 keys should cost well under 3x
 * what 10 keys cost; a linear scan would be about 1,000x. Each pair is
 * `Effect.scoped(pool.acquire)`, the way `Llm` uses the pool, while a quarter
 * of the keys hold a lease so the heap is not trivially flat.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { pathToFileURL } from "node:url"
import * as Memory from "../src/internal/keyPool/memory.js"
import * as KeyPool from "../src/KeyPool.js"

const keysOf = (n: number) => Array.from({ length: n }, (_, i) => `sk-bench-${String(i).padStart(8, "0")}-key`)

/** Pairs per second, best of `rounds` rounds of `pairs` sequential acquire/release pairs. */
const pairsPerSecond = (keys: number, pairs: number, rounds: number) =>
  Effect.gen(function*() {
    const pool = yield* KeyPool.make({
      providerId: `bench-${keys}`,
      keys: keysOf(keys),
      whenExhausted: { _tag: "Fail" }
    })
    const background = yield* Scope.make()
    yield* Effect.forEach(
      Array.from({ length: Math.floor(keys / 4) }),
      () => Scope.provide(pool.acquire, background),
      { discard: true }
    )
    const pair = Effect.scoped(pool.acquire)
    const run = (n: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < n; i++) yield* pair
      })
    yield* run(Math.min(pairs, 20_000))
    let best = 0
    for (let round = 0; round < rounds; round++) {
      const start = yield* Clock.currentTimeNanos
      yield* run(pairs)
      const seconds = Number((yield* Clock.currentTimeNanos) - start) / 1e9
      best = Math.max(best, pairs / seconds)
    }
    yield* Scope.close(background, Exit.void)
    const held = (yield* pool.status).reduce((n, key) => n + key.inFlight, 0)
    if (held !== 0) return yield* Effect.die(new Error(`${held} leases still held after the benchmark`))
    return best
  }).pipe(Effect.provide(KeyPool.layerStoreMemory))

/**
 * Acquire/release pairs per second with 10 and with 10,000 keys, with the
 * number of pairs per round and of rounds (the best round counts).
 *
 * @since 0.1.0
 * @category Benchmarks
 */
export const measureKeyPoolWith = (options: { readonly pairs: number; readonly rounds: number }) =>
  Effect.gen(function*() {
    const pairsPerSecond10 = yield* pairsPerSecond(10, options.pairs, options.rounds)
    const pairsPerSecond10k = yield* pairsPerSecond(10_000, options.pairs, options.rounds)
    return { pairsPerSecond10, pairsPerSecond10k } as const
  })

/**
 * `measureKeyPoolWith` at 50,000 pairs, best of 5 rounds: what the main
 * benchmark calls.
 *
 * @since 0.1.0
 * @category Benchmarks
 */
export const measureKeyPool = measureKeyPoolWith({ pairs: 50_000, rounds: 5 })

/** The same loop with a scope and an empty finalizer: the floor any scoped acquire pays. */
const scopeFloor = (pairs: number, rounds: number) =>
  Effect.gen(function*() {
    const pair = Effect.scoped(Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.void)))
    let best = 0
    for (let round = 0; round < rounds; round++) {
      const start = yield* Clock.currentTimeNanos
      for (let i = 0; i < pairs; i++) yield* pair
      best = Math.max(best, pairs / (Number((yield* Clock.currentTimeNanos) - start) / 1e9))
    }
    return best
  })

/**
 * The state machine alone (heap operations, no Effect): where the key count
 * shows, since a scoped Effect costs far more than a heap of 10,000 keys.
 */
const heapOnly = (keys: number, pairs: number, rounds: number): number => {
  const group = Memory.makeGroup()
  Memory.join(group, keysOf(keys).map((id) => ({ id, weight: 1, maxConcurrency: Infinity })))
  const pick = () => {
    const slot = Memory.leastLoaded(group, 0, 0)
    if (slot === undefined) throw new Error("no key")
    Memory.take(group, slot)
    return slot
  }
  for (let i = 0; i < Math.floor(keys / 4); i++) pick()
  const run = () => {
    for (let i = 0; i < pairs; i++) Memory.drop(group, pick())
  }
  run()
  let best = 0
  for (let round = 0; round < rounds; round++) {
    const start = performance.now()
    run()
    best = Math.max(best, pairs / ((performance.now() - start) / 1000))
  }
  return best
}

const format = (n: number) => Math.round(n).toLocaleString("en-US").padStart(12)

/**
 * Prints both rates and their ratio.
 *
 * @since 0.1.0
 * @category Benchmarks
 */
export const main = async (): Promise<void> => {
  const { pairsPerSecond10, pairsPerSecond10k } = await Effect.runPromise(measureKeyPool)
  const floor = await Effect.runPromise(scopeFloor(50_000, 5))
  const ratio = pairsPerSecond10 / pairsPerSecond10k
  console.log(
    `Node ${process.version}; KeyPool acquire/release pairs (Effect.scoped(pool.acquire)), best of 5 x 50,000`
  )
  console.log(`  10 keys      ${format(pairsPerSecond10)} pairs/s`)
  console.log(`  10,000 keys  ${format(pairsPerSecond10k)} pairs/s`)
  console.log(`  time ratio 10,000 / 10 keys: ${ratio.toFixed(2)}x (bar: at most 3x)`)
  console.log(`  for scale, Effect.scoped + an empty finalizer alone: ${format(floor).trim()} pairs/s`)
  const heap10 = heapOnly(10, 1_000_000, 5)
  const heap10k = heapOnly(10_000, 1_000_000, 5)
  console.log(`State machine alone (tryAcquire + release, no Effect), best of 5 x 1,000,000:`)
  console.log(`  10 keys      ${format(heap10)} pairs/s`)
  console.log(`  10,000 keys  ${format(heap10k)} pairs/s`)
  console.log(
    `  time ratio 10,000 / 10 keys: ${(heap10 / heap10k).toFixed(2)}x (log2 ratio ~4; linear would be ~1,000)`
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
