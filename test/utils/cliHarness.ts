/**
 * Helpers for the command line's tests: running a command in-process with
 * captured output, spawning the real binary, and a loopback proxy that records
 * the request bodies the CLI sends.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { type ChildProcess, type ChildProcessByStdio, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as Http from "node:http"
import * as path from "node:path"
import type { Readable, Writable } from "node:stream"
import type { Io } from "../../src/cli/io.js"
import { eventually } from "./eventually.js"

export interface Captured {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export interface CaptureOptions {
  readonly env?: Record<string, string>
  readonly stdin?: string
}

/** An `Io` whose output is kept, with the given environment and piped stdin. */
export const captureIo = (options: CaptureOptions = {}) => {
  let stdout = ""
  let stderr = ""
  const stdin = options.stdin
  const io: Io = {
    stdout: (text) => {
      stdout += text
    },
    stderr: (text) => {
      stderr += text
    },
    // By default only the test file's own data home (`dataHome.ts`), so a `serve` keeps its database there.
    env: options.env ?? (process.env.XDG_DATA_HOME === undefined ? {} : { XDG_DATA_HOME: process.env.XDG_DATA_HOME }),
    readStdin: stdin === undefined ? undefined : () => Promise.resolve(stdin)
  }
  return { io, result: (code: number): Captured => ({ code, stdout, stderr }) }
}

const root = path.resolve(import.meta.dirname, "../..")

export const binPath = path.resolve(root, "bin/effect-llm-router.js")

/** The environment of the test process without any real provider key. */
export const envWithoutKeys = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && name !== "OPENAI_API_KEY") env[name] = value
  }
  return env
}

/**
 * The zone (`Etc/GMT<offset>`, whose sign is POSIX's: `Etc/GMT-3` is three hours ahead of UTC) where it is about noon at
 * `now`: the farthest any zone can be from a midnight.
 */
export const middayZone = (now: Date): string => {
  const ahead = 12 - now.getUTCHours()
  return ahead === 0 ? "Etc/GMT" : `Etc/GMT${ahead > 0 ? "-" : "+"}${Math.abs(ahead)}`
}

// Chosen once, as this file is loaded: every agent a test file runs keeps one date through the file.
const agentZone = middayZone(new Date())

/**
 * A coding agent's environment: the test process's without keys, in a time zone where it is noon as the test file
 * starts. An agent writes today's date into its system prompt, so a session that crossed midnight would change its
 * prompt's prefix mid-session (breaking its prompt cache, and refused where the model binds thinking to the prefix);
 * with about twelve hours to the zone's next midnight, the suite passes at any hour.
 */
export const agentEnv = (): Record<string, string> => ({ ...envWithoutKeys(), TZ: agentZone })

export interface Spawned {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface SpawnOptions {
  readonly cwd?: string
  readonly env?: Record<string, string>
  readonly timeoutMs?: number
  readonly onStdout?: (soFar: string, child: ChildProcess) => void
  readonly onStderr?: (soFar: string, child: ChildProcess) => void
  /** Told of the process as soon as it is spawned. */
  readonly onSpawn?: (child: ChildProcess) => void
  /**
   * Spawned as the leader of a process group of its own, the whole group killed at the timeout or when interrupted:
   * for a command that runs the one a test is about as its child (npx).
   */
  readonly group?: boolean
  /** Written to its standard input, which is then closed; none: no standard input. */
  readonly stdin?: string
}

/**
 * Runs `command ...args`; `onStdout` (and `onStderr`) sees the output so far
 * each time more arrives (to signal the process, say). Killed at `timeoutMs`.
 */
export const spawnProcess = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Spawned> =>
  Effect.callback<Spawned>((resume) => {
    const child = spawn(command, args, {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: options.env ?? envWithoutKeys(),
      stdio: [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: options.group === true
    }) as ChildProcessByStdio<Writable | null, Readable, Readable>
    child.stdin?.end(options.stdin)
    const kill = () => {
      if (options.group !== true || child.pid === undefined) return child.kill("SIGKILL")
      try {
        process.kill(-child.pid, "SIGKILL")
      } catch {
        // The group has ended.
      }
    }
    options.onSpawn?.(child)
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk
      options.onStdout?.(stdout, child)
    })
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
      options.onStderr?.(stderr, child)
    })
    const timer = setTimeout(kill, options.timeoutMs ?? 60_000)
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      kill()
    })
  })

