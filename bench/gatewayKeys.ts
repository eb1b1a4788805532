/**
 * What a request costs the gateway against how many gateway keys it holds: the CPU and wall time of a non-streamed
 * `POST /v1/chat/completions`, sent over loopback HTTP with the last key made, at N keys against one key. The
 * simulator and a `Gateway.make` run in this process, the gateway keeping its records in a SQLite file of a temporary
 * directory (as `serve --data` does). Two sides:
 *
 * - config keys: a provider.json whose `gateway.keys` lists N keys (written in the file; their warnings are silenced)
 *   and one admin key, read with `ProviderConfig.load`, at N = 1, 1,000, 10,000 and 100,000 by default (a
 *   provider.json is at most 4 MiB, about 110,000 such keys);
 * - keys made at run time: the same gateway with no `gateway.keys`, and M keys made one after another through
 *   `POST /admin/keys` with the admin key (progress every 1,000 on stderr), at M = 1 and 1,000 by default (how long
 *   making them takes is a figure of its own, printed as `build`).
 *
 * First GATEWAY_KEYS_PRIME (2,000) requests through a gateway of one key, unmeasured: a process that has served none
 * is slower than it will be. Then each side's sizes there and back (`1, 1000, 1000, 1`), a fresh gateway each pass,
 * since the process keeps growing faster for thousands of requests more and that drift then weighs on every size
 * alike. A pass sends, one after another on one connection, GATEWAY_KEYS_WARMUP (500) requests to warm up, then half
 * of GATEWAY_KEYS_REQUESTS (2,000) measured; each part stops early once it has taken an eighth, or a half, of
 * GATEWAY_KEYS_SECONDS (20), so that a size whose requests grow slow with the keys (a lookup that compares them one by
 * one) still ends in time. A size's figures pool its two passes. The CPU is the whole process's
 * (`process.cpuUsage()`), client and simulator included; they do the same work at every size, so each side's ratio to
 * its first size is what the keys add, the collection of a larger heap among it. Prints each pass on stderr, then each
 * size's keys, the seconds building them took (a pass's), the requests measured, µs of CPU and of wall time a request
 * and the ratios, then one JSON line,
 * `{"results":[{"name","keys","build_s","requests","cpu_us","wall_us","cpu_ratio","wall_ratio"}]}`, `name` being
 * `gateway-keys-config` or `gateway-keys-runtime`.
 *
 *   npx tsc -p tsconfig.bench.json && node scripts/copy-dashboard.mjs .bench-build/src &&
 *     node .bench-build/bench/gatewayKeys.js [config sizes] [runtime sizes]
 *
 * Sizes are comma lists (`1,10000`), or `-` to leave a side out:
 * `GATEWAY_KEYS_REQUESTS=200 node .bench-build/bench/gatewayKeys.js 1,100 1,100` is a short check.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Agent, request } from "undici"
import * as Gateway from "../src/Gateway.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { envNumber } from "./env.js"

const providerKey = "sk-gateway-keys-bench-provider"
const adminKey = "adm-gateway-keys-bench-0123456789"
const model = "gpt-4o-mini"
// A reply bound above the simulator's 16-token reply, as a budgeted caller's requests have one.
const chat = JSON.stringify({ model, max_tokens: 32, messages: [{ role: "user", content: "hi" }] })

/** Where the keys are: listed in provider.json, or made through the admin API. */
export type Side = "config" | "runtime"

/** What one size measured. */
export interface Figures {
  readonly side: Side
  readonly keys: number
  /** Seconds from the start of the provider.json's write to the last key made. */
  readonly buildSeconds: number
  /** The requests measured. */
  readonly requests: number
  /** The process's CPU a measured request, in microseconds. */
  readonly cpuMicros: number
  /** The wall time a measured request, in microseconds. */
  readonly wallMicros: number
}

// The `i`th gateway key of provider.json: short, so that 100,000 of them fit a provider.json's 4 MiB.
const configKey = (i: number) => `gk-${String(i).padStart(6, "0")}`

// A request to the gateway at `url` with `key` as its bearer: its status and body text.
async function send(agent: Agent, url: string, key: string, body: string) {
  const response = await request(url, {
    dispatcher: agent,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body
  })
  return { status: response.statusCode, text: await response.body.text() }
}

/** How many chats a size sends: `warmup` then `requests`, each run stopping early past its share of `seconds`. */
export interface Counts {
  readonly warmup: number
  readonly requests: number
  /** The longest the measured requests take (the warm-up a quarter of it), for sizes where a request is slow. */
  readonly seconds: number
}

