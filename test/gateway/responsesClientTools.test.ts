import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as ClientTools from "../../src/internal/wire/openAiResponses/clientTools.js"
import { checkBody, type FlatTool, reply } from "../../src/internal/wire/openAiResponses/codec.js"
import * as Responses from "../../src/internal/wire/openAiResponses/dialect.js"

// A Responses body's text checked, as the gateway reads it.
const checked = (body: object) => Result.getOrThrow(Responses.decode(JSON.stringify(body)))

const patch = {
  type: "custom",
  name: "apply_patch",
  description: "Applies a patch.",
  format: { type: "grammar", syntax: "lark", definition: "start: /.+/" }
}
const search = {
  type: "tool_search",
  execution: "client",
  description: "Finds tools.",
  parameters: { type: "object", properties: { query: { type: "string" } } }
}

describe("The Responses API's client tools, for a deployment of another API", () => {
  it("property: a custom tool's input goes out as the function's one argument and comes back as it was", () =>
    fc.assert(fc.property(fc.string(), (input) => {
      const item = ClientTools.asFunctionItem({ type: "custom_tool_call", call_id: "c", name: "apply_patch", input })
      expect(item).toMatchObject({ type: "function_call", call_id: "c", name: "apply_patch" })
      expect(ClientTools.inputOf((item as { readonly arguments: string }).arguments)).toBe(input)
    })))

  it("a model's arguments that are not the one argument's object reach the client as the text it wrote", () => {
    expect(ClientTools.inputOf("not json")).toBe("not json")
    expect(ClientTools.inputOf(`{"other":"x"}`)).toBe(`{"other":"x"}`)
    expect(ClientTools.inputOf(`{"input":7}`)).toBe(`{"input":7}`)
  })

  it(
    "a custom tool is a function of one string described by its grammar; the client's search a function of its own " +
      "parameters; a function as it is",
    () => {
      const asPatch = ClientTools.asFunction(patch as unknown as FlatTool)
      expect(asPatch).toMatchObject({
        type: "function",
        name: "apply_patch",
        parameters: { type: "object", required: ["input"], properties: { input: { type: "string" } } }
      })
      expect(asPatch.description).toContain("Applies a patch.")
      expect(asPatch.description).toContain("lark grammar:\nstart: /.+/")
      expect(asPatch).not.toHaveProperty("format")
      expect(ClientTools.asFunction(search as unknown as FlatTool)).toEqual({
        type: "function",
        name: "tool_search",
        description: "Finds tools.",
        parameters: search.parameters
      })
      const plain = { type: "function", name: "run" } as FlatTool
      expect(ClientTools.asFunction(plain)).toBe(plain)
    }
  )

  it(
    "a body's client items read as functions': its additional tools, an earlier turn's and a search's loaded ones " +
      "offered once each, the search's output as the names it loaded",
    () => {
      const calendar = {
        type: "namespace",
        name: "calendar",
        tools: [{ type: "function", name: "read", parameters: { type: "object" } }]
      }
      const body = checked({
        model: "m",
        tools: [patch],
        input: [
          { type: "additional_tools", role: "developer", tools: [search, { type: "function", name: "run" }] },
          { role: "user", content: "Find the calendar." },
          { type: "tool_search_call", call_id: "s1", execution: "client", arguments: { query: "calendar" } },
          { type: "tool_search_output", call_id: "s1", execution: "client", tools: [calendar] },
          { type: "custom_tool_call", call_id: "p1", name: "apply_patch", input: "*** Begin Patch" },
          { type: "custom_tool_call_output", call_id: "p1", output: "Done." }
        ]
      })
      const earlier = [{ type: "function", name: "run" }, { type: "function", name: "older" }]
      const served = Result.getOrThrow(ClientTools.asFunctions(body, earlier))
      expect(served.tools.map(({ tool }) => [tool.type, tool.name])).toEqual([
        ["function", "apply_patch"],
        ["function", "run"],
        ["function", "older"],
        ["function", "tool_search"],
        ["function", "calendar__read"]
      ])
      expect(served.names.get("calendar__read")).toEqual({ name: "read", namespace: "calendar" })
      expect(served.names.get("tool_search")).toEqual({ name: "tool_search", kind: "tool_search" })
      expect(served.names.get("apply_patch")).toEqual({ name: "apply_patch", kind: "custom" })
      expect(served.body.input).toEqual([
        { role: "user", content: "Find the calendar." },
        { type: "function_call", call_id: "s1", name: "tool_search", arguments: `{"query":"calendar"}` },
        { type: "function_call_output", call_id: "s1", output: "Loaded tools: calendar__read" },
        { type: "function_call", call_id: "p1", name: "apply_patch", arguments: `{"input":"*** Begin Patch"}` },
        { type: "function_call_output", call_id: "p1", output: "Done." }
      ])
      expect(Result.isSuccess(checkBody(served.body))).toBe(true)
      // What a later turn has: the earlier turn's, then the input's, as they came.
      expect(served.held).toEqual([...earlier, search, { type: "function", name: "run" }, calendar])
    }
  )

  it("a client item that does not hold what it must is refused, naming the item", () => {
    const refused = Result.flip(Responses.decode(JSON.stringify({
      model: "m",
      input: [{ type: "custom_tool_call", call_id: "p1", name: "apply_patch" }]
    })))
    expect(Result.getOrThrow(refused).param).toMatch(/^input\[0\]/)
  })

  it("a server-executed tool search is not the client's: its items stay the Responses API's", () => {
    const server = { type: "tool_search_call", call_id: null, execution: "server", arguments: {} }
    expect(ClientTools.isClientItem(server as never)).toBe(false)
    expect(ClientTools.isClientTool({ type: "tool_search" } as FlatTool)).toBe(false)
  })

  it("a namespace's function a Responses deployment calls is read under its qualified name, named back as the client's", () => {
    const whole = reply({
      id: "resp_1",
      status: "completed",
      output: [{ type: "function_call", call_id: "c1", name: "read", namespace: "calendar", arguments: "{}" }]
    }, false)
    expect(whole.toolCalls.map((call) => call.name)).toEqual(["calendar__read"])
  })
})
