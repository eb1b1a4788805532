/**
 * The contract every backend of a `KeyPool` keeps, run against each (`test/KeyPoolContract.test.ts`): a capped key
 * is held until released, by whichever instance took it; the least-loaded key goes first, counting every
 * instance's leases; a rate limit one instance reports cools the key for all, for as long as the provider asked; an
 * auth failure disables it for all, naming why; concurrent takes are granted exactly the capacity left; and, for a
 * backend on a server, the server down and back, and slow (answering later than the store's command bound: the step
 * ends at the bound, on the `TestClock`, and once the server answers promptly again the leases are the server's). A
 * new backend is one more `keyPoolContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type { KeyPool } from "effect-llm-router"
import { LlmError } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import {
  atBound,
  type ContractBackend,
  type Faults,
  type FaultyOptions,
  type InstancesBackend,
  onServer,
  unavailableAtBound,
  unavailableEach
} from "../utils/slowStore.js"

/** A pool of the contract: `KeyPool.Options` without where it is kept. */
export type ContractOptions = Omit<KeyPool.Options, "shared">

/** One test's backend: two instances' pools over `options`. */
export type Backend = InstancesBackend<ContractOptions, KeyPool.Service>

export type KeyPoolBackend = ContractBackend<Backend>

const keys = ["sk-contract-key-0001", "sk-contract-key-0002", "sk-contract-key-0003"]
const fail = { _tag: "Fail" } as const

const capped = (count: number, maxConcurrency: number) => keys.slice(0, count).map((key) => ({ key, maxConcurrency }))

const inFlight = (pool: KeyPool.Service) => Effect.map(pool.status, (status) => status.map((key) => key.inFlight))

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
            const asked = yield* Clock.currentTimeMillis
            const refused = yield* Effect.flip(second.take())
            const answered = yield* Clock.currentTimeMillis
            expect(refused._tag).toBe("NoCapacityError")
            // A second from the report, as either clock tells it (Redis keeps the time it stamps): the pool sets the
            // store's time on its own clock read before or after the store answers, so less the take's own time.
            expect(refused.availableAt).toBeGreaterThanOrEqual(reported + 1_000 - 50 - (answered - asked))
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

    test(
      "a lease is given back once: released by hand and again as its scope closes, or twice by hand, it counts once",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const unavailable = new LlmError.ProviderUnavailableError({ provider: "openai", model: "m" })
          // The call on `lease` succeeds and gives it back by hand; another on the same key fails. Given back again,
          // the lease leaves the key holding no call, counting both, and keeping the second one's failure.
          const calls = (pool: KeyPool.Service, lease: KeyPool.Lease) =>
            Effect.gen(function*() {
              yield* pool.report(lease, "success")
              yield* pool.release(lease)
              const next = yield* pool.take()
              yield* pool.report(next, unavailable)
              yield* pool.release(next)
            })
          // A key without a cap (picked in this process where the store publishes loads) and a capped one.
          for (const listed of [keys.slice(0, 1), capped(1, 2)]) {
            const [pool] = yield* instances({ providerId: "openai", keys: listed, whenExhausted: fail })
            yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => calls(pool, lease)))
            expect(yield* pool.status).toMatchObject([{ inFlight: 0, totalRequests: 2, failures: 1 }])
            const lease = yield* pool.take()
            yield* calls(pool, lease)
            yield* pool.release(lease)
            expect(yield* pool.status).toMatchObject([{ inFlight: 0, totalRequests: 4, failures: 1 }])
            // An unused lease is taken off the count once.
            const unused = yield* pool.take()
            yield* pool.release(unused, { unused: true })
            yield* pool.release(unused, { unused: true })
            expect(yield* pool.status).toMatchObject([{ inFlight: 0, totalRequests: 4, failures: 1 }])
            // A release made and never run gives nothing back: the one run does. A success report made and never
            // run tells nothing (the key keeps its failure).
            const kept = yield* pool.take()
            pool.release(kept)
            pool.report(kept, "success")
            yield* pool.release(kept)
            expect(yield* pool.status).toMatchObject([{ inFlight: 0, totalRequests: 5, failures: 1 }])
          }
        }),
      30_000
    )

    if (backend.server) {
      it.live(
        "down: a take fails with NoCapacityError naming the store, a try takes nothing; back, it serves again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
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

      it.effect(
        "slow: a capped key's take fails with NoCapacityError naming the store at its bound, not before; answering " +
          "again, the leases are the server's, the take it answered late among them",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
            const [first, second] = yield* connected.instances({
              providerId: "openai",
              whenExhausted: fail,
              keys: capped(1, 2)
            })
            const held = yield* first.take()
            yield* faults.pause
            expect(yield* Effect.flip(atBound("a take", second.take(), faults))).toMatchObject({
              _tag: "NoCapacityError",
              provider: "openai",
              storeUnavailable: true
            })
            yield* faults.resume
            // Both slots held on the server: the lease taken before, and the one its late answer never handed out.
            expect(yield* inFlight(second)).toEqual([2])
            expect(yield* second.tryTake).toBeUndefined()
            yield* first.release(held)
            expect(yield* inFlight(second)).toEqual([1])
          }),
        60_000
      )
    }
  })
}

