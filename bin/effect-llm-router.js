#!/usr/bin/env node
/* global process, console, URL */
// Runs the compiled command line in dist/. npm builds dist/ (`npm run build`) on
// `npm install` or `npm ci` in a checkout and before `npm pack` or `npm publish`,
// through the `prepare` script (not under npx: scripts/prepare.mjs); the package ships it.
import { existsSync } from "node:fs"

const main = new URL("../dist/cli/main.js", import.meta.url)
if (!existsSync(main)) {
  // Only in a checkout where nothing has built yet: the package ships dist/.
  console.error("effect-llm-router: dist/ is not built; run `npm run build` (npm install runs it) in the repository")
  process.exit(1)
}
// Refuses a Node too old (Effect 4's Node platform needs Node 22) in the package's own words, before anything fails
// obscurely: the module throws them as it is imported.
await import(new URL("../dist/internal/nodeVersion.js", import.meta.url).href).catch((error) => {
  console.error(error.message)
  process.exit(1)
})
await import(main.href)
