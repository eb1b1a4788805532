/**
 * Every TypeScript block of README.md and of the pages under docs/ is compiled, each as a module of its own
 * importing "effect-llm-router" as a user does, and the whole ones are run:
 *
 * - a whole block begins with its imports. One that imports `@effect/vitest` is a test: it runs here, as a
 *   test of this file. Any other is a program: it runs in a process of its own, with no provider key in its
 *   environment, and either finishes or stops on a `ConfigError` naming the key it reads.
 * - a fragment (a call shown in the middle of a program) is preceded by an HTML comment, invisible on the
 *   rendered page, that declares what it assumes: `<!-- fragment`, then the imports and `declare`s, then
 *   `-->`. A fragment with a `yield*` of its own is compiled inside an `Effect.gen`.
 *
 * A block that is neither, or that does not typecheck, fails here with its page and line.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Simulator from "../src/simulator/Simulator.js"
import { typeErrors, type VirtualModule } from "./utils/typecheckModules.js"

const root = path.resolve(import.meta.dirname, "..")
// npm's own range rules (`semver`, a dev dependency; typed here by the one function used, its types not installed).
const semver = createRequire(import.meta.url)("semver") as {
  readonly satisfies: (version: string, range: string) => boolean
}
const read = (file: string) => fs.readFileSync(path.join(root, file), "utf8")

/** README.md, then every page under docs/. */
const documents = [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs")).filter((name) => name.endsWith(".md")).sort()
    .map((name) => `docs/${name}`)
]

interface Block {
  readonly file: string
  /** The line (1-based) of the block's first code line. */
  readonly line: number
  readonly code: ReadonlyArray<string>
  /** A fragment's declared context and the line of its first line; absent for a whole block. */
  readonly context?: { readonly line: number; readonly code: ReadonlyArray<string> }
}

/**
 * The ```ts blocks of a page, each with the fragment comment right above it, if any; a block indented in a list item
 * is one too, read without its indentation.
 */
function blocksOf(file: string): ReadonlyArray<Block> {
  const lines = read(file).split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const indent = /^( *)```ts$/.exec(lines[i]!)?.[1]
    if (indent === undefined) continue
    const unindented = (from: number, to: number) => lines.slice(from, to).map((line) => line.slice(indent.length))
    const end = lines.indexOf(`${indent}\`\`\``, i + 1)
    const code = unindented(i + 1, end)
    let start = -1
    if (lines[i - 1] === `${indent}-->`) {
      for (let j = i - 2; j >= 0 && start === -1 && lines[j] !== `${indent}\`\`\``; j--) {
        if (lines[j]!.startsWith(`${indent}<!-- fragment`)) start = j
      }
    }
    blocks.push(
      start === -1
        ? { file, line: i + 2, code }
        : { file, line: i + 2, code, context: { line: start + 2, code: unindented(start + 1, i - 1) } }
    )
    i = end
  }
  return blocks
}

const blocks = documents.flatMap(blocksOf)

const isWhole = (block: Block) =>
  block.context === undefined && block.code.find((line) => line.trim() !== "" && !line.startsWith("//"))
      ?.startsWith("import ") === true
const isTest = (block: Block) => block.code.some((line) => line.includes(`from "@effect/vitest"`))
const title = (block: Block) => `${block.file}:${block.line}`

/** The module a block is compiled as, each of its lines traced back to its page. */
function moduleOf(block: Block): VirtualModule {
  if (block.context === undefined) {
    return { code: [...block.code, "export {}", ""].join("\n"), where: (line) => `${block.file}:${block.line + line}` }
  }
  const context = block.context
  // A `yield*` at the start of a line is the fragment's own: it is written as the body of a generator.
  const inGenerator = block.code.some((line) => /^(const|let|yield\*).*\byield\*/.test(line))
  const body = inGenerator ? ["export const fragment = Effect.gen(function*() {", ...block.code, "})"] : block.code
  const offset = context.code.length + (inGenerator ? 1 : 0)
  return {
    code: [...context.code, ...body, "export {}", ""].join("\n"),
    where: (line) =>
      line < context.code.length
        ? `${block.file}:${context.line + line}`
        : `${block.file}:${block.line + line - offset}`
  }
}

// A whole block is run from a file of its own at the repository's root, where "effect-llm-router" resolves (the
// paths of tsconfig.json and vitest.config.ts) and its other imports find node_modules; git ignores the folder.
const runFolder = path.join(root, ".readme-blocks")
const fileOf = (block: Block) => path.join(runFolder, `${block.file.replace(/[/.]/g, "-")}-${block.line}.ts`)

const wholeTests = blocks.filter((block) => isWhole(block) && isTest(block))
const programs = blocks.filter((block) => isWhole(block) && !isTest(block))

fs.mkdirSync(runFolder, { recursive: true })
for (const block of [...wholeTests, ...programs]) fs.writeFileSync(fileOf(block), [...block.code, ""].join("\n"))

