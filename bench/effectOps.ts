/**
 * How much of Effect's runtime a call runs: the operations its fibers evaluate (each `flatMap`, `suspend`, exit,
 * callback... is one) and their turns (each time a fiber runs until it ends or waits, as when a read it waits for
 * comes). Unlike a CPU time, these counts read the same on any machine and at any load, so two versions of the code
 * are told apart by them with no noise: `hotPath.ts` prints them beside the files a call runs.
 *
 * Counted by wrapping the run loop of Effect's fiber class, taken from a fiber's prototype (a fiber's run loop sets
 * its `currentOpCount` to zero and counts each operation it evaluates). Measuring code only: nothing in `src/` runs it.
 *
 * An operation's label names Effect's closure, which many call sites share; its site names ours: the nearest frame
 * of this repository's code (`src/`, `bench/`) on the stack that built the operation, caught by an accessor put on
 * each primitive's prototype for the slot its constructor sets, else the nearest of a package's past Effect's core
 * (`node_modules/effect/src/unstable/http/...`). An operation built by Effect itself while running another (a fork's
 * fiber, an `interruptible` region) takes the site of the one it ran in when that is ours; one built before counting
 * started (a module's constant), its continuation's. Under `--enable-source-maps` with the bench's source maps a
 * site is a line of the TypeScript source.
 */
import * as Effect from "effect/Effect"
import { findSourceMap } from "node:module"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** The operations and turns counted since `countOps` started. */
export interface OpsCount {
  readonly ops: number
  readonly turns: number
}

interface RunLoop {
  currentOpCount: number
  readonly cache: { tracerContext: ((primitive: Primitive, fiber: RunLoop) => unknown) | undefined }
  readonly _stack: ReadonlyArray<Primitive>
}

// A primitive of Effect's run loop, by the keys its prototype and constructor set (`effect/src/internal/core.ts`).
interface Primitive {
  readonly ["~effect/Effect/identifier"]?: string
  readonly ["~effect/Effect/args"]?: unknown
  readonly ["~effect/Effect/evaluate"]: (fiber: RunLoop) => unknown
}

interface FiberPrototype {
  runLoop: (this: RunLoop, effect: unknown) => unknown
  setContext: (this: RunLoop, context: unknown) => void
}

const argsKey = "~effect/Effect/args"

const sources = new WeakMap<object, string>()

// A function by its name, else the start of its source: what a reader finds it by.
function sourceOf(f: unknown): string {
  if (typeof f !== "function") return ""
  let source = sources.get(f)
  if (source === undefined) {
    source = f.name !== "" ? f.name : String(f).replace(/\s+/g, " ").slice(0, 90)
    sources.set(f, source)
  }
  return source
}

// The continuation an exit resumes: the top of its fiber's stack.
function continuationOf(primitive: Primitive, fiber: RunLoop): Primitive | undefined {
  const op = primitive["~effect/Effect/identifier"]
  return op === "Success" || op === "Failure" ? fiber._stack[fiber._stack.length - 1] : undefined
}

// An operation's label: its kind and the function it runs (an exit's: the continuation it resumes).
function labelOf(primitive: Primitive, fiber: RunLoop): string {
  const op = primitive["~effect/Effect/identifier"] ?? "?"
  const frame = continuationOf(primitive, fiber)
  const of = frame ?? primitive
  const args = of[argsKey]
  const f = Array.isArray(args) ? args.find((arg) => typeof arg === "function") ?? args[1] : args
  const shown = typeof f === "function" ? sourceOf(f) : typeof f === "object" && f !== null ?
    sourceOf(
      Object.values(f).find((value) => typeof value === "function")
    ) :
    ""
  return frame === undefined ? `${op} ${shown}` : `${op} -> ${frame["~effect/Effect/identifier"] ?? "?"} ${shown}`
}

const root = process.cwd()
const ownFiles = [import.meta.url, new URL("gateway/opsCounter.js", import.meta.url).href]
  .map((url) => url.replace(/\.[jt]s$/, ""))
const lines = new Map<string, string | undefined>()

