/* global process, console */
/**
 * The public API report: every export of the package's entry points (`package.json` `exports`), read from the built
 * declarations (`dist/*.d.ts`, `npm run build` makes them), as one line per declaration, namespaces by their members.
 * `node scripts/api-report.mjs` writes it to `api/effect-llm-router.api.md`; with `--check` it compares instead, and
 * fails when the public API changed without its report (and so without its changeset) being updated.
 * `--report FILE` reads or writes another file (the tests' copy).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const args = process.argv.slice(2)
const check = args.includes("--check")
const reportAt = args.includes("--report")
  ? args[args.indexOf("--report") + 1]
  : join(root, "api", "effect-llm-router.api.md")

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"))
const entries = Object.entries(pkg.exports)
  .filter(([, target]) => target !== null && typeof target === "object" && typeof target.types === "string")
  .map(([name, target]) => ({ name, file: join(root, target.types) }))

const program = ts.createProgram(entries.map((entry) => entry.file), {
  noEmit: true,
  skipLibCheck: true,
  types: [],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022
})
const checker = program.getTypeChecker()

// A declaration as one line: its text without comments, white space collapsed.
const lineOf = (declaration) =>
  ts.createPrinter({ removeComments: true }).printNode(
    ts.EmitHint.Unspecified,
    declaration,
    declaration.getSourceFile()
  )
    .replace(/\s+/g, " ").trim()

const lines = []
const seen = new Set()
const visit = (symbol, path) => {
  const resolved = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
  if (resolved.flags & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) {
    if (seen.has(`${path}@${resolved.escapedName}`)) return
    seen.add(`${path}@${resolved.escapedName}`)
    for (const member of checker.getExportsOfModule(resolved).sort((a, b) => a.name.localeCompare(b.name))) {
      visit(member, `${path}.${member.name}`)
    }
    return
  }
  for (const declaration of resolved.declarations ?? []) lines.push(`${path}: ${lineOf(declaration)}`)
}

for (const entry of entries) {
  const source = program.getSourceFile(entry.file)
  if (source === undefined) {
    console.error(`${entry.file} is not built: run npm run build first`)
    process.exit(2)
  }
  const module = checker.getSymbolAtLocation(source)
  lines.push(`## ${entry.name}`)
  for (const symbol of checker.getExportsOfModule(module).sort((a, b) => a.name.localeCompare(b.name))) {
    visit(symbol, symbol.name)
  }
}

const report = `# effect-llm-router's public API\n\nMade by \`npm run api-report\` from the built declarations; ` +
  "`npm test` fails when it differs from them. A change here comes with a changeset (`npx changeset`).\n\n" +
  "```\n" + lines.join("\n") + "\n```\n"

if (!check) {
  writeFileSync(reportAt, report)
  console.log(`${reportAt}: ${lines.length} lines`)
} else {
  let kept = ""
  try {
    kept = readFileSync(reportAt, "utf8")
  } catch {
    // No report yet: every line differs.
  }
  if (kept !== report) {
    const before = new Set(kept.split("\n"))
    const after = new Set(report.split("\n"))
    const gone = [...before].filter((line) => !after.has(line))
    const added = [...after].filter((line) => !before.has(line))
    for (const line of gone.slice(0, 20)) console.error(`- ${line.slice(0, 200)}`)
    for (const line of added.slice(0, 20)) console.error(`+ ${line.slice(0, 200)}`)
    console.error(
      "The public API changed: run `npm run api-report` to update api/effect-llm-router.api.md and add a changeset " +
        "(npx changeset)."
    )
    process.exit(1)
  }
}
