/**
 * A client's tools of kinds only the Responses API has (OpenAI's Responses API reference), offered each as a function
 * to a deployment of another API: a custom tool ("Custom tools": free-text input) as a function of one string, its
 * `input`; the client's tool search (`execution: "client"`) as a function of its own parameters, the tools an output
 * loads offered from then on; the tools of an `additional_tools` input item (where Codex's models of the Responses
 * API's "lite" form have all theirs) as the body's own. A call the model makes is given back to the client as a
 * `custom_tool_call` or a `tool_search_call` (`writer.ts`, by `namespace.ts`' names).
 */
import * as Result from "effect/Result"
import type { ToolCall } from "../../../Message.js"
import { isJsonObject, type JsonObject, parseJsonObject } from "../../json.js"
import { loadedLine } from "../../providers/toolSearch.js"
import type { Problem } from "../../schemaCheck.js"
import type { BodyTool, ClientToolItem, CountBody, FlatTool, ItemStatus, OutputItem, WireItem } from "./codec.js"
import { clientToolItems } from "./codec.js"
import type { Checked } from "./dialect.js"
import { clientSearch, flatten, isClientSearch, type Placed, qualified, type Tool } from "./namespace.js"

/** The one argument of the function a custom tool is offered as. */
export const argument = "input"

/**
 * The function a tool is offered as to a deployment of another API: a custom tool's (one string, `input`, described by
 * the tool's description and grammar), the client's tool search's (its parameters); any other as it is.
 */
export function asFunction(tool: FlatTool): FlatTool {
  if (tool.type === "tool_search") {
    const { execution: _execution, ...rest } = tool as FlatTool & { readonly execution?: unknown }
    return { ...rest, type: "function", name: clientSearch, parameters: tool.parameters ?? { type: "object" } }
  }
  if (tool.type !== "custom") return tool
  const { format, ...rest } = tool as FlatTool & { readonly format?: unknown }
  const grammar = isJsonObject(format) && typeof format["definition"] === "string"
    ? `\n\nThe input is text in this ${String(format["syntax"] ?? "")} grammar:\n${format["definition"]}`
    : ""
  return {
    ...rest,
    type: "function",
    description: `${tool.description ?? ""}${grammar}`,
    parameters: {
      type: "object",
      properties: { [argument]: { type: "string", description: "The tool's input, as its description says." } },
      required: [argument],
      additionalProperties: false
    },
    strict: false
  }
}

/** Whether a tool is offered as a function to another API (`asFunction`). */
export const isClientTool = (tool: FlatTool): boolean => tool.type === "custom" || isClientSearch(tool)

/** Whether an input item is a client tool's call or output that is read as a function's (`asFunctionItem`). */
export const isClientItem = (item: WireItem): item is ClientToolItem =>
  clientToolItems.has(item.type ?? "") &&
  (!item.type!.startsWith("tool_search") || (item as { readonly execution?: unknown }).execution === "client")

/**
 * A client tool's call or output as a function's: a custom call's input its one argument, a search's output its list;
 * none for an `additional_tools` item, whose tools are the body's.
 */
export function asFunctionItem(item: ClientToolItem): WireItem | undefined {
  if (item.type === "additional_tools") return undefined
  const callId = item.call_id ?? ""
  switch (item.type) {
    case "custom_tool_call":
      return {
        type: "function_call",
        call_id: callId,
        name: item.name,
        namespace: item.namespace,
        arguments: JSON.stringify({ [argument]: item.input })
      }
    case "custom_tool_call_output":
      return { type: "function_call_output", call_id: callId, output: item.output }
    case "tool_search_call":
      return {
        type: "function_call",
        call_id: callId,
        name: clientSearch,
        arguments: JSON.stringify(item.arguments ?? {})
      }
    case "tool_search_output":
      return { type: "function_call_output", call_id: callId, output: loadedLine(loadedNames(item.tools)) }
  }
}

// The names a search's loaded tools are called by: a namespace's by their qualified names.
function loadedNames(tools: ReadonlyArray<Tool>): Array<string> {
  return tools.flatMap((tool) =>
    tool.type === "namespace"
      ? (tool.tools ?? []).map((member) => qualified(tool.name ?? "", member.name ?? ""))
      : [tool.name ?? tool.type]
  )
}