// Chats one after another with `key`, as `counts` says: how many were measured, and the CPU and wall time of one, in
// µs.
async function timed(agent: Agent, url: string, key: string, counts: Counts) {
  const one = async () => {
    const answer = await send(agent, `${url}/v1/chat/completions`, key, chat)
    if (answer.status !== 200) throw new Error(`a chat was answered ${answer.status}: ${answer.text.slice(0, 300)}`)
  }
  // `count` chats, or fewer once `millis` have passed (at least one).
  const run = async (count: number, millis: number) => {
    const began = performance.now()
    let sent = 0
    while (sent < count && (sent === 0 || performance.now() - began < millis)) {
      await one()
      sent++
    }
    return sent
  }
  await run(counts.warmup, counts.seconds * 250)
  const cpu = process.cpuUsage()
  const began = performance.now()
  const requests = await run(counts.requests, counts.seconds * 1000)
  const wall = performance.now() - began
  const used = process.cpuUsage(cpu)
  return { requests, cpuMicros: (used.user + used.system) / requests, wallMicros: wall * 1000 / requests }
}

// `count` keys made through `POST /admin/keys`, one after another: the last one's secret.
async function made(agent: Agent, url: string, count: number) {
  const began = performance.now()
  let last = ""
  for (let i = 1; i <= count; i++) {
    const answer = await send(agent, `${url}/admin/keys`, adminKey, JSON.stringify({ name: `r${i}` }))
    if (answer.status !== 201) throw new Error(`key r${i} was answered ${answer.status}: ${answer.text.slice(0, 300)}`)
    last = (JSON.parse(answer.text) as { readonly key: string }).key
    if (i % 1000 === 0) {
      process.stderr.write(`  made ${i} of ${count} keys (${((performance.now() - began) / 1000).toFixed(1)} s)\n`)
    }
  }
  return last
}

/** One size of one side: `keys` gateway keys, then chats with the last of them as `counts` says. */
export const measure = (side: Side, keys: number, counts: Counts) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gateway-keys-bench-"))),
      (created) => Effect.sync(() => fs.rmSync(created, { recursive: true, force: true }))
    )
    const agent = yield* Effect.acquireRelease(
      Effect.sync(() => new Agent({ connections: 1 })),
      (agent) => Effect.promise(() => agent.close())
    )
    const began = performance.now()
    const listed = side === "config" ? Array.from({ length: keys }, (_, i) => configKey(i)) : []
    const file = path.join(dir, "provider.json")
    fs.writeFileSync(
      file,
      JSON.stringify({
        sim: [{ model_name: model, base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        gateway: {
          keys: listed.map((key, i) => ({ name: `k${i + 1}`, key })),
          admin_keys: [{ name: "bench-admin", key: adminKey }]
        }
      })
    )
    // Each key written in the file is a warning: N lines, which say nothing here.
    const config = yield* ProviderConfig.load(file).pipe(
      Effect.map(ProviderConfig.gatewayConfig),
      Effect.provide(NodeFileSystem.layer),
      Effect.provideService(References.MinimumLogLevel, "Error")
    )
    const gateway = yield* Gateway.make({ config, port: 0, database: { sqlite: path.join(dir, "gateway.db") } })
    const key = side === "config" ? listed.at(-1)! : yield* Effect.promise(() => made(agent, gateway.url, keys))
    const buildSeconds = (performance.now() - began) / 1000
    const time = yield* Effect.promise(() => timed(agent, gateway.url, key, counts))
    return { side, keys, buildSeconds, ...time } satisfies Figures
  }).pipe(
    Effect.scoped,
    Effect.provide(UndiciHttpClient.layer()),
    // The gateway's warnings shown, not its line at the admin key's first use.
    Effect.provideService(References.MinimumLogLevel, "Warn")
  )

// A comma list of sizes (`-`: none), or `fallback` when absent.
function sizes(text: string | undefined, fallback: ReadonlyArray<number>): ReadonlyArray<number> {
  if (text === undefined) return fallback
  if (text === "-") return []
  const read = text.split(",").map((part) => Number(part.trim()))
  const wrong = read.find((size) => !Number.isInteger(size) || size < 1)
  if (wrong !== undefined) throw new Error(`expected sizes as whole numbers from 1, comma separated, or -: ${text}`)
  return read
}

/**
 * Each size of `list` measured twice, in its order and back (`1, 1000, 1000, 1`), each pass with half of `counts`'
 * requests and seconds, and the two pooled: a process that grows faster as it runs weighs on every size alike.
 */
