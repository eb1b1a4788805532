/**
 * Where a stream's first text waits when 512 streams start at once: the gateway as `serve` runs it
 * (`cases/gateway.ts`'s `serveSide`), in front of the simulator of `stream-capacity` (100 tokens 20 ms apart), the
 * client of `stream-capacity` starting every stream of a burst at once.
 *
 *   npm run stream-profile
 *
 * Three passes, each a side process of its own, warmed up as `stream-capacity` warms its sides up
 * (`STREAM_CAPACITY_WARMUP` bursts, default 5), then `STREAM_PROFILE_BURSTS` bursts
 * (default 3) of `STREAM_PROFILE_COUNT` streams (default 512):
 * - `untraced`, the gateway exactly as users run it, under Node's `--cpu-prof`: its CPU profile (self time by
 *   function and by module, over the bursts only), its event loop's delay over each burst (`monitorEventLoopDelay`
 *   at 1 ms resolution) and the points each request passes (`gateway/phaseRecorder.ts`: Node's and undici's
 *   diagnostics channels);
 * - `traced`, the same `serve` under a tracer that records when this library's spans start
 *   (`gateway/tracedServe.ts`), which splits the time before the upstream request into the gateway's intake (body
 *   read and parsed, key checked, admitted) up to the router's call span, the router's pick up to its attempt span,
 *   and the key lease and rate limit up to the `Llm`'s attempt span;
 * - `pass-through`, the bare `node:http` + undici pass-through of `stream-capacity`, under `--cpu-prof` with the same
 *   points: where its first text waits under the same burst.
 * Every figure is the median over the bursts of each burst's p50 (p99), but the points, which are those of the burst
 * whose first text p50 is the median (a point's median and another's may come from different bursts). The CPU profile (`.cpuprofile`, for Chrome's
 * DevTools) and a JSON of every figure are kept in the directory printed at the end (`STREAM_PROFILE_OUT`, else a
 * temporary one).
 */
import type { ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { serveSide, tailOf } from "./cases/gateway.js"
import { reply, round, roundOf, warmupsOf } from "./cases/streamCapacity.js"
import { moduleOf } from "./cpuProfile.js"
import type { Phases, Spread } from "./gateway/phaseRecorder.js"
import { firstLine, loaderArgs, nodeArgs, pinSelf, spawnNode, stopChild } from "./nodeArgs.js"
import { startSimulator } from "./simulatorChild.js"
import { median, round2 } from "./stats.js"

const count = Number(process.env["STREAM_PROFILE_COUNT"] || 512)
const bursts = Number(process.env["STREAM_PROFILE_BURSTS"] || 3)
const out = process.env["STREAM_PROFILE_OUT"] || Fs.mkdtempSync(Path.join(Os.tmpdir(), "stream-profile-"))

/** A bench module's path, without the loader's arguments. */
function script(name: string): Array<string> {
  return nodeArgs(name).slice(loaderArgs.length)
}

/** A bench module's URL, for Node's `--import`. */
function moduleUrl(name: string): string {
  return pathToFileURL(script(name)[0]!).href
}

type Pass = "untraced" | "traced" | "pass-through"

/** What one burst showed: the client's figures, the gateway's CPU time over it, and its phases. */
interface Burst {
  readonly stallFree: number
  readonly failed: number
  readonly firstTextP50: number
  readonly firstTextP99: number
  readonly cpuSeconds: number
  readonly phases: Phases
}

/** The child's next message, after sending it `question`. */
function ask(child: ChildProcess, question: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    child.once("message", resolve)
    child.send(question, (error) => error === null ? undefined : reject(error))
  })
}