/** One test's lease stores: two instances' `LeaseStore` over one place, as separate processes would have. */
export interface LeaseStoreBackend {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  readonly connect: Effect.Effect<
    {
      readonly instances: Effect.Effect<
        readonly [KeyPool.LeaseStore["Service"], KeyPool.LeaseStore["Service"]],
        never,
        Scope.Scope
      >
      /**
       * For a backend on a server: the store of one instance of `instances` under `onUnavailable`, with the server's
       * faults.
       */
      readonly faulty:
        | ((options: FaultyOptions) => Effect.Effect<
          { readonly store: KeyPool.LeaseStore["Service"]; readonly faults: Faults },
          never,
          Scope.Scope
        >)
        | undefined
    },
    never,
    Scope.Scope
  >
}

type LeaseStep =
  | { readonly _tag: "pick" }
  | { readonly _tag: "pickOne"; readonly index: number }
  | { readonly _tag: "release"; readonly verdict: "none" | "success" | "rate" | "disable" }
  | { readonly _tag: "status" }

/** One kind of step made at once by several callers, each on the instance it names. */
interface LeaseBatch {
  readonly step: LeaseStep
  readonly callers: ReadonlyArray<0 | 1>
}

/** What a step saw, as every backend must answer it whatever the order its callers reached the store in. */
type LeaseSeen =
  | { readonly taken: number }
  | { readonly blocked: { readonly allDisabled: boolean; readonly releasable: boolean; readonly cooling: boolean } }
  | { readonly none: true }
  | { readonly cooled: boolean }
  | { readonly status: ReadonlyArray<{ inFlight: number; cooling: boolean; disabled: boolean }> }

/** The model group: each key's leases held, whether it cools (long past any test) or is disabled, when last picked. */
interface ModelKey {
  inFlight: number
  cooling: boolean
  disabled: boolean
  picked: number
}

// A cooldown no test outlives, so no backend's clock sees one end.
const longCooldown: KeyPool.RateLimitedVerdict = {
  askedMillis: 600_000,
  initialMillis: 1_000,
  maxMillis: 30_000,
  jitterFactor: 1,
  capMillis: 600_000
}

const verdictOf = (verdict: "none" | "success" | "rate" | "disable"): KeyPool.LeaseVerdict | undefined =>
  verdict === "none" ? undefined : verdict === "success" ? "success" : verdict === "rate"
    ? longCooldown
    : { disabled: "revoked" }

