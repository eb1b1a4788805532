/**
 * A real PostgreSQL server for a test file, from Debian's `postgresql` package
 * (which `npm test` installs when missing): a fresh cluster in a temporary
 * directory, on a free loopback port, trusting local connections, without
 * fsync, stopped (and the directory removed) when the scope closes. Run as root,
 * it runs as the package's `postgres` user (PostgreSQL refuses root). `stop` and
 * `start` take it down and bring it back on the same port with the same data, for
 * the tests of what happens while the database is away and after it restarts.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./freePort.js"

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string
  readonly port: number
  /** Makes another empty database on the server and gives its URL. */
  readonly database: (name: string) => Effect.Effect<string>
  /** Stops the server at once (an immediate shutdown: no goodbye to clients) and waits for it to exit. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and data and waits until it accepts connections. */
  readonly start: Effect.Effect<void>
}

/** The directory of Debian's PostgreSQL programs (the newest installed), or the one `postgres` is on the PATH in. */
const binaries = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = existsSync(root) ? readdirSync(root).filter((version) => /^\d+$/.test(version)) : []
  versions.sort((a, b) => Number(b) - Number(a))
  for (const version of versions) {
    const bin = join(root, version, "bin")
    if (existsSync(join(bin, "postgres"))) return bin
  }
  throw new Error("PostgreSQL is not installed (apt-get install postgresql)")
}

/** Root runs the server as Debian's `postgres` user; anyone else as themselves. */
const owner = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  // Throws, naming the user, when the package's `postgres` user is missing.
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"]).toString())
  return { uid: id("-u"), gid: id("-g") }
}

const launch = (bin: string, dir: string, port: number, user: ReturnType<typeof owner>) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(join(bin, "postgres"), [
      "-D",
      dir,
      "-p",
      String(port),
      "-k",
      dir,
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "fsync=off",
      "-c",
      "max_connections=300"
    ], { stdio: ["ignore", "ignore", "pipe"], ...user })
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("database system is ready to accept connections")) {
        child.stderr!.off("data", onData)
        child.stderr!.resume()
        resolve(child)
      }
    }
    child.stderr!.on("data", onData)
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`postgres exited with ${code}: ${output}`)))
  })

/**
 * SIGQUIT, PostgreSQL's immediate shutdown (its clients cut without a goodbye), and waits for the server to exit. A
 * server still running 10 s later (PostgreSQL itself kills its children 5 s into an immediate shutdown) is killed, and
 * says so on stderr; its exit is then also watched by polling, should the exit event not come.
 */
const shutdown = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    const gone = () => child.exitCode !== null || child.signalCode !== null
    if (gone()) return resolve()
    let polling: ReturnType<typeof setInterval> | undefined
    const done = () => {
      clearTimeout(killing)
      clearInterval(polling)
      resolve()
    }
    const killing = setTimeout(() => {
      process.stderr.write(`postgres (pid ${child.pid}) was still running 10 s after SIGQUIT: sending SIGKILL\n`)
      child.kill("SIGKILL")
      polling = setInterval(() => {
        if (gone() || !running(child.pid!)) done()
      }, 100)
    }, 10_000)
    child.once("exit", done)
    child.kill("SIGQUIT")
  })

/** Whether a process of that id is still there. */
const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A server for the current scope. */
export const postgresServer: Effect.Effect<PostgresServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const bin = binaries()
    const user = owner()
    const dir = mkdtempSync(join(tmpdir(), "postgres-test-"))
    if (user !== undefined) chownSync(dir, user.uid, user.gid)
    execFileSync(join(bin, "initdb"), ["-D", dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"], {
      stdio: "ignore",
      ...user
    })
    const port = await freePort()
    let child: ChildProcess | undefined = await launch(bin, dir, port, user)
    const stop = Effect.promise(async () => {
      if (child !== undefined) await shutdown(child)
      child = undefined
    })
    const start = Effect.promise(async () => {
      child ??= await launch(bin, dir, port, user)
    })
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    const database = (name: string) =>
      Effect.sync(() => {
        execFileSync(join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", name], {
          stdio: "ignore"
        })
        return `postgres://postgres@127.0.0.1:${port}/${name}`
      })
    return { url, port, database, stop, start, dir }
  }),
  (server) => Effect.andThen(server.stop, Effect.sync(() => rmSync(server.dir, { recursive: true, force: true })))
)