/** One pass: a gateway process, warmed up, then `bursts` bursts, each as the client and the gateway saw it. */
async function runPass(which: Pass, upstream: string) {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-llm-router-profile-"))
  const profiled = which === "traced" ? [] : ["--cpu-prof", "--cpu-prof-dir", Path.join(out, which)]
  const side = which === "pass-through"
    ? {
      args: [
        ...loaderArgs,
        ...profiled,
        "--import",
        moduleUrl("gateway/phaseRecorder"),
        ...script("gateway/sideProcess")
      ],
      env: { ...process.env, BENCH_GATEWAY_SIDE: "proxy", BENCH_UPSTREAM: upstream },
      log: Path.join(dir, "side.log")
    }
    : serveSide(upstream, dir, { imports: ["gateway/phaseRecorder"], nodeArgs: profiled, traced: which === "traced" })
  const log = Fs.openSync(side.log, "w")
  const child = spawnNode({ args: side.args, core: 1, env: side.env, ipc: true, stderr: log })
  Fs.closeSync(log)
  try {
    const url = await firstLine(child, `the ${which} gateway`).catch((error: Error) => {
      throw new Error(`${error.message}; its stderr ends:\n${tailOf(side.log)}`)
    })
    const warmups = warmupsOf(process.env["STREAM_CAPACITY_WARMUP"])
    for (let warmup = 0; warmup < warmups; warmup++) await round(url, count)
    const seen: Array<Burst> = []
    for (let burst = 0; burst < bursts; burst++) {
      await ask(child, "burst")
      const before = Number(await ask(child, "cpu"))
      const figures = roundOf(await round(url, count))
      const cpuSeconds = (Number(await ask(child, "cpu")) - before) / 1e6
      const phases = (await ask(child, "phases")) as Phases
      console.log(
        `${which} burst ${burst + 1}: ${figures.stallFree}/${count} stall-free, ${figures.failed} failed, first text ` +
          `p50 ${Math.round(figures.firstByteP50)} ms p99 ${Math.round(figures.firstByteP99)} ms, ` +
          `CPU ${round2(cpuSeconds)} s, event loop delay p99 ${phases.loopDelay.p99} max ${phases.loopDelay.max} ms`
      )
      seen.push({
        stallFree: figures.stallFree,
        failed: figures.failed,
        firstTextP50: figures.firstByteP50,
        firstTextP99: figures.firstByteP99,
        cpuSeconds,
        phases
      })
    }
    return seen
  } finally {
    await stopChild(child)
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Each named spread's median p50 and p99 over the bursts. */
function mediansOf(bursts: ReadonlyArray<Burst>, pick: (phases: Phases) => Readonly<Record<string, Spread>>) {
  const names = [...new Set(bursts.flatMap((burst) => Object.keys(pick(burst.phases))))]
  return names.map((name) => {
    const spreads = bursts.flatMap((burst) => pick(burst.phases)[name] ?? [])
    return {
      name,
      n: median(spreads.map((spread) => spread.n)),
      p50: round2(median(spreads.map((spread) => spread.p50))),
      p99: round2(median(spreads.map((spread) => spread.p99)))
    }
  }).sort((a, b) => a.p50 - b.p50)
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

/**
 * Self time by function and by module over the bursts' windows, in samples (each sample's time read from the
 * profile's start and its deltas, on the clock the recorder's windows use): on a loaded machine a sample's delta
 * counts time the process waited for a core, so shares of samples say where its CPU went.
 */
function readProfile(file: string, windows: ReadonlyArray<readonly [number, number]>) {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as {
    readonly nodes: ReadonlyArray<ProfileNode>
    readonly startTime: number
    readonly samples: ReadonlyArray<number>
    readonly timeDeltas: ReadonlyArray<number>
  }
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const byFunction = new Map<string, number>()
  const byModule = new Map<string, number>()
  let at = profile.startTime
  let busy = 0
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i]!
    if (!windows.some(([from, to]) => at >= from && at <= to)) continue
    const frame = nodes.get(profile.samples[i]!)!.callFrame
    if (frame.functionName === "(idle)") {
      idle++
      continue
    }
    const where = moduleOf(frame.url)
    const name = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`
    byFunction.set(name, (byFunction.get(name) ?? 0) + 1)
    byModule.set(where, (byModule.get(where) ?? 0) + 1)
    busy++
  }
  const top = (from: Map<string, number>, n: number) =>
    [...from].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, samples]) => ({
      name,
      samples,
      share: Math.round((samples / busy) * 1000) / 1000
    }))
  return { busySamples: busy, idleSamples: idle, byModule: top(byModule, 20), byFunction: top(byFunction, 30) }
}

function table(
  rows: ReadonlyArray<{ readonly name: string; readonly n: number; readonly p50: number; readonly p99: number }>
) {
  return rows.map((row) => `  ${row.name.padEnd(44)} n ${String(row.n).padStart(5)}  p50 ${row.p50}  p99 ${row.p99}`)
    .join("\n")
}

async function main() {
  const simulator = await startSimulator("node", String(reply.tokensPerSecond), reply.tokens)
  pinSelf(0)
  const report: Record<string, unknown> = { count, bursts }
  try {
    for (const which of ["untraced", "traced", "pass-through"] as const) {
      const seen = await runPass(which, simulator.url)
      // Points of different bursts are not comparable with each other: they come from the burst of the median first text.
      const middle = [...seen].sort((a, b) => a.firstTextP50 - b.firstTextP50)[Math.floor(seen.length / 2)]!
      const points = mediansOf([middle], (phases) => phases.points)
      const durations = mediansOf(seen, (phases) => phases.durations)
      const client = {
        stall_free: median(seen.map((burst) => burst.stallFree)),
        first_text_p50_ms: Math.round(median(seen.map((burst) => burst.firstTextP50))),
        first_text_p99_ms: Math.round(median(seen.map((burst) => burst.firstTextP99))),
        cpu_s: round2(median(seen.map((burst) => burst.cpuSeconds))),
        loop_delay_p50_ms: median(seen.map((burst) => burst.phases.loopDelay.p50)),
        loop_delay_p99_ms: median(seen.map((burst) => burst.phases.loopDelay.p99)),
        loop_delay_max_ms: median(seen.map((burst) => burst.phases.loopDelay.max))
      }
      console.log(`\n${which}, medians of ${bursts} bursts of ${count}: ${JSON.stringify(client)}`)
      console.log(`points of the median burst, ms from its start:\n${table(points)}`)
      console.log(`durations within a request, ms:\n${table(durations)}`)
      const figures: Record<string, unknown> = { client, points, durations }
      if (which !== "traced") {
        const [file] = Fs.readdirSync(Path.join(out, which)).filter((name) => name.endsWith(".cpuprofile"))
        const profile = readProfile(Path.join(out, which, file!), seen.map((burst) => burst.phases.window))
        console.log(
          `CPU profile (${Path.join(out, which, file!)}) over the bursts: ${profile.busySamples} samples busy, ` +
            `${profile.idleSamples} idle`
        )
        console.log("self time by module, share of the busy samples:")
        for (const row of profile.byModule) console.log(`  ${row.name.padEnd(60)} ${row.share}`)
        console.log("self time by function:")
        for (const row of profile.byFunction) console.log(`  ${row.name.padEnd(90)} ${row.share}`)
        figures["profile"] = profile
      }
      report[which] = figures
    }
  } finally {
    await simulator.stop()
  }
  Fs.writeFileSync(Path.join(out, "stream-profile.json"), JSON.stringify(report, null, 2))
  console.log(`\nfigures in ${Path.join(out, "stream-profile.json")}`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
