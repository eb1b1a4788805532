/**
 * A simulator's options resolved: every option in range gives its value (defaults filled in), and a set with options
 * out of range fails with the `OptionsError` of the first one in the order the options are checked, whichever others
 * are out of range too.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { resolve } from "../../src/internal/simulator/config.js"
import type { Options } from "../../src/simulator/Simulator.js"

// Each checked option, in the order `resolve` checks it, with a value in range and one out of range.
const checked = [
  { option: "port", good: fc.integer({ min: 0, max: 65535 }), bad: fc.constantFrom(-1, 1.5) },
  { option: "backlog", good: fc.integer({ min: 1, max: 65535 }), bad: fc.constantFrom(0, 2.5) },
  { option: "latency", good: fc.constantFrom("5 millis", 0), bad: fc.constantFrom(-1, Infinity) },
  { option: "timeToFirstToken", good: fc.constantFrom("1 second", 3), bad: fc.constantFrom(-5, Infinity) },
  { option: "replyTokens", good: fc.integer({ min: 0, max: 64 }), bad: fc.constantFrom(-1, 0.5) },
  { option: "reasoningTokens", good: fc.integer({ min: 0, max: 64 }), bad: fc.constantFrom(-2, 1.25) },
  { option: "contextWindow", good: fc.integer({ min: 1, max: 1e6 }), bad: fc.constantFrom(0, 7.5) },
  { option: "requestsPerMinute", good: fc.integer({ min: 1, max: 600 }), bad: fc.constantFrom(0, -3) },
  { option: "tokensPerSecond", good: fc.integer({ min: 1, max: 1000 }), bad: fc.constantFrom(0, -1) },
  { option: "server", good: fc.constantFrom("node", "platform"), bad: fc.constantFrom("deno", "") }
] as const

// Per option: left out, in range, or out of range.
const choice = (entry: (typeof checked)[number]) =>
  fc.oneof(
    fc.constant({ kind: "absent" as const }),
    entry.good.map((value) => ({ kind: "good" as const, value: value as unknown })),
    entry.bad.map((value) => ({ kind: "bad" as const, value: value as unknown }))
  )

const choices = fc.tuple(...checked.map(choice))

describe("the simulator's options", () => {
  it("fail with the first option out of range, in the order they are checked, over every mix", () => {
    fc.assert(fc.property(choices, (picked) => {
      const options: Record<string, unknown> = {}
      picked.forEach((pick, i) => {
        if (pick.kind !== "absent") options[checked[i]!.option] = pick.value
      })
      const resolved = resolve(options as Options)
      const first = picked.findIndex((pick) => pick.kind === "bad")
      if (first === -1) {
        expect(Result.isSuccess(resolved)).toBe(true)
      } else {
        expect(Result.isFailure(resolved) && resolved.failure).toMatchObject({
          _tag: "OptionsError",
          module: "Simulator",
          option: checked[first]!.option
        })
      }
    }))
  })

  it("a port past 65535 is refused after the other numbers are read, with its own reason", () => {
    const resolved = resolve({ port: 70000 })
    expect(Result.isFailure(resolved) && resolved.failure.message).toBe(
      "Simulator: port must be at most 65535, got 70000"
    )
    const earlier = resolve({ port: 70000, replyTokens: -1 })
    expect(Result.isFailure(earlier) && earlier.failure.option).toBe("replyTokens")
  })

  it("fills in the defaults of options left out", () => {
    const resolved = Result.getOrThrow(resolve({}))
    expect(resolved).toMatchObject({
      host: "127.0.0.1",
      port: 0,
      backlog: 65535,
      server: "node",
      latencyMs: 0,
      ttftMs: 0,
      tokenGapMs: undefined,
      replyTokens: 16,
      reasoningTokens: 8,
      contextWindow: 128_000,
      requestsPerMinute: undefined,
      fault: undefined
    })
  })
})
