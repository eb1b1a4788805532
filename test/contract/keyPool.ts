/**
 * The contract every backend of a `KeyPool` keeps, run against each (`test/KeyPoolContract.test.ts`): a capped key
 * is held until released, by whichever instance took it; the least-loaded key goes first, counting every
 * instance's leases; a rate limit one instance reports cools the key for all, for as long as the provider asked; an
 * auth failure disables it for all, naming why; concurrent takes are granted exactly the capacity left; and, for a
 * backend on a server, the server down and back. A new backend is one more `keyPoolContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type { KeyPool } from "effect-llm-router"
import { LlmError } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"

/** A pool of the contract: `KeyPool.Options` without where it is kept. */
export type ContractOptions = Omit<KeyPool.Options, "shared">

/** A backend's server going away and coming back. */
export interface Faults {
  /** Takes the server down and waits until it is. */
  readonly stop: Effect.Effect<void>
  /** Brings it back and waits until the backend uses it again. */
  readonly start: Effect.Effect<void>
}

/** One test's backend. */
export interface Backend {
  /** Two instances' pools over `options`, sharing one state no other call shares. */
  readonly instances: (
    options: ContractOptions
  ) => Effect.Effect<readonly [KeyPool.Service, KeyPool.Service], never, Scope.Scope>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  readonly faults: Faults | undefined
}

export interface KeyPoolBackend {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  /** Whether it runs on a server, whose faults (`Backend.faults`) the contract plays. */
  readonly server: boolean
  readonly connect: Effect.Effect<Backend, never, Scope.Scope>
}

const keys = ["sk-contract-key-0001", "sk-contract-key-0002", "sk-contract-key-0003"]
const fail = { _tag: "Fail" } as const

const capped = (count: number, maxConcurrency: number) => keys.slice(0, count).map((key) => ({ key, maxConcurrency }))

const inFlight = (pool: KeyPool.Service) => Effect.map(pool.status, (status) => status.map((key) => key.inFlight))

const faultsOf = (backend: Backend): Faults => {
  if (backend.faults === undefined) throw new Error("a backend on a server gives its faults")
  return backend.faults
}

/**
 * `read` once `holds` is true of it, read again each 20 ms of the backend's time for up to 5 s: what one instance
 * reports about a key without a cap reaches the others at their next publish (at once in memory).
 */
const until = <A>(
  backend: Backend,
  what: string,
  read: Effect.Effect<A>,
  holds: (a: A) => boolean
): Effect.Effect<A> =>
  Effect.gen(function*() {
    let last = yield* read
    for (let reading = 0; reading < 250 && !holds(last); reading++) {
      yield* backend.elapse("20 millis")
      last = yield* read
    }
    expect(holds(last), `${what}: last read ${JSON.stringify(last)}`).toBe(true)
    return last
  })

interface Step {
  /** Tries made at once, each on the instance it names. */
  readonly tries: ReadonlyArray<0 | 1>
  /** Which of the leases held after the tries are given back, by a draw per lease. */
  readonly releases: ReadonlyArray<boolean>
}

const on = fc.constantFrom(0 as const, 1 as const)
const steps: fc.Arbitrary<ReadonlyArray<Step>> = fc.array(
  fc.record({
    tries: fc.array(on, { minLength: 1, maxLength: 6 }),
    releases: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 })
  }),
  { minLength: 1, maxLength: 5 }
)