// A frame of this repository's code as its source's `path:line (function)`; nothing for Effect's, Node's or this
// counter's frames.
function siteOfFrame(frame: NodeJS.CallSite): string | undefined {
  const file = frame.getFileName()
  if (file === undefined || file === null || file.startsWith("node:")) return
  const url = file.startsWith("file:") ? file : `file://${file}`
  if (ownFiles.some((own) => url.startsWith(own))) return
  const line = frame.getLineNumber() ?? 0
  const column = frame.getColumnNumber() ?? 0
  const key = `${url}:${line}:${column}`
  if (!lines.has(key)) lines.set(key, sourceLine(url, line, column))
  const at = lines.get(key)
  if (at === undefined) return
  const name = frame.getFunctionName()
  return name === null || name === "" ? at : `${at} (${name})`
}

// A compiled line as its TypeScript source's, where Node holds the file's source map; the compiled one else.
function sourceLine(url: string, line: number, column: number): string | undefined {
  const path = fileURLToPath(url)
  const map = findSourceMap(url) ?? findSourceMap(path)
  const entry = map?.findEntry(line - 1, column - 1) as
    | { readonly originalSource?: string; readonly originalLine?: number }
    | undefined
  const source = entry?.originalSource === undefined ? path : fileURLToPath(new URL(entry.originalSource, url))
  const at = `:${entry?.originalLine === undefined ? line : entry.originalLine + 1}`
  const relative = Path.relative(root, source)
  if (!relative.startsWith("..")) return relative + at
  // A package's file outside the repository (a worktree's `node_modules` may be a link to another checkout's): named
  // from its `node_modules`, as one inside is.
  const packaged = source.indexOf(`${Path.sep}node_modules${Path.sep}`)
  return packaged === -1 ? undefined : source.slice(packaged + 1) + at
}

// The stack as call sites, the top first, deep enough to reach the code under Effect's own frames.
function callSites(): ReadonlyArray<NodeJS.CallSite> {
  const prepare = Error.prepareStackTrace
  const limit = Error.stackTraceLimit
  Error.prepareStackTrace = (_error, frames) => frames
  Error.stackTraceLimit = 64
  const holder: { stack?: ReadonlyArray<NodeJS.CallSite> } = {}
  Error.captureStackTrace(holder, callSites)
  // The stack is prepared when first read: read while the preparer gives call sites.
  const frames = holder.stack ?? []
  Error.stackTraceLimit = limit
  Error.prepareStackTrace = prepare
  return frames
}

// A package's frame that says no more than that an Effect was built: Effect's core and the bench's loader.
const plumbing =
  /\/node_modules\/(effect\/(src|dist)\/(internal\/|Effect\.|Function\.|Pipeable\.|Layer\.|Stream\.|Channel\.)|tsx\/)/

// A library site (a package's frame) rather than this repository's.
const isLibrary = (site: string) => site.startsWith("node_modules/")

/**
 * The nearest frame above the run loop building an operation: of this repository's code, else of a package's (as
 * `node_modules/effect/src/unstable/http/...`, past Effect's core), else none.
 */
function siteOfStack(): string | undefined {
  let library: string | undefined
  for (const frame of callSites()) {
    const file = frame.getFileName() ?? ""
    if (frame.getFunctionName() === "runLoop" && file.includes("/node_modules/effect/")) break
    if (plumbing.test(file) || (library !== undefined && file.includes("/node_modules/"))) continue
    const site = siteOfFrame(frame)
    if (site === undefined) continue
    if (!isLibrary(site)) return site
    library = site
  }
  return library
}

/**
 * What a breakdown fills: `steps`, each operation's label (its kind and the function it runs) and its count;
 * `sites`, when given, each site and label (`<site>\t<label>`) and its count.
 */
export interface Breakdown {
  readonly steps?: Map<string, number> | undefined
  readonly sites?: Map<string, number> | undefined
}

