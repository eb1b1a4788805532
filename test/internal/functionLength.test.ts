/**
 * No function in `src/` is longer than 150 lines, from its first line to its last: named or anonymous, a declaration,
 * a method, an arrow or the generator given to `Effect.gen`. A longer one is cut along its parts (docs/architecture.md,
 * "Rules across the folders"). Functions are found by TypeScript's own parser, so a string or a comment never counts
 * as one.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import ts from "typescript"
import { sourceFiles, src } from "../utils/sourceFiles.js"

const limit = 150

/** The name a function is known by: its own, else that of the variable or property it is given to. */
function nameOf(node: ts.FunctionLikeDeclaration): string {
  if (node.name !== undefined) return node.name.getText()
  for (let parent: ts.Node | undefined = node.parent; parent !== undefined; parent = parent.parent) {
    if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText()
  }
  return "(anonymous)"
}

/** Each function of `text` longer than `limit` lines, as `<line> <name> (<lines> lines)`. */
function longFunctions(fileName: string, text: string): Array<string> {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true)
  const found: Array<string> = []
  const visit = (node: ts.Node): void => {
    if (
      ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node) ||
      ts.isMethodDeclaration(node) || ts.isGetAccessorDeclaration(node) || ts.isConstructorDeclaration(node)
    ) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1
      const last = file.getLineAndCharacterOfPosition(node.getEnd()).line + 1
      if (last - first + 1 > limit) found.push(`${first} ${nameOf(node)} (${last - first + 1} lines)`)
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

const bodyOf = (lines: number) => Array.from({ length: lines - 2 }, (_, index) => `  const v${index} = ${index}`)

describe("function length", () => {
  it("finds a function of 151 lines, of any form, by the name it is given, and passes one of 150", () => {
    const source = (lines: number) =>
      [
        `export const make = Effect.gen(function*() {`,
        ...bodyOf(lines),
        `})`,
        `const arrow = () => {`,
        ...bodyOf(lines),
        `}`,
        `class Store {`,
        `  read() {`,
        ...bodyOf(lines).map((line) => `  ${line}`),
        `  }`,
        `}`,
        "const text = `function () {",
        ...bodyOf(lines),
        "}`"
      ].join("\n")
    expect(longFunctions("long.ts", source(limit + 1))).toEqual([
      "1 make (151 lines)",
      "152 arrow (151 lines)",
      "304 read (151 lines)"
    ])
    expect(longFunctions("fits.ts", source(limit))).toEqual([])
  })

  it(`no function in src/ is over ${limit} lines`, () => {
    const found = sourceFiles(src).flatMap((file) =>
      longFunctions(file, Fs.readFileSync(file, "utf8")).map((where) => `${Path.relative(src, file)}:${where}`)
    )
    expect(found).toEqual([])
  })
})