export const keyPoolContract = (backend: KeyPoolBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`KeyPool contract: ${backend.name}`, () => {
    test(
      "a capped key is held until released, whichever instance took it; past every cap a take fails with NoCapacityError",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({ providerId: "openai", keys: capped(2, 1), whenExhausted: fail })
          const one = yield* first.take()
          const two = yield* second.take()
          expect(one.credentials.keyId).not.toBe(two.credentials.keyId)
          expect(yield* first.tryTake).toBeUndefined()
          expect(yield* second.tryTakeKey(one.credentials.keyId)).toBeUndefined()
          const refused = yield* Effect.flip(second.take())
          expect(refused).toMatchObject({ _tag: "NoCapacityError", provider: "openai" })
          expect(refused.storeUnavailable).toBeUndefined()
          for (const pool of [first, second]) expect(yield* inFlight(pool)).toEqual([1, 1])
          yield* first.release(one)
          const again = yield* second.tryTake
          expect(again?.credentials.keyId).toBe(one.credentials.keyId)
          yield* second.release(again!)
          yield* second.release(two)
          for (const pool of [first, second]) expect(yield* inFlight(pool)).toEqual([0, 0])
        }),
      30_000
    )

    test(
      "the least-loaded key goes first, by leases over weight, counting every instance's; acquire gives its key back",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances({
            providerId: "openai",
            keys: keys.map((key, i) => ({ key, maxConcurrency: 10, weight: i === 2 ? 2 : 1 }))
          })
          // Whatever the order of ties: after three leases each key holds one, and the fourth goes to the key of
          // weight 2 (a load of 1/2 against 1).
          const leases = [yield* first.take(), yield* second.take(), yield* first.take(), yield* second.take()]
          for (const pool of [first, second]) expect(yield* inFlight(pool)).toEqual([1, 1, 2])
          yield* Effect.scoped(Effect.gen(function*() {
            const lease = yield* first.acquire
            // Back at 1 each over weight: ties, any key; the lease counts while its scope is open.
            expect((yield* inFlight(second)).reduce((sum, n) => sum + n, 0)).toBe(5)
            expect(lease.credentials.keyId).toMatch(/^sk-/)
          }))
          // Each lease goes back to the pool that issued it, as an instance gives back only its own.
          yield* Effect.forEach(leases, (lease, i) => (i % 2 === 0 ? first : second).release(lease))
          for (const pool of [first, second]) expect(yield* inFlight(pool)).toEqual([0, 0, 0])
        }),
      30_000
    )

    test(
      "a rate limit one instance reports cools the key for every instance, for the provider's retryAfter; then it serves",
      () =>
        Effect.gen(function*() {
          const connected = yield* backend.connect
          const { elapse, instances } = connected
          for (const options of [{ keys: keys.slice(0, 1) }, { keys: capped(1, 5) }]) {
            const [first, second] = yield* instances({ providerId: "openai", whenExhausted: fail, ...options })
            const lease = yield* first.take()
            const reported = yield* Clock.currentTimeMillis
            yield* first.report(
              lease,
              new LlmError.RateLimitError({ provider: "openai", model: "m", retryAfter: Duration.seconds(1) })
            )
            yield* first.release(lease)
            const [seen] = yield* until(
              connected,
              "the other instance seeing the cooldown",
              second.status,
              ([key]) => key!.coolingUntil !== undefined
            )
            expect(seen!.share).toBe(0)
            expect(yield* second.tryTake).toBeUndefined()
            const refused = yield* Effect.flip(second.take())
            expect(refused._tag).toBe("NoCapacityError")
            // A second from the report, as either clock tells it (Redis keeps the time it stamps).
            expect(refused.availableAt).toBeGreaterThanOrEqual(reported + 1_000 - 50)
            expect(refused.availableAt).toBeLessThanOrEqual((yield* Clock.currentTimeMillis) + 1_000 + 50)
            yield* elapse("1100 millis")
            const back = yield* until(
              connected,
              "the key serving again",
              second.tryTake,
              (taken) => taken !== undefined
            )
            yield* second.release(back!)
          }
        }),
      30_000
    )

    test(
      "an auth failure one instance reports disables the key for every instance, naming why; the others serve",
      () =>
        Effect.gen(function*() {
          const connected = yield* backend.connect
          for (const options of [{ keys: keys.slice(0, 2) }, { keys: capped(2, 5) }]) {
            const [first, second] = yield* connected.instances({
              providerId: "openai",
              whenExhausted: fail,
              ...options
            })
            const lease = yield* first.take()
            const rejected = lease.credentials.keyId
            yield* first.report(
              lease,
              new LlmError.AuthError({ provider: "openai", model: "m", reason: "invalid_key" })
            )
            yield* first.release(lease)
            const status = yield* until(
              connected,
              "the other instance seeing the key disabled",
              second.status,
              (status) => status.some((key) => key.keyId === rejected && key.disabled !== undefined)
            )
            expect(status.find((key) => key.keyId === rejected)).toMatchObject({ disabled: "invalid_key", share: 0 })
            expect(yield* second.tryTakeKey(rejected)).toBeUndefined()
            const taken = yield* Effect.forEach([first, second, first, second], (pool) => pool.take())
            for (const other of taken) expect(other.credentials.keyId).not.toBe(rejected)
            yield* Effect.forEach(taken, (other, i) => (i % 2 === 0 ? first : second).release(other))
          }
        }),
      30_000
    )

    test(
      "concurrent tries on two instances are granted exactly the capacity left, and every lease counts once",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const run = (count: number, cap: number, plan: ReadonlyArray<Step>) =>
            Effect.scoped(Effect.gen(function*() {
              const pools = yield* instances({ providerId: "openai", keys: capped(count, cap), whenExhausted: fail })
              const held: Array<{ readonly pool: 0 | 1; readonly lease: KeyPool.Lease }> = []
              for (const step of plan) {
                const taken = yield* Effect.forEach(
                  step.tries,
                  (pool) => Effect.map(pools[pool].tryTake, (lease) => lease && { pool, lease }),
                  { concurrency: "unbounded" }
                )
                const granted = taken.filter((lease) => lease !== undefined)
                expect(granted.length).toBe(Math.min(step.tries.length, count * cap - held.length))
                held.push(...granted)
                for (const pool of pools) {
                  const counts = yield* inFlight(pool)
                  expect(counts.reduce((sum, n) => sum + n, 0)).toBe(held.length)
                  for (const n of counts) expect(n).toBeLessThanOrEqual(cap)
                }
                const kept = held.filter((_, i) => !step.releases[i % step.releases.length])
                for (const { lease, pool } of held.filter((_, i) => step.releases[i % step.releases.length])) {
                  yield* pools[pool].release(lease)
                }
                held.splice(0, held.length, ...kept)
              }
              for (const { lease, pool } of held) yield* pools[pool].release(lease)
              for (const pool of pools) expect(yield* inFlight(pool)).toEqual(Array.from({ length: count }, () => 0))
            }))
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 1, max: 3 }),
                fc.integer({ min: 1, max: 3 }),
                steps,
                (count, cap, plan) => Effect.runPromise(run(count, cap, plan))
              ),
              { numRuns: 20 }
            )
          )
        }),
      120_000
    )

    if (backend.server) {
      it.live(
        "down: a take fails with NoCapacityError naming the store, a try takes nothing; back, it serves again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = faultsOf(connected)
            for (const options of [{ keys: keys.slice(0, 2) }, { keys: capped(2, 5) }]) {
              const [first, second] = yield* connected.instances({
                providerId: "openai",
                whenExhausted: fail,
                ...options
              })
              yield* first.release(yield* first.take())
              yield* faults.stop
              // A capped key's take asks the server at once; an uncapped one's learns it is gone at its next
              // publish: taken until then, given back.
              const refused = yield* until(
                connected,
                "a take refused while the server is down",
                Effect.matchEffect(second.take(), {
                  onFailure: (error) => Effect.succeed<LlmError.NoCapacityError | undefined>(error),
                  onSuccess: (lease) => Effect.as(second.release(lease), undefined)
                }),
                (error) => error !== undefined
              )
              expect(refused).toMatchObject({ _tag: "NoCapacityError", storeUnavailable: true })
              expect(yield* first.tryTake).toBeUndefined()
              yield* faults.start
              const lease = yield* Effect.retry(second.take(), {
                while: (error) => error.storeUnavailable === true,
                schedule: Schedule.spaced("100 millis"),
                times: 100
              })
              yield* second.release(lease)
            }
          }),
        60_000
      )
    }
  })
}
