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
}

interface FiberPrototype {
  runLoop: (this: RunLoop, effect: unknown) => unknown
}

/** Starts counting every fiber's operations and turns in this process; the function returns the counts so far. */
export function countOps(): () => OpsCount {
  const prototype = Object.getPrototypeOf(Effect.runFork(Effect.void)) as FiberPrototype
  const runLoop = prototype.runLoop
  let ops = 0
  let turns = 0
  prototype.runLoop = function(effect) {
    const exit = runLoop.call(this, effect)
    ops += this.currentOpCount
    turns++
    return exit
  }
  return () => ({ ops, turns })
}
