/**
 * Starting another bench script in a child process the way this one runs, on
 * a core of its own. `npm run bench` runs tsc's output (`.bench-build/`), as
 * the published package is compiled JavaScript; run from the TypeScript
 * sources (`node --import tsx bench/main.ts`), children go through tsx too.
 *
 * With `taskset` (Linux, two cores or more) every server a case starts runs on
 * core 0 and what loads it on core 1. A child started without a core would
 * inherit this process's pinning: `bench/main.ts` pins itself to core 1, so a
 * server and its client would share one core while the other stays idle.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

const compiled = import.meta.url.endsWith(".js")

/** What Node needs before a bench script's path: tsx's loader when running from the sources. */
export const loaderArgs: ReadonlyArray<string> = compiled ? [] : ["--import", "tsx"]

/** The arguments that run `name` (a bench script's path under `bench/`, without extension). */
export const nodeArgs = (name: string): Array<string> => [
  ...loaderArgs,
  path.join(path.dirname(fileURLToPath(import.meta.url)), `${name}${compiled ? ".js" : ".ts"}`)
]

/**
 * Whether processes can be pinned to cores here: this process may run on two cores or more (a process pinned to one
 * core reads false, and pins nothing).
 */
export const hasTaskset = (() => {
  if (os.platform() !== "linux" || os.availableParallelism() < 2) return false
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/**
 * How to start a bench script: Node's arguments, its core, its environment, whether it gets an IPC channel, and
 * where its stderr goes (a file descriptor; ours when absent).
 */
export interface SpawnOptions {
  readonly args: ReadonlyArray<string>
  /** The core it runs on; on any (as this process) when absent. */
  readonly core?: number | undefined
  readonly env?: NodeJS.ProcessEnv | undefined
  readonly ipc?: boolean | undefined
  readonly stderr?: number | undefined
}

/** A bench script in a child process, on its core when the machine allows; its stdout piped. */
export const spawnNode = (options: SpawnOptions): ChildProcess => {
  const spawnOptions = {
    stdio: ["ignore", "pipe", options.stderr ?? "inherit", ...(options.ipc === true ? ["ipc" as const] : [])] as Array<
      "ignore" | "pipe" | "inherit" | "ipc" | number
    >,
    env: options.env ?? process.env
  }
  return hasTaskset && options.core !== undefined
    ? spawn("taskset", ["-c", String(options.core), process.execPath, ...options.args], spawnOptions)
    : spawn(process.execPath, options.args, spawnOptions)
}

/** Pins this process (and its threads) to `core`, when the machine allows. */
export const pinSelf = (core: number): void => {
  if (hasTaskset) execFileSync("taskset", ["-a", "-pc", String(core), String(process.pid)], { stdio: "ignore" })
}

/** How long a stopped child has to exit on its own before it is killed. */
const exitGraceMillis = 5_000

/**
 * Stops a child with SIGTERM and resolves once it has exited (SIGKILL after a
 * grace period), so the next case meets none of its servers or sockets.
 */
export const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), exitGraceMillis)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill()
  })

/** The first line a child prints on stdout, trimmed; rejects when `what` exits before printing one. */
export const firstLine = (child: ChildProcess, what: string): Promise<string> =>
  new Promise((resolve, reject) => {
    // "close", not "exit": the line, when there is one, is read before it.
    child.once("close", (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) before reporting`)))
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(line.trim()))
  })
