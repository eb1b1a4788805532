/**
 * What the tests of optional peer dependencies share: the start of a child process's program that hides the packages
 * its `HIDDEN` environment variable matches (a `registerHooks` resolve hook answers `ERR_MODULE_NOT_FOUND` for them, as
 * Node does for a package not installed).
 */

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