/** The least loaded usable key taken, as the stores pick (in flight over weight, ties to the one picked longest ago). */
const modelPick = (
  keys: Array<ModelKey>,
  candidates: ReadonlyArray<KeyPool.LeaseCandidate>,
  sequence: { n: number },
  only?: number
): LeaseSeen => {
  let best = -1
  for (let c = 0; c < keys.length; c++) {
    const key = keys[c]!
    if (only !== undefined && c !== only) continue
    if (key.disabled || key.cooling || key.inFlight >= candidates[c]!.maxConcurrency) continue
    if (best < 0) {
      best = c
      continue
    }
    const x = key.inFlight * candidates[best]!.weight
    const y = keys[best]!.inFlight * candidates[c]!.weight
    if (x < y || (x === y && key.picked < keys[best]!.picked)) best = c
  }
  if (best < 0) {
    if (only !== undefined) return { none: true }
    const enabled = keys.filter((key) => !key.disabled)
    return {
      blocked: {
        allDisabled: enabled.length === 0,
        releasable: keys.some((key, c) =>
          !key.disabled && !key.cooling && key.inFlight >= candidates[c]!.maxConcurrency
        ),
        cooling: enabled.some((key) => key.cooling)
      }
    }
  }
  keys[best]!.inFlight++
  keys[best]!.picked = ++sequence.n
  return { taken: best }
}

const leaseBatches: fc.Arbitrary<ReadonlyArray<LeaseBatch>> = fc.array(
  fc.record({
    step: fc.oneof(
      { arbitrary: fc.constant<LeaseStep>({ _tag: "pick" }), weight: 4 },
      { arbitrary: fc.integer({ min: 0, max: 2 }).map((index): LeaseStep => ({ _tag: "pickOne", index })), weight: 1 },
      {
        arbitrary: fc.constantFrom("none", "none", "success", "rate", "disable").map((verdict): LeaseStep => ({
          _tag: "release",
          verdict
        })),
        weight: 3
      },
      { arbitrary: fc.constant<LeaseStep>({ _tag: "status" }), weight: 1 }
    ),
    callers: fc.array(fc.constantFrom(0 as const, 1 as const), { minLength: 1, maxLength: 4 })
  }),
  { minLength: 1, maxLength: 14 }
)

const bySeen = (a: LeaseSeen, b: LeaseSeen) => JSON.stringify(a).localeCompare(JSON.stringify(b))

let leaseKeys = 0

/**
 * One instance's store of `backend` under `onUnavailable`, on a server with faults: a group of one key capped at
 * `maxConcurrency`, and the loads of another.
 */
const faultyGroup = Effect.fnUntraced(function*(
  backend: LeaseStoreBackend,
  onUnavailable: "fail-open" | "fail-closed",
  maxConcurrency: number
) {
  const { faults, store } = yield* onServer((yield* backend.connect).faulty)({ onUnavailable, instances: 2 })
  const candidates = [{ id: "key-0", weight: 1, maxConcurrency }]
  const group = yield* store.leases({ key: `contract-${leaseKeys++}`, candidates, slowStartMillis: 0 })
  const loads = yield* store.loads({ key: `contract-${leaseKeys++}`, ids: ["key-1"] })
  return { faults, group, loads }
})

