/**
 * What the tests of optional peer dependencies share: the start of a child process's program that hides the packages
 * its `HIDDEN` environment variable matches (a `registerHooks` resolve hook answers `ERR_MODULE_NOT_FOUND` for them, as
 * Node does for a package not installed), and the built command line run after it.
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { envWithoutKeys, spawnProcess } from "./cliHarness.js"

/** The program's first lines: the packages `HIDDEN` matches hidden from every import after them. */
export const hidePackages = `
import { registerHooks } from "node:module"
const hidden = new RegExp(process.env.HIDDEN)
registerHooks({
  resolve(specifier, context, next) {
    if (hidden.test(specifier)) {
      throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: "ERR_MODULE_NOT_FOUND" })
    }
    return next(specifier, context)
  }
})
`

// The built command line (`dist/cli/main.js`) run over the arguments `ARGS` (JSON), after `hidePackages`.
const cliProgram =
  `${hidePackages}process.argv.splice(1, Infinity, "effect-llm-router", ...JSON.parse(process.env.ARGS))
await import(process.env.MAIN)
`

/** The built command line run over `args` with the packages `hidden` matches hidden, `env` added to its environment. */
export const runCliHiding = (hidden: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnProcess(process.execPath, ["--input-type=module", "-e", cliProgram], {
    cwd: process.cwd(),
    env: {
      ...envWithoutKeys(),
      HIDDEN: hidden,
      MAIN: pathToFileURL(path.resolve("dist/cli/main.js")).href,
      ARGS: JSON.stringify(args),
      ...env
    },
    timeoutMs: 60_000
  })