describe("README and docs/", () => {
  it("has TypeScript blocks, in the README and in docs/, whole ones among them", () => {
    expect(blocks.filter((block) => block.file === "README.md").length).toBeGreaterThanOrEqual(4)
    expect(blocks.length).toBeGreaterThanOrEqual(24)
    // A block indented in a list item is read too (docs/mcp.md has one).
    const indented = read("docs/mcp.md").split("\n").flatMap((line, i) =>
      /^ +```ts$/.test(line) ? [`docs/mcp.md:${i + 2}`] : []
    )
    expect(indented.length).toBeGreaterThanOrEqual(1)
    expect(blocks.map(title)).toEqual(expect.arrayContaining(indented))
    expect(wholeTests.map(title)).toContainEqual(expect.stringMatching(/^README\.md:/))
    expect(programs.map(title)).toContainEqual(expect.stringMatching(/^README\.md:/))
  })

  it("every block is whole (it begins with its imports) or a fragment that declares what it assumes", () => {
    expect(blocks.filter((block) => !isWhole(block) && block.context === undefined).map(title)).toEqual([])
  })

  // Tens of seconds on a loaded machine (one program over src/); the timeout only bounds a hang.
  it("every block typechecks", { timeout: 180_000 }, () => {
    expect(typeErrors(blocks.map(moduleOf))).toEqual([])
  })

  it.each(programs.map((block) => [title(block), block] as const))(
    "the program at %s runs: without its key variables it stops on a ConfigError naming one",
    (_, block) => {
      const env: Record<string, string> = {}
      for (const [name, value] of Object.entries(process.env)) {
        if (value !== undefined && !/_(API_)?KEY(_\d+)?$/.test(name)) env[name] = value
      }
      const run = spawnSync(process.execPath, ["--import", "tsx", fileOf(block)], {
        cwd: root,
        env,
        encoding: "utf8",
        // A tsx start: seconds on an idle machine; the timeout only bounds a hang, with room for a loaded one.
        timeout: 150_000
      })
      // `runMain` logs the failure (on stdout or stderr, as the logger writes it).
      const output = `${run.stdout}${run.stderr}`
      expect(output).not.toContain("TypeError")
      if (run.status !== 0) {
        expect(run.status).toBe(1)
        expect(output).toContain("ConfigError")
        expect(output).toMatch(/[A-Z]+_(API_)?KEY/)
      }
    },
    180_000
  )

  it("docs/simulator.md names the simulator's default models, and docs/batch.md's program asks for one of them", () => {
    const named = /by default `Simulator\.defaultModels`: ([^;]+);/.exec(read("docs/simulator.md").replace(/\s+/g, " "))
    expect(named?.[1]?.match(/`[^`]+`/g)?.map((model) => model.slice(1, -1))).toEqual([...Simulator.defaultModels])
    const batch = blocks.find((block) => block.file === "docs/batch.md" && isWhole(block))!
    const model = /model: "([^"]+)"/.exec(batch.code.join("\n"))?.[1]
    expect(Simulator.defaultModels).toContain(model)
  })

  it("the install line names the versions this repository resolves and tests together", () => {
    const manifest = JSON.parse(read("package.json")) as {
      readonly dependencies: Record<string, string>
      readonly devDependencies: Record<string, string>
      readonly peerDependencies: Record<string, string>
    }
    const pinned = { ...manifest.dependencies, ...manifest.devDependencies }
    const named = [...read("README.md").matchAll(/^npm install (?:--save-dev )?(.+?)(?:\s+#.*)?$/gm)]
      .flatMap((match) => match[1]!.split(/\s+/))
      .filter((word) => word.lastIndexOf("@") > 0)
      .map((word) => [word.slice(0, word.lastIndexOf("@")), word.slice(word.lastIndexOf("@") + 1)] as const)
    expect(named.map(([name]) => name)).toEqual(["effect", "@effect/platform-node", "vitest", "@effect/vitest"])
    for (const [name, version] of named) {
      expect({ name, version }).toEqual({ name, version: pinned[name] })
      const installed = JSON.parse(read(`node_modules/${name}/package.json`)) as { readonly version: string }
      expect({ name, version }).toEqual({ name, version: installed.version })
    }
    // They resolve together: what each (effect-llm-router itself included) asks of another named one, the line meets.
    const versions = new Map(named)
    const asked = [
      ["effect-llm-router", { ...manifest.dependencies, ...manifest.peerDependencies }] as const,
      ...named.map(([name]) => {
        const installed = JSON.parse(read(`node_modules/${name}/package.json`)) as {
          readonly dependencies?: Record<string, string>
          readonly peerDependencies?: Record<string, string>
        }
        return [name, { ...installed.dependencies, ...installed.peerDependencies }] as const
      })
    ]
    const unmet = asked.flatMap(([by, ranges]) =>
      Object.entries(ranges).filter(([name, range]) =>
        versions.has(name) && !semver.satisfies(versions.get(name)!, range)
      ).map(([name, range]) => `${by} wants ${name}@${range}, the line gives ${versions.get(name)}`)
    )
    expect(unmet).toEqual([])
    expect(asked.filter(([, ranges]) => Object.keys(ranges).some((name) => versions.has(name))).length)
      .toBeGreaterThanOrEqual(3)
  })
})

// The whole tests run as this file's own: each registers its tests as it is imported.
for (const block of wholeTests) {
  describe(`the test at ${title(block)}`, async () => {
    await import(pathToFileURL(fileOf(block)).href)
  })
}
