/**
 * The gateway's own batch API (`batches/calls.ts`) over the runs' memory store, on the `TestClock`: a batch whose
 * window closed before its lines started ends expired, every line its expired line; a line whose model the
 * configuration no longer has is that line's typed error, once; a retrieve reads the run's progress, its answers read
 * only for its result's lines; a retrieve of a run running here starts no second running, nor does another instance's
 * while a line runs past the lease's time to live. (Over loopback, with the official clients and the simulator:
 * test/e2e/GatewayBatchesAsCalls.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Calls from "../../src/internal/gateway/batches/calls.js"
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import * as Settlement from "../../src/internal/gateway/batches/settlement.js"
import type { GatewayBatchApi } from "../../src/internal/gateway/engine.js"
import * as Message from "../../src/Message.js"
import type { Credentials } from "../../src/ProviderClient.js"
import { effectProp } from "../utils/effectProp.js"
import { inMemory } from "../utils/sqlDatabases.js"

const credentials: Credentials = { key: Redacted.make("sk-test"), keyId: "sk-…test" }

const requests = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    customId: `line-${i}`,
    request: { model: "gone", maxTokens: 10, messages: [Message.user(`Hello ${i}`)] }
  }))

/** The status once the run ended, read every simulated second. */
const endedOf = (api: GatewayBatchApi, id: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      const status = yield* api.retrieve(id, "gone", credentials)
      if (status.state !== "running") return status
      yield* TestClock.adjust("1 second")
    }
    return yield* Effect.die(new Error("the run never ended"))
  })

/** The runs' memory store, each of its whole reads (lines and answers) counted in `reads`. */
const countingReads = (reads: { count: number }) =>
  Layer.effect(
    Runs.RunStore,
    Effect.gen(function*() {
      const store = yield* Runs.RunStore
      return {
        ...store,
        read: (run: string) =>
          Effect.suspend(() => {
            reads.count++
            return store.read(run)
          })
      }
    })
  ).pipe(Layer.provide(inMemory(Runs.layerSql)))

/** The batch API of the maker `owner`'s runs, of `window`, each line's turn of its rate limit taken by `turn`. */
const apiOf = (
  window: Duration.Duration,
  turn: Calls.Options["turn"] = () => Effect.void,
  owner = "config:k"
) => Effect.map(Calls.make({ window, resolve: () => undefined, turn }), (calls) => calls.api(owner))

