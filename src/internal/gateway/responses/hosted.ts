/**
 * What of a Responses body only a deployment speaking OpenAI's Responses API runs: tools other than functions
 * (`web_search`, `mcp`, `code_interpreter`, custom tools...), a hosted tool's `tool_choice`, and input items of other
 * types. A model whose deployments all speak it, or a model's Responses deployments when it reaches both kinds
 * (`engine.ts`), get them as they came. A model reaching only other APIs is offered the client's Responses-only tools
 * as functions (`clientTools.ts`); a tool OpenAI runs itself (`hostedTypes`) is left out, named in `x-omitted-tools`
 * and the log line, unless `tool_choice` requires it or `hosted_tools` is `"refuse"`; anything else is refused, naming
 * every type, as that deployment can neither run nor replay it.
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
 * What a model reaching another API than the Responses one is sent of a checked body: its client tools as functions and
 * all tools but the hosted ones (unless `policy` is `"refuse"`); or the refusal of what it cannot run.
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
 * A checked body as its model is sent it, with the target when it is not the model's: as it came for a model whose
 * deployments all speak the Responses API (or one admission refuses); to a model's Responses deployments when it
 * reaches both kinds and the body has what only they run; for another, `servedElsewhere`.
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
