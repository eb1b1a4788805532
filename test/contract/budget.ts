/**
 * The contract every backend of a `Budget` keeps, run against each (`test/BudgetContract.test.ts`): a check reserves
 * its estimate and a charge replaces it with the cost, once, seen by every instance; a check that would pass a limit
 * fails naming it; a window's spend does not count in the next; concurrent checks are granted exactly what is left;
 * and, for a backend on a server, the server down and back, and slow (answering later than the store's bound: a
 * check refused at the bound, on the `TestClock`, and once the server answers promptly again the budget is the
 * server's); for a backend on a file, the file locked by another connection (past the store's bound: a check refused
 * at the bound, on the `TestClock`; for less: the check waits and reserves once it is let go); for one that can fail open (Redis under
 * `onUnavailable: "fail-open"`), the server slow (a check against the instance's share at the bound) and stopped
 * mid-run: checks go on against each instance's share of what it last read was left, in memory (a spent limit stays
 * spent), the charges taken there recorded, and the server used again once it is back. A new backend is one more `budgetContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Budget } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { windowAt } from "../../src/internal/budget/window.js"
import { atBound, type ContractBackend, onServer, type Slow } from "../utils/slowStore.js"

/** A limit of the contract: the backend names its scope (one of its own for each call of `instances`). */
export interface ContractLimit {
  readonly limit: number
  readonly period: Budget.Period
}

/** A backend's server going away and coming back. */
export interface Faults {
  /** Takes the server down and waits until it is. */
  readonly stop: Effect.Effect<void>
  /** Brings it back (a Redis empty, a database with its data) and waits until it accepts connections. */
  readonly start: Effect.Effect<void>
}

/** One test's backend. */
export interface Backend {
  /**
   * Two instances' budgets over `limits`, which apply to every call, in a namespace no other call shares, or in
   * `namespace` when given (budgets made again over the same namespace, as a reload makes them).
   */
  readonly instances: (
    limits: ReadonlyArray<ContractLimit>,
    namespace?: string
  ) => Effect.Effect<readonly [Budget.Service, Budget.Service]>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  /** A period the test waits past. */
  readonly shortPeriod: Duration.Input
  readonly faults: Faults | undefined
  /** For a backend on a server: its replies held back. */
  readonly slow: Slow | undefined
  /**
   * For a backend on a file: the file locked by another connection (its write lock held, `pause`), then let go
   * (`resume`); `bound` is the store's bound on a step.
   */
  readonly locked: Slow | undefined
}

/** A backend's instances that fail open while its server is away or slow. */
export interface FailOpen {
  /** As `Backend.instances`. */
  readonly instances: (
    limits: ReadonlyArray<ContractLimit>
  ) => Effect.Effect<readonly [Budget.Service, Budget.Service]>
  /** The instances the stores say share them: each keeps `1 / instances` of a limit while the server is away. */
  readonly share: number
  readonly faults: Faults
  readonly slow: Slow
}

export interface BudgetBackend extends ContractBackend<Backend> {
  /** Whether it keeps its state in a file, which another connection locks (`Backend.locked`). */
  readonly file: boolean
  /**
   * Two instances' budgets on stores that fail open, each with a record of what it charges, on a server of their own;
   * undefined: the backend does not fail open.
   */
  readonly failOpen: Effect.Effect<FailOpen, never, Scope.Scope> | undefined
}

// A window of a hundred years: no clock crosses its end during a run.
const long = "36500 days"
// A window that starts where `long`'s does, at the epoch, until 2069.
const twiceLong = "73000 days"

const levels = (budget: Budget.Service) =>
  Effect.map(budget.status, ([status]) => ({ spent: status!.spent, reserved: status!.reserved }))

interface Batch {
  /** Calls checked at once, each of `estimate`, each on the instance it names. */
  readonly calls: ReadonlyArray<0 | 1>
  readonly estimate: number
  /** The cost each granted call is charged, as a share of its estimate (whole dollars, rounded down). */
  readonly shares: ReadonlyArray<number>
  readonly readOn: 0 | 1
}

