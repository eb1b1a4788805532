/**
 * The README's TypeScript snippets typecheck: each one appears, line for line,
 * in test/readme/quickstart.ts or test/readme/snippets.ts, which `npm test`
 * typechecks. Change a snippet and this test names the one to copy over.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")

const codeLines = (text: string): Array<string> => text.split("\n").map((line) => line.trim()).filter((line) => line !== "")

const snippets = [...read("README.md").matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => codeLines(match[1]!))

const containsRun = (haystack: ReadonlyArray<string>, needle: ReadonlyArray<string>): boolean =>
  haystack.some((_, start) => needle.every((line, i) => haystack[start + i] === line))

describe("README", () => {
  it("has TypeScript snippets", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(8)
  })

  it("every TypeScript snippet is one of the typechecked files, line for line", () => {
    const checked = [codeLines(read("test/readme/quickstart.ts")), codeLines(read("test/readme/snippets.ts"))]
    const missing = snippets.filter((snippet) => !checked.some((file) => containsRun(file, snippet)))
    expect(missing.map((snippet) => snippet[0])).toEqual([])
  })
})
