/**
 * Which MCP tools a caller may use: a key's `tools` lists qualified names (`<server>__<tool>`) or globs of them
 * (`calc__*`). Deny by default: no list, or an empty one, allows nothing; a key in a team may use what both lists
 * allow. A list is compiled once into one predicate (`Rule`) that listing and calling a tool both ask, so what a key
 * lists is what it may call.
 */

/** What joins a server's name and its tool's in a qualified name. */
export const separator = "__"

/** The name `/mcp` serves `server`'s `tool` as. */
export function qualified(server: string, tool: string): string {
  return `${server}${separator}${tool}`
}

/** Whether a caller may list and call the tool of a qualified name. */
export type Rule = (name: string) => boolean

/** Every tool: a gateway without keys, whose callers are the owner's own programs on loopback. */
export const everything: Rule = () => true

/** No tool: deny by default. A rule that allows nothing is this one (`rule`, `both`), so that it can be told. */
export const nothing: Rule = () => false

const special = /[.+?^${}()|[\]\\]/g

/** The expression of one glob: `*` any run of characters, every other character itself. */
function globSource(glob: string): string {
  return glob.split("*").map((part) => part.replace(special, "\\$&")).join(".*")
}

/** The rule of a list of names and globs: a name any of them matches; nothing for no list or an empty one. */
export function rule(patterns: ReadonlyArray<string> | undefined): Rule {
  if (patterns === undefined || patterns.length === 0) return nothing
  const exact = new Set(patterns.filter((pattern) => !pattern.includes("*")))
  const globs = patterns.filter((pattern) => pattern.includes("*"))
  if (globs.length === 0) return (name) => exact.has(name)
  const matcher = new RegExp(`^(?:${globs.map(globSource).join("|")})$`, "s")
  return (name) => exact.has(name) || matcher.test(name)
}

/** What both rules allow: a key's and its team's (`nothing` itself when either allows nothing). */
export function both(a: Rule, b: Rule): Rule {
  if (a === nothing || b === nothing) return nothing
  return (name) => a(name) && b(name)
}
