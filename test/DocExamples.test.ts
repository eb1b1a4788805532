/**
 * The `@example` blocks of the public modules typecheck: each ```ts block that
 * follows an `@example` tag is compiled as a module of its own, importing
 * "effect-llm-router" and "effect-llm-router/testing" as a user does (the
 * paths of tsconfig.json), in one TypeScript program. An example that drifts
 * from the code fails here with its module and line.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { typeErrors } from "./utils/typecheckModules.js"

const root = path.resolve(import.meta.dirname, "..")

/** The public modules: what "effect-llm-router" and "effect-llm-router/testing" export. */
const publicModules = (): ReadonlyArray<string> => {
  const inFolder = (folder: string) =>
    fs.readdirSync(path.join(root, folder))
      .filter((name) => name.endsWith(".ts"))
      .map((name) => path.join(folder, name))
  return [...inFolder("src"), ...inFolder("src/providers"), "src/simulator/Simulator.ts"]
}

interface Example {
  /** Where it is written: the module and the line of its first code line. */
  readonly module: string
  readonly line: number
  readonly code: string
}

const examplesOf = (module: string): ReadonlyArray<Example> => {
  const lines = fs.readFileSync(path.join(root, module), "utf8").split("\n")
  const examples: Array<Example> = []
  let afterTag = false
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.replace(/^\s*\*( |$)/, "")
    if (/^\s*\*\s*@example\b/.test(lines[i]!)) afterTag = true
    else if (afterTag && text.startsWith("```ts")) {
      const code: Array<string> = []
      let j = i + 1
      for (; j < lines.length && !lines[j]!.replace(/^\s*\*( |$)/, "").startsWith("```"); j++) {
        code.push(lines[j]!.replace(/^\s*\*( |$)/, ""))
      }
      // `export {}` makes every example a module, so their names never clash.
      examples.push({ module, line: i + 2, code: code.join("\n") + "\nexport {}\n" })
      afterTag = false
      i = j
    } else if (afterTag && /^\s*\*\s*@\w/.test(lines[i]!)) afterTag = false
  }
  return examples
}

const examples = publicModules().flatMap(examplesOf)

describe("@example blocks", () => {
  it("finds the examples of the public modules", () => {
    // 142 when this was written: a drop means the extraction broke or examples were lost.
    expect(examples.length).toBeGreaterThanOrEqual(135)
  })

  // About 10 s on an idle machine; the timeout only bounds a hang, with room for a loaded one.
  it("every example typechecks", { timeout: 180_000 }, () => {
    expect(typeErrors(examples.map((example) => ({
      code: example.code,
      where: (line: number) => `${example.module}:${example.line + line}`
    })))).toEqual([])
  })
})
