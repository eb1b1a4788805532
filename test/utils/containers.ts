/**
 * buildah and podman for the image's tests, with a configuration of their own in a temporary directory, never the
 * machine's: storage in that directory (the `vfs` driver, which needs no overlay mount), runc as the runtime, the
 * host's network (the containers reach the test's servers on loopback, and it theirs), explicit limits within the
 * host's own (podman's defaults ask for more than this machine grants), cgroups through the file system and events in
 * a file (no systemd). Everything made in that storage goes with the scope. Where a program is missing the test is
 * skipped naming it (`npm test` installs them from Debian's packages), never silently.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { envWithoutKeys, type Spawned, spawnProcess } from "./cliHarness.js"

/** The programs the image's tests run. */
const programs = ["buildah", "podman", "runc", "catatonit", "strip"] as const

/** A program the image's tests run is not installed: the test is skipped, saying which. */
export class ContainerToolsMissing extends Data.TaggedError("ContainerToolsMissing")<{
  readonly missing: ReadonlyArray<string>
}> {
  override get message() {
    return `${
      this.missing.join(", ")
    } not installed (npm test installs them from Debian's packages): the test is skipped`
  }
}

const searched = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin"]
const installed = (program: string) => searched.some((dir) => dir !== "" && fs.existsSync(path.join(dir, program)))

export interface Containers {
  /** The environment that points buildah and podman at this configuration. */
  readonly env: Record<string, string>
  /** podman with `args`, in this configuration. */
  readonly podman: (args: ReadonlyArray<string>, timeoutMs?: number) => Effect.Effect<Spawned>
  /** The same, failing the test with podman's own words unless it exits 0; its stdout, trimmed. */
  readonly podmanOk: (args: ReadonlyArray<string>, timeoutMs?: number) => Effect.Effect<string>
}

/** This process's limit `name` (a row of /proc/self/limits), soft and hard. */
const limit = (name: "Max open files" | "Max processes"): readonly [string, string] => {
  const row = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((line) => line.startsWith(name))
  const [soft, hard] = row?.slice(name.length).trim().split(/\s+/) ?? []
  return [soft ?? "1024", hard ?? soft ?? "1024"]
}

/** The configuration's files in `dir`, and the environment naming them. */
function configure(dir: string): Record<string, string> {
  const [openSoft, openHard] = limit("Max open files")
  // Processes are counted per user across the machine: the container asks for a share, not the host's whole limit.
  const [processSoft] = limit("Max processes")
  const processes = Math.min(4096, Number(processSoft) || 4096)
  fs.writeFileSync(
    path.join(dir, "storage.conf"),
    `[storage]\ndriver = "vfs"\nrunroot = "${dir}/run"\ngraphroot = "${dir}/storage"\n`
  )
  fs.writeFileSync(
    path.join(dir, "containers.conf"),
    [
      "[containers]",
      `default_ulimits = ["nofile=${openSoft}:${openHard}", "nproc=${processes}:${processes}"]`,
      `netns = "host"`,
      "[engine]",
      `runtime = "runc"`,
      `cgroup_manager = "cgroupfs"`,
      `events_logger = "file"`,
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      `volume_path = "${dir}/volumes"`,
      ""
    ].join("\n")
  )
  // No registry is searched for a short name: every image is this storage's.
  fs.writeFileSync(path.join(dir, "registries.conf"), "unqualified-search-registries = []\n")
  return {
    CONTAINERS_CONF: path.join(dir, "containers.conf"),
    CONTAINERS_STORAGE_CONF: path.join(dir, "storage.conf"),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, "registries.conf")
  }
}

/** buildah and podman in a configuration of their own, removed with everything in it when the scope closes. */
export const containers = Effect.gen(function*() {
  const missing = programs.filter((program) => !installed(program))
  if (missing.length > 0) return yield* new ContainerToolsMissing({ missing })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "elr-containers-"))),
    (made) => Effect.sync(() => fs.rmSync(made, { recursive: true, force: true }))
  )
  const env = { ...envWithoutKeys(), ...configure(dir) }
  const podman = (args: ReadonlyArray<string>, timeoutMs = 120_000) => spawnProcess("podman", args, { env, timeoutMs })
  const podmanOk = (args: ReadonlyArray<string>, timeoutMs?: number) =>
    Effect.map(podman(args, timeoutMs), (run) => {
      if (run.code !== 0) throw new Error(`podman ${args.join(" ")} exited ${run.code ?? run.signal}:\n${run.stderr}`)
      return run.stdout.trim()
    })
  // Before the directory goes: the containers stopped and their mounts undone, by podman itself.
  yield* Effect.addFinalizer(() => Effect.asVoid(podman(["system", "reset", "--force"], 300_000)))
  return { env, podman, podmanOk } satisfies Containers
})
