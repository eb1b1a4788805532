/**
 * Gemini CLI (`@google/gemini-cli`, one bundled JavaScript program) for the tests that drive it, at a pinned version,
 * kept out of package.json (it is large): installed with npm into `.test-tools/` the first time a test asks for it
 * (into a scratch directory renamed into place, so two runs at once do not see half an install), without its optional
 * native peers (a pty and a keychain, which headless `gemini -p` does not use) and without install scripts.
 */
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The version the tests pin. */
export const geminiCliVersion = "0.61.0"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const home = path.join(root, ".test-tools", `gemini-cli-${geminiCliVersion}`)
const entry = (dir: string) => path.join(dir, "node_modules", "@google", "gemini-cli", "bundle", "gemini.js")

/** The path of Gemini CLI's program (run it with `node`), installing it first when it is not there. */
export const geminiCli: Effect.Effect<string> = Effect.sync(() => {
  if (fs.existsSync(entry(home))) return entry(home)
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
      "--omit=optional",
      `@google/gemini-cli@${geminiCliVersion}`
    ], { encoding: "utf8", timeout: 300_000 })
    if (installed.status !== 0 || !fs.existsSync(entry(scratch))) {
      throw new Error(
        `could not install @google/gemini-cli@${geminiCliVersion} with npm into ${scratch} (exit ${installed.status}${
          installed.error === undefined ? "" : `, ${installed.error.message}`
        }):\n${installed.stderr}`
      )
    }
    try {
      fs.renameSync(scratch, home)
    } catch (error) {
      // Another run put it in place first: theirs is the same version.
      if (!fs.existsSync(entry(home))) throw error
    }
    return entry(home)
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
})
