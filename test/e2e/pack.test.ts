/**
 * The package as a user gets it: `npm pack` of the working tree as a fresh
 * clone has it (no `dist/`), installed with npm into a scratch project outside
 * the repository, then imported and its command run from there.
 *
 * The install is offline: the scratch project's lock holds the runtime part of
 * this project's lock, so npm takes the same versions from its cache, which the
 * project's own `npm ci` / `npm install` filled.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { envWithoutNpm, type Spawned, spawnProcess } from "../utils/cliHarness.js"

const root = path.resolve(import.meta.dirname, "../..")
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly version: string
}

// Made by `beforeAll`, so that a run that filters these tests out leaves nothing behind.
let scratch = ""
const tree = () => path.join(scratch, "tree")
const app = () => path.join(scratch, "app")
const installed = () => path.join(app(), "node_modules", manifest.name)

const succeeded = (what: string, run: Spawned): Spawned => {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code ?? run.signal}:\n${run.stderr}`)
  return run
}

const npm = (args: ReadonlyArray<string>, cwd: string) =>
  spawnProcess("npm", args, { cwd, env: envWithoutNpm(), timeoutMs: 240_000 }).pipe(
    Effect.map((run) => succeeded(`npm ${args.join(" ")} in ${cwd}`, run))
  )

/** Node (the project's, as vitest runs on it) in the scratch project. */
const nodeInApp = (args: ReadonlyArray<string>) =>
  spawnProcess(process.execPath, args, { cwd: app(), env: envWithoutNpm(), timeoutMs: 60_000 })

/**
 * A Node older than the package supports, from the `PATH` (our machines' own is Node 20, behind the Node the
 * project brings), or `undefined` on a machine with none.
 */
const oldNode = (() => {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const file = path.join(dir, "node")
    if (dir === "" || !fs.existsSync(file)) continue
    const version = execFileSync(file, ["--version"], { encoding: "utf8" }).trim()
    if (Number(version.slice(1).split(".")[0]) < 22) return { file, version: version.slice(1) }
  }
  return undefined
})()

interface PackedFile {
  readonly path: string
}

/** The working tree as a clone would have it: what git tracks or does not ignore, as it is now. */
const copyWorkingTree = () => {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8"
  })
  for (const file of new Set(listed.split("\0"))) {
    const from = path.join(root, file)
    // A tracked file deleted in the working tree is not part of it.
    if (file === "" || !fs.existsSync(from)) continue
    fs.mkdirSync(path.dirname(path.join(tree(), file)), { recursive: true })
    fs.copyFileSync(from, path.join(tree(), file))
  }
  // The build's tools, from this checkout.
  fs.symlinkSync(fs.realpathSync(path.join(root, "node_modules")), path.join(tree(), "node_modules"), "dir")
}

/** A project whose only dependency is the tarball, locked to this project's runtime dependencies. */
const writeScratchProject = (tarball: string) => {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
    readonly packages: Record<string, { readonly dev?: boolean }>
  }
  const dependencies = { [manifest.name]: `file:${path.relative(app(), tarball)}` }
  const scratchManifest = { name: "scratch", version: "1.0.0", private: true, type: "module", dependencies }
  const runtime = Object.entries(lock.packages).filter(([where, entry]) => where !== "" && entry.dev !== true)
  fs.mkdirSync(app())
  fs.writeFileSync(path.join(app(), "package.json"), JSON.stringify(scratchManifest, null, 2))
  fs.writeFileSync(
    path.join(app(), "package-lock.json"),
    JSON.stringify(
      {
        name: "scratch",
        version: "1.0.0",
        lockfileVersion: 3,
        requires: true,
        packages: { "": { name: "scratch", version: "1.0.0", dependencies }, ...Object.fromEntries(runtime) }
      },
      null,
      2
    )
  )
}

let packed: ReadonlyArray<string> = []

beforeAll(() =>
  Effect.runPromise(Effect.gen(function*() {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "elr-pack-"))
    copyWorkingTree()
    expect(fs.existsSync(path.join(tree(), "dist"))).toBe(false)
    // `npm pack` runs the `prepare` script, which builds dist/.
    const pack = yield* npm(["pack", "--json", "--pack-destination", scratch], tree())
    const [report] = JSON.parse(pack.stdout) as ReadonlyArray<
      { readonly filename: string; readonly files: ReadonlyArray<PackedFile> }
    >
    packed = report!.files.map((file) => file.path)
    writeScratchProject(path.join(scratch, report!.filename))
    yield* npm(["install", "--offline", "--no-audit", "--no-fund"], app())
  })), 480_000)