// The tools of an `additional_tools` item or of an output of the client's tool search, each where the body has it.
function heldTools(input: ReadonlyArray<WireItem>): Array<Placed<BodyTool>> {
  const out: Array<Placed<BodyTool>> = []
  for (let i = 0; i < input.length; i++) {
    const item = input[i]!
    if ((item.type !== "tool_search_output" && item.type !== "additional_tools") || !isClientItem(item)) continue
    const { tools } = item as Extract<ClientToolItem, { readonly tools: unknown }>
    for (let j = 0; j < tools.length; j++) out.push({ tool: tools[j]!, at: `input[${i}].tools[${j}]` })
  }
  return out
}

/** The tools `available` to a body, how each is named back, and those beside its own, as they came (`held`). */
export interface Available<B extends CountBody> extends Pick<Checked<B>, "tools" | "names"> {
  /**
   * The tools an earlier turn made available and those the body's input makes available (its `additional_tools` items',
   * those the client's tool search loaded), as they came: a later turn continuing the response has them too.
   */
  readonly held: ReadonlyArray<BodyTool>
}

/**
 * A checked body's tools with those an earlier turn made available (`earlier`) and those its own `additional_tools`
 * items and tool search outputs add, and how each is named back; or the problem with such a tool's name.
 */
export function available<B extends CountBody>(
  checked: Checked<B>,
  earlier: ReadonlyArray<BodyTool>
): Result.Result<Available<B>, Problem> {
  const input = Array.isArray(checked.body.input) ? checked.body.input : []
  const held = [...earlier.map((tool) => ({ tool, at: "previous_response_id" })), ...heldTools(input)]
  if (held.length === 0) return Result.succeed({ tools: checked.tools, names: checked.names, held: [] })
  const tools = [...checked.tools]
  const names = new Map(checked.names)
  const named = new Set(tools.map(({ tool }) => tool.name))
  for (const one of held) {
    const flat = flatten([one])
    if (Result.isFailure(flat)) return Result.fail(flat.failure)
    for (const placed of flat.success.tools as ReadonlyArray<Placed<FlatTool>>) {
      if (named.has(placed.tool.name)) continue
      named.add(placed.tool.name)
      tools.push(placed)
    }
    for (const [name, namespaced] of flat.success.names) if (!names.has(name)) names.set(name, namespaced)
  }
  return Result.succeed({ tools, names, held: held.map(({ tool }) => tool) })
}

/**
 * A checked body with the tools `available` to it, the client's as functions (`asFunction`), and their calls and
 * outputs as functions' (`asFunctionItem`); or the problem with a tool's name.
 */
export function asFunctions<B extends CountBody>(
  checked: Checked<B>,
  earlier: ReadonlyArray<BodyTool>
): Result.Result<Checked<B> & Pick<Available<B>, "held">, Problem> {
  const { body } = checked
  const input = Array.isArray(body.input) ? body.input : []
  return Result.map(available(checked, earlier), ({ held, names, tools }) => {
    const items = input.some(isClientItem)
      ? input.flatMap((item) => isClientItem(item) ? asFunctionItem(item) ?? [] : [item])
      : undefined
    return {
      body: items === undefined ? body : { ...body, input: items },
      tools: tools.map((placed) => isClientTool(placed.tool) ? { ...placed, tool: asFunction(placed.tool) } : placed),
      names,
      held
    }
  })
}

/** Output items with each client tool's call as a function's (`asFunctionItem`), as a later turn reads them. */
export function asFunctionItems(items: ReadonlyArray<OutputItem>): Array<OutputItem> {
  return items.flatMap((item) =>
    isClientItem(item as WireItem) ? (asFunctionItem(item as unknown as ClientToolItem) as OutputItem) ?? [] : [item]
  )
}

/** A custom tool's input, from the arguments of its call as a function: its one string, else the arguments as sent. */
export function inputOf(args: string): string {
  const input = parseJsonObject(args)?.[argument]
  return typeof input === "string" ? input : args
}

/**
 * The item `id` of `call` (a function's call, `asFunction`) as the client's tool it stands for: a `custom_tool_call`
 * named as `fields` name it, or a `tool_search_call` of its arguments.
 */
export function callItem(
  id: string,
  status: ItemStatus,
  call: ToolCall,
  fields: { readonly name: string; readonly namespace?: string; readonly kind: "custom" | "tool_search" }
): OutputItem {
  const { kind, ...named } = fields
  if (kind === "custom") {
    return { id, type: "custom_tool_call", status, call_id: call.id, ...named, input: inputOf(call.arguments) }
  }
  const args: JsonObject = parseJsonObject(call.arguments) ?? {}
  return { id, type: "tool_search_call", status, call_id: call.id, execution: "client", arguments: args }
}
