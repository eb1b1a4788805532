/**
 * Reading Node's `--cpu-prof` profiles (`.cpuprofile`): where a sample's code is, and two of them split side by side.
 *
 *   npm run profile-split -- <ours.cpuprofile> <ours µs a call> <engine.cpuprofile> <engine µs a call> [window.json]
 *
 * prints, for each profile, its busy samples as µs a call (each share of the busy samples times the CPU a call the
 * bench measured beside it). `window.json` (`{ "from": µs, "to": µs }`, the monotonic clock of `process.hrtime` that
 * the profiles' timestamps are on, as `mcp-tools-call` writes it) keeps only the samples of the calls the bench timed:
 * without it, a relay's start and its warm-up, where V8 has not yet compiled the code the calls run, are counted too,
 * and weigh most where the most code is yet to compile. Module loading is left out either way. By self time of each
 * group of modules (this library, Effect's runtime, its `Schema`, Node's HTTP...), of each module (a package,
 * `effect`'s by file, a file of this library, Node's own by module) and of each function, and by total time of each
 * of this library's functions (a sample counted once for each of ours on its stack) and of each module's code called
 * from ours, each beside the other profile's figure and sorted by the difference. Lines of this library are those of
 * its TypeScript, read from the bench build's source maps.
 */
import * as Fs from "node:fs"
import { SourceMap } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

/** The span of the calls a bench timed, in µs of the monotonic clock the profiles' timestamps are on. */
export interface Window {
  readonly from: number
  readonly to: number
}

/** Where a function's code is: a package, a file of this library, or Node's own. */
export function moduleOf(url: string): string {
  if (url === "") return "(V8: GC, idle, native)"
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0]
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (packaged !== null) return packaged[1]!
  const local = /\/(src|bench)\/(.*)$/.exec(url)
  return local === null ? url : `${local[1]}/${local[2]!.replace(/\.js$/, ".ts")}`
}

// Finer than `moduleOf`: `effect`'s files one by one (its runtime, `Schema`, `ai`, `http` apart) and Node's internals.
function groupOf(url: string): string {
  const effect = /node_modules\/effect\/dist\/(.*)\.js$/.exec(url)
  if (effect !== null) return `effect/${effect[1]}`
  const internal = /^node:internal\/(.*)$/.exec(url)
  if (internal !== null) return `node:${internal[1]}`
  return moduleOf(url)
}

