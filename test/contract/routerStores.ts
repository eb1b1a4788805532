/**
 * The contract every backend of the router's stores keeps, run against each (`test/RouterStoreContract.test.ts`):
 * a `BreakerStore` opens a breaker after its failures within the window, on every instance, grants one probe once the
 * period is over, closes on its success and opens again on its failure, and keeps the longest hold; an
 * `AffinityStore` finds a pin on every instance until its time to live passes and counts it where it was last pinned.
 * A property plays random steps on the backend and on the memory store and asks for the same answers. For a backend on
 * a server, the server down: each instance answers from memory, the outage logged once. A new backend is one more
 * `routerStoresContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import { Router } from "effect-llm-router"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { withWarnings } from "../utils/warnings.js"

/** What the router's store layers provide. */
export type Stores = Context.Context<Router.BreakerStore | Router.AffinityStore>

/** A backend's server going away and coming back. */
export interface Faults {
  /** Takes the server down and waits until it is. */
  readonly stop: Effect.Effect<void>
  /** Brings it back and waits until the backend uses it again. */
  readonly start: Effect.Effect<void>
}

/** One test's backend. */
export interface Backend {
  /** Two instances' stores: each the stores of one process sharing the backend. */
  readonly instances: Effect.Effect<readonly [Stores, Stores], never, Scope.Scope>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  /** One instance's stores on a server of their own that the test takes down; undefined: none. */
  readonly faulty: Effect.Effect<{ readonly stores: Stores; readonly faults: Faults }, never, Scope.Scope> | undefined
}

export interface RouterStoresBackend {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  readonly connect: Effect.Effect<Backend, never, Scope.Scope>
}

const hour = 3_600_000

const breakerOn = (stores: Stores, options: Router.BreakerOptions) =>
  Effect.provide(Effect.flatMap(Router.BreakerStore, (store) => store.breaker(options)), stores)

const pinsOn = (stores: Stores, options: Router.PinsOptions) =>
  Effect.provide(Effect.flatMap(Router.AffinityStore, (store) => store.pins(options)), stores)

const rules = (failures: number, periodMillis: number): Router.BreakerOptions => ({
  key: `contract-${randomUUID()}`,
  failures,
  windowMillis: hour,
  periodMillis
})

type Step = "send" | "success" | "failure" | "probeFailure" | "release" | "hold" | "peek"

const stepOf = (breaker: Router.Breaker, step: Step, millis: number): Effect.Effect<Router.BreakerReply> => {
  switch (step) {
    case "send":
      return breaker.send
    case "success":
      return breaker.success
    case "failure":
      return breaker.failure(false)
    case "probeFailure":
      return breaker.failure(true)
    case "release":
      return breaker.release
    case "hold":
      return breaker.hold(millis)
    case "peek":
      return breaker.peek
  }
}

// What a reply says that two backends' clocks cannot make differ: times only as whether they are running.
const observed = (reply: Router.BreakerReply) => ({
  state: reply.state,
  probing: reply.probing,
  failures: reply.failures,
  granted: reply.granted,
  open: reply.openMillis > 0,
  held: reply.heldMillis > 0
})

interface PlannedStep {
  readonly on: 0 | 1
  readonly step: Step
  readonly millis: number
}

const steps: fc.Arbitrary<ReadonlyArray<PlannedStep>> = fc.array(
  fc.record({
    on: fc.constantFrom(0 as const, 1 as const),
    step: fc.constantFrom<Step>("send", "success", "failure", "probeFailure", "release", "hold", "peek"),
    millis: fc.constantFrom(0, 60_000)
  }),
  { minLength: 1, maxLength: 24 }
)

const pinSteps = fc.array(
  fc.record({
    on: fc.constantFrom(0 as const, 1 as const),
    session: fc.constantFrom("s1", "s2", "s3"),
    deployment: fc.option(fc.constantFrom("a", "b"), { nil: undefined })
  }),
  { minLength: 1, maxLength: 16 }
)

