/**
 * How much of Effect's runtime a call runs: the operations its fibers evaluate (each `flatMap`, `suspend`, exit,
 * callback... is one) and their turns (each time a fiber runs until it ends or waits, as when a read it waits for
 * comes). Unlike a CPU time, these counts read the same on any machine and at any load, so two versions of the code
 * are told apart by them with no noise: `hotPath.ts` prints them beside the files a call runs.
 *
 * Counted by wrapping the run loop of Effect's fiber class, taken from a fiber's prototype (a fiber's run loop sets
 * its `currentOpCount` to zero and counts each operation it evaluates). Measuring code only: nothing in `src/` runs it.
 */
import * as Effect from "effect/Effect"

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
}

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

// An operation's label: its kind and the function it runs (an exit's: the continuation it resumes).
function labelOf(primitive: Primitive, fiber: RunLoop): string {
  const op = primitive["~effect/Effect/identifier"] ?? "?"
  const frame = op === "Success" || op === "Failure" ? fiber._stack[fiber._stack.length - 1] : undefined
  const of = frame ?? primitive
  const args = of["~effect/Effect/args"]
  const f = Array.isArray(args) ? args.find((arg) => typeof arg === "function") ?? args[1] : args
  const shown = typeof f === "function" ? sourceOf(f) : typeof f === "object" && f !== null ?
    sourceOf(
      Object.values(f).find((value) => typeof value === "function")
    ) :
    ""
  return frame === undefined ? `${op} ${shown}` : `${op} -> ${frame["~effect/Effect/identifier"] ?? "?"} ${shown}`
}

/**
 * Starts counting every fiber's operations and turns in this process; the function returns the counts so far.
 * `breakdown`, when given, is filled with each operation's label (its kind and the function it runs) and its count:
 * which steps a call's operations are (the run loop's tracer hook, slower, so only when asked).
 */
export function countOps(breakdown?: Map<string, number>): () => OpsCount {
  const prototype = Object.getPrototypeOf(Effect.runFork(Effect.void)) as FiberPrototype
  const runLoop = prototype.runLoop
  let ops = 0
  let turns = 0
  function traced(primitive: Primitive, fiber: RunLoop) {
    const label = labelOf(primitive, fiber)
    breakdown!.set(label, (breakdown!.get(label) ?? 0) + 1)
    return primitive["~effect/Effect/evaluate"](fiber)
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
