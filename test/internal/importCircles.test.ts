/**
 * Configuration depends on what it configures, never both ways: no circle of imports in `src/` holds two public
 * modules (those `index.ts` and `testing.ts` re-export). Imports are read as text: static `from`, `import "…"` and
 * `import("…")` of relative paths, type-only ones included; one named exception, below.
 *
 * The whole house is built in floors the same way: its rooms are the folders below `internal/` and of `src/` and the
 * files at the root of either (a public module with its implementation's folder, `houseRoomOf`), and no circle of
 * imports joins two of them; so the persistence floor imports no concept. The gateway (`Gateway.ts` with
 * `internal/gateway/`) is imported by the top alone (`index.ts`, `testing.ts`, `cli/`): the library, the
 * configuration's reader among it, imports no part of it.
 *
 * The gateway is built in floors (docs/architecture.md, "The gateway's floors"): its rooms are its folders (a folder
 * inside one counted as part of it) and the files at its root, each its own room; no circle of imports joins two rooms,
 * so no file imports a room that imports its own, however far round; `access/`, the ground floor every route
 * reads, imports no other folder of the gateway; and no concept's folder reaches `serving/`, which only the routes read.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { sourceFiles, src } from "../utils/sourceFiles.js"

const importPattern = /(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g

/**
 * The one exception, to go with it: `Router.fromConfig`, `layerConfig` and `fromConfigNamed` (deprecated since
 * 0.3.0, removed in 0.4.0) name the configuration's type and load the configuration side lazily.
 */
const deprecatedAliases: ReadonlyArray<readonly [from: string, to: string]> = [
  ["Router.ts", "ProviderConfig.ts"],
  ["Router.ts", "internal/providerConfig/routerOptions.ts"]
]

function excepted(file: string, target: string): boolean {
  return deprecatedAliases.some(([from, to]) => Path.join(src, from) === file && Path.join(src, to) === target)
}

function importsOf(file: string, known: ReadonlySet<string>): Array<string> {
  const text = Fs.readFileSync(file, "utf8")
  return [...text.matchAll(importPattern)]
    .map((match) => Path.resolve(Path.dirname(file), match[1]!.replace(/\.js$/, ".ts")))
    .filter((target) => known.has(target))
}

/** The strongly connected components of more than one file (Tarjan's algorithm). */
function circles(graph: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const found: Array<Array<string>> = []
  function visit(file: string): void {
    index.set(file, index.size)
    low.set(file, index.get(file)!)
    stack.push(file)
    onStack.add(file)
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file)!, low.get(next)!))
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!))
      }
    }
    if (low.get(file) !== index.get(file)) return
    const component: Array<string> = []
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member)
      component.push(member)
      if (member === file) break
    }
    if (component.length > 1) found.push(component)
  }
  for (const file of graph.keys()) if (!index.has(file)) visit(file)
  return found
}

function publicModules(): ReadonlySet<string> {
  const entries = ["index.ts", "testing.ts"].map((name) => Path.join(src, name))
  return new Set(
    entries.flatMap((entry) =>
      [...Fs.readFileSync(entry, "utf8").matchAll(/export \* as \w+ from "(\.[^"]+)"/g)].map((match) =>
        Path.resolve(src, match[1]!.replace(/\.js$/, ".ts"))
      )
    )
  )
}

describe("the import graph of src/", () => {
  it("no circle of imports holds two public modules", () => {
    const files = sourceFiles(src)
    const known = new Set(files)
    const graph = new Map(
      files.map((file) => [file, importsOf(file, known).filter((target) => !excepted(file, target))])
    )
    const exported = publicModules()
    expect(exported.size).toBeGreaterThan(20)
    const knots = circles(graph)
      .map((circle) => circle.filter((file) => exported.has(file)).map((file) => Path.relative(src, file)).sort())
      .filter((members) => members.length > 1)
    expect(knots).toEqual([])
  })

  it("the deprecated aliases' exception still names imports that exist (remove it with them)", () => {
    const known = new Set(sourceFiles(src))
    for (const [from, to] of deprecatedAliases) {
      expect(importsOf(Path.join(src, from), known)).toContain(Path.join(src, to))
    }
  })
})

const internal = Path.join(src, "internal")

/**
 * The room of the house a file is in: its folder below `internal/` (a folder inside one counted as part of it), its
 * folder of `src/`, or the file itself at the root of either. A public module `src/Foo.ts` counts as part of
 * `internal/foo/`, its implementation, when that folder exists; so does the simulator's public folder, whose modules
 * are its faces over `internal/simulator/`. (The public `providers/` is a floor above `internal/providers/`, the
 * adapter template they and the dialects fill in.)
 */
