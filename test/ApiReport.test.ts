/**
 * The public API report's check (`scripts/api-report.mjs --check`, run by `npm test` after the build): it passes on
 * the report the built declarations give, and fails, naming the lines and what to do, on a report that differs.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const check = (report: string) => {
  const dir = mkdtempSync(join(tmpdir(), "api-report-"))
  try {
    const file = join(dir, "report.md")
    writeFileSync(file, report)
    return spawnSync(process.execPath, ["scripts/api-report.mjs", "--check", "--report", file], { encoding: "utf8" })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe("the public API report's check", () => {
  const kept = readFileSync("api/effect-llm-router.api.md", "utf8")

  it("passes on the committed report (the declarations' own)", () => {
    expect(check(kept).status).toBe(0)
  }, 60_000)

  it("fails on a report the declarations differ from, naming the line and asking for a changeset", () => {
    const altered = kept.replace(/^Pricing\.estimate: .*$/m, "Pricing.estimate: estimate: () => number")
    expect(altered).not.toBe(kept)
    const run = check(altered)
    expect(run.status).toBe(1)
    expect(run.stderr).toContain("- Pricing.estimate: estimate: () => number")
    expect(run.stderr).toContain("The public API changed: run `npm run api-report`")
    expect(run.stderr).toContain("add a changeset")
  }, 60_000)
})
