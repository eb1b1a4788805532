/**
 * The contract every `CacheStore` backend keeps, run against each (`test/CacheStoreContract.test.ts`): what one
 * instance stores another reads whole until its time to live; delete and size agree; concurrent batches of random
 * operations give what a map would; and, for a backend on a server, the faults: the server down (each step failing with
 * `StoreUnavailableError`), slow (answering later than the store's command bound: the step fails at the bound, on the
 * `TestClock`, and once the server answers promptly again the entries are the server's), restarted empty. A new backend
 * is one more `cacheStoreContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type { CacheStore } from "effect-llm-router"
import { LlmTest } from "effect-llm-router/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import { type ContractBackend, type Faults, onServer, unavailableAtBound, unavailableEach } from "../utils/slowStore.js"

/** One test's backend. */
export interface Backend {
  /** Two instances' stores under a namespace: what either stores under it, the other reads. */
  readonly instances: (namespace: string) => Effect.Effect<readonly [CacheStore.Service, CacheStore.Service]>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  /** A time to live the test reads within, on the backend's clock, however loaded the machine. */
  readonly shortTtl: Duration.Input
  readonly faults: Faults | undefined
}

export type CacheBackend = ContractBackend<Backend>

const reply = LlmTest.reply("Paris", {
  usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5, cachedPromptTokens: 1 },
  reasoning: "The capital of France.",
  toolCalls: [{ id: "call_1", name: "lookup", arguments: "{\"city\":\"Paris\"}" }]
})
const textOf = (found: Option.Option<{ readonly text: string }>) =>
  Option.getOrUndefined(Option.map(found, (response) => response.text))

type Operation =
  | { readonly kind: "set"; readonly key: string; readonly text: string; readonly on: 0 | 1 }
  | { readonly kind: "get" | "delete"; readonly key: string; readonly on: 0 | 1 }

const on = fc.constantFrom(0 as const, 1 as const)
const key = fc.constantFrom("a", "b", "c", "d", "e", "f")
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key, text: fc.string({ maxLength: 12 }), on }),
  fc.record({ kind: fc.constantFrom("get" as const, "delete" as const), key, on })
)
type Plan = ReadonlyArray<{ readonly operations: ReadonlyArray<Operation>; readonly on: 0 | 1 }>

/** Batches of operations on distinct keys, each batch run at once; the size read after each from either instance. */
const batches: fc.Arbitrary<Plan> = fc.array(
  fc.record({ operations: fc.uniqueArray(operation, { selector: (op) => op.key, minLength: 1, maxLength: 4 }), on }),
  { minLength: 1, maxLength: 8 }
)

export const cacheStoreContract = (backend: CacheBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`CacheStore contract: ${backend.name}`, () => {
    test(
      "what one instance stores the other reads whole; a rewrite replaces it; an unknown key misses",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const [first, second] = yield* instances(randomUUID())
          yield* first.set("capital", reply, "1 hour")
          expect(Option.getOrUndefined(yield* second.get("capital"))).toEqual(reply)
          yield* second.set("capital", LlmTest.reply("Lyon"), "1 hour")
          expect(textOf(yield* first.get("capital"))).toBe("Lyon")
          expect(yield* first.get("unknown")).toStrictEqual(Option.none())
          expect(yield* second.size).toBe(1)
        }),
      30_000
    )

    test("delete says whether it removed a live entry, on either instance", () =>
      Effect.gen(function*() {
        const { instances } = yield* backend.connect
        const [first, second] = yield* instances(randomUUID())
        yield* first.set("a", reply, "1 hour")
        expect(yield* second.delete("a")).toBe(true)
        expect(yield* first.delete("a")).toBe(false)
        expect(yield* first.get("a")).toStrictEqual(Option.none())
        expect(yield* first.size).toBe(0)
      }), 30_000)

    test("an entry lives its time to live, and size counts the live ones", () =>
      Effect.gen(function*() {
        const { elapse, instances, shortTtl } = yield* backend.connect
        const [first, second] = yield* instances(randomUUID())
        yield* first.set("brief", reply, shortTtl)
        yield* first.set("long", LlmTest.reply("Rome"), "1 hour")
        expect(textOf(yield* second.get("brief"))).toBe("Paris")
        expect(yield* second.size).toBe(2)
        yield* elapse(Duration.sum(Duration.fromInputUnsafe(shortTtl), Duration.millis(100)))
        expect(yield* second.get("brief")).toStrictEqual(Option.none())
        expect(yield* first.delete("brief")).toBe(false)
        expect(yield* first.size).toBe(1)
        expect(textOf(yield* second.get("long"))).toBe("Rome")
      }), 30_000)

    test(
      "concurrent batches of random operations, from two instances, give what a map would",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          const run = (plan: Plan) =>
            Effect.gen(function*() {
              const stores = yield* instances(randomUUID())
              const model = new Map<string, string>()
              for (const batch of plan) {
                const results = yield* Effect.forEach(batch.operations, (op) => {
                  const store = stores[op.on]
                  switch (op.kind) {
                    case "set":
                      return store.set(op.key, LlmTest.reply(op.text), "1 hour")
                    case "get":
                      return Effect.map(store.get(op.key), textOf)
                    case "delete":
                      return store.delete(op.key)
                  }
                }, { concurrency: "unbounded" })
                const expected = batch.operations.map((op) => {
                  switch (op.kind) {
                    case "set":
                      model.set(op.key, op.text)
                      return undefined
                    case "get":
                      return model.get(op.key)
                    case "delete":
                      return model.delete(op.key)
                  }
                })
                expect(results).toEqual(expected)
                expect(yield* stores[batch.on].size).toBe(model.size)
              }
            })
          yield* Effect.promise(() =>
            fc.assert(fc.asyncProperty(batches, (plan) => Effect.runPromise(run(plan))), { numRuns: 30 })
          )
        }),
      60_000
    )

    if (backend.server) {
      it.live(
        "down: each operation fails with StoreUnavailableError; back up, empty, it serves again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
            const [first, second] = yield* connected.instances(randomUUID())
            yield* first.set("a", reply, "1 hour")
            yield* faults.stop
            yield* unavailableEach([first.get("a"), first.set("a", reply, "1 hour"), second.delete("a"), second.size], {
              address: faults.unanswered.address
            })
            yield* faults.start
            // Restarted empty: what was stored before is gone, and nothing else is wrong.
            expect(yield* first.get("a")).toStrictEqual(Option.none())
            expect(yield* second.size).toBe(0)
            yield* second.set("a", reply, "1 hour")
            expect(textOf(yield* first.get("a"))).toBe("Paris")
          }),
        30_000
      )

      it.effect(
        "slow: each operation fails with StoreUnavailableError at the store's bound, not before; answering again, " +
          "the entries are the server's, the write it answered late among them",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = onServer(connected.faults)
            const [first, second] = yield* connected.instances(randomUUID())
            yield* first.set("a", reply, "1 hour")
            yield* faults.pause
            yield* unavailableAtBound(faults, [
              ["a get", first.get("a")],
              ["a set", first.set("b", LlmTest.reply("Rome"), "1 hour")],
              ["a delete", second.delete("a")],
              ["a size", second.size]
            ])
            yield* faults.resume
            // The server applied what it answered late: "a" deleted, "b" stored.
            expect(yield* first.get("a")).toStrictEqual(Option.none())
            expect(textOf(yield* second.get("b"))).toBe("Rome")
            expect(yield* first.size).toBe(1)
          }),
        30_000
      )
    }
  })
}
