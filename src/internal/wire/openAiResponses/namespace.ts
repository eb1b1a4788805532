/**
 * A Responses `namespace` tool (OpenAI's Responses API reference: a group of tools under one name, called as
 * `function_call` items naming the `namespace` beside the tool's `name`), served on every deployment by one path: each
 * function is offered under its qualified name, `<namespace>__<name>`, a function name every provider takes, and its
 * calls are given back to the client as the namespace's. A Responses deployment is offered the qualified names too, so
 * its calls come back the same way.
 */
import * as Result from "effect/Result"
import { Problem } from "../../schemaCheck.js"

/** Between a namespace and a tool's name in a qualified name. */
export const separator = "__"

/**
 * A tool whose calls are not plain function calls by the name the model is offered: a function of a namespace, as the
 * client named it; a custom tool (a namespace's or not), whose calls are `custom_tool_call` items; or the client's
 * tool search (`tool_search_call` items). The last two are offered as functions to other APIs (`clientTools.ts`).
 */
export interface Namespaced {
  readonly namespace?: string
  readonly name: string
  readonly kind?: "custom" | "tool_search"
}

/** A request's namespaced functions and its custom tools, by the name the model is offered. */
export type Names = ReadonlyMap<string, Namespaced>

/** A name with no namespace. */
export const none: Names = new Map()

/** The qualified name of `name` in `namespace`. */
export const qualified = (namespace: string, name: string): string => `${namespace}${separator}${name}`

/** The name of a tool read from the wire: qualified when it names a namespace. */
export const nameOf = (name: string, namespace: string | null | undefined): string =>
  namespace == null ? name : qualified(namespace, name)

// What OpenAI, Anthropic and Gemini all take as a function's name.
const takenEverywhere = /^[A-Za-z0-9_-]{1,64}$/

/** A tool as `flatten` reads it: its type and name, and any other field, passed on as it came. */
export type Tool = {
  readonly type: string
  readonly name?: string | null | undefined
  readonly tools?: ReadonlyArray<Tool> | null | undefined
}

/** A tool of a request's list, where the client's body has it (`tools[4].tools[1]`, `input[0].tools[2]`). */
export interface Placed<T> {
  readonly tool: T
  readonly at: string
}

/** A request's tools with its namespaces in their place (`flatten`), and the names of their functions. */
export interface Flattened<T> {
  readonly tools: ReadonlyArray<Placed<T>>
  readonly names: Names
}

/**
 * `tools` with each namespace replaced by its tools, in place, under their qualified names; or the problem with a
 * qualified name: one a provider would refuse, or one another tool has.
 */
export const flatten = <T extends Tool>(tools: ReadonlyArray<Placed<T>>): Result.Result<Flattened<T>, Problem> => {
  const out: Array<Placed<T>> = []
  const names = new Map<string, Namespaced>()
  const where = new Map<string, string>()
  const claim = (name: string, at: string): Problem | undefined => {
    const other = where.get(name)
    if (other !== undefined) {
      return new Problem(`${at}.name`, `${at}.name: '${name}' is also the name of ${other}`)
    }
    where.set(name, at)
    return undefined
  }
  for (const { at: place, tool } of tools) {
    if (tool.type !== "namespace") {
      const named = typeof tool.name === "string" ? tool.name : kindOf(tool)?.name
      const taken = named !== undefined ? claim(named, place) : undefined
      if (taken !== undefined) return Result.fail(taken)
      const kind = kindOf(tool)
      if (kind !== undefined) names.set(kind.name, kind)
      out.push({ tool, at: place })
      continue
    }
    const namespace = tool.name ?? ""
    const inner = tool.tools ?? []
    for (let j = 0; j < inner.length; j++) {
      const member = inner[j]!
      const at = `${place}.tools[${j}]`
      const name = qualified(namespace, member.name ?? "")
      if (!takenEverywhere.test(name)) {
        return Result.fail(
          new Problem(
            `${at}.name`,
            `${at}.name: '${name}' (the namespace's name, '${separator}' and the tool's) is not a name every ` +
              "provider takes: letters, digits, '_' and '-', at most 64 characters. Shorten the namespace's or the " +
              "tool's name."
          )
        )
      }
      const taken = claim(name, at)
      if (taken !== undefined) return Result.fail(taken)
      if (member.type === "function" || member.type === "custom") {
        names.set(name, { namespace, name: member.name ?? "", ...(member.type === "custom" ? { kind: "custom" } : {}) })
      }
      out.push({ tool: { ...member, name } as T, at })
    }
  }
  return Result.succeed({ tools: out, names })
}

/** The name the client's tool search (`isClientSearch`) is called by. */
export const clientSearch = "tool_search"

/** Whether a tool is the client's tool search: a `tool_search` the client runs (`execution: "client"`). */
export const isClientSearch = (tool: Tool): boolean =>
  tool.type === "tool_search" && (tool as { readonly execution?: unknown }).execution === "client"

/** The name (and kind) of a tool outside a namespace whose calls are not function calls, if it is one. */
function kindOf(tool: Tool): Namespaced | undefined {
  if (tool.type === "custom" && typeof tool.name === "string") return { name: tool.name, kind: "custom" }
  return isClientSearch(tool) ? { name: clientSearch, kind: "tool_search" } : undefined
}

/**
 * A call's `name`, and its `namespace` when it is a namespace's tool, as the client's request named it; its `kind`
 * when it is not a function's.
 */
export const callFields = (names: Names, name: string): Namespaced => names.get(name) ?? { name }
