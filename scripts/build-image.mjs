#!/usr/bin/env node
/* global process, console */
// `npm run image`: the gateway's OCI image, built without a Docker daemon (docs/deploy.md). It stages a root file
// system in build/image/rootfs (Node 24 as the `node` package ships it, without its debugging symbols; the shared
// libraries it links; Debian's CA certificates; the packed package with its production dependencies and the optional
// ones a deployment needs, Postgres' client and sign-on's, each cut to the files the gateway can load, as
// `@vercel/nft` traces them from every compiled module of the package; a user with no shell), builds
// deploy/image/Dockerfile over it
// with buildah, and writes the image as an OCI archive, build/effect-llm-router.oci.tar, tagged
// effect-llm-router:<version>. `--rootfs-only` stops after staging, for `docker build -f deploy/image/Dockerfile
// build/image` elsewhere. It runs dist/ as built: `npm run image` builds first.
import { nodeFileTrace } from "@vercel/nft"
import { execFileSync, spawnSync } from "node:child_process"
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"))
const build = path.join(root, "build")
const context = path.join(build, "image")
const rootfs = path.join(context, "rootfs")
const app = path.join(rootfs, "app")
// Where the package is installed before what it loads is copied into the image.
const install = path.join(context, "install")
export const tag = `${manifest.name}:${manifest.version}`
export const archive = path.join(build, `${manifest.name}.oci.tar`)
export const dockerfile = path.join(root, "deploy", "image", "Dockerfile")

/** The optional peers the image carries: Postgres for several replicas, and people's sign-on (OIDC). */
const peers = ["@effect/sql-pg", "openid-client", "jose"]

/** Runs `command`, its output shown; throws naming it when it fails. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ["ignore", "inherit", "inherit"], ...options })
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`})`)
  }
}

/** The node binary npm scripts run: the `node` package's, which this repository brings. */
function nodeBinary() {
  const binary = path.join(root, "node_modules", "node", "bin", "node")
  if (!existsSync(binary)) throw new Error(`no ${binary}: run npm install first`)
  return binary
}

/** The shared libraries `binary` loads, as `ldd` names them: each path it is loaded from. */
function sharedLibraries(binary) {
  return execFileSync("ldd", [binary], { encoding: "utf8" }).split("\n").flatMap((line) => {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
    return match === null ? [] : [match[1]]
  })
}

/** Copies `from` (its target, for a link) to `to` below the root file system, with `mode`. */
function place(from, to, mode = 0o644) {
  const file = path.join(rootfs, to)
  mkdirSync(path.dirname(file), { recursive: true })
  copyFileSync(from, file)
  chmodSync(file, mode)
}

/**
 * The lock of the image's install: the project's own runtime entries, and the peers' with what they depend on (found
 * as npm finds a dependency, from the package's own node_modules up), none of them marked a development one.
 */
function imageLock(dependencies) {
  const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"))
  const entries = new Map(Object.entries(lock.packages).filter(([where, entry]) => where !== "" && entry.dev !== true))
  const resolve = (from, name) => {
    for (let dir = from;; dir = dir.slice(0, Math.max(0, dir.lastIndexOf("/node_modules/")))) {
      const where = `${dir === "" ? "" : `${dir}/`}node_modules/${name}`
      if (lock.packages[where] !== undefined) return where
      if (dir === "") throw new Error(`${name} (needed by ${from || "the image"}) is not in package-lock.json`)
    }
  }
  const visit = (where) => {
    if (entries.has(where) && lock.packages[where].dev !== true) return
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[where]
    entries.set(where, entry)
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      visit(resolve(where, name))
    }
  }
  for (const name of peers) visit(resolve("", name))
  return {
    name: "effect-llm-router-image",
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "effect-llm-router-image", version: manifest.version, dependencies },
      ...Object.fromEntries(entries)
    }
  }
}

/** Whether a file of the package is one a running gateway never reads: types, source maps, docs. */
const unread = (file) => /\.(map|d\.ts|d\.mts|d\.cts|md)$/.test(file) || /^(src|docs)\//.test(file)

/** A package's licence and notice files, which go wherever any of its files go. */
const licences = (dir) => readdirSync(dir).filter((name) => /^(licen[cs]e|notice|copying)/i.test(name))