describe("the gateway's batch API, lines run as calls", () => {
  effectProp(
    "each line takes one turn of its maker's rate limit before its call, whatever the batch's size",
    fc.integer({ min: 1, max: 40 }),
    (count) =>
      Effect.gen(function*() {
        const turns: Array<string> = []
        const api = yield* apiOf(Duration.days(1), (owner) => Effect.sync(() => void turns.push(owner)))
        const submitted = yield* api.submit(requests(count), "gone", credentials)
        yield* endedOf(api, submitted.id)
        expect(turns).toEqual(Array.from({ length: count }, () => "config:k"))
      }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))),
    20
  )

  it.effect("a line waits for its turn: none is called while its maker's rate limit holds none", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const api = yield* apiOf(Duration.days(1), () => Deferred.await(gate))
      const submitted = yield* api.submit(requests(3), "gone", credentials)
      for (let i = 0; i < 5; i++) yield* TestClock.adjust("1 second")
      expect(yield* api.retrieve(submitted.id, "gone", credentials)).toMatchObject({ state: "running", failed: 0 })
      yield* Deferred.succeed(gate, undefined)
      expect(yield* endedOf(api, submitted.id)).toMatchObject({ state: "completed", failed: 3 })
    }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))))

  effectProp(
    "retrieves of a run this instance runs start no second running: each line takes one turn, however many polls",
    fc.record({ count: fc.integer({ min: 1, max: 12 }), polls: fc.integer({ min: 1, max: 6 }) }),
    ({ count, polls }) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const turns: Array<string> = []
        const api = yield* apiOf(Duration.days(1), (owner) =>
          Effect.andThen(Effect.sync(() => void turns.push(owner)), Deferred.await(gate)))
        const submitted = yield* api.submit(requests(count), "gone", credentials)
        for (let poll = 0; poll < polls; poll++) {
          expect(yield* api.retrieve(submitted.id, "gone", credentials)).toMatchObject({ state: "running" })
        }
        yield* Deferred.succeed(gate, undefined)
        expect(yield* endedOf(api, submitted.id)).toMatchObject({ state: "completed", failed: count })
        expect(turns).toHaveLength(count)
      }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))),
    20
  )

  it.effect("a line waiting past the lease's time to live keeps its run's lease: another instance's retrieves run none", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const turns = { here: 0, there: 0 }
      const here = yield* apiOf(
        Duration.days(1),
        () => Effect.andThen(Effect.sync(() => void turns.here++), Deferred.await(gate))
      )
      const there = yield* apiOf(Duration.days(1), () => Effect.sync(() => void turns.there++))
      const submitted = yield* here.submit(requests(2), "gone", credentials)
      for (let second = 0; second < 4 * Duration.toSeconds(Settlement.leaseTtl); second++) {
        yield* TestClock.adjust("1 second")
        expect(yield* there.retrieve(submitted.id, "gone", credentials)).toMatchObject({ state: "running" })
      }
      yield* Deferred.succeed(gate, undefined)
      expect(yield* endedOf(here, submitted.id)).toMatchObject({ state: "completed", failed: 2 })
      expect(turns).toEqual({ here: 2, there: 0 })
    }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))))

  it.effect("a run whose window closed before its lines started ends expired, every line expired", () =>
    Effect.gen(function*() {
      const api = yield* apiOf(Duration.zero)
      const submitted = yield* api.submit(requests(3), "gone", credentials)
      expect(submitted).toMatchObject({ state: "running", total: 3, succeeded: 0, failed: 0 })
      const status = yield* endedOf(api, submitted.id)
      expect(status).toMatchObject({ state: "expired", total: 3, succeeded: 0, failed: 3 })
      const lines = yield* api.results(status, "gone", credentials)
      expect(lines.map((line) => [line.customId, line.position, line.outcome])).toEqual([
        ["line-0", 0, "expired"],
        ["line-1", 1, "expired"],
        ["line-2", 2, "expired"]
      ])
    }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))))

  effectProp(
    "a retrieve reads a run's progress, not its answers: only its result's lines read them",
    fc.record({ count: fc.integer({ min: 1, max: 30 }), polls: fc.integer({ min: 1, max: 5 }) }),
    ({ count, polls }) => {
      const reads = { count: 0 }
      return Effect.gen(function*() {
        const api = yield* apiOf(Duration.days(1))
        const submitted = yield* api.submit(requests(count), "gone", credentials)
        const status = yield* endedOf(api, submitted.id)
        const before = reads.count
        for (let poll = 0; poll < polls; poll++) {
          expect(yield* api.retrieve(submitted.id, "gone", credentials)).toEqual(status)
        }
        expect(reads.count).toBe(before)
        expect(yield* api.results(status, "gone", credentials)).toHaveLength(count)
        expect(reads.count).toBe(before + 1)
      }).pipe(Effect.provide(countingReads(reads)))
    },
    20
  )

  it.effect("a line of a model no longer configured is its typed error, each line once", () =>
    Effect.gen(function*() {
      const api = yield* apiOf(Duration.days(1))
      const submitted = yield* api.submit(requests(5), "gone", credentials)
      const status = yield* endedOf(api, submitted.id)
      expect(status).toMatchObject({ state: "completed", total: 5, succeeded: 0, failed: 5 })
      const lines = yield* api.results(status, "gone", credentials)
      expect(lines.map((line) => line.customId)).toEqual(["line-0", "line-1", "line-2", "line-3", "line-4"])
      for (const { outcome } of lines) {
        expect(typeof outcome !== "string" && Result.isFailure(outcome) && outcome.failure._tag).toBe(
          "ModelNotFoundError"
        )
      }
    }).pipe(Effect.scoped, Effect.provide(inMemory(Runs.layerSql))))
})