const countsOf = (counts: ReadonlyMap<string, number>) => Object.fromEntries([...counts].sort())

export const routerStoresContract = (backend: RouterStoresBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`Router.BreakerStore and Router.AffinityStore contract: ${backend.name}`, () => {
    test(
      "failures within the window open the breaker on every instance, counted on both; an open breaker refuses sends",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = rules(3, hour)
          const one = yield* breakerOn(first, options)
          const two = yield* breakerOn(second, options)
          expect(yield* one.send).toMatchObject({ state: "closed", granted: true, failures: 0 })
          expect((yield* one.failure(false)).failures).toBe(1)
          expect((yield* two.failure(false)).failures).toBe(2)
          const opened = yield* one.failure(false)
          expect(opened).toMatchObject({ state: "open", failures: 0, probing: false })
          expect(opened.openMillis).toBeGreaterThan(hour - 5_000)
          expect(opened.openMillis).toBeLessThanOrEqual(hour)
          expect(yield* two.send).toMatchObject({ state: "open", granted: false })
          expect((yield* two.peek).state).toBe("open")
        }),
      30_000
    )

    test(
      "once the period is over one send takes the probe; released, the next send does; its failure opens it again, " +
        "its success closes it",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = rules(1, 1_000)
          const one = yield* breakerOn(first, options)
          const two = yield* breakerOn(second, options)
          expect((yield* one.failure(false)).state).toBe("open")
          expect((yield* two.send).granted).toBe(false)
          yield* elapse("1100 millis")
          expect(yield* one.send).toMatchObject({ state: "half-open", probing: true, granted: true })
          expect(yield* two.send).toMatchObject({ state: "half-open", probing: true, granted: false })
          expect(yield* one.release).toMatchObject({ state: "half-open", probing: false })
          expect((yield* two.send).granted).toBe(true)
          expect((yield* two.failure(true)).state).toBe("open")
          expect((yield* one.send).granted).toBe(false)
          yield* elapse("1100 millis")
          expect((yield* one.send).granted).toBe(true)
          expect(yield* one.success).toMatchObject({ state: "closed", probing: false, failures: 0 })
          expect(yield* two.peek).toMatchObject({ state: "closed", granted: true })
        }),
      30_000
    )

    test(
      "a success forgets the failures; a hold is the longest asked for, on every instance, and lapses",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = rules(3, hour)
          const one = yield* breakerOn(first, options)
          const two = yield* breakerOn(second, options)
          yield* one.failure(false)
          expect((yield* two.success).failures).toBe(0)
          expect((yield* one.hold(1_000)).heldMillis).toBeGreaterThan(500)
          const longest = yield* two.hold(200)
          expect(longest.heldMillis).toBeGreaterThan(500)
          expect(longest.heldMillis).toBeLessThanOrEqual(1_000)
          yield* elapse("1100 millis")
          expect((yield* one.peek).heldMillis).toBe(0)
        }),
      30_000
    )

    test(
      "property: any steps on two instances answer as the memory store's rules do",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const run = (failures: number, periodMillis: number, plan: ReadonlyArray<PlannedStep>) =>
            Effect.scoped(Effect.gen(function*() {
              const options = rules(failures, periodMillis)
              const model = yield* Layer.build(Router.layerStoreMemory)
              const reference = yield* breakerOn(model, options)
              const breakers = [yield* breakerOn(first, options), yield* breakerOn(second, options)] as const
              for (const { millis, on, step } of plan) {
                const seen = yield* stepOf(breakers[on], step, millis)
                const expected = yield* stepOf(reference, step, millis)
                expect(observed(seen)).toEqual(observed(expected))
              }
            }))
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 1, max: 4 }),
                fc.constantFrom(0, hour),
                steps,
                (failures, period, plan) => Effect.runPromise(run(failures, period, plan))
              ),
              { numRuns: 30 }
            )
          )
        }),
      120_000
    )

    test(
      "a pin is found on every instance until its time to live passes, and counted where it was pinned last",
      () =>
        Effect.gen(function*() {
          const { elapse, instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = {
            key: `contract-${randomUUID()}`,
            ttlMillis: 1_000,
            maxSessions: 100,
            deployments: ["a", "b"]
          }
          const one = yield* pinsOn(first, options)
          const two = yield* pinsOn(second, options)
          const pin = { deployment: "a", key: "sk-…0001" }
          expect(yield* one.lookup("session")).toBeUndefined()
          yield* one.pin("session", pin)
          expect(yield* two.lookup("session")).toEqual(pin)
          expect(countsOf(yield* two.counts)).toEqual({ a: 1 })
          yield* two.pin("session", { deployment: "b", key: undefined })
          expect(yield* one.lookup("session")).toEqual({ deployment: "b", key: undefined })
          expect(countsOf(yield* one.counts)).toEqual({ b: 1 })
          yield* elapse("1100 millis")
          expect(yield* two.lookup("session")).toBeUndefined()
          expect(countsOf(yield* one.counts)).toEqual({})
        }),
      30_000
    )

    test(
      "property: any pins and lookups on two instances answer as the memory store does",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const run = (plan: ReadonlyArray<{ on: 0 | 1; session: string; deployment: string | undefined }>) =>
            Effect.scoped(Effect.gen(function*() {
              const options = {
                key: `contract-${randomUUID()}`,
                ttlMillis: hour,
                maxSessions: 100,
                deployments: ["a", "b"]
              }
              const reference = yield* pinsOn(yield* Layer.build(Router.layerStoreMemory), options)
              const pins = [yield* pinsOn(first, options), yield* pinsOn(second, options)] as const
              for (const { deployment, on, session } of plan) {
                if (deployment === undefined) {
                  expect(yield* pins[on].lookup(session)).toEqual(yield* reference.lookup(session))
                } else {
                  yield* pins[on].pin(session, { deployment, key: undefined })
                  yield* reference.pin(session, { deployment, key: undefined })
                }
                expect(countsOf(yield* pins[on].counts)).toEqual(countsOf(yield* reference.counts))
              }
            }))
          yield* Effect.promise(() =>
            fc.assert(fc.asyncProperty(pinSteps, (plan) => Effect.runPromise(run(plan))), { numRuns: 30 })
          )
        }),
      120_000
    )

    if (backend.clock === "live") {
      it.live(
        "down: each instance's breakers and pins answer from memory, the outage logged once; back up, from the server",
        () =>
          Effect.gen(function*() {
            const { faulty } = yield* backend.connect
            if (faulty === undefined) throw new Error("a backend on a server gives its faults")
            const { faults, stores } = yield* faulty
            const breaker = yield* breakerOn(stores, rules(2, hour))
            const pins = yield* pinsOn(stores, {
              key: `contract-${randomUUID()}`,
              ttlMillis: hour,
              maxSessions: 100,
              deployments: ["a"]
            })
            expect((yield* breaker.failure(false)).failures).toBe(1)
            yield* faults.stop
            const [local, warnings] = yield* withWarnings(Effect.gen(function*() {
              // The memory breaker starts closed: what Redis counted is not there.
              expect((yield* breaker.failure(false)).failures).toBe(1)
              const opened = yield* breaker.failure(false)
              expect((yield* breaker.send).granted).toBe(false)
              yield* pins.pin("session", { deployment: "a", key: undefined })
              return { opened, pin: yield* pins.lookup("session"), counts: countsOf(yield* pins.counts) }
            }))
            expect(local).toEqual({
              opened: expect.objectContaining({ state: "open" }),
              pin: { deployment: "a", key: undefined },
              counts: { a: 1 }
            })
            expect(warnings.filter((warning) => warning.message.includes("is unavailable"))).toHaveLength(1)
            yield* faults.start
            // Restarted empty: the breaker Redis keeps is closed again, and the pin is gone.
            expect((yield* breaker.peek).state).toBe("closed")
            expect(yield* pins.lookup("session")).toBeUndefined()
          }),
        60_000
      )
    }
  })
}