const on = fc.constantFrom(0 as const, 1 as const)
// Whole dollars: every backend sums them exactly, so a model can say what each must read.
const batches: fc.Arbitrary<ReadonlyArray<Batch>> = fc.array(
  fc.record({
    calls: fc.array(on, { minLength: 1, maxLength: 6 }),
    estimate: fc.integer({ min: 1, max: 4 }),
    shares: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
    readOn: on
  }),
  { minLength: 1, maxLength: 6 }
)

export const budgetContract = (backend: BudgetBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`Budget contract: ${backend.name}`, () => {
    test(
      "a check reserves its estimate and a charge replaces it with the cost, once; the other instance sees both",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances([{ limit: 10, period: long }])
          const reservation = yield* first.check({ estimate: 4 })
          expect(yield* levels(second)).toEqual({ spent: 0, reserved: 4 })
          yield* first.charge(reservation, 3)
          expect(yield* levels(second)).toEqual({ spent: 3, reserved: 0 })
          yield* first.charge(reservation, 5)
          expect(yield* levels(second)).toEqual({ spent: 3, reserved: 0 })
          // No cost known: the estimate is the cost.
          yield* second.charge(yield* second.check({ estimate: 2 }), undefined)
          expect(yield* levels(first)).toEqual({ spent: 5, reserved: 0 })
        }),
      30_000
    )

    test(
      "a hold stays without renewal until it is settled, once, from either instance; a check fits beside it only",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          const [first, second] = yield* instances([{ limit: 10, period: long }])
          const until = (yield* Clock.currentTimeMillis) + 86_400_000
          const hold = yield* first.hold({ estimate: 6 }, { id: `hold-${randomUUID()}`, until })
          expect(hold).toMatchObject({ estimate: 6, until })
          expect(yield* levels(second)).toEqual({ spent: 0, reserved: 6 })
          // Past any lease of a call's reservation: a hold is no lease.
          if (backend.clock === "test") yield* elapse("1 hour")
          expect(yield* levels(second)).toEqual({ spent: 0, reserved: 6 })
          expect((yield* Effect.flip(second.check({ estimate: 5 })))._tag).toBe("BudgetExceededError")
          yield* second.settleHold(hold, 4)
          expect(yield* levels(first)).toEqual({ spent: 4, reserved: 0 })
          // Settled again, from either instance, at any cost: counted once.
          yield* first.settleHold(hold, 4)
          yield* second.settleHold(hold, 9)
          expect(yield* levels(first)).toEqual({ spent: 4, reserved: 0 })
          // Released: nothing spent.
          const released = yield* second.hold({ estimate: 6 }, { id: `hold-${randomUUID()}`, until })
          yield* first.settleHold(released, 0)
          yield* second.settleHold(released, 3)
          expect(yield* levels(second)).toEqual({ spent: 4, reserved: 0 })
        }),
      30_000
    )

    test(
      "a check that would pass a limit fails naming it, what is committed of it and its window's end",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances([{ limit: 10, period: long }])
          yield* first.check({ estimate: 6 })
          const now = yield* Clock.currentTimeMillis
          const refused = yield* Effect.flip(second.check({ estimate: 5, model: "gpt-4o", provider: "openai" }))
          expect(refused).toMatchObject({
            _tag: "BudgetExceededError",
            limit: 10,
            spent: 6,
            estimate: 5,
            model: "gpt-4o",
            provider: "openai",
            periodEnd: windowAt(long, now).end
          })
          // What is left is granted to the cent.
          yield* second.check({ estimate: 4 })
          expect(yield* levels(first)).toEqual({ spent: 0, reserved: 10 })
          const [none] = yield* instances([{ limit: 0, period: long }])
          expect((yield* Effect.flip(none.check({ estimate: 0 })))._tag).toBe("BudgetExceededError")
        }),
      30_000
    )

    test(
      "a limit whose period changed counts in its new period's window, even one that starts at the same instant",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const namespace = `reload-${randomUUID()}`
          // Both windows start at the epoch: an hour's and a day's do so at every midnight (UTC).
          const [before] = yield* instances([{ limit: 10, period: long }], namespace)
          yield* before.charge(yield* before.check({ estimate: 8 }), 8)
          const [after, other] = yield* instances([{ limit: 10, period: twiceLong }], namespace)
          expect(yield* levels(other)).toEqual({ spent: 0, reserved: 0 })
          yield* after.charge(yield* after.check({ estimate: 9 }), 9)
          expect(yield* levels(other)).toEqual({ spent: 9, reserved: 0 })
          // The old period's window kept its own spend.
          const [again] = yield* instances([{ limit: 10, period: long }], namespace)
          expect(yield* levels(again)).toEqual({ spent: 8, reserved: 0 })
        }),
      30_000
    )

    test(
      "a window's spend does not count in the next",
      () =>
        Effect.gen(function*() {
          const { elapse, instances, shortPeriod } = yield* backend.connect
          const [first, second] = yield* instances([{ limit: 10, period: shortPeriod }])
          // Windows start at the epoch: begin just after one starts, so the reads after the charge in the next window
          // fall in that window too, however slow the machine (a live backend's window is two seconds).
          const period = Duration.toMillis(Duration.fromInputUnsafe(shortPeriod))
          yield* elapse(Duration.millis(period - ((yield* Clock.currentTimeMillis) % period) + 50))
          yield* first.charge(yield* first.check({ estimate: 8 }), 8)
          expect((yield* Effect.flip(second.check({ estimate: 5 })))._tag).toBe("BudgetExceededError")
          yield* elapse(Duration.sum(Duration.fromInputUnsafe(shortPeriod), Duration.millis(100)))
          yield* second.charge(yield* second.check({ estimate: 5 }), 5)
          expect(yield* levels(first)).toEqual({ spent: 5, reserved: 0 })
        }),
      30_000
    )

    test(
      "concurrent checks from two instances are granted exactly what is left; the charges add up",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const run = (limit: number, plan: ReadonlyArray<Batch>) =>
            Effect.gen(function*() {
              const budgets = yield* instances([{ limit, period: long }])
              let spent = 0
              for (const batch of plan) {
                const outcomes = yield* Effect.forEach(
                  batch.calls,
                  (instance) =>
                    Effect.result(
                      Effect.map(budgets[instance].check({ estimate: batch.estimate }), (r) => ({ r, instance }))
                    ),
                  { concurrency: "unbounded" }
                )
                const granted = outcomes.flatMap((outcome) => outcome._tag === "Success" ? [outcome.success] : [])
                const left = Math.max(0, Math.floor((limit - spent) / batch.estimate))
                expect(granted.length).toBe(spent >= limit ? 0 : Math.min(batch.calls.length, left))
                for (const [index, { instance, r }] of granted.entries()) {
                  const cost = Math.floor(batch.estimate * batch.shares[index]!)
                  yield* budgets[instance].charge(r, cost)
                  spent += cost
                }
                expect(yield* levels(budgets[batch.readOn])).toEqual({ spent, reserved: 0 })
              }
            })
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 1, max: 20 }),
                batches,
                (limit, plan) => Effect.runPromise(run(limit, plan))
              ),
              { numRuns: 20 }
            )
          )
        }),
      120_000
    )

    if (backend.server) {
      it.live(
        "down: a check fails with NoCapacityError, never passing a limit; back, it serves again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
            const [first, second] = yield* connected.instances([{ limit: 10, period: long }])
            yield* first.charge(yield* first.check({ estimate: 2 }), 2)
            yield* faults.stop
            expect((yield* Effect.flip(second.check({ estimate: 1 })))._tag).toBe("NoCapacityError")
            yield* faults.start
            // The first calls after the return may find connections the restart broke.
            const again = yield* Effect.retry(second.check({ estimate: 1 }), {
              while: (error) => error._tag === "NoCapacityError",
              schedule: Schedule.spaced("100 millis"),
              times: 100
            })
            yield* second.charge(again, 1)
            expect(yield* levels(first)).toEqual({ spent: 3, reserved: 0 })
          }),
        60_000
      )

      it.effect(
        "slow: a check fails with NoCapacityError at the store's bound, not before, never passing a limit; answering " +
          "again, the budget is the server's",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const slow = onServer(connected.slow, "how it answers late")
            const [first, second] = yield* connected.instances([{ limit: 10, period: long }])
            yield* first.charge(yield* first.check({ estimate: 2 }), 2)
            yield* slow.pause
            expect(yield* Effect.flip(atBound("a check", second.check({ estimate: 1 }), slow))).toMatchObject({
              _tag: "NoCapacityError",
              storeUnavailable: true
            })
            yield* slow.resume
            // What the server holds: the charge before; the check it answered late holds nothing there.
            expect(yield* levels(second)).toEqual({ spent: 2, reserved: 0 })
            yield* second.charge(yield* second.check({ estimate: 3 }), 3)
            expect((yield* levels(first)).spent).toBe(5)
          }),
        60_000
      )
    }

    if (backend.file) {
      it.effect(
        "locked: with the database's file locked by another connection past the store's bound, a check fails with " +
          "NoCapacityError at the bound, not before, never passing a limit; locked for less, it waits on the lock " +
          "and reserves once it is let go",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const locked = connected.locked
            if (locked === undefined) throw new Error("a backend on a file says how to lock it")
            const bound = Duration.fromInputUnsafe(locked.bound)
            const [first, second] = yield* connected.instances([{ limit: 10, period: long }])
            yield* first.charge(yield* first.check({ estimate: 2 }), 2)
            yield* locked.pause
            const refused = yield* Effect.flip(atBound("a check", second.check({ estimate: 1 }), locked))
            yield* locked.resume
            expect(refused).toMatchObject({ _tag: "NoCapacityError", storeUnavailable: true })
            expect(yield* levels(second)).toEqual({ spent: 2, reserved: 0 })
            // Held for half the bound: the check is still waiting, and reserves once the lock is let go.
            yield* locked.pause
            const waiting = yield* Effect.forkChild(second.check({ estimate: 3 }), { startImmediately: true })
            yield* TestClock.adjust(Duration.divideUnsafe(bound, 2))
            const pending = waiting.pollUnsafe()
            yield* locked.resume
            expect(pending).toBeUndefined()
            yield* TestClock.adjust(Duration.divideUnsafe(bound, 4))
            yield* second.charge(yield* Fiber.join(waiting), 3)
            expect(yield* levels(first)).toEqual({ spent: 5, reserved: 0 })
          }),
        60_000
      )
    }

    if (backend.failOpen !== undefined) {
      const failOpen = backend.failOpen
      it.live(
        "fail-open, stopped mid-run: checks go on against each instance's share of what it last read was left, in " +
          "memory, its charges recorded; back (restarted empty), the store is used again and counts what was " +
          "charged before and during the outage",
        () =>
          Effect.gen(function*() {
            const { faults, instances, share } = yield* failOpen
            const limit = 10
            const [first, second] = yield* instances([{ limit, period: long }])
            yield* first.charge(yield* first.check({ estimate: 2 }), 2)
            // Each instance read 2 spent: its share is of the 8 left, not of the limit.
            expect(yield* levels(second)).toEqual({ spent: 2, reserved: 0 })
            const local = (limit - 2) / share
            yield* faults.stop
            const outage = yield* second.check({ estimate: local - 1 })
            const refused = yield* Effect.flip(second.check({ estimate: 2 }))
            // Refused on the share; the error names the limit as configured, and what is gone of it: what the store
            // had counted, and what the share has committed since.
            expect(refused).toMatchObject({ _tag: "BudgetExceededError", limit, spent: 2 + local - 1, estimate: 2 })
            expect(yield* levels(second)).toEqual({ spent: 2, reserved: local - 1 })
            yield* second.charge(outage, 3)
            expect(yield* levels(second)).toEqual({ spent: 5, reserved: 0 })
            // The other instance's share is its own.
            const whole = yield* first.check({ estimate: local })
            expect((yield* Effect.flip(first.check({ estimate: 1 })))._tag).toBe("BudgetExceededError")
            yield* first.charge(whole, 0)
            yield* faults.start
            // Back, empty: a check reserves in the store, each instance's part (before the outage and during it, as
            // its record kept it) written back at its next use.
            const after = yield* second.check({ estimate: 1 })
            expect(yield* levels(first)).toEqual({ spent: 2 + 3, reserved: 1 })
            yield* second.charge(after, 1)
            expect(yield* levels(second)).toEqual({ spent: 6, reserved: 0 })
            // The store's limit again, not a share: what is left of it is granted, and no more.
            expect((yield* Effect.flip(first.check({ estimate: limit - 5 })))._tag).toBe("BudgetExceededError")
            yield* first.check({ estimate: limit - 6 })
          }),
        60_000
      )

      it.live(
        "fail-open never renews: a limit spent in the store is spent in every instance's share while it is away, a " +
          "cost past the estimate included",
        () =>
          Effect.gen(function*() {
            const { faults, instances } = yield* failOpen
            const limit = 10
            const [first, second] = yield* instances([{ limit, period: long }])
            // Spent past the limit (a reply dearer than its estimate), as the first reads it; the second has read it
            // refused.
            yield* first.charge(yield* first.check({ estimate: 9 }), 13)
            expect(yield* Effect.flip(second.check({ estimate: 1 }))).toMatchObject({ spent: 13 })
            yield* faults.stop
            for (const budget of [first, second]) {
              expect(yield* Effect.flip(budget.check({ estimate: 0.01 }))).toMatchObject({
                _tag: "BudgetExceededError",
                limit,
                spent: 13
              })
            }
            expect((yield* levels(first)).spent).toBe(13)
            yield* faults.start
            expect((yield* Effect.flip(first.check({ estimate: 1 })))._tag).toBe("BudgetExceededError")
          }),
        60_000
      )

      it.live(
        "fail-open, an instance started during the outage: a check on a limit it never read is refused as the store " +
          "unavailable (it may be spent there), and served once the store answers",
        () =>
          Effect.gen(function*() {
            const { faults, instances } = yield* failOpen
            yield* faults.stop
            const [first] = yield* instances([{ limit: 10, period: long }])
            expect(yield* Effect.flip(first.check({ estimate: 1 }))).toMatchObject({
              _tag: "NoCapacityError",
              storeUnavailable: true
            })
            yield* faults.start
            yield* first.charge(yield* first.check({ estimate: 1 }), 1)
            expect((yield* levels(first)).spent).toBe(1)
          }),
        60_000
      )

      it.effect(
        "fail-open, slow: a check is checked against the instance's share at the store's bound, not before; " +
          "answering again, against the store",
        () =>
          Effect.gen(function*() {
            const { instances, share, slow } = yield* failOpen
            const limit = 10
            const [first, second] = yield* instances([{ limit, period: long }])
            yield* first.charge(yield* first.check({ estimate: 2 }), 2)
            expect((yield* levels(second)).spent).toBe(2)
            yield* slow.pause
            // The share of what the second last read was left, granted there at the bound; no more than it.
            const local = yield* atBound("a check", second.check({ estimate: (limit - 2) / share }), slow)
            const past = yield* Effect.flip(atBound("a check past the share", second.check({ estimate: 0.5 }), slow))
            expect(past._tag).toBe("BudgetExceededError")
            yield* slow.resume
            yield* second.charge(local, 0)
            // The store's budget again: its 2 spent, the checks it answered late reserved there until their leases
            // lapse, and what is left of the limit, no more.
            const { reserved, spent } = yield* levels(first)
            expect(spent).toBe(2)
            expect([0, 0.5, (limit - 2) / share, (limit - 2) / share + 0.5]).toContain(reserved)
            const left = limit - spent - reserved
            expect((yield* Effect.flip(first.check({ estimate: left + 0.25 })))._tag).toBe("BudgetExceededError")
            yield* first.check({ estimate: left })
          }),
        60_000
      )
    }
  })
}
