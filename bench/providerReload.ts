/**
 * A gateway over a provider.json of 100,000 `api_keys`, reloaded while `/health` is asked every 50 ms: the longest
 * stall of the event loop during the reload (`monitorEventLoopDelay`), the slowest `/health` answer, and how long
 * the file's decode (`ProviderConfig.load`) takes alone and stalls the loop.
 *
 *   node --import tsx bench/providerReload.ts [keys]
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { pathToFileURL } from "node:url"
import * as Gateway from "../src/Gateway.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"

/** The longest stall of the event loop while `work` runs, in milliseconds, with its value. */
async function stalled<A>(work: () => Promise<A>): Promise<readonly [A, number]> {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  try {
    const value = await work()
    // A stall that ended as the work did is recorded on the timer's next turn.
    await new Promise((resolve) => setTimeout(resolve, 20))
    return [value, histogram.max / 1e6] as const
  } finally {
    histogram.disable()
  }
}

/** `/health` asked every 50 ms until `done()`: the slowest answer, in milliseconds. */
async function polled(url: string, done: () => boolean): Promise<number> {
  let slowest = 0
  while (!done()) {
    const started = performance.now()
    await (await fetch(`${url}/health`)).text()
    slowest = Math.max(slowest, performance.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return slowest
}

/** One run at `count` keys. */
export const measure = (count: number) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: ["sk-reload-bench-key"] })
    const keys = Array.from({ length: count }, (_, i) => `sk-many-${String(i).padStart(8, "0")}-key`)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reload-bench-"))
    const file = path.join(dir, "provider.json")
    fs.writeFileSync(
      file,
      JSON.stringify({
        sim: [{
          model_name: "gpt-4o-mini",
          base_url: `${simulator.url}/v1`,
          api_keys: ["sk-reload-bench-key", ...keys]
        }]
      })
    )
    const read = ProviderConfig.load(file).pipe(
      Effect.map(ProviderConfig.gatewayConfig),
      Effect.provide(NodeFileSystem.layer)
    )
    const decodeStarted = performance.now()
    const [, decodeStall] = yield* Effect.promise(() => stalled(() => Effect.runPromise(read)))
    const decodeMillis = performance.now() - decodeStarted
    const gateway = yield* Gateway.make({ config: yield* read, source: read, port: 0 })
    const reloadStarted = performance.now()
    const [slowestHealth, reloadStall] = yield* Effect.promise(() =>
      stalled(async () => {
        let reloading = true
        const polls = polled(gateway.url, () => !reloading)
        await Effect.runPromise(gateway.reload)
        reloading = false
        return polls
      })
    )
    const reloadMillis = performance.now() - reloadStarted
    fs.rmSync(dir, { recursive: true, force: true })
    return { decodeMillis, decodeStall, reloadMillis, reloadStall, slowestHealth }
  }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))

/**
 * Prints the figures of one run.
 *
 * @since 0.3.0
 * @category Benchmarks
 */
export const main = async (): Promise<void> => {
  const count = Number(process.argv[2] ?? 100_000)
  const figures = await Effect.runPromise(measure(count))
  const ms = (value: number) => `${value.toFixed(0)} ms`
  console.log(`Node ${process.version}; a provider.json of ${count.toLocaleString("en")} api_keys`)
  console.log(`  ProviderConfig.load alone: ${ms(figures.decodeMillis)}, longest loop stall ${ms(figures.decodeStall)}`)
  console.log(`  Gateway reload: ${ms(figures.reloadMillis)}, longest loop stall ${ms(figures.reloadStall)}`)
  console.log(`  slowest /health answer during the reload: ${ms(figures.slowestHealth)}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
