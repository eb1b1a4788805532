/**
 * Rewrites the compatibility matrix in docs/agents.md from test/utils/agentMatrix.ts, keeping the "newest checked"
 * column the last `npm run agents-newest` wrote.
 */
import * as fs from "node:fs"
import process from "node:process"
import { newestIn, renderedSection, renderMatrix, withSection } from "../test/utils/agentMatrix.js"

const root = process.cwd()
const page = `${root}/docs/agents.md`
const text = fs.readFileSync(page, "utf8")
const section = renderedSection(text)
fs.writeFileSync(page, withSection(text, renderMatrix(root, section === undefined ? undefined : newestIn(section))))