/**
 * The packed package installed with its production dependencies and the image's peers, then copied into /app: the
 * package whole but for what it never reads, and of its dependencies the files `@vercel/nft` finds that it can load
 * (every static and literal dynamic import of each compiled module, and the package.json files they resolve through),
 * with each package's licence.
 */
async function installApp() {
  mkdirSync(install, { recursive: true })
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", context], {
      cwd: root,
      encoding: "utf8"
    })
  )[0].filename
  const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"))
  const dependencies = {
    [manifest.name]: `file:../${packed}`,
    ...Object.fromEntries(peers.map((name) => [name, lock.packages[`node_modules/${name}`].version]))
  }
  writeFileSync(
    path.join(install, "package.json"),
    JSON.stringify({ name: "effect-llm-router-image", version: manifest.version, private: true, dependencies }, null, 2)
  )
  writeFileSync(path.join(install, "package-lock.json"), JSON.stringify(imageLock(dependencies), null, 2))
  run("npm", ["install", "--prefer-offline", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"], {
    cwd: install
  })
  const own = path.join("node_modules", manifest.name)
  const files = readdirSync(path.join(install, own), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(path.join(install, own), path.join(entry.parentPath, entry.name)))
    .filter((file) => !unread(file))
  const { fileList } = await nodeFileTrace(
    files.filter((file) => file.endsWith(".js")).map((file) => path.join(install, own, file)),
    { base: install, processCwd: install }
  )
  const loaded = [...fileList].filter((file) => file.startsWith("node_modules/") && !file.startsWith(own))
  const packages = new Set(loaded.map((file) => /^node_modules\/(@[^/]+\/)?[^/]+/.exec(file)[0]))
  const kept = [
    ...files.map((file) => path.join(own, file)),
    ...loaded.filter((file) => !unread(file)),
    ...[...packages].flatMap((dir) => licences(path.join(install, dir)).map((name) => path.join(dir, name)))
  ]
  for (const file of new Set(kept)) {
    mkdirSync(path.dirname(path.join(app, file)), { recursive: true })
    copyFileSync(path.join(install, file), path.join(app, file))
  }
  rmSync(install, { recursive: true })
  rmSync(path.join(context, packed))
}

/** The root file system the Dockerfile copies: everything the gateway runs on, nothing else. */
async function stage() {
  rmSync(context, { recursive: true, force: true })
  mkdirSync(rootfs, { recursive: true })
  const node = nodeBinary()
  place(node, "usr/local/bin/node", 0o755)
  // Its symbol tables, which nothing reads at run time, are an eighth of it (the dynamic ones addons link against stay).
  run("strip", [path.join(rootfs, "usr/local/bin/node")])
  for (const library of sharedLibraries(node)) place(library, library.slice(1), 0o755)
  place("/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt")
  mkdirSync(path.join(rootfs, "etc"), { recursive: true })
  writeFileSync(
    path.join(rootfs, "etc/passwd"),
    "root:x:0:0::/root:/nonexistent\ngateway:x:10001:10001::/data:/nonexistent\n"
  )
  writeFileSync(path.join(rootfs, "etc/group"), "root:x:0:\ngateway:x:10001:\n")
  mkdirSync(path.join(rootfs, "etc/effect-llm-router"), { recursive: true })
  mkdirSync(path.join(rootfs, "tmp"))
  chmodSync(path.join(rootfs, "tmp"), 0o1777)
  // The data directory, which the Dockerfile gives the gateway's user.
  mkdirSync(path.join(context, "data"))
  await installApp()
}

/** The image built from the Dockerfile over the staged root, then written as the OCI archive. */
function image() {
  run("buildah", [
    "bud",
    "--quiet",
    "--timestamp",
    "0",
    "--build-arg",
    `VERSION=${manifest.version}`,
    "-f",
    dockerfile,
    "-t",
    tag,
    context
  ])
  rmSync(archive, { force: true })
  // Gzip at its best, as registries store and serve layers.
  run("buildah", [
    "push",
    "--quiet",
    "--compression-format",
    "gzip",
    "--compression-level",
    "9",
    tag,
    `oci-archive:${archive}:${tag}`
  ])
  console.error(`${archive} (${tag})`)
}

if (process.argv[1] === import.meta.filename) {
  await stage()
  if (!process.argv.includes("--rootfs-only")) image()
}