/** Where each operation was built, when the breakdown counts sites: an accessor on each primitive's prototype. */
function siteTracker() {
  const built = new WeakMap<object, string>()
  const tracked = new WeakSet<object>()
  let running: Primitive | undefined
  // From now on, each primitive of `primitive`'s kind records its site as its constructor sets its arguments.
  function track(primitive: Primitive) {
    const prototype = Object.getPrototypeOf(primitive) as object | null
    if (prototype === null || tracked.has(prototype)) return
    tracked.add(prototype)
    if (!Object.hasOwn(primitive, argsKey) || Object.getOwnPropertyDescriptor(prototype, argsKey) !== undefined) return
    Object.defineProperty(prototype, argsKey, {
      configurable: true,
      set(this: object, value: unknown) {
        Object.defineProperty(this, argsKey, { value, writable: true, enumerable: true, configurable: true })
        const own = siteOfStack()
        const outer = running === undefined ? undefined : built.get(running)
        const site = own === undefined || (isLibrary(own) && outer !== undefined && !isLibrary(outer)) ? outer : own
        if (site !== undefined) built.set(this, site)
      }
    })
  }
  // The site of a shared frame (as the one `interruptible` pushes, a constant) by its fiber and place on the stack:
  // the site of the operation that pushed it.
  const pushed = new WeakMap<RunLoop, Map<number, string>>()
  function frameSite(fiber: RunLoop, at: number): string | undefined {
    const frame = fiber._stack[at]
    return frame === undefined ? undefined : built.get(frame) ?? pushed.get(fiber)?.get(at)
  }
  // An exit's site is its continuation's; any operation built before counting took its continuation's.
  function siteOf(primitive: Primitive, fiber: RunLoop): string {
    const top = fiber._stack.length - 1
    const exit = continuationOf(primitive, fiber) !== undefined
    return (exit ? frameSite(fiber, top) : built.get(primitive)) ?? frameSite(fiber, top) ?? built.get(primitive) ??
      "(no site)"
  }
  // Evaluates `primitive` (at `site`), the operations it builds taking its site when their stack shows none, and the
  // shared frames it pushes too.
  function evaluate(primitive: Primitive, fiber: RunLoop, site: string): unknown {
    const outer = running
    const depth = fiber._stack.length
    running = primitive
    try {
      return primitive["~effect/Effect/evaluate"](fiber)
    } finally {
      running = outer
      for (let at = depth; at < fiber._stack.length; at++) {
        if (built.has(fiber._stack[at]!)) continue
        let sites = pushed.get(fiber)
        if (sites === undefined) pushed.set(fiber, sites = new Map())
        sites.set(at, site)
      }
    }
  }
  return { track, siteOf, evaluate }
}

/**
 * Starts counting every fiber's operations and turns in this process; the function returns the counts so far.
 * `breakdown`, when given, is filled as `Breakdown` says: which steps a call's operations are and where in this
 * repository's code they were built (the run loop's tracer hook and, for sites, a stack an operation: slower, so
 * only when asked).
 */
export function countOps(breakdown?: Breakdown): () => OpsCount {
  const prototype = Object.getPrototypeOf(Effect.runFork(Effect.void)) as FiberPrototype
  const runLoop = prototype.runLoop
  const setContext = prototype.setContext
  const sites = breakdown?.sites === undefined ? undefined : siteTracker()
  let ops = 0
  let turns = 0
  function add(map: Map<string, number>, key: string) {
    map.set(key, (map.get(key) ?? 0) + 1)
  }
  function traced(primitive: Primitive, fiber: RunLoop) {
    const label = labelOf(primitive, fiber)
    if (breakdown?.steps !== undefined) add(breakdown.steps, label)
    if (sites === undefined) return primitive["~effect/Effect/evaluate"](fiber)
    sites.track(primitive)
    const site = sites.siteOf(primitive, fiber)
    add(breakdown!.sites!, `${site}\t${label}`)
    return sites.evaluate(primitive, fiber, site)
  }
  if (breakdown !== undefined) {
    // A fiber's cache, where the run loop reads the tracer hook, is replaced when its context is.
    prototype.setContext = function(context) {
      setContext.call(this, context)
      this.cache.tracerContext ??= traced
    }
  }
  prototype.runLoop = function(effect) {
    if (breakdown !== undefined) this.cache.tracerContext ??= traced
    const exit = runLoop.call(this, effect)
    ops += this.currentOpCount
    turns++
    return exit
  }
  return () => ({ ops, turns })
}
