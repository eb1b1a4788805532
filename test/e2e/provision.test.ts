/**
 * `npm test`'s first step, `scripts/provision-test-tools.mjs`: it installs the programs some tests drive (tmux,
 * redis-server, Debian's postgresql and chromium, unzip, and buildah, podman, runc, catatonit and binutils for the image) through
 * apt-get when they are missing, and does nothing when they are there.
 * Here it runs with a `PATH` of fakes (an apt-get that records its calls, a sudo that runs what it is given), so
 * the test sees what it would install without installing anything.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { spawnProcess } from "../utils/cliHarness.js"

const root = path.resolve(import.meta.dirname, "../..")
const script = path.join(root, "scripts", "provision-test-tools.mjs")
const hasChromium = fs.existsSync("/usr/bin/chromium")
const hasPostgres = fs.existsSync("/usr/lib/postgresql") &&
  fs.readdirSync("/usr/lib/postgresql").some((version) => fs.existsSync(`/usr/lib/postgresql/${version}/bin/postgres`))
/** What is installed here at absolute paths, and so not faked on the `PATH`, when it is missing. */
const absent = [...(hasPostgres ? [] : ["postgresql"]), ...(hasChromium ? [] : ["chromium"])]
/** What is found on the `PATH` after those, by package and program, each faked when a test fakes everything there. */
const onPathPrograms = {
  unzip: "unzip",
  buildah: "buildah",
  podman: "podman",
  runc: "runc",
  catatonit: "catatonit",
  binutils: "strip"
}
const onPath = Object.keys(onPathPrograms)

/** A directory of fake programs, each a shell script, and the file the fake apt-get records its calls in. */
const fakes = (programs: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "elr-provision-"))
      const bin = path.join(dir, "bin")
      fs.mkdirSync(bin)
      for (const [name, body] of Object.entries(programs)) {
        fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 })
      }
      return { bin, log: path.join(dir, "apt-get.log") }
    }),
    ({ bin }) => Effect.sync(() => fs.rmSync(path.dirname(bin), { recursive: true, force: true }))
  )

/** Records `DEBIAN_FRONTEND` and its arguments, one call a line, then exits with `code`. */
const aptGet = (code: number) => `echo "$DEBIAN_FRONTEND $*" >> "$APT_LOG"; exit ${code}`
/** `sudo -n VAR=value command ...`: runs the rest as given. */
const sudo = `shift; exec /usr/bin/env "$@"`

/** The script with only the fakes and the Node that runs it on its `PATH`. */
const provision = (fake: { readonly bin: string; readonly log: string }) =>
  spawnProcess(process.execPath, [script], {
    env: { PATH: [fake.bin, path.dirname(process.execPath)].join(path.delimiter), APT_LOG: fake.log },
    timeoutMs: 30_000
  })

const calls = (log: string) => fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []

describe("provisioning the tools the tests drive", () => {
  it("is the first step of `npm test`", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
      readonly scripts: Record<string, string>
    }
    expect(manifest.scripts.test).toMatch(/^node scripts\/provision-test-tools\.mjs && /)
  })

  it.live("updates the package lists once, then installs what is missing, non-interactively", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ "apt-get": aptGet(0), sudo })
      const run = yield* provision(fake)
      const missing = ["tmux", "redis-server", ...absent, ...onPath].join(" ")
      expect(run).toMatchObject({ code: 0, stdout: "" })
      expect(run.stderr).toMatch(new RegExp(`^npm test: installing ${missing} from Debian's packages \\(`))
      expect(calls(fake.log)).toEqual([
        "noninteractive -o DPkg::Lock::Timeout=300 update -qq",
        `noninteractive -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends ${missing}`
      ])
    }).pipe(Effect.scoped))

  it.live.skipIf(absent.length > 0)("does nothing, quickly, when everything is there", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({
        "apt-get": aptGet(0),
        sudo,
        tmux: "exit 0",
        "redis-server": "exit 0",
        ...Object.fromEntries(Object.values(onPathPrograms).map((program) => [program, "exit 0"]))
      })
      const run = yield* provision(fake)
      expect(run).toEqual({ code: 0, signal: null, stdout: "", stderr: "" })
      expect(calls(fake.log)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("says in one line what it could not install when apt-get fails, and lets the run go on", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ "apt-get": aptGet(100), sudo, tmux: "exit 0" })
      const run = yield* provision(fake)
      const missing = ["redis-server", ...absent, ...onPath].join(" ")
      expect(run.code).toBe(0)
      expect(run.stderr.trim().split("\n").at(-1)).toMatch(
        new RegExp(
          `^npm test: cannot install ${missing} \\((sudo -n )?apt-get update failed\\); ` +
            "the tests that need them fail or say they are skipped$"
        )
      )
      expect(calls(fake.log)).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("says in one line that it cannot install without apt-get", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ tmux: "exit 0" })
      const run = yield* provision(fake)
      const missing = ["redis-server", ...absent, ...onPath].join(" ")
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: 0,
        stderr: `npm test: cannot install ${missing} ` +
          "(no apt-get here; install them with your system's package manager); " +
          "the tests that need them fail or say they are skipped\n"
      })
    }).pipe(Effect.scoped))
})
