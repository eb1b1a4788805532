/**
 * The TypeScript snippets of README.md and of every page under docs/ typecheck: each one
 * appears, line for line, in test/readme/quickstart.ts or test/readme/snippets.ts, which
 * `npm test` typechecks. Change a snippet and this test names its file and the one to copy over.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")

const codeLines = (text: string): Array<string> =>
  text.split("\n").map((line) => line.trim()).filter((line) => line !== "")

/** README.md, then every page under docs/, each with its TypeScript snippets. */
const documents = [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((name) => name.endsWith(".md")).sort()
    .map((name) => `docs/${name}`)
]

const snippetsOf = (file: string) =>
  [...read(file).matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => ({ file, lines: codeLines(match[1]!) }))

const snippets = documents.flatMap(snippetsOf)

const containsRun = (haystack: ReadonlyArray<string>, needle: ReadonlyArray<string>): boolean =>
  haystack.some((_, start) => needle.every((line, i) => haystack[start + i] === line))

describe("README and docs/", () => {
  it("has TypeScript snippets, in the README and in docs/", () => {
    expect(snippets.filter((snippet) => snippet.file === "README.md").length).toBeGreaterThanOrEqual(4)
    expect(snippets.length).toBeGreaterThanOrEqual(11)
  })

  it("every TypeScript snippet is one of the typechecked files, line for line", () => {
    const checked = [codeLines(read("test/readme/quickstart.ts")), codeLines(read("test/readme/snippets.ts"))]
    const missing = snippets.filter((snippet) => !checked.some((file) => containsRun(file, snippet.lines)))
    expect(missing.map((snippet) => `${snippet.file}: ${snippet.lines[0]}`)).toEqual([])
  })

  it("the first snippet, run without its key variables, fails with a ConfigError naming the variable", () => {
    const env: Record<string, string> = {}
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && name !== "OPENAI_API_KEY" && name !== "OPENAI_KEY_2") env[name] = value
    }
    const run = spawnSync(process.execPath, ["--import", "tsx", "test/readme/quickstart.ts"], {
      cwd: root,
      env,
      encoding: "utf8",
      // A tsx start: seconds on an idle machine; the timeout only bounds a hang, with room for a loaded one.
      timeout: 150_000
    })
    // `runMain` logs the failure (on stdout or stderr, as the logger writes it).
    const output = `${run.stdout}${run.stderr}`
    expect(run.status).toBe(1)
    expect(output).toContain("ConfigError")
    expect(output).toContain("OPENAI_API_KEY")
    expect(output).not.toContain("TypeError")
  }, 180_000)
})
