import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { run } from "../../bench/chaos/run.js"
import { verdict } from "../../bench/chaos/verdict.js"
import * as Simulator from "../../src/simulator/Simulator.js"

// The chaos run of issue 14, short: `npm run chaos` is the 10,000-call form.
describe("Chaos run", () => {
  it.live(
    "1,000 calls through a router of three faulting simulators: none lost, none truncated, nothing left over",
    () =>
      Effect.gen(function*() {
        // A rate above the long run's 5%, so every kind of fault is hit in a thousand calls. Phase limits a healthy reply
        // meets under load too: the long run's 300 ms cut them there, opened every breaker, and the rest failed unsent.
        const report = yield* run({ calls: 1000, concurrency: 32, rate: 0.15, seed: 1, phaseLimit: "5 seconds" })

        // Faults of every kind were injected: the run is not vacuous.
        for (const fault of Simulator.chaosFaults) expect(report.injected[fault] ?? 0, fault).toBeGreaterThan(0)
        expect(report.requests).toBeGreaterThan(report.calls)
        // Some calls failed over to an answer, and the rest failed with an LlmError.
        expect(report.answered).toBeGreaterThan(report.calls / 2)

        expect(report.examples).toEqual([])
        expect(report.lost).toBe(0)
        expect(report.truncated).toBe(0)
        expect(report.answered + report.failed).toBe(report.calls)
        expect(report.leftover).toEqual({
          routerInFlight: 0,
          keyLeases: 0,
          limiterInFlight: 0,
          limiterWaiting: 0,
          simulatorInFlight: 0
        })
        // Memory is reported, not held to a bar here: a test runner's heap moves with what else it runs.
        expect(verdict(report, { memory: false })).toEqual([])
      })
  )
})
