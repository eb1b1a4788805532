/**
 * Throughput of this library versus raw undici, side by side in one run,
 * against the simulator in a child process.
 *
 *   npm run bench                   # every case
 *   npm run bench -- stream         # cases whose name contains "stream"
 *
 * Environment: BENCH_SECONDS (per measured round, default 4), BENCH_ROUNDS
 * (default 2), BENCH_CONCURRENCY (default 32), BENCH_WARMUP_SECONDS (default 2),
 * SIMULATOR_URL (use a running simulator instead of starting one).
 *
 * Each case is warmed up (ours, then baseline), then measured in rounds that
 * alternate ours and baseline; the score of each side is its BEST round, in
 * requests per second. On Linux with `taskset`, the simulator runs on core 0
 * and this process on core 1, so neither steals the other's CPU.
 *
 * The last line printed is one JSON object:
 * `{"results":[{"name","ours_rps","baseline_rps","ratio"}]}`, ratio = ours / baseline.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { Agent } from "undici"
import { cases } from "./cases/index.js"

const envNumber = (name: string, fallback: number): number => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

const seconds = envNumber("BENCH_SECONDS", 4)
const rounds = envNumber("BENCH_ROUNDS", 2)
const concurrency = envNumber("BENCH_CONCURRENCY", 32)
const warmupSeconds = envNumber("BENCH_WARMUP_SECONDS", 2)
const filter = process.argv[2]

const hasTaskset = (() => {
  if (os.platform() !== "linux" || os.availableParallelism() < 2) return false
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

const startSimulator = async (): Promise<{ url: string; child: ChildProcess | undefined }> => {
  const given = process.env["SIMULATOR_URL"]
  if (given !== undefined && given !== "") return { url: given, child: undefined }
  const script = path.join(import.meta.dirname, "simulatorProcess.ts")
  const args = ["--import", "tsx", script]
  const child = hasTaskset
    ? spawn("taskset", ["-c", "0", process.execPath, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] })
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the simulator exited (${code}) before printing its URL`)))
    lines.once("line", (line) => resolve(line.trim()))
  })
  return { url, child }
}

interface Count {
  readonly ok: number
  readonly failed: number
  readonly firstError: unknown
}

const measureOurs = (
  runtime: ManagedRuntime.ManagedRuntime<never, never>,
  call: Effect.Effect<unknown, unknown>,
  millis: number
): Promise<Count> => {
  let ok = 0
  let failed = 0
  let firstError: unknown
  const deadline = performance.now() + millis
  const worker = Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => Effect.exit(call),
    step: (exit) => {
      if (Exit.isSuccess(exit)) ok++
      else if (failed++ === 0) firstError = exit.cause
    }
  })
  return runtime.runPromise(
    Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  ).then(() => ({ ok, failed, firstError }))
}

const measureBaseline = async (call: () => Promise<unknown>, millis: number): Promise<Count> => {
  let ok = 0
  let failed = 0
  let firstError: unknown
  const deadline = performance.now() + millis
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        await call()
        ok++
      } catch (error) {
        if (failed++ === 0) firstError = error
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ok, failed, firstError }
}

const rps = (count: Count, millis: number, label: string): number => {
  if (count.failed > 0) {
    console.error(`${label}: ${count.failed} failed calls; first:`, count.firstError)
  }
  return count.ok / (millis / 1000)
}

const round2 = (n: number) => Math.round(n * 100) / 100

const main = async () => {
  if (hasTaskset) execFileSync("taskset", ["-pc", "1", String(process.pid)], { stdio: "ignore" })
  const { url, child } = await startSimulator()
  const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const dispatcher = new Agent()
  const results: Array<{ name: string; ours_rps: number; baseline_rps: number; ratio: number }> = []
  try {
    console.log(
      `simulator ${url}; concurrency ${concurrency}; warm-up ${warmupSeconds}s; ` +
        `${rounds} rounds of ${seconds}s per side, best round kept; pinned: ${hasTaskset}`
    )
    for (const benchCase of cases) {
      if (filter !== undefined && !benchCase.name.includes(filter)) continue
      const ours = await runtime.runPromise(benchCase.ours(url))
      const baseline = benchCase.baseline(url, dispatcher)
      await measureOurs(runtime, ours, warmupSeconds * 1000)
      await measureBaseline(baseline, warmupSeconds * 1000)
      let bestOurs = 0
      let bestBaseline = 0
      for (let i = 0; i < rounds; i++) {
        const a = rps(await measureOurs(runtime, ours, seconds * 1000), seconds * 1000, `${benchCase.name} ours`)
        const b = rps(await measureBaseline(baseline, seconds * 1000), seconds * 1000, `${benchCase.name} baseline`)
        console.log(`${benchCase.name} round ${i + 1}: ours ${a.toFixed(0)} rps, baseline ${b.toFixed(0)} rps`)
        bestOurs = Math.max(bestOurs, a)
        bestBaseline = Math.max(bestBaseline, b)
      }
      results.push({
        name: benchCase.name,
        ours_rps: Math.round(bestOurs),
        baseline_rps: Math.round(bestBaseline),
        ratio: round2(bestBaseline === 0 ? 0 : bestOurs / bestBaseline)
      })
    }
  } finally {
    await runtime.dispose()
    await dispatcher.close()
    child?.kill()
  }
  console.log(JSON.stringify({ results }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