// The TypeScript line of a frame of this library's build, read from its source map; else the frame's own line.
const maps = new Map<string, SourceMap | undefined>()
function lineOf(url: string, line: number, column: number): number {
  if (!url.startsWith("file:") || !/\/(src|bench)\//.test(url)) return line + 1
  if (!maps.has(url)) {
    const file = fileURLToPath(url) + ".map"
    maps.set(url, Fs.existsSync(file) ? new SourceMap(JSON.parse(Fs.readFileSync(file, "utf8"))) : undefined)
  }
  const entry = maps.get(url)?.findEntry(line, column)
  return entry !== undefined && "originalLine" in entry ? entry.originalLine + 1 : line + 1
}

const ours = (url: string) => /\/\.bench-build\/src\//.test(url)

// The groups a module's self time is summed in: this library, Effect's runtime, its `Schema`, its `ai`, `http` and
// `sql` modules, Node's HTTP and streams, undici, the rest of Node, V8 (its collector, compiler and idle).
const groups: ReadonlyArray<readonly [string, RegExp]> = [
  ["ours (src/)", /^src\//],
  ["effect: Schema", /^effect\/(Schema|SchemaAST|SchemaParser|internal\/schema\/)/],
  ["effect: ai (McpServer, McpClient, McpSchema, rpc)", /^effect\/(ai|rpc)\//],
  ["effect: http, platform-node", /^(effect\/http|@effect\/platform-node)/],
  ["effect: sql", /^effect\/sql\//],
  ["effect: runtime and the rest", /^effect\//],
  ["Node: HTTP, net, streams, events", /^node:(_http|http|net|stream|streams|events|process|timers)/],
  ["undici", /^undici/],
  ["Node: the rest", /^node:/],
  ["V8: GC, compiler, native", /^\(V8/]
]
const groupOfModule = (module: string): string => groups.find(([, test]) => test.test(module))?.[0] ?? "other"

/** A profile's busy samples (within `window`, when given) by self and total time, each a share of the busy samples. */
export function split(file: string, window?: Window) {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as {
    readonly nodes: ReadonlyArray<ProfileNode>
    readonly samples: ReadonlyArray<number>
    readonly startTime: number
    readonly timeDeltas: ReadonlyArray<number>
  }
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parents = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
  const named = (node: ProfileNode) => {
    const { columnNumber, functionName, lineNumber, url } = node.callFrame
    return `${functionName || "(anonymous)"} ${moduleOf(url)}:${lineOf(url, lineNumber, columnNumber)}`
  }
  const selfModule = new Map<string, number>()
  const selfFunction = new Map<string, number>()
  const totalOurs = new Map<string, number>()
  const underOurs = new Map<string, number>()
  const add = (into: Map<string, number>, key: string) => into.set(key, (into.get(key) ?? 0) + 1)
  let busy = 0
  let time = profile.startTime
  for (const [at, id] of profile.samples.entries()) {
    time += profile.timeDeltas[at]!
    if (window !== undefined && (time < window.from || time >= window.to)) continue
    const leaf = nodes.get(id)!
    if (leaf.callFrame.functionName === "(idle)") continue
    const stack: Array<ProfileNode> = []
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) stack.push(nodes.get(at)!)
    if (stack.some((node) => node.callFrame.url.startsWith("node:internal/modules/"))) continue
    busy++
    add(selfModule, groupOf(leaf.callFrame.url))
    add(selfFunction, named(leaf))
    const seen = new Set<string>()
    for (const node of stack) if (ours(node.callFrame.url)) seen.add(named(node))
    for (const key of seen) add(totalOurs, key)
    // The code that ran for ours: the module of the leaf, when one of ours is below it on the stack.
    if (!ours(leaf.callFrame.url) && stack.some((node) => ours(node.callFrame.url))) {
      add(underOurs, groupOf(leaf.callFrame.url))
    }
  }
  const selfGroup = new Map<string, number>()
  for (const [module, n] of selfModule) {
    const group = groupOfModule(module)
    selfGroup.set(group, (selfGroup.get(group) ?? 0) + n)
  }
  const shares = (from: Map<string, number>) => new Map([...from].map(([key, n]) => [key, n / busy] as const))
  return {
    busy,
    selfGroup: shares(selfGroup),
    selfModule: shares(selfModule),
    selfFunction: shares(selfFunction),
    totalOurs: shares(totalOurs),
    underOurs: shares(underOurs)
  }
}

type Split = ReturnType<typeof split>

// The `rows` keys of most difference between `a` and `b`, in µs a call (`perA`, `perB`: each side's CPU a call).
function compare(a: ReadonlyMap<string, number>, perA: number, b: ReadonlyMap<string, number>, perB: number) {
  const keys = new Set([...a.keys(), ...b.keys()])
  return [...keys].map((key) => {
    const ours = (a.get(key) ?? 0) * perA
    const engine = (b.get(key) ?? 0) * perB
    return { key, ours, engine, difference: ours - engine }
  }).sort((x, y) => Math.abs(y.difference) - Math.abs(x.difference))
}

function print(title: string, rows: ReturnType<typeof compare>, count: number) {
  console.log(`\n${title} (µs a call: ours, engine, difference)`)
  for (const row of rows.slice(0, count)) {
    const figures = [row.ours, row.engine, row.difference].map((n) => n.toFixed(1).padStart(8)).join("")
    console.log(`  ${row.key.slice(0, 100).padEnd(100)}${figures}`)
  }
}

function main() {
  const [oursFile, oursUs, engineFile, engineUs, windowFile] = process.argv.slice(2)
  if (engineUs === undefined) {
    console.error(
      "usage: profile-split <ours.cpuprofile> <ours µs a call> <engine.cpuprofile> <engine µs a call> [window.json]"
    )
    process.exit(2)
  }
  const window = windowFile === undefined ? undefined : JSON.parse(Fs.readFileSync(windowFile, "utf8")) as Window
  const a: Split = split(oursFile!, window)
  const b: Split = split(engineFile!, window)
  const perA = Number(oursUs)
  const perB = Number(engineUs)
  const count = Number(process.env["PROFILE_SPLIT_ROWS"] || 30)
  const within = window === undefined ? "the whole run" : `the timed calls (${window.from}-${window.to} µs)`
  console.log(`busy samples of ${within}: ours ${a.busy}, engine ${b.busy}`)
  print("self time by group", compare(a.selfGroup, perA, b.selfGroup, perB), count)
  print("self time by module", compare(a.selfModule, perA, b.selfModule, perB), count)
  print("self time by function", compare(a.selfFunction, perA, b.selfFunction, perB), count)
  print("total time of our functions", compare(a.totalOurs, perA, b.totalOurs, perB), count)
  print("self time of what our functions call, by module", compare(a.underOurs, perA, b.underOurs, perB), count)
}

// Run as a script; imported (`streamProfile.ts`), only its readers.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
