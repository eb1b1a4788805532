/**
 * The chaos run (issue 14), long form: 10,000 calls, half streamed, through a
 * `Router` of three deployments on simulators that fault 5% of requests with
 * every kind of fault they know (`bench/chaos/run.ts`).
 *
 *   npm run chaos
 *
 * Settings: CHAOS_CALLS (default 10000), CHAOS_CONCURRENCY (default 64),
 * CHAOS_RATE (default 0.05), CHAOS_SEED (default 1).
 *
 * Prints the report (outcomes, failures by tag, faults injected by kind, what
 * was left over, memory, duration) as JSON, then the verdict against the bar:
 * 0 lost, 0 truncated successes, 0 left over, memory flat: the heap still
 * reachable at the end (after a full collection; the script runs with
 * `--expose-gc`) within 1.25x, or 8 MB, of the heap after the first quarter of
 * the calls. Exits 1 when the bar is missed.
 */
import * as Effect from "effect/Effect"
import { run } from "./chaos/run.js"
import { verdict } from "./chaos/verdict.js"

const numberFrom = (name: string, fallback: number): number => {
  const text = process.env[name]
  const n = text === undefined ? fallback : Number(text)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number, got "${text}"`)
  return n
}

const report = await Effect.runPromise(run({
  calls: numberFrom("CHAOS_CALLS", 10_000),
  concurrency: numberFrom("CHAOS_CONCURRENCY", 64),
  rate: numberFrom("CHAOS_RATE", 0.05),
  seed: numberFrom("CHAOS_SEED", 1)
}))
console.log(JSON.stringify(report, null, 2))
const missed = verdict(report)
console.log(missed.length === 0 ? "chaos: the bar is met" : `chaos: the bar is missed:\n- ${missed.join("\n- ")}`)
process.exitCode = missed.length === 0 ? 0 : 1
