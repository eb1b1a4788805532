#!/usr/bin/env node
/* global process, console, URL */
// Runs the compiled command line in dist/. npm builds dist/ (`npm run build`) on
// `npm install` or `npm ci` in a checkout and before `npm pack` or `npm publish`,
// through the `prepare` script; the published package ships it.
import { existsSync } from "node:fs"

const major = Number(process.versions.node.split(".")[0])
if (major < 22) {
  // Effect 4's Node platform (undici 8) needs Node 22; say so before anything fails obscurely.
  console.error(
    `effect-llm-router needs Node 22 or later; this is Node ${process.versions.node}. ` +
      "Inside this repository, run it through npm scripts or npx, which use the Node the project brings."
  )
  process.exit(1)
}
const main = new URL("../dist/cli/main.js", import.meta.url)
if (!existsSync(main)) {
  // Only in a checkout where nothing has built yet: the package ships dist/.
  console.error("effect-llm-router: dist/ is not built; run `npm run build` (npm install runs it) in the repository")
  process.exit(1)
}
await import(main.href)
