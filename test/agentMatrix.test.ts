import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { cells, newestIn, renderedSection, renderMatrix } from "./utils/agentMatrix.js"

const root = process.cwd()

describe("the agents' compatibility matrix", () => {
  it("names only tests that exist, by file and title", () => {
    for (const { agent, cell, row } of cells()) {
      if (!("test" in cell)) continue
      const where = `${agent} / ${row}: ${cell.test.file}`
      assert.isTrue(fs.existsSync(`${root}/${cell.test.file}`), `${where} does not exist`)
      const text = fs.readFileSync(`${root}/${cell.test.file}`, "utf8")
      assert.isTrue(text.includes(cell.test.title), `${where} has no test titled "${cell.test.title}"`)
    }
  })

  it("is shown in docs/agents.md as rendered (run `npm run agents-matrix` to rewrite it)", () => {
    const section = renderedSection(fs.readFileSync(`${root}/docs/agents.md`, "utf8"))
    assert.isDefined(section, "docs/agents.md has no matrix markers: run `npm run agents-matrix`")
    assert.strictEqual(
      section,
      renderMatrix(root, newestIn(section!)),
      "docs/agents.md's matrix differs from test/utils/agentMatrix.ts: run `npm run agents-matrix`"
    )
  })
})
