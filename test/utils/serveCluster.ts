/**
 * What the scale-out tests share: a `serve` process over a provider.json,
 * once it prints its URL, and the check that arrivals hold a token bucket's
 * bound in every window.
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { awaitFirstLine, startCli } from "./cliHarness.js"

export interface Served {
  readonly url: string
  readonly child: ChildProcess
  readonly exited: Fiber.Fiber<unknown>
  /** What it has written to stderr so far (its JSON log lines). */
  readonly stderr: () => string
}

/** `json` written as a provider.json in a directory of its own, removed when the scope closes; its path. */
export const providerFile = (json: object) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scale-out-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const file = path.join(dir, "provider.json")
    fs.writeFileSync(file, JSON.stringify(json))
    return file
  })

/**
 * A `serve` process over `file`, once it prints its URL (failing at once, with its exit code and stderr, when it ends
 * first).
 */
export const serve = (file: string) =>
  Effect.gen(function*() {
    const running = yield* startCli(["serve", "--config", file, "--port", "0"], { timeoutMs: 170_000 })
    const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
    return { url, child: running.child()!, exited: running.exited, stderr: running.stderr } satisfies Served
  })

/** How many times `served` has logged that its store's Redis is back. */
export const storeReturns = (served: Served) => served.stderr().split("limits are shared again").length - 1

/**
 * How far apart a request's token grant (by Redis) and its arrival at the simulator may be:
 * the gateway's event loop and an HTTP hop, on a machine that runs three gateways, the
 * load and the simulator at once, and in CI the other test files beside them. A windowed
 * bound on arrivals holds with this added to each window (at 250 ms, 500 ms and then 1 s,
 * loaded runs passed it by up to one request: a gateway stalled for over a second between a
 * grant and its request). At 2 s it adds `refillRate * 2` to every window (200 requests in
 * ScaleOut, 80 in ScaleOutKeys), so it catches only gross over-admission within the run (three
 * buckets kept apart over a run of a second or more), not a burst under that; the whole run's
 * bound (`overRunBound`), with no slack, is the exact check, and what catches instances that
 * each admit the whole rate. The gateways' own stalls are not measured (they are processes of
 * their own), so unlike `loopStalls` this slack cannot follow the machine.
 */
export const deliverySlackMillis = 2000
