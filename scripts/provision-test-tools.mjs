#!/usr/bin/env node
/* global process, console */
// `npm test`'s first step: installs the programs some tests drive, when they are missing, from
// Debian's packages through apt-get (as root, or through `sudo -n`). With everything present it
// does nothing; where it cannot install, it says so in one line and the run goes on (those tests
// then fail naming what is missing, or say they are skipped).
import { spawnSync } from "node:child_process"
import { accessSync, constants, readdirSync } from "node:fs"
import * as path from "node:path"

/** Each tool a test drives, the Debian package that brings it and how to tell it is there. */
const tools = [
  // The batch command in a real terminal (test/e2e/batch.test.ts).
  { package: "tmux", present: () => onPath("tmux") },
  // The shared-store and scale-out tests start their own (test/utils/redisServer.ts).
  { package: "redis-server", present: () => onPath("redis-server") },
  // The gateway database's tests start their own server from Debian's programs (test/utils/postgresServer.ts).
  { package: "postgresql", present: () => postgresInstalled() },
  // The gateway dashboard's test drives Debian's at this path (test/e2e/GatewayDashboard.test.ts).
  { package: "chromium", present: () => executable("/usr/bin/chromium") },
  // The chart's tests unzip helm from the npm package that ships it (test/utils/helm.ts).
  { package: "unzip", present: () => onPath("unzip") },
  // The image's tests build it without a daemon and run it, as `npm run image` does (test/e2e/DeployImage.test.ts).
  { package: "buildah", present: () => onPath("buildah") },
  { package: "podman", present: () => onPath("podman") },
  { package: "runc", present: () => onPath("runc") },
  // The pause program of the pods `podman kube play` makes.
  { package: "catatonit", present: () => onPath("catatonit") },
  // `npm run image` strips the Node binary's symbol tables.
  { package: "binutils", present: () => onPath("strip") }
]

function executable(file) {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function postgresInstalled() {
  const root = "/usr/lib/postgresql"
  try {
    return readdirSync(root).some((version) => executable(path.join(root, version, "bin", "postgres")))
  } catch {
    return false
  }
}

function onPath(command) {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir !== "" && executable(path.join(dir, command)))
}

const asRoot = process.getuid?.() === 0
const apt = asRoot ? "apt-get" : "sudo -n apt-get"

/** Runs apt-get as root, or through `sudo -n` (which fails rather than asks for a password); true when it succeeded. */
function aptGet(args) {
  const apt = ["-o", "DPkg::Lock::Timeout=300", ...args]
  const [command, ...rest] = asRoot
    ? ["apt-get", ...apt]
    : ["sudo", "-n", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...apt]
  // dpkg's progress lines (stdout) are noise in a test run; its complaints (stderr) are not.
  const result = spawnSync(command, rest, {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "ignore", "inherit"]
  })
  return result.status === 0
}

function provision() {
  const missing = tools.filter((tool) => !tool.present()).map((tool) => tool.package)
  if (missing.length === 0) return
  const names = missing.join(" ")
  const cannot = (why) =>
    console.error(`npm test: cannot install ${names} (${why}); the tests that need them fail or say they are skipped`)
  if (!onPath("apt-get")) return cannot("no apt-get here; install them with your system's package manager")
  if (!asRoot && !onPath("sudo")) return cannot("not root and no sudo")
  console.error(`npm test: installing ${names} from Debian's packages (${apt}) for the tests that drive them`)
  if (!aptGet(["update", "-qq"])) return cannot(`${apt} update failed`)
  if (!aptGet(["install", "-y", "-qq", "--no-install-recommends", ...missing])) {
    return cannot(`${apt} install failed`)
  }
}

provision()
