/**
 * Plays the agents' compatibility matrix against each agent CLI's newest version on npm. For each agent whose newest
 * version is not the pinned one, the matrix's tests of that agent run with `AGENT_CLI_VERSIONS` naming the newest
 * versions (test/utils/pinnedCli.ts installs and drives them); docs/agents.md's "newest checked" column then says, for
 * each agent, its newest version and how many of its cells passed, naming those that did not. An agent whose newest
 * version is the pinned one is played by `npm test`, and the column says so.
 */
import * as Effect from "effect/Effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import process from "node:process"
import { cells, pinnedVersions, renderMatrix, withSection } from "../test/utils/agentMatrix.js"
import { codexInstalled } from "../test/utils/pinnedCli.js"

const root = process.cwd()
const day = new Date().toISOString().slice(0, 10)
const versions = pinnedVersions(root)
const newest = Object.fromEntries(
  versions.map(({ pkg }) => [pkg, execFileSync("npm", ["view", pkg, "version"], { encoding: "utf8" }).trim()])
)
const moved = versions.filter(({ pkg, version }) => newest[pkg] !== version)
const asked = Object.fromEntries(moved.map(({ pkg }) => [pkg, newest[pkg]]))

// Each moved agent's cells played, a backend each: the test that plays it, by file and title.
const played = cells().flatMap(({ agent, row, cell }) =>
  moved.some((v) => v.agent === agent) && "test" in cell
    ? cell.backends.map((backend) => ({ agent, row, backend, test: cell.test }))
    : []
)

/** The status of each test the run reported, by file (relative) and title. */
function run() {
  if (played.length === 0) return []
  process.env["AGENT_CLI_VERSIONS"] = JSON.stringify(asked)
  if (asked["@openai/codex"] !== undefined) Effect.runSync(Effect.asVoid(codexInstalled))
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "agents-newest-")), "report.json")
  const files = [...new Set(played.map(({ test }) => test.file))]
  spawnSync("npx", ["vitest", "run", ...files, "--reporter=default", "--reporter=json", `--outputFile=${report}`], {
    stdio: "inherit",
    env: process.env
  })
  const { testResults } = JSON.parse(fs.readFileSync(report, "utf8"))
  return testResults.flatMap((file) =>
    file.assertionResults.map((test) => ({
      file: path.relative(root, file.name),
      title: test.title,
      status: test.status
    }))
  )
}

const reported = run()
// A cell's outcome: "passed" when every test of its backend that plays it passed.
const outcome = ({ backend, test }) => {
  const statuses = reported
    .filter((r) => r.file === test.file && r.title.startsWith(`${backend}:`) && r.title.includes(test.title))
    .map((r) => r.status)
  if (statuses.length === 0) return "not run"
  return statuses.find((status) => status !== "passed") ?? "passed"
}

const checked = Object.fromEntries(versions.map(({ agent, pkg, version }) => {
  if (newest[pkg] === version) return [pkg, `${version}, the pinned one (played by npm test)`]
  const mine = played.filter((cell) => cell.agent === agent)
  const missed = mine.filter((cell) => outcome(cell) !== "passed")
  const named = missed.map((cell) => `${cell.row} on ${cell.backend} (${outcome(cell)})`)
  const passed = `${mine.length - missed.length} of ${mine.length} cells passed on ${day}`
  return [pkg, `${newest[pkg]}: ${passed}${named.length > 0 ? `; not: ${named.join(", ")}` : ""}`]
}))

const page = `${root}/docs/agents.md`
fs.writeFileSync(page, withSection(fs.readFileSync(page, "utf8"), renderMatrix(root, checked)))
process.stdout.write(Object.entries(checked).map(([pkg, text]) => `${pkg}: ${text}\n`).join(""))
