/**
 * A real `redis-server` for a test file: on a free port, in a temporary
 * directory, without persistence, stopped (and the directory removed) when the
 * scope closes. `stop` and `start` take it down and bring it back on the same
 * port, for the tests of what happens while Redis is away.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./freePort.js"

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Kills the server (SIGKILL: no goodbye to clients) and waits for it to exit. */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port and waits until it accepts connections. */
  readonly start: Effect.Effect<void>
}

const launch = (port: number, dir: string) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir
    ], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("Ready to accept connections")) {
        child.stdout!.off("data", onData)
        child.stdout!.resume()
        resolve(child)
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.resume()
    child.once("error", (error) =>
      reject(
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? new Error("redis-server is not installed (apt-get install redis-server)")
          : error
      ))
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)))
  })

const kill = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

/** A server for the current scope. */
export const redisServer: Effect.Effect<RedisServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = mkdtempSync(join(tmpdir(), "redis-test-"))
    const port = await freePort()
    let child: ChildProcess | undefined = await launch(port, dir)
    const stop = Effect.promise(async () => {
      if (child !== undefined) await kill(child)
      child = undefined
    })
    const start = Effect.promise(async () => {
      child ??= await launch(port, dir)
    })
    return { url: `redis://127.0.0.1:${port}`, port, stop, start, dir }
  }),
  (server) => Effect.andThen(server.stop, Effect.sync(() => rmSync(server.dir, { recursive: true, force: true })))
)
