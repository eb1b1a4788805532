/**
 * Work over many items done in slices (`inSlices`), the event loop given back between two: for any items, the result
 * is each item's step in order, the first failure stops it with no later step taken, and every slice runs at a turn
 * of the event loop of its own. A provider's batch prepares its lines so (`providers/batch.ts`' `submit`): its tens of
 * thousands of lines never hold the gateway's other requests waiting.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { inSlices } from "../../src/internal/inSlices.js"
import { apiOf, type BatchParts } from "../../src/internal/providers/batch.js"

/** `effect` run, and the turns of the event loop it took: the turn each of its steps ran at, as `at` read them. */
function counted<A, E>(effect: (at: () => number) => Effect.Effect<A, E>) {
  return Effect.suspend(() => {
    let turns = 0
    let counting = true
    const tick = () => {
      if (!counting) return
      turns++
      setImmediate(tick)
    }
    setImmediate(tick)
    return Effect.ensuring(effect(() => turns), Effect.sync(() => void (counting = false)))
  })
}

/** How many distinct turns `seen` names. */
const distinct = (seen: ReadonlyArray<number>) => new Set(seen).size

describe("inSlices", () => {
  it.effect("for any items, each item's step in order, every 200 items at a turn of the event loop of its own", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.array(fc.integer(), { maxLength: 1_000 }), (items) =>
          Effect.runPromise(counted((at) => {
            const seen: Array<number> = []
            return Effect.map(
              inSlices(items, (item) => {
                seen.push(at())
                return Result.succeed(item * 2)
              }),
              (out) => {
                expect(out).toEqual(items.map((item) => item * 2))
                expect(distinct(seen)).toBe(Math.ceil(items.length / 200))
              }
            )
          }))),
        { numRuns: 30 }
      )
    ))

  it.effect("the first failure stops it: no later item's step is taken", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 700 }).chain((length) =>
            fc.tuple(fc.constant(length), fc.integer({ min: 0, max: length - 1 }))
          ),
          ([length, failing]) =>
            Effect.runPromise(Effect.gen(function*() {
              const taken: Array<number> = []
              const failed = yield* Effect.flip(inSlices(Array.from({ length }, (_, n) => n), (n) => {
                taken.push(n)
                return n === failing ? Result.fail(`item ${n}`) : Result.succeed(n)
              }))
              expect(failed).toBe(`item ${failing}`)
              expect(taken).toEqual(Array.from({ length: failing + 1 }, (_, n) => n))
            }))
        ),
        { numRuns: 50 }
      )
    ))

  it.effect("a provider's batch of 1,000 lines is prepared for the provider over turns of the event loop", () =>
    counted((at) => {
      const preparedAt: Array<number> = []
      const parts: BatchParts = {
        provider: "test",
        transport: undefined as never,
        transportAt: () => undefined as never,
        reply: () => Result.fail(undefined as never),
        prepared: (request) => {
          preparedAt.push(at())
          return Result.succeed({ messages: request.messages })
        },
        wire: {
          submit: (_http, _model, lines) =>
            Effect.succeed({ id: "batch-1", state: "running", total: lines.length, succeeded: 0, failed: 0 }),
          retrieve: () => Effect.die("not asked"),
          cancel: () => Effect.die("not asked"),
          results: () => Effect.die("not asked")
        }
      }
      const requests = Array.from({ length: 1_000 }, (_, n) => ({
        customId: `r${n}`,
        request: { model: "m", messages: [{ role: "user", content: `line ${n}` }] } satisfies ChatRequest
      }))
      return Effect.map(
        apiOf(parts).submit(requests, "m", { key: Redacted.make("sk-test-0001"), keyId: "sk-...0001" }),
        (status) => {
          expect(status.total).toBe(1_000)
          // Prepared whole at one turn, every other request of the gateway would wait for all of it.
          expect(distinct(preparedAt)).toBe(5)
        }
      )
    }))
})
