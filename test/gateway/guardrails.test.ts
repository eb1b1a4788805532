/**
 * The gateway's guardrail chains (`gateway/guardrails.ts`): the union of a target's chain and a caller's names over
 * any lists (each guardrail once, in its first order, none lost), a name the configuration lacks refused, names of
 * the configuration resolved or the first unknown one named by its field, and a stream's leading `Start` chunks given
 * out with the first chunk after them however the batches fall.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import * as Guardrail from "../../src/Guardrail.js"
import * as Guardrails from "../../src/internal/gateway/guardrails.js"

const names = ["a", "b", "c", "d", "e"] as const

const named: Guardrails.Named = new Map(
  names.map((name) => [name, Effect.runSync(Guardrail.make({ name, checks: [Guardrail.email] }))])
)
const guardrailOf = (name: string) => named.get(name)!
const lists = fc.array(fc.array(fc.constantFrom(...names), { maxLength: 6 }), { maxLength: 4 })

describe("gateway guardrail chains", () => {
  it("union: every guardrail of every list, each once, in the order it first appears", () => {
    fc.assert(fc.property(lists, (chosen) => {
      const chains = chosen.map((list) => list.map(guardrailOf))
      const union = Guardrails.union(...chains)
      expect(union.map((guardrail) => guardrail.name)).toEqual([...new Set(chosen.flat())])
    }))
  })

  // A target's chain is a union already (the engine makes it so at load).
  it("chainOf: the target's chain joined with the caller's names; a name the configuration lacks refused", () => {
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...names), { maxLength: 5 }),
      fc.array(fc.constantFrom(...names, "gone"), { maxLength: 5 }),
      (target, caller) => {
        const chain = Guardrails.chainOf(named, Guardrails.union(target.map(guardrailOf)), caller)
        const missing = caller.find((name) => !named.has(name))
        if (missing !== undefined) {
          expect(Result.isFailure(chain) && chain.failure).toBe(missing)
        } else {
          const chosen = Result.getOrThrow(chain).map((guardrail) => guardrail.name)
          expect(chosen).toEqual([...new Set([...target, ...caller])])
        }
      }
    ))
  })

  it("resolve: the guardrails named, or the first unknown one named by its field", () => {
    expect(Result.getOrThrow(Guardrails.resolve(named, ["b", "a"], "keys[0].guardrails")).map((g) => g.name))
      .toEqual(["b", "a"])
    const refused = Guardrails.resolve(named, ["a", "nope"], "keys[0].guardrails")
    expect(Result.isFailure(refused) && refused.failure.option).toBe("keys[0].guardrails[1]")
    expect(Result.isFailure(refused) && refused.failure.expected).toContain("known: a, b, c, d, e")
  })

  it("a guarded stream's first batch carries its leading Start chunks, however the upstream's batches fall", () =>
    fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 6 }),
      (sizes) =>
        Effect.runPromise(Effect.gen(function*() {
          const start: ChatChunk = { _tag: "Start", deployment: "sim/m", model: "m", attempt: 1 }
          const chunks: Array<ChatChunk> = [
            start,
            ...["Hello ", "there, ", "friend."].map((text): ChatChunk => ({ _tag: "TextDelta", text }))
          ]
          // The chunks cut into batches of `sizes` (the rest in one).
          const batches: Array<Array<ChatChunk>> = []
          let at = 0
          for (const size of sizes) {
            if (at >= chunks.length) break
            batches.push(chunks.slice(at, at + size))
            at += size
          }
          if (at < chunks.length) batches.push(chunks.slice(at))
          const upstream = Stream.fromIterable(batches).pipe(Stream.flattenIterable, Stream.rechunk(1))
          const guarded = upstream.pipe(
            Stream.rechunk(3),
            Guardrails.guardedStream([guardrailOf("a")], "m"),
            Stream.chunks
          )
          const out = yield* Stream.runCollect(guarded)
          expect(out[0]![0]).toEqual(start)
          expect(out[0]!.some((chunk) => chunk._tag === "TextDelta")).toBe(true)
          expect(out.flat().flatMap((chunk) => chunk._tag === "TextDelta" ? [chunk.text] : []).join(""))
            .toBe("Hello there, friend.")
        }))
    )))
})
