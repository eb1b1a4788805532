// The import graph of one folder of the source (by default src/internal/gateway): its `.ts` files, the imports among
// them (relative `import` and `export ... from`, type-only ones included, each pair of files once), and its largest
// strongly connected set of files (its largest import cycle), named.
//
//   node scripts/import-graph.mjs [folder]
import { readdirSync, readFileSync, statSync } from "node:fs"
import * as path from "node:path"
import process from "node:process"

const root = path.resolve(process.argv[2] ?? path.join("src", "internal", "gateway"))

function filesUnder(folder) {
  return readdirSync(folder).flatMap((name) => {
    const full = path.join(folder, name)
    if (statSync(full).isDirectory()) return filesUnder(full)
    return name.endsWith(".ts") ? [full] : []
  })
}

const files = filesUnder(root).sort()
const known = new Set(files)
const specifier = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.[^"]+)"/g

// Each file's imports of other files of the folder.
const edges = new Map(files.map((file) => {
  const text = readFileSync(file, "utf8")
  const targets = new Set()
  for (const match of text.matchAll(specifier)) {
    const target = path.resolve(path.dirname(file), match[1].replace(/\.js$/, ".ts"))
    if (known.has(target) && target !== file) targets.add(target)
  }
  return [file, targets]
}))

// Tarjan's strongly connected components.
function components() {
  let index = 0
  const indices = new Map()
  const lows = new Map()
  const stack = []
  const onStack = new Set()
  const found = []
  function visit(file) {
    indices.set(file, index)
    lows.set(file, index)
    index++
    stack.push(file)
    onStack.add(file)
    for (const target of edges.get(file)) {
      if (!indices.has(target)) {
        visit(target)
        lows.set(file, Math.min(lows.get(file), lows.get(target)))
      } else if (onStack.has(target)) {
        lows.set(file, Math.min(lows.get(file), indices.get(target)))
      }
    }
    if (lows.get(file) === indices.get(file)) {
      const component = []
      let member
      do {
        member = stack.pop()
        onStack.delete(member)
        component.push(member)
      } while (member !== file)
      found.push(component)
    }
  }
  for (const file of files) if (!indices.has(file)) visit(file)
  return found
}

const largest = components().sort((a, b) => b.length - a.length)[0] ?? []
const imports = [...edges.values()].reduce((sum, targets) => sum + targets.size, 0)
const relative = (file) => path.relative(root, file)
const lines = [
  `${path.relative(process.cwd(), root)}: ${files.length} files, ${imports} imports among them`,
  `largest import cycle: ${largest.length} files`,
  ...largest.map(relative).sort().map((file) => `  ${file}`)
]
process.stdout.write(`${lines.join("\n")}\n`)
