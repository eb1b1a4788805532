/**
 * The agent CLIs the tests drive that are kept out of package.json (each is large): installed with npm, at a pinned
 * version (or the one `AGENT_CLI_VERSIONS` asks for, Codex's included, whose pin is a devDependency), into
 * `.test-tools/<name>-<version>/` (the name without its scope) the first time a test asks for one
 * (into a scratch directory renamed into place, so two runs at once do not see half an install), without install
 * scripts. Gemini CLI (one bundled JavaScript program) without its optional native peers (a pty and a keychain, which
 * headless `gemini -p` does not use); Claude Code with its optional dependency of this platform (its native program),
 * run through the package's own wrapper, which finds it (the install script, skipped, would only copy it in place);
 * opencode with its optional dependency of this platform too, whose native program is run itself (its package has no
 * wrapper that finds it: its install script, skipped, would copy it in place of a placeholder). Where a CLI is not
 * installed and npm cannot reach its registry, a test is skipped with that reason (`orSkip`), never silently.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { TestContext } from "vitest"

/** An npm package whose program a test runs with `node`. */
export interface PinnedCli {
  readonly name: string
  readonly version: string
  /** The program's path below the install's `node_modules/<name>/`. */
  readonly program: string
  /** Whether its optional dependencies are installed too. */
  readonly optional: boolean
  /** Whether its peer dependencies are left out (npm's `--legacy-peer-deps`): those it needs only as a library. */
  readonly withoutPeers?: boolean
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/**
 * The versions a run drives in place of the pinned ones, by npm package (`AGENT_CLI_VERSIONS`, JSON): those
 * `npm run agents-newest` asks for, the newest the registry has.
 */
const askedVersions = (): Readonly<Record<string, string>> => JSON.parse(process.env["AGENT_CLI_VERSIONS"] ?? "{}")

/** The version of `cli` a run drives: the one asked for, else its pin. */
const versionOf = (cli: PinnedCli): string => askedVersions()[cli.name] ?? cli.version

/** Where `cli` at the version a run drives is installed, its program below a directory, and its program there. */
function installed(cli: PinnedCli): {
  readonly home: string
  readonly program: (dir: string) => string
  readonly installedProgram: string
} {
  const home = path.join(root, ".test-tools", `${cli.name.split("/").at(-1)}-${versionOf(cli)}`)
  const program = (dir: string) => path.join(dir, "node_modules", cli.name, cli.program)
  return { home, program, installedProgram: program(home) }
}

/** npm could not reach its registry to install a CLI a test drives: the test is skipped, saying so. */
export class RegistryUnreachable extends Data.TaggedError("RegistryUnreachable")<{
  readonly cli: string
  readonly detail: string
}> {
  override get message() {
    return `${this.cli} is not installed and npm cannot reach its registry (${this.detail}): the test is skipped`
  }
}

/** Why npm cannot reach its registry (`npm ping` fails, at once: no retries), else undefined. */
function unreachableRegistry(): string | undefined {
  const ping = spawnSync("npm", ["ping", "--fetch-retries=0"], { encoding: "utf8", timeout: 30_000 })
  if (ping.status === 0) return undefined
  return (ping.error?.message ?? ping.stderr.split("\n").find((line) => /error/i.test(line)) ?? ping.stderr).trim()
}

/**
 * The path of `cli`'s program (run it with `node`), installing it first when it is not there; `RegistryUnreachable`
 * when it is not there and the registry cannot be reached (an install that fails otherwise fails the test).
 */
export const pinnedCli = (cli: PinnedCli): Effect.Effect<string, RegistryUnreachable> =>
  Effect.suspend(() => {
    const { home, program } = installed(cli)
    const version = versionOf(cli)
    if (fs.existsSync(program(home))) return Effect.succeed(program(home))
    const unreachable = unreachableRegistry()
    if (unreachable !== undefined) {
      return Effect.fail(new RegistryUnreachable({ cli: `${cli.name}@${version}`, detail: unreachable }))
    }
    fs.mkdirSync(path.dirname(home), { recursive: true })
    const scratch = fs.mkdtempSync(`${home}.installing-`)
    try {
      const installed = spawnSync("npm", [
        "install",
        "--prefix",
        scratch,
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        ...(cli.optional ? [] : ["--omit=optional"]),
        ...(cli.withoutPeers === true ? ["--legacy-peer-deps"] : []),
        `${cli.name}@${version}`
      ], { encoding: "utf8", timeout: 300_000 })
      if (installed.status !== 0 || !fs.existsSync(program(scratch))) {
        throw new Error(
          `could not install ${cli.name}@${version} with npm into ${scratch} (exit ${installed.status}${
            installed.error === undefined ? "" : `, ${installed.error.message}`
          }):\n${installed.stderr}`
        )
      }
      try {
        fs.renameSync(scratch, home)
      } catch (error) {
        // Another run put it in place first: theirs is the same version.
        if (!fs.existsSync(program(home))) throw error
      }
      return Effect.succeed(program(home))
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true })
    }
  })

/** `installing`'s program, or the test skipped with the reason where the registry cannot be reached to install it. */
export const orSkip = (ctx: TestContext) => <A>(installing: Effect.Effect<A, RegistryUnreachable>): Effect.Effect<A> =>
  Effect.catchTag(installing, "RegistryUnreachable", (unreachable) => Effect.sync(() => ctx.skip(unreachable.message)))

/** Codex, pinned as a devDependency (its program in node_modules); installed apart only when another version is asked. */
const codex: PinnedCli = {
  name: "@openai/codex",
  version: createRequire(import.meta.url)("@openai/codex/package.json").version,
  program: "bin/codex.js",
  optional: true
}

/**
 * Codex's program: the devDependency's, or that of the version `AGENT_CLI_VERSIONS` asks for, which must be installed
 * first (`codexInstalled`).
 */
export const codexBin: string = askedVersions()[codex.name] === undefined
  ? createRequire(import.meta.url).resolve("@openai/codex/bin/codex.js")
  : installed(codex).installedProgram

/** Codex at the version a run drives, installed where it is not (`codexBin`'s). */
export const codexInstalled: Effect.Effect<string, RegistryUnreachable> = pinnedCli(codex)

/** Gemini CLI at the version the tests pin. */
export const geminiCli = pinnedCli({
  name: "@google/gemini-cli",
  version: "0.61.0",
  program: "bundle/gemini.js",
  optional: false
})

/**
 * Gemini CLI's settings in `home` (`~/.gemini/settings.json`) as the tests run it: a Gemini API key, no update checks,
 * usage statistics or telemetry; `model` (its `name`, its `compressionThreshold`...) and `extra` settings beside.
 */
export const writeGeminiSettings = (home: string, model: object, extra: object = {}): void => {
  fs.mkdirSync(path.join(home, ".gemini"), { recursive: true })
  fs.writeFileSync(
    path.join(home, ".gemini", "settings.json"),
    JSON.stringify({
      security: { auth: { selectedType: "gemini-api-key" } },
      general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      model,
      ...extra
    })
  )
}

/** Claude Code at the version the tests pin. */
export const claudeCode = pinnedCli({
  name: "@anthropic-ai/claude-code",
  version: "2.1.332",
  program: "cli-wrapper.cjs",
  optional: true
})

/** opencode at the version the tests pin: the path of its native program for this platform (run it itself). */
export const opencode = Effect.map(
  pinnedCli({ name: "opencode-ai", version: "1.18.33", program: "package.json", optional: true }),
  (manifest) => path.join(path.dirname(manifest), "..", `opencode-${os.platform()}-${os.arch()}`, "bin", "opencode")
)
