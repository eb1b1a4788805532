/**
 * A `provider.json` read for a gateway: the file's own problems and those the gateway finds building it (a key naming
 * a model no deployment serves, a budget on an unpriced model, an adapter refusing an entry...) named together, each
 * by its path. The gateway's check (`check`: its build checks, nothing kept) reads the parts that do read, so both
 * kinds are named at once; a part the file already has a problem with is not named again for what the gateway finds.
 */
import * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import type { OptionsError } from "../../OptionsError.js"
import { type Issue, type ProviderConfig, ProviderConfigError } from "../../ProviderConfig.js"
import { parseJson } from "../json.js"
import { snake } from "./fields.js"
import { type Places, readFile } from "./read.js"

// The fields of `Gateway.Keys` whose file spelling is not theirs in snake case.
const gatewayFields: ReadonlyArray<readonly [string, string]> = [
  ["auditAnchor.file", "audit.anchor"],
  ["auditAnchor.every", "audit.anchor_every"],
  ["auditAnchor", "audit.anchor"],
  ["auditRetention", "audit.retention"],
  ["rateLimit.capacity", "rate_limit_capacity"],
  ["rateLimit.refillRate", "rate_limit_refill_rate"]
]

// `rest` (what follows a part's path in an option's) as the file spells it.
const fieldsOf = (rest: string): string => {
  for (const [option, field] of gatewayFields) {
    const at = rest.indexOf(option)
    if (at >= 0 && (at + option.length === rest.length || ".[".includes(rest[at + option.length]!))) {
      return `${snake(rest.slice(0, at))}${field}${snake(rest.slice(at + option.length))}`
    }
  }
  return snake(rest)
}

// The path in the file of an option under `deployments.<name>`, or of an adapter's option (`module`: `Vertex (p/m)`).
const entryPath = (name: string, rest: string, places: Places): string | undefined => {
  const at = places.entries.get(name)
  return at === undefined ? undefined : `${at}${snake(rest)}`
}

/** The path in the file of a problem the gateway names by its option (`keys[1].models[0]`: `gateway.keys[1]...`). */
export function filePath(module: string, option: string, places: Places): string {
  const adapter = /^.* \((.+)\)$/.exec(module)
  if (adapter !== null) return entryPath(adapter[1]!, `.${option}`, places) ?? option
  const key = /^(keys|adminKeys)\[(\d+)\](.*)$/.exec(option)
  if (key !== null) {
    const path = (key[1] === "keys" ? places.keys : places.adminKeys)[Number(key[2])]
    return path === undefined ? option : `${path}${fieldsOf(key[3]!)}`
  }
  if (option.startsWith("tokenCallers") || option.startsWith("oidc")) return `gateway.${fieldsOf(option)}`
  if (option.startsWith("deployments.")) {
    const name = [...places.entries.keys()].find((candidate) => {
      const at = `deployments.${candidate}`
      return option.startsWith(at) && (option.length === at.length || ".[".includes(option[at.length]!))
    })
    const found = name === undefined ? undefined : entryPath(name, option.slice(`deployments.${name}`.length), places)
    if (found !== undefined) return found
  }
  const sections: ReadonlyArray<readonly [string, string]> = [
    ["config.keys.", "gateway."],
    ["config.routers.", "router."],
    ["config.mcpServers.", "mcp_servers."],
    ["config.guardrails.", "guardrails."]
  ]
  for (const [prefix, section] of sections) {
    if (!option.startsWith(prefix)) continue
    const rest = option.slice(prefix.length)
    // A router's, server's or guardrail's name is the file's; only the fields after it are spelt otherwise.
    const name = section === "gateway." ? "" : /^[^.[]*/.exec(rest)![0]
    return `${section}${name}${fieldsOf(rest.slice(name.length))}`
  }
  if (option === "config.store") return "store"
  if (option === "config.database") return "store.sql"
  if (option === "config") return ""
  return option
}

/** The part of the file a path is in: an entry (`sim[0]`), a key, a router, a guardrail, a server, a section. */
const partOf = (path: string): string =>
  /^(?:gateway\.[^.[]+(?:\[\d+\])?|[^.[]+\[\d+\]|[^.[]+\.[^.[]+|[^.[]*)/.exec(path)![0]

// Whether a problem's value (as `OptionsError` renders it) names an entry that does not decode.
const namesUnread = (value: string, places: Places): boolean => {
  const name = Option.getOrUndefined(parseJson(value))
  return typeof name === "string" && places.unread.has(name)
}

/**
 * The gateway's problems (`problem` and `others`) as issues of the file at their paths, leaving out those of a part
 * the file's `issues` name (but for a key's unset variable), of a part read without an entry it lists, or naming an
 * entry that does not decode: they are what the file's problems made of it.
 */
export function issuesOf(
  problem: OptionsError | undefined,
  issues: ReadonlyArray<typeof Issue.Type>,
  places: Places,
  mask: (text: string) => string
): ReadonlyArray<typeof Issue.Type> {
  if (problem === undefined) return []
  // A key whose variable is unset is read as written: the rest of its part was read, and what is found of it stands.
  const named = new Set(issues.filter((issue) => !places.unsetKeys.has(issue.path)).map((issue) => partOf(issue.path)))
  const seen = new Set(issues.map((issue) => issue.path))
  const out: Array<typeof Issue.Type> = []
  for (const { expected, module, option, value } of [problem, ...(problem.others ?? [])]) {
    const path = mask(filePath(module, option, places))
    const part = partOf(path)
    if (named.has(part) || places.partial.has(part) || seen.has(path) || namesUnread(value, places)) continue
    seen.add(path)
    out.push({ path, message: mask(`expected ${expected}, got ${value}`) })
  }
  return out
}

/**
 * A `provider.json` file read and checked by the gateway (`check`, given what of the file reads): the configuration,
 * or one `ProviderConfigError` naming every problem of the file and every one the gateway finds.
 */
export const loadChecked = Effect.fnUntraced(function*<R>(
  path: string,
  check: (config: ProviderConfig) => Effect.Effect<OptionsError | undefined, never, R>
): Effect.fn.Return<ProviderConfig, ProviderConfigError, FileSystem.FileSystem | R> {
  const read = yield* readFile(path)
  const found = issuesOf(yield* check(read.config), read.issues, read.places, read.mask)
  const issues = [...read.issues, ...found]
  if (issues.length > 0) return yield* new ProviderConfigError({ source: path, issues })
  return read.config
})
