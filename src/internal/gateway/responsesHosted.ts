/**
 * What of a Responses body only a deployment speaking OpenAI's Responses API runs: its tools other than functions
 * (`web_search`, `file_search`, `mcp`, `computer_use_preview`, `code_interpreter`, `image_generation`, `local_shell`,
 * custom tools...), a hosted tool's `tool_choice`, and its input items of other types (those tools' calls and
 * outputs). The route refuses them, naming every type, for a model that reaches another API; otherwise they go to the
 * deployment as they came (`responsesWire.ts`).
 */
import { type CountBody, isHostedChoice, isOtherItem, Problem } from "./responsesWire.js"

/** A part of a body only a Responses deployment takes: a tool, the tool choice or an input item, by type. */
export interface ResponsesOnly {
  /** Where it is in the body (`tools[1].type`). */
  readonly at: string
  readonly type: string
}

/**
 * The tools (other than functions), the tool choice (a hosted tool's) and the input items (other than messages,
 * function calls and outputs, and reasoning) of a body that only a deployment speaking OpenAI's Responses API takes,
 * as they came; none when the body has none.
 */
export const responsesOnly = (body: CountBody): ReadonlyArray<ResponsesOnly> => {
  const out: Array<ResponsesOnly> = []
  const tools = body.tools ?? []
  for (let i = 0; i < tools.length; i++) {
    if (tools[i]!.type !== "function") out.push({ at: `tools[${i}].type`, type: tools[i]!.type })
  }
  const choice = body.tool_choice
  if (isHostedChoice(choice)) out.push({ at: "tool_choice.type", type: choice.type })
  const input = typeof body.input === "object" && body.input !== null ? body.input : []
  for (let i = 0; i < input.length; i++) {
    const one = input[i]!
    if (isOtherItem(one)) out.push({ at: `input[${i}].type`, type: one.type })
  }
  return out
}

/** The refusal of `parts` (`responsesOnly`) for `model`, some of whose deployments do not speak the Responses API. */
export const refusedFor = (model: string, parts: ReadonlyArray<ResponsesOnly>): Problem => {
  const types = [...new Set(parts.map((part) => `'${part.type}'`))].join(", ")
  return new Problem(
    parts[0]!.at,
    `${parts[0]!.at}: ${types} ${parts.length === 1 ? "is" : "are"} run by OpenAI's Responses API, and '${model}' ` +
      `reaches deployments that do not speak it: this gateway runs function tools only (type 'function') there. ` +
      `Name a model whose deployments all have api "responses".`
  )
}