export const leaseStoreContract = (backend: LeaseStoreBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`LeaseStore contract: ${backend.name}`, () => {
    test(
      "property: any batches of steps from concurrent callers on two instances see what the model group answers",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const stores = yield* instances
          const run = (candidates: ReadonlyArray<KeyPool.LeaseCandidate>, plan: ReadonlyArray<LeaseBatch>) =>
            Effect.gen(function*() {
              const options = { key: `contract-${leaseKeys++}`, candidates, slowStartMillis: 0 }
              const groups = [yield* stores[0].leases(options), yield* stores[1].leases(options)] as const
              const keys: Array<ModelKey> = candidates.map(() => ({
                inFlight: 0,
                cooling: false,
                disabled: false,
                picked: 0
              }))
              const sequence = { n: 0 }
              // The leases held, oldest first, with the instance that took each.
              const held: Array<{ readonly taken: KeyPool.LeaseTaken; readonly on: 0 | 1 }> = []
              for (const { callers, step } of plan) {
                let seen: ReadonlyArray<LeaseSeen>
                let expected: ReadonlyArray<LeaseSeen>
                if (step._tag === "pick" || step._tag === "pickOne") {
                  // A named key among those the group has.
                  const only = step._tag === "pickOne" ? step.index % candidates.length : undefined
                  const results = yield* Effect.forEach(callers, (caller) =>
                    Effect.map(
                      Effect.orDie(step._tag === "pick" ? groups[caller].pick : groups[caller].pickOne(only!)),
                      (picked) => ({ picked, caller })
                    ), { concurrency: "unbounded" })
                  seen = results.map(({ caller, picked }): LeaseSeen => {
                    if (picked === undefined) return { none: true }
                    if (picked._tag === "Taken") {
                      held.push({ taken: picked, on: caller })
                      return { taken: picked.index }
                    }
                    return {
                      blocked: {
                        allDisabled: picked.allDisabled,
                        releasable: picked.releasable,
                        cooling: picked.availableAt !== undefined
                      }
                    }
                  })
                  expected = callers.map(() => modelPick(keys, candidates, sequence, only))
                } else if (step._tag === "release") {
                  // Each caller gives back one of the oldest leases, on the instance it names (a lease taken on one
                  // instance may be given back on another: the store does not care who holds it).
                  const leases = held.splice(0, callers.length)
                  const verdict = verdictOf(step.verdict)
                  const results = yield* Effect.forEach(
                    leases,
                    ({ taken }, i) => Effect.orDie(groups[callers[i]!].release(taken.index, taken.lease, verdict)),
                    { concurrency: "unbounded" }
                  )
                  seen = results.map(([until]): LeaseSeen => ({ cooled: until > 0 }))
                  expected = leases.map(({ taken }): LeaseSeen => {
                    const key = keys[taken.index]!
                    key.inFlight--
                    if (step.verdict === "disable") key.disabled = true
                    if (step.verdict === "rate" && !key.disabled) key.cooling = true
                    return { cooled: step.verdict === "rate" && !key.disabled }
                  })
                } else {
                  const results = yield* Effect.forEach(callers, (caller) => Effect.orDie(groups[caller].status), {
                    concurrency: "unbounded"
                  })
                  seen = results.map((read): LeaseSeen => ({
                    status: read.keys.map((key) => ({
                      inFlight: key.inFlight,
                      cooling: key.disabled === undefined && key.coolingUntil > read.now,
                      disabled: key.disabled !== undefined
                    }))
                  }))
                  expected = callers.map((): LeaseSeen => ({
                    status: keys.map((key) => ({
                      inFlight: key.inFlight,
                      cooling: !key.disabled && key.cooling,
                      disabled: key.disabled
                    }))
                  }))
                }
                expect([...seen].sort(bySeen)).toEqual([...expected].sort(bySeen))
              }
            })
          const candidate = fc.record({
            weight: fc.constantFrom(1, 2),
            maxConcurrency: fc.integer({ min: 1, max: 3 })
          })
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.array(candidate, { minLength: 1, maxLength: 3 }),
                leaseBatches,
                (shapes, plan) => Effect.runPromise(run(shapes.map((shape, i) => ({ id: `key-${i}`, ...shape })), plan))
              ),
              { numRuns: 40 }
            )
          )
        }),
      120_000
    )

    test(
      "loads: each instance reads the others' published counts, and the keys' states once they change",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = { key: `contract-${leaseKeys++}`, ids: ["key-0", "key-1"] }
          const one = yield* first.loads(options)
          const two = yield* second.loads(options)
          const opening = yield* Effect.orDie(one.publish([2, 0]))
          expect(opening.elsewhere).toEqual([0, 0])
          // A first read gives the keys' states.
          expect(opening.keys).toEqual([
            { disabled: undefined, coolingUntil: 0, rateLimits: 0 },
            { disabled: undefined, coolingUntil: 0, rateLimits: 0 }
          ])
          expect((yield* Effect.orDie(two.publish([1, 3]))).elsewhere).toEqual([2, 0])
          const unchanged = yield* Effect.orDie(one.publish([2, 0]))
          expect(unchanged).toMatchObject({ elsewhere: [1, 3], keys: undefined })
          const [until] = yield* Effect.orDie(two.tell(1, longCooldown))
          expect(until).toBeGreaterThan(0)
          yield* Effect.orDie(two.tell(0, { disabled: "revoked" }))
          const changed = yield* Effect.orDie(one.publish([0, 0]))
          expect(changed.keys).toEqual([
            { disabled: "revoked", coolingUntil: 0, rateLimits: 0 },
            { disabled: undefined, coolingUntil: until, rateLimits: 1 }
          ])
          expect((yield* Effect.orDie(two.publish([0, 0]))).elsewhere).toEqual([0, 0])
        }),
      30_000
    )

    if (backend.clock === "live") {
      it.live(
        "down: fail-closed steps fail with StoreUnavailableError; restarted empty, every key is free again",
        () =>
          Effect.gen(function*() {
            const { faults, group, loads } = yield* faultyGroup(backend, "fail-closed", 2)
            const taken = yield* Effect.orDie(group.pick)
            yield* Effect.orDie(group.release(0, "", longCooldown))
            yield* faults.stop
            yield* unavailableEach([
              group.pick,
              group.pickOne(0),
              group.pickBelow({ inFlight: 5, share: 1 }),
              group.release(0, taken._tag === "Taken" ? taken.lease : "", undefined),
              group.status,
              loads.publish([1]),
              loads.tell(0, "success")
            ])
            yield* faults.start
            // Restarted empty: no lease held, no cooldown.
            expect((yield* Effect.orDie(group.status)).keys).toEqual([
              { inFlight: 0, coolingUntil: 0, disabled: undefined }
            ])
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
          }),
        60_000
      )

      it.live(
        "down: fail-open serves each instance's share (1 / instances of each cap) from memory, then the shared one",
        () =>
          Effect.gen(function*() {
            const { faults, group, loads } = yield* faultyGroup(backend, "fail-open", 4)
            const shared = yield* Effect.orDie(group.pick)
            yield* faults.stop
            // Half the cap, locally: two leases and no more.
            const one = yield* Effect.orDie(group.pick)
            expect(one).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Blocked", releasable: true })
            // A local lease goes back to the local store, freeing its place there.
            if (one._tag === "Taken") yield* Effect.orDie(group.release(0, one.lease, undefined))
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
            // Loads published while away reach no one: no other instance's counts.
            expect((yield* Effect.orDie(loads.publish([1]))).elsewhere).toEqual([0])
            yield* faults.start
            // Back on Redis, restarted empty: the lease taken there before is gone, every slot of the cap free.
            expect((yield* Effect.orDie(group.status)).keys[0]!.inFlight).toBe(0)
            if (shared._tag === "Taken") yield* Effect.orDie(group.release(0, shared.lease, undefined))
            for (let i = 0; i < 4; i++) expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken" })
          }),
        60_000
      )

      it.effect(
        "down: fail-open keeps each key as the shared store last said: one cooling there cools here until the same " +
          "end (TestClock), a disabled one stays disabled",
        () =>
          Effect.gen(function*() {
            const { faulty } = yield* backend.connect
            if (faulty === undefined) throw new Error("a backend on a server gives its faults")
            const { faults, store } = yield* faulty({ onUnavailable: "fail-open", instances: 2 })
            const candidates = ["key-0", "key-1", "key-2"].map((id) => ({ id, weight: 1, maxConcurrency: 4 }))
            const group = yield* store.leases({ key: `contract-${leaseKeys++}`, candidates, slowStartMillis: 0 })
            // In the shared store: key-0 rate limited for 30 seconds (a Retry-After), key-1 disabled.
            yield* Effect.orDie(group.release(0, "", { ...longCooldown, askedMillis: 30_000 }))
            yield* Effect.orDie(group.release(1, "", { disabled: "revoked" }))
            yield* faults.stop
            // Only key-2, at its share of the cap (2 of 4): the others are not fresh again.
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 2 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 2 })
            const blocked = yield* Effect.orDie(group.pick)
            expect(blocked).toMatchObject({ _tag: "Blocked", allDisabled: false, releasable: true })
            if (blocked._tag === "Blocked") expect(blocked.availableAt! - blocked.now).toBe(30_000)
            expect(yield* Effect.orDie(group.pickOne(0))).toBeUndefined()
            expect(yield* Effect.orDie(group.pickOne(1))).toBeUndefined()
            yield* TestClock.adjust("29999 millis")
            expect(yield* Effect.orDie(group.pickOne(0))).toBeUndefined()
            yield* TestClock.adjust("1 millis")
            // The cooldown over on this instance's clock: key-0 serves, key-1 never.
            expect(yield* Effect.orDie(group.pickOne(0))).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pickOne(1))).toBeUndefined()
            const { keys } = yield* Effect.orDie(group.status)
            expect(keys.map((key) => key.disabled)).toEqual([undefined, "revoked", undefined])
            yield* faults.start
          }),
        60_000
      )

      it.effect(
        "down: fail-open keeps a cooldown another instance set, learned by this one's next pick without a status read",
        () =>
          Effect.gen(function*() {
            const { faulty, instances } = yield* backend.connect
            if (faulty === undefined) throw new Error("a backend on a server gives its faults")
            const { faults, store } = yield* faulty({ onUnavailable: "fail-open", instances: 2 })
            const [other] = yield* instances
            const options = {
              key: `contract-${leaseKeys++}`,
              candidates: ["key-0", "key-1"].map((id) => ({ id, weight: 1, maxConcurrency: 4 })),
              slowStartMillis: 0
            }
            const group = yield* store.leases(options)
            const elsewhere = yield* other.leases(options)
            // This instance has read the keys' states once (both free) before the other instance cools key-0.
            const first = yield* Effect.orDie(group.pick)
            if (first._tag === "Taken") yield* Effect.orDie(group.release(first.index, first.lease, undefined))
            yield* Effect.orDie(elsewhere.release(0, "", { ...longCooldown, askedMillis: 30_000 }))
            // Its next pick, in the shared store, passes key-0 over; no status is read here.
            const shared = yield* Effect.orDie(group.pick)
            expect(shared).toMatchObject({ _tag: "Taken", index: 1 })
            yield* faults.stop
            // Away from Redis, key-0 still cools: only key-1 serves, at this instance's share of its cap.
            expect(yield* Effect.orDie(group.pickOne(0))).toBeUndefined()
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 1 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 1 })
            const blocked = yield* Effect.orDie(group.pick)
            expect(blocked).toMatchObject({ _tag: "Blocked", releasable: true })
            if (blocked._tag === "Blocked") expect(blocked.availableAt! - blocked.now).toBeGreaterThan(29_000)
            yield* faults.start
          }),
        60_000
      )

      it.effect(
        "slow: fail-closed steps fail with StoreUnavailableError at the store's bound, not before; answering again, " +
          "the leases are the server's, the pick it answered late among them",
        () =>
          Effect.gen(function*() {
            const { faults, group, loads } = yield* faultyGroup(backend, "fail-closed", 3)
            yield* Effect.orDie(group.pick)
            yield* faults.pause
            yield* unavailableAtBound(faults, [["a pick", group.pick], ["a publish", loads.publish([1])]])
            yield* faults.resume
            expect((yield* Effect.orDie(group.status)).keys[0]!.inFlight).toBe(2)
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Blocked" })
          }),
        60_000
      )

      it.effect(
        "slow: fail-open steps answer from the instance's share at the store's bound, not before; answering again, " +
          "from the server",
        () =>
          Effect.gen(function*() {
            const { faults, group } = yield* faultyGroup(backend, "fail-open", 4)
            yield* Effect.orDie(group.pick)
            yield* faults.pause
            expect(yield* Effect.orDie(atBound("a pick", group.pick, faults))).toMatchObject({
              _tag: "Taken",
              index: 0
            })
            yield* faults.resume
            // The server's leases: the one taken before, and the pick it answered late, not the local one.
            expect((yield* Effect.orDie(group.status)).keys[0]!.inFlight).toBe(2)
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Taken", index: 0 })
            expect(yield* Effect.orDie(group.pick)).toMatchObject({ _tag: "Blocked" })
          }),
        60_000
      )
    }
  })
}