function houseRoomOf(file: string): string {
  const [first, second, ...rest] = Path.relative(src, file).split(Path.sep)
  if (first === "internal") return rest.length === 0 ? `internal/${second}` : `internal/${second}/`
  if (first === "simulator") return "internal/simulator/"
  if (second !== undefined) return `${first}/`
  const implementation = first!.charAt(0).toLowerCase() + first!.slice(1).replace(/\.ts$/, "")
  return Fs.existsSync(Path.join(internal, implementation)) ? `internal/${implementation}/` : first!
}

describe("the house's floors", () => {
  it("no circle of imports joins two of its folders or root files", () => {
    const files = sourceFiles(src)
    const known = new Set(files)
    const rooms = new Map<string, Set<string>>()
    for (const file of files) {
      const room = houseRoomOf(file)
      const imported = rooms.get(room) ?? new Set()
      rooms.set(room, imported)
      for (const target of importsOf(file, known)) {
        if (!excepted(file, target) && houseRoomOf(target) !== room) imported.add(houseRoomOf(target))
      }
    }
    expect(rooms.size).toBeGreaterThan(40)
    expect(circles(new Map([...rooms].map(([room, imported]) => [room, [...imported]]))).map((c) => c.sort()))
      .toEqual([])
  })
})

/** The rooms above the gateway: the barrels and the command line. */
const top: ReadonlySet<string> = new Set(["index.ts", "testing.ts", "cli/"])

/** Each import of the gateway by a file of another room: that room, and the import as `file -> target` in `src/`. */
function importsOfTheGateway(): Array<{ readonly room: string; readonly line: string }> {
  const files = sourceFiles(src)
  const known = new Set(files)
  return files.filter((file) => houseRoomOf(file) !== "internal/gateway/").flatMap((file) =>
    importsOf(file, known)
      .filter((target) => houseRoomOf(target) === "internal/gateway/")
      .map((target) => ({
        room: houseRoomOf(file),
        line: `${Path.relative(src, file)} -> ${Path.relative(src, target)}`
      }))
  )
}

describe("the gateway in the house", () => {
  it("no file below the top (index.ts, testing.ts, cli/) imports Gateway.ts or internal/gateway/", () => {
    const imports = importsOfTheGateway()
    expect(imports.filter(({ room }) => top.has(room)).length).toBeGreaterThan(0)
    expect(imports.filter(({ room }) => !top.has(room)).map(({ line }) => line)).toEqual([])
  })
})

const gateway = Path.join(src, "internal", "gateway")

/** The room of the gateway a file is in: its folder below `gateway/`, or the file itself at the root. */
function roomOf(file: string): string {
  const [first, ...rest] = Path.relative(gateway, file).split(Path.sep)
  return rest.length === 0 ? first! : `${first}/`
}

/** The imports between the gateway's rooms: each room and the rooms its files import, its own left out. */
function gatewayRooms(): ReadonlyMap<string, ReadonlyArray<string>> {
  const files = sourceFiles(gateway)
  const known = new Set(files)
  const rooms = new Map<string, Set<string>>()
  for (const file of files) {
    const room = roomOf(file)
    const imported = rooms.get(room) ?? new Set()
    rooms.set(room, imported)
    for (const target of importsOf(file, known)) if (roomOf(target) !== room) imported.add(roomOf(target))
  }
  return new Map([...rooms].map(([room, imported]) => [room, [...imported].sort()]))
}

describe("the gateway's floors", () => {
  it("no circle of imports joins two of its folders or root files", () => {
    const rooms = gatewayRooms()
    expect(rooms.size).toBeGreaterThan(20)
    expect(circles(rooms).map((circle) => circle.sort())).toEqual([])
  })

  it("access/ reaches no other folder of the gateway, however far round", () => {
    const rooms = gatewayRooms()
    const reached = new Set<string>()
    const visit = (room: string): void => {
      for (const next of rooms.get(room) ?? []) {
        if (reached.has(next)) continue
        reached.add(next)
        visit(next)
      }
    }
    visit("access/")
    expect(reached.size).toBeGreaterThan(0)
    expect([...reached].filter((room) => room.endsWith("/"))).toEqual([])
  })

  it("no concept's folder reaches serving/: only the routes (routes/, admin/, balancedCall/) read it", () => {
    const rooms = gatewayRooms()
    const routes = new Set(["routes/", "admin/", "balancedCall/", "serving/"])
    const concepts = [...rooms.keys()].filter((room) => room.endsWith("/") && !routes.has(room))
    expect(concepts.length).toBeGreaterThan(8)
    const reaching = concepts.filter((concept) => reaches(rooms, concept, "serving/"))
    expect(reaching).toEqual([])
  })
})

/** Whether `from` imports `to`, however far round. */
function reaches(rooms: ReadonlyMap<string, ReadonlyArray<string>>, from: string, to: string): boolean {
  const reached = new Set<string>()
  const visit = (room: string): boolean =>
    (rooms.get(room) ?? []).some((next) => {
      if (next === to) return true
      if (reached.has(next)) return false
      reached.add(next)
      return visit(next)
    })
  return visit(from)
}