async function thereAndBack(side: Side, list: ReadonlyArray<number>, counts: Counts) {
  const pass = { ...counts, requests: Math.ceil(counts.requests / 2), seconds: counts.seconds / 2 }
  const order = [...list.keys(), ...[...list.keys()].reverse()]
  const passes: Array<Array<Figures>> = list.map(() => [])
  for (const [step, index] of order.entries()) {
    const figures = await Effect.runPromise(measure(side, list[index]!, pass))
    passes[index]!.push(figures)
    process.stderr.write(
      `  ${side} keys, pass ${step + 1} of ${order.length}: ${figures.keys.toLocaleString("en")} ` +
        `${figures.keys === 1 ? "key" : "keys"}, ${figures.requests} requests, ${figures.cpuMicros.toFixed(0)} µs ` +
        "CPU a request\n"
    )
  }
  return passes.map((both): Figures => {
    const requests = both.reduce((sum, figures) => sum + figures.requests, 0)
    const total = (figure: "cpuMicros" | "wallMicros") =>
      both.reduce((sum, figures) => sum + figures[figure] * figures.requests, 0) / requests
    return {
      side,
      keys: both[0]!.keys,
      buildSeconds: both.reduce((sum, figures) => sum + figures.buildSeconds, 0) / both.length,
      requests,
      cpuMicros: total("cpuMicros"),
      wallMicros: total("wallMicros")
    }
  })
}

/**
 * Measures each size of each side and prints the figures.
 *
 * @since 0.3.0
 * @category Benchmarks
 */
export const main = async (): Promise<void> => {
  const config = sizes(process.argv[2], [1, 1_000, 10_000, 100_000])
  const runtime = sizes(process.argv[3], [1, 1_000])
  const counts: Counts = {
    requests: envNumber("GATEWAY_KEYS_REQUESTS", 2000),
    warmup: envNumber("GATEWAY_KEYS_WARMUP", 500),
    seconds: envNumber("GATEWAY_KEYS_SECONDS", 20)
  }
  // A process that has served no request yet is slower at its first size than at the later ones: a gateway of one key
  // serves it first, unmeasured.
  const priming = envNumber("GATEWAY_KEYS_PRIME", 2000)
  console.log(
    `Node ${process.version}; ${priming} chats first, unmeasured; a size, in each of two passes: ${counts.warmup} ` +
      `to warm up, then ${Math.ceil(counts.requests / 2)} measured, one at a time (each part stopped early past ` +
      `${counts.seconds / 8} and ${counts.seconds / 2} s)`
  )
  if (priming > 0) await Effect.runPromise(measure("config", 1, { requests: 1, warmup: priming, seconds: Infinity }))
  const results: Array<Record<string, number | string>> = []
  for (const [side, list] of [["config", config], ["runtime", runtime]] as const) {
    if (list.length === 0) continue
    const pooled = await thereAndBack(side, list, counts)
    console.log(side === "config" ? "Keys in provider.json's gateway.keys:" : "Keys made through POST /admin/keys:")
    console.log(
      `  ${"keys".padStart(8)} ${"build".padStart(8)} ${"requests".padStart(8)} ${"µs CPU".padStart(8)} ` +
        `${"µs wall".padStart(8)}  ratio CPU, wall`
    )
    const first = pooled[0]!
    for (const figures of pooled) {
      const cpuRatio = figures.cpuMicros / first.cpuMicros
      const wallRatio = figures.wallMicros / first.wallMicros
      console.log(
        `  ${figures.keys.toLocaleString("en").padStart(8)} ${`${figures.buildSeconds.toFixed(1)} s`.padStart(8)} ` +
          `${String(figures.requests).padStart(8)} ${figures.cpuMicros.toFixed(0).padStart(8)} ` +
          `${figures.wallMicros.toFixed(0).padStart(8)}  ${cpuRatio.toFixed(2)}x, ${wallRatio.toFixed(2)}x`
      )
      results.push({
        name: `gateway-keys-${side}`,
        keys: figures.keys,
        build_s: Math.round(figures.buildSeconds * 10) / 10,
        requests: figures.requests,
        cpu_us: Math.round(figures.cpuMicros * 10) / 10,
        wall_us: Math.round(figures.wallMicros * 10) / 10,
        cpu_ratio: Math.round(cpuRatio * 100) / 100,
        wall_ratio: Math.round(wallRatio * 100) / 100
      })
    }
  }
  console.log(JSON.stringify({ results }))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
