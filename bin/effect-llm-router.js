#!/usr/bin/env node
/* global process, console */
// Runs the command line straight from the TypeScript sources through tsx, so the
// repository needs no build step before `npx effect-llm-router`.
const major = Number(process.versions.node.split(".")[0])
if (major < 22) {
  // Effect 4's Node platform (undici 8) needs Node 22; say so before anything fails obscurely.
  console.error(
    `effect-llm-router needs Node 22 or later; this is Node ${process.versions.node}. ` +
      "Inside this repository, run it through npm scripts or npx, which use the Node the project brings."
  )
  process.exit(1)
}
const { register } = await import("tsx/esm/api")
register()
await import("../src/cli/main.ts")