// The scratch project holds every runtime dependency installed: on a busy disk its removal has taken past a hook's
// default 30 s, so it runs without blocking the worker and with the install's own bound.
afterAll(async () => {
  if (scratch !== "") await fs.promises.rm(scratch, { recursive: true, force: true })
}, 480_000)

describe("the packed package", () => {
  it("ships the compiled package, its launcher and the sources its maps point at, and nothing else", () => {
    for (
      const file of [
        "bin/effect-llm-router.js",
        "dist/index.js",
        "dist/index.d.ts",
        "dist/testing.js",
        "dist/testing.d.ts",
        "dist/cli/main.js",
        "dist/internal/gateway/observe/dashboard/browser/live.js",
        "dist/internal/gateway/observe/dashboard/browser/spend.js",
        "docs/gateway.md"
      ]
    ) {
      expect(packed).toContain(file)
    }
    expect(packed.filter((file) => !/^(bin|dist|docs|src)\/|^(package\.json|README\.md)$/.test(file))).toEqual([])
    expect(packed.filter((file) => file.includes(".test.") || file.endsWith(".tsbuildinfo"))).toEqual([])
    const maps = packed.filter((file) => file.endsWith(".js.map"))
    // Every compiled file has its map; the dashboard's browser scripts are copied as written, their own sources.
    const compiled = packed.filter((file) =>
      file.startsWith("dist/") && file.endsWith(".js") &&
      !file.startsWith("dist/internal/gateway/observe/dashboard/browser/")
    )
    expect(maps.length).toBe(compiled.length)
    for (const map of maps) {
      const { sources } = JSON.parse(fs.readFileSync(path.join(installed(), map), "utf8")) as {
        readonly sources: ReadonlyArray<string>
      }
      for (const source of sources) expect(packed).toContain(path.posix.join(path.posix.dirname(map), source))
    }
  })

  it.live(
    "installs without tsx or @effect/sql-pg, and `import \"effect-llm-router\"` resolves to it and answers a " +
      "chat from the simulator",
    () =>
      Effect.gen(function*() {
        expect(fs.existsSync(path.join(app(), "node_modules", "tsx"))).toBe(false)
        // Postgres is an optional peer: installed only by an application that asks for it.
        expect(fs.existsSync(path.join(app(), "node_modules", "@effect", "sql-pg"))).toBe(false)
        expect(fs.existsSync(path.join(app(), "node_modules", "pg"))).toBe(false)
        const program = `
        import { NodeHttpClient } from "@effect/platform-node"
        import { Effect, Layer } from "effect"
        import { KeyPool, Llm, Message, OpenAiChat, RateLimiter } from "effect-llm-router"
        import { Simulator } from "effect-llm-router/testing"
        const chat = Effect.gen(function*() {
          const sim = yield* Simulator.make({ replyTokens: 8 })
          const llm = Llm.layer({ model: "gpt-4o-mini" }).pipe(
            Layer.provide(OpenAiChat.layer({ baseUrl: sim.url + "/v1" })),
            Layer.provide(KeyPool.layer({ providerId: "openai", keys: ["sk-packed-test-key"] })),
            Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
            Layer.provide(RateLimiter.unlimited),
            Layer.provide(NodeHttpClient.layerUndici)
          )
          return yield* Llm.chat({ messages: [Message.user("Hello")] }).pipe(Effect.provide(llm))
        })
        const reply = await Effect.runPromise(Effect.scoped(chat))
        const internal = await import("effect-llm-router/internal/llm/chat.js").then(
          () => "imported",
          (error) => error.code
        )
        console.log(JSON.stringify({
          resolved: import.meta.resolve("effect-llm-router"),
          text: reply.text,
          completionTokens: reply.usage.completionTokens,
          internal
        }))
      `
        const run = yield* nodeInApp(["--input-type=module", "-e", program])
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
        const out = JSON.parse(run.stdout) as {
          resolved: string
          text: string
          completionTokens: number
          internal: string
        }
        expect(fs.realpathSync(new URL(out.resolved))).toBe(fs.realpathSync(path.join(installed(), "dist", "index.js")))
        expect(out.text).toMatch(/^[A-Z][a-z]+( [a-z]+)+\.?$/)
        expect(out.completionTokens).toBe(8)
        expect(out.internal).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED")
      })
  )

  it.live(
    "installs the command, which runs the compiled code: --version, and chat against the built-in " +
      "simulator",
    () =>
      Effect.gen(function*() {
        const bin = path.join(app(), "node_modules", ".bin", "effect-llm-router")
        expect(fs.realpathSync(bin)).toBe(fs.realpathSync(path.join(installed(), "bin", "effect-llm-router.js")))
        const version = yield* nodeInApp([bin, "--version"])
        expect(version).toEqual({ code: 0, signal: null, stdout: `${manifest.version}\n`, stderr: "" })
        const chat = yield* nodeInApp([bin, "chat", "Tell me about Effect."])
        expect({ code: chat.code, signal: chat.signal }).toEqual({ code: 0, signal: null })
        expect(chat.stderr).toMatch(
          /^effect-llm-router: no provider configured; using the built-in simulator at http:\/\/127\.0\.0\.1:\d+ /
        )
        expect(chat.stdout.trim().split(" ").length).toBeGreaterThan(40)
        expect(chat.stdout.endsWith(".\n")).toBe(true)
      })
  )

  it.live(
    "npx effect-llm-router in a clone runs the clone's dist/ as it is: npx links the clone into its cache and runs " +
      "its `prepare`, output hidden, which builds nothing there",
    () =>
      Effect.gen(function*() {
        // `npm pack` built the clone's dist/ (beforeAll); a build would delete this.
        const marker = path.join(tree(), "dist", "built-before-npx")
        fs.writeFileSync(marker, "")
        const npx = yield* spawnProcess("npx", ["--offline", "--yes", manifest.name, "--version"], {
          cwd: tree(),
          // A cache of its own: npx keeps the link it makes there.
          env: { ...envWithoutNpm(), npm_config_cache: path.join(scratch, "npx-cache") },
          timeoutMs: 240_000
        })
        expect({ code: npx.code, stdout: npx.stdout }).toEqual({ code: 0, stdout: `${manifest.version}\n` })
        expect(fs.existsSync(marker)).toBe(true)
      }),
    300_000
  )

  it.live(
    "installs without the optional @effect/sql-pg; a gateway on Postgres then refuses to start, naming the package",
    () =>
      Effect.gen(function*() {
        expect(fs.existsSync(path.join(app(), "node_modules", "@effect", "sql-pg"))).toBe(false)
        expect(fs.existsSync(path.join(app(), "node_modules", "pg"))).toBe(false)
        const config = path.join(app(), "provider.json")
        fs.writeFileSync(
          config,
          JSON.stringify({
            sim: [{ model_name: "gpt-4o-mini", base_url: "http://127.0.0.1:1/v1", api_keys: ["sk-packed-test-key"] }],
            store: { sql: "postgres://packed:secret-password@127.0.0.1:1/gateway" }
          })
        )
        const bin = path.join(app(), "node_modules", ".bin", "effect-llm-router")
        const serve = yield* nodeInApp([bin, "serve", "--config", config, "--port", "0"])
        expect({ code: serve.code, stdout: serve.stdout }).toEqual({ code: 1, stdout: "" })
        expect(serve.stderr).toContain(
          "Postgres needs the optional package @effect/sql-pg, which is not installed (npm install @effect/sql-pg)"
        )
        expect(serve.stderr).not.toContain("secret-password")
      })
  )

  const oldNodeTitle = oldNode === undefined
    ? "on an old Node (skipped: none older than 22 on the PATH)"
    : "on an old Node"
  describe(oldNodeTitle, () => {
    it.live.skipIf(oldNode === undefined)(
      "refuses in words on import of either entry point and from the command",
      () =>
        Effect.gen(function*() {
          const { file, version } = oldNode!
          const refusal = `effect-llm-router needs Node 22 or later; this is Node ${version}. ` +
            "In your project, run it on Node 22 or later, or add one as a development dependency " +
            "(`npm install --save-dev node@24`) and run through npm scripts or npx, which then use it. " +
            "Inside the effect-llm-router repository, npm scripts and npx already use the Node it brings."
          for (const entry of ["effect-llm-router", "effect-llm-router/testing"]) {
            const program = `import(${JSON.stringify(entry)})` +
              `.then(() => console.log("imported"), (error) => console.log(error.message))`
            const run = yield* spawnProcess(file, ["--input-type=module", "-e", program], {
              cwd: app(),
              env: envWithoutNpm()
            })
            expect({ entry, code: run.code, stdout: run.stdout, stderr: run.stderr })
              .toEqual({ entry, code: 0, stdout: `${refusal}\n`, stderr: "" })
          }
          const bin = path.join(installed(), "bin", "effect-llm-router.js")
          const command = yield* spawnProcess(file, [bin, "--version"], { cwd: app(), env: envWithoutNpm() })
          expect(command).toEqual({ code: 1, signal: null, stdout: "", stderr: `${refusal}\n` })
        })
    )
  })
})
