/**
 * The contract every backend of the router's stores keeps, run against each (`test/RouterStoreContract.test.ts`):
 * a `BreakerStore` opens a breaker after its failures within the window, on every instance, grants one probe once the
 * period is over, closes on its success and opens again on its failure, and keeps the longest hold; an
 * `AffinityStore` finds a pin on every instance until its time to live passes and counts it where it was last pinned;
 * a `LearnedLimitStore` counts every instance's samples, answers their quantile once `minSamples` are in, and drops
 * the oldest from a full window. Properties play random steps on the backend and on the memory store and ask for the
 * same answers (samples also added concurrently from both instances). For a backend on a server, the server down: each
 * instance answers from memory, the outage logged once; back up, restarted empty; slow (answering later than the
 * store's command bound), from memory at the bound, on the `TestClock`. A new backend is one more
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
import { atBound, type Faults, onServer } from "../utils/slowStore.js"
import { withWarnings } from "../utils/warnings.js"

/** What the router's store layers provide. */
export type Stores = Context.Context<Router.BreakerStore | Router.AffinityStore | Router.LearnedLimitStore>

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

const samplesOn = (stores: Stores, options: Router.SamplesOptions) =>
  Effect.provide(Effect.flatMap(Router.LearnedLimitStore, (store) => store.samples(options)), stores)

const learning = (minSamples: number, window: number, quantile = 0.5): Router.SamplesOptions => ({
  key: `contract-${randomUUID()}`,
  quantile,
  minSamples,
  window
})

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

interface SampleStep {
  readonly on: 0 | 1
  /** Undefined: a peek. */
  readonly phase: Router.StreamPhase | undefined
  readonly millis: number
}

// Milliseconds as a clock gives them, and fractions: every backend answers the number it was given.
const millis = fc.oneof(fc.integer({ min: 0, max: 120_000 }), fc.double({ min: 0, max: 120_000, noNaN: true }))

const sampleSteps: fc.Arbitrary<ReadonlyArray<SampleStep>> = fc.array(
  fc.record({
    on: fc.constantFrom(0 as const, 1 as const),
    phase: fc.constantFrom<Router.StreamPhase | undefined>("firstChunk", "firstChunk", "gap", undefined),
    millis
  }),
  { minLength: 1, maxLength: 40 }
)

