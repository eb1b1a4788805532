/**
 * Rewrites the compatibility matrix in docs/agents.md from test/utils/agentMatrix.ts. With `--newest`, asks npm for
 * each agent CLI's newest version and shows it beside the pinned one.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import process from "node:process"
import { pinnedVersions, renderMatrix, withSection } from "../test/utils/agentMatrix.js"

const root = process.cwd()
const newest = process.argv.includes("--newest")
  ? Object.fromEntries(
    pinnedVersions(root).map((
      { pkg }
    ) => [pkg, execFileSync("npm", ["view", pkg, "version"], { encoding: "utf8" }).trim()])
  )
  : undefined
const page = `${root}/docs/agents.md`
fs.writeFileSync(page, withSection(fs.readFileSync(page, "utf8"), renderMatrix(root, newest)))