/**
 * Why the binary would not run the current sources (it runs `dist/`), or
 * undefined: a file under `src/` changed after the last `npm run build`.
 */
const staleBuild = (): string | undefined => {
  const built = path.resolve(root, "dist/cli/main.js")
  if (!fs.existsSync(built)) return "dist/ is not built"
  const builtAt = fs.statSync(built).mtimeMs
  const changed = fs.readdirSync(path.resolve(root, "src"), { recursive: true, withFileTypes: true })
    .find((entry) => entry.isFile() && fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs > builtAt)
  return changed === undefined
    ? undefined
    : `${path.relative(root, path.join(changed.parentPath, changed.name))} changed after the last build`
}

// `run` of the binary, which runs `dist/`; a defect when `dist/` is older than `src/`, since it would run the old code.
const whenBuilt = (run: () => Effect.Effect<Spawned>): Effect.Effect<Spawned> =>
  Effect.suspend(() => {
    const stale = staleBuild()
    return stale === undefined
      ? run()
      : Effect.die(new Error(`${stale}: run \`npm run build\` (npm test does) before spawning the binary`))
  })

/**
 * Runs `node bin/effect-llm-router.js ...args`, as `spawnProcess` does; fails
 * when `dist/` is older than `src/`, since the binary would run the old code.
 */
