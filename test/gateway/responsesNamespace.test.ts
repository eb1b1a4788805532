import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { Problem } from "../../src/internal/schemaCheck.js"
import * as Namespace from "../../src/internal/wire/openAiResponses/namespace.js"

// The refusal of a list, which the test expects to be refused (a flattened list is thrown).
const refusal = <A>(result: Result.Result<A, Problem>): Problem => Result.getOrThrow(Result.flip(result))

// A body's `tools`, each where the body has it.
const listed = <T extends Namespace.Tool>(tools: ReadonlyArray<T>) =>
  tools.map((tool, i) => ({ tool, at: `tools[${i}]` }))

const identifier = fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/).filter((name) => !name.includes("__"))

describe("Responses namespace tools", () => {
  it("property: a namespace's functions are flattened in place under qualified names, and each call named back", () =>
    fc.assert(
      fc.property(
        fc.uniqueArray(identifier, { minLength: 1, maxLength: 4 }),
        fc.uniqueArray(identifier, { minLength: 1, maxLength: 4 }),
        fc.uniqueArray(identifier.map((name) => `plain_${name}`), { maxLength: 3 }),
        (namespaces, members, plain) => {
          const tools: Array<Namespace.Tool> = [
            ...plain.map((name) => ({ type: "function", name })),
            ...namespaces.map((namespace) => ({
              type: "namespace",
              name: namespace,
              tools: members.map((name) => ({ type: "function", name }))
            })),
            { type: "web_search" }
          ]
          const flat = Result.getOrThrow(Namespace.flatten(listed(tools)))
          expect(flat.tools.map(({ tool }) => tool.name)).toEqual([
            ...plain,
            ...namespaces.flatMap((namespace) => members.map((name) => `${namespace}__${name}`)),
            undefined
          ])
          expect(flat.tools.every(({ tool }) => tool.type !== "namespace")).toBe(true)
          expect(flat.tools[plain.length]!.at).toBe(`tools[${plain.length}].tools[0]`)
          for (const namespace of namespaces) {
            for (const name of members) {
              expect(Namespace.callFields(flat.names, Namespace.qualified(namespace, name))).toEqual({
                name,
                namespace
              })
            }
          }
          for (const name of plain) expect(Namespace.callFields(flat.names, name)).toEqual({ name })
        }
      )
    ))

  it("a list without a namespace is kept as it is, with no names", () => {
    const tools = [{ type: "function", name: "run" }, { type: "web_search" }]
    const flat = Result.getOrThrow(Namespace.flatten(listed(tools)))
    expect(flat.tools.map(({ tool }) => tool)).toEqual(tools)
    expect(flat.names.size).toBe(0)
  })

  it("a qualified name another tool has, or one a provider would refuse, is a problem naming where", () => {
    const taken = refusal(Namespace.flatten(listed([
      { type: "namespace", name: "ns", tools: [{ type: "function", name: "run" }] },
      { type: "function", name: "ns__run" }
    ])))
    expect(taken).toBeInstanceOf(Problem)
    expect(taken.message).toBe("tools[1].name: 'ns__run' is also the name of tools[0].tools[0]")
    const long = refusal(Namespace.flatten(listed([
      { type: "namespace", name: "n".repeat(40), tools: [{ type: "function", name: "f".repeat(30) }] }
    ])))
    expect(long).toBeInstanceOf(Problem)
    expect(long.param).toBe("tools[0].tools[0].name")
    const dotted = refusal(Namespace.flatten(listed([{
      type: "namespace",
      name: "mcp.docs",
      tools: [{ type: "function", name: "f" }]
    }])))
    expect(dotted.message).toContain("'mcp.docs__f' (the namespace's name, '__' and the tool's)")
  })

  it(
    "a custom tool, a namespace's or not, and the client's tool search are named back as theirs; a tool placed in the " +
      "input is named where it is",
    () => {
      const flat = Result.getOrThrow(Namespace.flatten([
        { tool: { type: "custom", name: "apply_patch" }, at: "tools[0]" },
        { tool: { type: "tool_search", execution: "client" } as Namespace.Tool, at: "tools[1]" },
        {
          tool: {
            type: "namespace",
            name: "functions",
            tools: [{ type: "custom", name: "exec" }, { type: "function", name: "wait" }]
          },
          at: "input[0].tools[0]"
        }
      ]))
      expect(flat.tools.map(({ at, tool }) => [at, tool.name])).toEqual([
        ["tools[0]", "apply_patch"],
        ["tools[1]", undefined],
        ["input[0].tools[0].tools[0]", "functions__exec"],
        ["input[0].tools[0].tools[1]", "functions__wait"]
      ])
      expect(Namespace.callFields(flat.names, "apply_patch")).toEqual({ name: "apply_patch", kind: "custom" })
      expect(Namespace.callFields(flat.names, "functions__exec")).toEqual({
        name: "exec",
        namespace: "functions",
        kind: "custom"
      })
      expect(Namespace.callFields(flat.names, "functions__wait")).toEqual({ name: "wait", namespace: "functions" })
      expect(Namespace.callFields(flat.names, "tool_search")).toEqual({ name: "tool_search", kind: "tool_search" })
    }
  )
})
