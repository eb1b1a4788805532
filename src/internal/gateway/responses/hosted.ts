/**
 * What of a Responses body only a deployment speaking OpenAI's Responses API runs: its tools other than functions
 * (`web_search`, `file_search`, `mcp`, `computer_use_preview`, `code_interpreter`, `image_generation`, `local_shell`,
 * custom tools...), a hosted tool's `tool_choice`, and its input items of other types (those tools' calls and
 * outputs). For a model whose deployments all speak it, they go as they came (`wire/openAiResponses/codec.ts`), and so
 * they do to the Responses deployments of a model reaching both kinds (`engine.ts`). For a model that reaches only
 * other APIs, the client's tools of kinds only the Responses API has (custom tools, its tool search, an
 * `additional_tools` item's) are offered as functions (`wire/openAiResponses/clientTools.ts`); a tool OpenAI runs
 * itself (`hostedTypes`) is left out, named in the answer's `x-omitted-tools` header and the request's log line,
 * unless the request's `tool_choice` requires it or the gateway's `hosted_tools` is `"refuse"`; anything else of them
 * is refused, naming every type: a client's own tool of another type, or a call or output of one, cannot be run or
 * replayed by that deployment.
 */
import * as Result from "effect/Result"
import type * as Gateway from "../../../Gateway.js"
import * as ClientTools from "../../wire/openAiResponses/clientTools.js"
import {
  type BodyTool,
  type CountBody,
  type FlatTool,
  hostedTypes,
  isHostedChoice,
  isOtherItem,
  Problem
} from "../../wire/openAiResponses/codec.js"
import type { Checked } from "../../wire/openAiResponses/dialect.js"
import type { Placed } from "../../wire/openAiResponses/namespace.js"
import type { Auth } from "../access/authentication.js"
import type { Caller } from "../access/caller.js"
import type { Engine, Target } from "../engine.js"

/** A part of a body only a Responses deployment takes: a tool, the tool choice or an input item, by type. */
export interface ResponsesOnly {
  /** Where it is in the body (`tools[1].type`). */
  readonly at: string
  readonly type: string
}

/**
 * The tools (other than functions, namespaces flattened), the tool choice (a hosted tool's) and the input items
 * (other than messages, function calls and outputs, and reasoning) of a body that only a deployment speaking OpenAI's
 * Responses API takes, as they came; none when the body has none.
 */
export const responsesOnly = (
  body: CountBody,
  tools: ReadonlyArray<Placed<FlatTool>>
): ReadonlyArray<ResponsesOnly> => {
  const out: Array<ResponsesOnly> = []
  for (const { at, tool } of tools) if (tool.type !== "function") out.push({ at: `${at}.type`, type: tool.type })
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
  const required = parts[0]!.at === "tool_choice.type" ? "required by tool_choice and " : ""
  return new Problem(
    parts[0]!.at,
    `${parts[0]!.at}: ${types} ${parts.length === 1 ? "is" : "are"} ${required}run by OpenAI's Responses API, and ` +
      `'${model}' reaches deployments that do not speak it: this gateway runs function tools only (type 'function') ` +
      `there. Name a model whose deployments all have api "responses".`
  )
}

/**
 * A checked body as a deployment is sent it (for one of another API, the client's tools of kinds only the Responses
 * API has as functions, `clientTools.ts`), and the types of the tools left out.
 */
export interface Served<B extends CountBody = CountBody> extends Checked<B> {
  readonly omitted: ReadonlyArray<string>
  /** Whether the client's tools of kinds only the Responses API has are offered as functions. */
  readonly asFunctions: boolean
  /**
   * The tools the conversation has made available beside the body's own, as they came (`ClientTools.available`): an
   * earlier turn's and its input's, which a later turn continuing the response has too.
   */
  readonly clientTools: ReadonlyArray<BodyTool>
}

/**
 * What of a checked body a model reaching another API than the Responses one is sent: its client tools as functions
 * (`ClientTools.asFunctions`), and all its tools but the hosted ones (`hostedTypes`), unless `policy` is `"refuse"`; or
 * the refusal of what it cannot run (another tool type, a hosted tool the tool choice requires, an input item of
 * another type).
 */
export const servedElsewhere = <B extends CountBody>(
  model: string,
  checked: Checked<B>,
  policy: Gateway.HostedTools,
  earlier: ReadonlyArray<BodyTool>
): Result.Result<Served<B>, Problem> => {
  const converted = ClientTools.asFunctions(checked, earlier)
  if (Result.isFailure(converted)) return Result.fail(converted.failure)
  const { body, held: clientTools, names, tools } = converted.success
  const sent = { body, names, tools }
  const parts = responsesOnly(body, tools)
  if (parts.length === 0) return Result.succeed({ ...sent, omitted: [], asFunctions: true, clientTools })
  const omittable = (part: ResponsesOnly) =>
    policy === "omit" && part.at.startsWith("tools[") && hostedTypes.has(part.type)
  const refused = parts.filter((part) => !omittable(part))
  if (refused.length > 0) return Result.fail(refusedFor(model, refused))
  return Result.succeed({
    ...sent,
    tools: tools.filter(({ tool }) => !hostedTypes.has(tool.type)),
    omitted: [...new Set(parts.map((part) => part.type))],
    asFunctions: true,
    clientTools
  })
}

/** What `served` places: the tools sent and left out, and the Responses deployment a body only one runs goes to. */
export type ServedTo<B extends CountBody = CountBody> = Served<B> & { readonly target?: Target | undefined }

/**
 * A checked body as its model is sent it, and the target sent it when it is not the model's: as it came for a model
 * whose deployments all speak the Responses API (or one admission refuses: unknown, or not the key's); for a model
 * reaching both kinds, as it came, to its Responses deployments, when the body has what only they run; for another,
 * its client tools as functions and the hosted tools left out (`servedElsewhere`), or the refusal of what it cannot
 * run.
 */
export function served<B extends CountBody & { readonly model: string }>(
  engine: Engine,
  auth: Pick<Auth, "allows">,
  checked: Checked<B>,
  caller: Caller | undefined,
  earlier: ReadonlyArray<BodyTool>
): Result.Result<ServedTo<B>, Problem> {
  const { body, tools } = checked
  const target = engine.resolve(body.model)
  // As it came, its calls of the tools its conversation made available named back as the client named them.
  const asSent = (to?: Target): Result.Result<ServedTo<B>, Problem> =>
    Result.map(ClientTools.available(checked, earlier), ({ held, names }) => ({
      ...checked,
      names,
      omitted: [],
      asFunctions: false,
      clientTools: held,
      ...(to === undefined ? {} : { target: to })
    }))
  if (target === undefined || target.speaksResponses || !auth.allows(caller, body.model)) return asSent()
  if (target.responses !== undefined && responsesOnly(body, tools).length > 0) return asSent(target.responses)
  return servedElsewhere(body.model, checked, engine.hostedTools, earlier)
}