export const spawnCli = (
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Spawned> => whenBuilt(() => spawnProcess(process.execPath, [binPath, ...args], options))

/**
 * The environment without a provider key and without what npm passes to the scripts it runs
 * (`npm_config_local_prefix` and the like would point a nested npm back at this repository) or a `NODE_PATH` that
 * could resolve from it.
 */
export const envWithoutNpm = (): Record<string, string> =>
  Object.fromEntries(
    Object.entries(envWithoutKeys()).filter(([name]) => !name.toLowerCase().startsWith("npm_") && name !== "NODE_PATH")
  )

/**
 * Runs `npx effect-llm-router ...args` in this repository, as a user does in a clone (npm, a shell, then the
 * binary: three processes, one group), as `spawnCli` does; npx keeps what it links in `cache` (npm's cache folder).
 */
export const spawnNpx = (
  args: ReadonlyArray<string>,
  cache: string,
  options: SpawnOptions = {}
): Effect.Effect<Spawned> =>
  whenBuilt(() =>
    spawnProcess("npx", ["--offline", "--yes", "effect-llm-router", ...args], {
      cwd: root,
      env: { ...envWithoutNpm(), npm_config_cache: cache },
      ...options,
      group: true
    })
  )

/** A command run forked, in-process or spawned, until it ends. */
export interface Running {
  /** Its output so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** The run, done once it ends: its exit code (for a process, `null` when a signal ended it). */
  readonly exited: Fiber.Fiber<{ readonly code: number | null; readonly signal?: NodeJS.Signals | null }>
}

/** A run that ended before what a test waited for came. */
export class EndedEarly extends Error {
  constructor(
    readonly what: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string
  ) {
    super(
      `${what}: the run ${
        code !== null ? `exited with code ${code}` : `was ended by ${signal}`
      } before it came; its stderr:\n${stderr}`
    )
  }
}

/**
 * The value of `read` once `holds` is true of it, read again every 20 ms while
 * the run goes on; fails with `EndedEarly` as soon as the run has ended and
 * `read` still misses (and with the run's own failure, a stale build say, when
 * it fails). `what` names what is awaited.
 */
export const awaitWhileRunning = <A, E, R>(
  running: Running,
  what: string,
  read: Effect.Effect<A, E, R>,
  holds: (value: A) => boolean
): Effect.Effect<A, E | EndedEarly, R> =>
  eventually(
    what,
    Effect.suspend(() => {
      // Polled before the read, so what is read once it has ended is all it wrote.
      const ended = running.exited.pollUnsafe()
      return Effect.flatMap(read, (value): Effect.Effect<A, EndedEarly> => {
        if (ended === undefined || holds(value)) return Effect.succeed(value)
        return Exit.isFailure(ended)
          ? Effect.failCause(ended.cause)
          : Effect.fail(new EndedEarly(what, ended.value.code, ended.value.signal ?? null, running.stderr()))
      })
    }),
    holds,
    { every: "20 millis" }
  )

/**
 * Its first whole line on stdout (a URL, for `serve` and `simulate`), once it
 * comes, as `awaitWhileRunning` waits.
 */
export const awaitFirstLine = (running: Running, what: string) =>
  awaitWhileRunning(running, what, Effect.sync(running.stdout), (stdout) => stdout.includes("\n")).pipe(
    Effect.map((stdout) => stdout.split("\n", 1)[0]!)
  )

/** `run` (a command's `run`) forked in-process over a captured `Io` (given `options`), ended with the scope. */
export const startInProcess = (run: (io: Io) => Effect.Effect<number>, options: CaptureOptions = {}) =>
  Effect.gen(function*() {
    const { io, result } = captureIo(options)
    const exited = yield* Effect.forkScoped(Effect.map(run(io), (code) => ({ code })))
    return { stdout: () => result(0).stdout, stderr: () => result(0).stderr, exited } satisfies Running
  })

export interface Spawning extends Running {
  readonly child: () => ChildProcess | undefined
}

type Watched = Pick<SpawnOptions, "onStdout" | "onStderr" | "onSpawn">

/**
 * `spawnCli` forked, killed with the scope; `child` is the process once it is spawned.
 */
export const startCli = (
  args: ReadonlyArray<string>,
  options: Omit<SpawnOptions, keyof Watched> = {}
) => startSpawned((watched) => spawnCli(args, { ...options, ...watched }))

/** `spawnNpx` forked, as `startCli` forks `spawnCli`: `child` is npx's process, not the binary's. */
export const startNpx = (
  args: ReadonlyArray<string>,
  cache: string,
  options: Omit<SpawnOptions, keyof Watched> = {}
) => startSpawned((watched) => spawnNpx(args, cache, { ...options, ...watched }))

// `spawn` forked, its output kept as it comes.
const startSpawned = (spawn: (watched: Watched) => Effect.Effect<Spawned>) =>
  Effect.gen(function*() {
    let stdout = ""
    let stderr = ""
    let child: ChildProcess | undefined
    const exited = yield* Effect.forkScoped(spawn({
      onSpawn: (spawned) => {
        child = spawned
      },
      onStdout: (soFar) => {
        stdout = soFar
      },
      onStderr: (soFar) => {
        stderr = soFar
      }
    }))
    return { stdout: () => stdout, stderr: () => stderr, exited, child: () => child } satisfies Spawning
  })

export interface Recorder {
  /** The base URL to give the CLI, `/v1` included. */
  readonly baseUrl: string
  /** The JSON bodies of the requests seen so far. */
  readonly bodies: Array<Record<string, unknown>>
  /** The path of each body's request, in the same order. */
  readonly paths: Array<string>
}

/**
 * A loopback proxy in front of `target` (a simulator's URL) that records each
 * request body and relays the answer unchanged.
 */
export const recorder = (target: string) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly recorder: Recorder; readonly server: Http.Server }>((resume) => {
      const bodies: Array<Record<string, unknown>> = []
      const paths: Array<string> = []
      const server = Http.createServer((req, res) => {
        let text = ""
        req.setEncoding("utf8")
        req.on("data", (chunk: string) => {
          text += chunk
        })
        req.once("end", () => {
          if (text !== "") {
            bodies.push(JSON.parse(text) as Record<string, unknown>)
            paths.push(req.url ?? "")
          }
          const headers: Record<string, string> = { "content-type": "application/json" }
          for (const name of ["authorization", "x-api-key", "x-goog-api-key", "anthropic-version", "anthropic-beta"]) {
            const value = req.headers[name]
            if (typeof value === "string") headers[name] = value
          }
          fetch(`${target}${req.url ?? ""}`, {
            method: req.method ?? "POST",
            headers,
            ...(text === "" ? {} : { body: text })
          })
            .then(async (upstream) => {
              res.writeHead(upstream.status, {
                "content-type": upstream.headers.get("content-type") ?? "application/json"
              })
              // As bytes: a binary body (Bedrock's event stream) passes unchanged.
              res.end(Buffer.from(await upstream.arrayBuffer()))
            })
            .catch(() => res.destroy())
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ recorder: { baseUrl: `http://127.0.0.1:${port}/v1`, bodies, paths }, server }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ recorder }) => recorder))