export const routerStoresContract = (backend: RouterStoresBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`Router.BreakerStore, Router.AffinityStore and Router.LearnedLimitStore contract: ${backend.name}`, () => {
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

    test(
      "samples one instance adds count on every instance; their quantile once minSamples are in; a full window drops " +
        "the oldest",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const options = learning(3, 4)
          const one = yield* samplesOn(first, options)
          const two = yield* samplesOn(second, options)
          expect(yield* two.peek).toEqual({
            firstChunk: { count: 0, quantile: undefined },
            gap: { count: 0, quantile: undefined }
          })
          yield* one.add("firstChunk", 300)
          expect((yield* two.add("firstChunk", 100)).firstChunk).toEqual({ count: 2, quantile: undefined })
          expect((yield* one.add("firstChunk", 200)).firstChunk).toEqual({ count: 3, quantile: 200 })
          expect((yield* two.add("firstChunk", 1_000.5)).firstChunk).toEqual({ count: 4, quantile: 200 })
          // Full: 300, the oldest, leaves.
          expect((yield* one.add("firstChunk", 50)).firstChunk).toEqual({ count: 4, quantile: 100 })
          expect(yield* two.peek).toEqual({
            firstChunk: { count: 4, quantile: 100 },
            gap: { count: 0, quantile: undefined }
          })
          // The phases are apart; the highest quantile is the slowest sample.
          const gaps = yield* samplesOn(first, learning(3, 4, 1))
          yield* gaps.add("gap", 7)
          yield* gaps.add("gap", 9)
          expect((yield* gaps.add("gap", 8)).gap).toEqual({ count: 3, quantile: 9 })
        }),
      30_000
    )

    test(
      "property: any samples and peeks on two instances answer as the memory store does",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const run = (options: Router.SamplesOptions, plan: ReadonlyArray<SampleStep>) =>
            Effect.scoped(Effect.gen(function*() {
              const reference = yield* samplesOn(yield* Layer.build(Router.layerStoreMemory), options)
              const samples = [yield* samplesOn(first, options), yield* samplesOn(second, options)] as const
              for (const { millis, on, phase } of plan) {
                const seen = yield* (phase === undefined ? samples[on].peek : samples[on].add(phase, millis))
                expect(seen).toEqual(yield* (phase === undefined ? reference.peek : reference.add(phase, millis)))
              }
            }))
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.integer({ min: 1, max: 5 }).chain((minSamples) =>
                  fc.record({
                    minSamples: fc.constant(minSamples),
                    window: fc.integer({ min: minSamples, max: 8 }),
                    quantile: fc.constantFrom(0.01, 0.5, 0.9, 0.99, 1)
                  })
                ),
                sampleSteps,
                ({ minSamples, quantile, window }, plan) =>
                  Effect.runPromise(run({ key: `contract-${randomUUID()}`, quantile, minSamples, window }, plan))
              ),
              { numRuns: 30 }
            )
          )
        }),
      120_000
    )

    test(
      "property: samples added at once from two instances are all counted, their quantile the memory store's",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances
          const run = (plan: ReadonlyArray<{ readonly on: 0 | 1; readonly millis: number }>) =>
            Effect.scoped(Effect.gen(function*() {
              // A window none of them overflows: which one would leave depends on the order they land in.
              const options = learning(1, 100, 0.9)
              const reference = yield* samplesOn(yield* Layer.build(Router.layerStoreMemory), options)
              const samples = [yield* samplesOn(first, options), yield* samplesOn(second, options)] as const
              yield* Effect.forEach(plan, ({ millis, on }) => samples[on].add("gap", millis), {
                concurrency: "unbounded"
              })
              for (const { millis } of plan) yield* reference.add("gap", millis)
              expect(yield* samples[0].peek).toEqual(yield* reference.peek)
              expect(yield* samples[1].peek).toEqual(yield* reference.peek)
            }))
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.array(fc.record({ on: fc.constantFrom(0 as const, 1 as const), millis }), {
                  minLength: 1,
                  maxLength: 60
                }),
                (plan) => Effect.runPromise(run(plan))
              ),
              { numRuns: 20 }
            )
          )
        }),
      120_000
    )

    if (backend.clock === "live") {
      it.live(
        "down: each instance's breakers, samples and pins answer from memory, the outage logged once; back up, from " +
          "the server",
        () =>
          Effect.gen(function*() {
            const { faults, stores } = yield* onServer((yield* backend.connect).faulty)
            const breaker = yield* breakerOn(stores, rules(2, hour))
            const pins = yield* pinsOn(stores, {
              key: `contract-${randomUUID()}`,
              ttlMillis: hour,
              maxSessions: 100,
              deployments: ["a"]
            })
            const samples = yield* samplesOn(stores, learning(1, 10))
            expect((yield* breaker.failure(false)).failures).toBe(1)
            expect((yield* samples.add("firstChunk", 500)).firstChunk).toEqual({ count: 1, quantile: 500 })
            yield* faults.stop
            const [local, warnings] = yield* withWarnings(Effect.gen(function*() {
              // The memory breaker starts closed: what Redis counted is not there.
              expect((yield* breaker.failure(false)).failures).toBe(1)
              const opened = yield* breaker.failure(false)
              expect((yield* breaker.send).granted).toBe(false)
              yield* pins.pin("session", { deployment: "a", key: undefined })
              // The memory samples start empty: what Redis kept is not there.
              const learned = (yield* samples.add("firstChunk", 700)).firstChunk
              return { opened, pin: yield* pins.lookup("session"), counts: countsOf(yield* pins.counts), learned }
            }))
            expect(local).toEqual({
              opened: expect.objectContaining({ state: "open" }),
              pin: { deployment: "a", key: undefined },
              counts: { a: 1 },
              learned: { count: 1, quantile: 700 }
            })
            expect(warnings.filter((warning) => warning.message.includes("is unavailable"))).toHaveLength(1)
            yield* faults.start
            // Restarted empty: the breaker Redis keeps is closed again, the pin and the samples are gone.
            expect((yield* breaker.peek).state).toBe("closed")
            expect(yield* pins.lookup("session")).toBeUndefined()
            expect((yield* samples.peek).firstChunk).toEqual({ count: 0, quantile: undefined })
            expect((yield* samples.add("firstChunk", 900)).firstChunk).toEqual({ count: 1, quantile: 900 })
          }),
        60_000
      )

      it.effect(
        "slow: each step answers from memory at the store's bound, not before; answering again, from the server, " +
          "which kept its state and applied the steps it answered late",
        () =>
          Effect.gen(function*() {
            const { faults, stores } = yield* onServer((yield* backend.connect).faulty)
            const breaker = yield* breakerOn(stores, rules(3, hour))
            const samples = yield* samplesOn(stores, learning(1, 10))
            expect((yield* breaker.failure(false)).failures).toBe(1)
            expect((yield* samples.add("gap", 400)).gap).toEqual({ count: 1, quantile: 400 })
            yield* faults.pause
            const local = yield* atBound(
              "a failure and a sample",
              Effect.all([breaker.failure(false), samples.add("gap", 600)], { concurrency: "unbounded" }),
              faults
            )
            // The memory stores start empty: what the server counted is not there.
            expect(local[0].failures).toBe(1)
            expect(local[1].gap).toEqual({ count: 1, quantile: 600 })
            yield* faults.resume
            // The steps whose answers were held back reached the server, which applied them.
            expect((yield* breaker.peek).failures).toBe(2)
            expect((yield* samples.peek).gap).toEqual({ count: 2, quantile: 400 })
          }),
        60_000
      )
    }
  })
}
