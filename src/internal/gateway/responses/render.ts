/**
 * The engine's replies as OpenAI's Responses API answers them (its reference's `response` object): the reply's
 * output items (a `reasoning` item with its summary, a `message` with its `output_text`, a `function_call` per tool
 * call), its `usage`, its `status` (`incomplete` when the reply's limit or a content filter cut it), and the
 * request's settings echoed as OpenAI echoes them. The stream (`responses/stream.ts`) ends with the same object.
 *
 * Ids are Responses' shapes, made of a random UUID of the gateway's (never the client's `x-request-id`, which it may
 * choose, so no client can name another's response before it is made): `resp_…` for the response, `msg_…`, `fc_…` and
 * `rs_…` for its items (each with its output index). A function call's `call_id` is the provider's call id, which the
 * client sends back in its `function_call_output`. A Responses deployment's reasoning items, kept in the reply's
 * provider metadata with their `encrypted_content`, go out with it, so a client sending them back gives them to it
 * again; so do its items of other types (a hosted tool's call and result, `web_search_call`, `mcp_call`...), as it gave
 * them.
 */
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type { ToolCall } from "../../../Message.js"
import { isRecord, type JsonRecord, outputItemsOf, reasoningItemsOf } from "../../providers/openAiResponses/wire.js"
import { envelope } from "../carried.js"
import { callFields, type Names } from "./namespace.js"
import type { Body } from "./wire.js"

/** What names a response: its `resp_…` id, the seconds of its creation, and the ids of its items. */
export interface Ids {
  readonly response: string
  readonly createdAt: number
  /** The id of the output item at `index` of `kind`. */
  readonly item: (kind: "msg" | "fc" | "rs", index: number) => string
}

/** The ids of the response of id `uuid` (a random UUID), created at `createdAt` seconds. */
export const idsOf = (uuid: string, createdAt: number): Ids => {
  const hex = uuid.replaceAll("-", "")
  return { response: `resp_${hex}`, createdAt, item: (kind, index) => `${kind}_${hex}${index}` }
}

/** A response's status, and why it is incomplete when it is. */
export const statusOf = (
  reason: FinishReason
): { readonly status: "completed" | "incomplete"; readonly incomplete: JsonRecord | null } =>
  reason === "length"
    ? { status: "incomplete", incomplete: { reason: "max_output_tokens" } }
    : reason === "content_filter"
    ? { status: "incomplete", incomplete: { reason: "content_filter" } }
    : { status: "completed", incomplete: null }

/** Usage as the Responses API reports it. */
export const usageObject = (usage: Usage): JsonRecord => ({
  input_tokens: usage.promptTokens,
  input_tokens_details: { cached_tokens: usage.cachedPromptTokens },
  output_tokens: usage.completionTokens,
  output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  total_tokens: usage.totalTokens
})

const orNull = <A>(value: A | null | undefined): A | null => value ?? null

/** The request's settings as a response echoes them (OpenAI's defaults where the body left them out). */
export const echoOf = (body: Body): JsonRecord => ({
  instructions: orNull(body.instructions),
  max_output_tokens: orNull(body.max_output_tokens),
  metadata: body.metadata ?? {},
  parallel_tool_calls: body.parallel_tool_calls ?? true,
  previous_response_id: orNull(body.previous_response_id),
  prompt_cache_key: orNull(body.prompt_cache_key),
  reasoning: { effort: orNull(body.reasoning?.effort), summary: orNull(body.reasoning?.summary) },
  store: body.store ?? true,
  temperature: body.temperature ?? 1,
  text: { format: body.text?.format ?? { type: "text" } },
  tool_choice: body.tool_choice ?? "auto",
  tools: body.tools ?? [],
  top_p: body.top_p ?? 1,
  truncation: "disabled",
  user: orNull(body.user)
})

/** What a response object says of its run: where it stands, what it holds, and why it failed or stopped. */
export interface Outcome {
  readonly status: "in_progress" | "completed" | "incomplete" | "failed"
  readonly model: string
  readonly output: ReadonlyArray<JsonRecord>
  readonly usage: Usage | undefined
  readonly error?: JsonRecord | undefined
  readonly incomplete?: JsonRecord | null | undefined
  /** The seconds of its completion, once it has completed. */
  readonly completedAt?: number | undefined
}

/** A `response` object of `ids`, echoing `echo`, as `outcome` says. */
export const responseObject = (ids: Ids, echo: JsonRecord, outcome: Outcome): JsonRecord => ({
  id: ids.response,
  object: "response",
  created_at: ids.createdAt,
  status: outcome.status,
  ...(outcome.completedAt !== undefined ? { completed_at: outcome.completedAt } : {}),
  error: outcome.error ?? null,
  incomplete_details: outcome.incomplete ?? null,
  model: outcome.model,
  output: outcome.output,
  ...echo,
  usage: outcome.usage === undefined ? null : usageObject(outcome.usage)
})

/** An `output_text` part of `text`. */
export const outputText = (text: string): JsonRecord => ({ type: "output_text", text, annotations: [], logprobs: [] })

/** A `summary_text` part of `text`. */
export const summaryText = (text: string): JsonRecord => ({ type: "summary_text", text })

/** The `message` item at `index`, `status` as given, of `content` parts. */
export const messageItem = (
  ids: Ids,
  index: number,
  status: "in_progress" | "completed",
  content: ReadonlyArray<JsonRecord>
): JsonRecord => ({ id: ids.item("msg", index), type: "message", status, role: "assistant", content })

/** The `function_call` item at `index` of `call`, named as the request's tools (`names`) named its function. */
export const functionCallItem = (
  ids: Ids,
  names: Names,
  index: number,
  status: "in_progress" | "completed",
  call: ToolCall
): JsonRecord => ({
  id: ids.item("fc", index),
  type: "function_call",
  status,
  arguments: call.arguments,
  call_id: call.id,
  ...callFields(names, call.name)
})

/** The `reasoning` item at `index` of `summary`. */
export const reasoningItem = (ids: Ids, index: number, summary: ReadonlyArray<JsonRecord>): JsonRecord => ({
  id: ids.item("rs", index),
  type: "reasoning",
  summary
})

/** The `encrypted_content` of each reasoning item a Responses deployment left in the reply's metadata, in order. */
export const encryptedReasoning = (metadata: ChatResponse["providerMetadata"]): ReadonlyArray<string | undefined> =>
  reasoningItemsOf(metadata).map((item) =>
    isRecord(item) && typeof item["encrypted_content"] === "string" ? item["encrypted_content"] : undefined
  )

// The reasoning items of a whole reply: a Responses deployment's, as it gave them, or one of the reply's reasoning.
const reasoningItems = (response: ChatResponse, ids: Ids): Array<JsonRecord> => {
  const given = reasoningItemsOf(response.providerMetadata).filter(isRecord)
  if (given.length > 0) {
    return given.map((item, index) => ({
      ...reasoningItem(ids, index, Array.isArray(item["summary"]) ? item["summary"] : []),
      ...(typeof item["encrypted_content"] === "string" ? { encrypted_content: item["encrypted_content"] } : {})
    }))
  }
  return response.reasoning === undefined ? [] : [reasoningItem(ids, 0, [summaryText(response.reasoning)])]
}

/**
 * The output items of types the gateway does not render itself (`outputItemsOf`), as a Responses deployment
 * gave them.
 */
export const passedItems = (metadata: ChatResponse["providerMetadata"]): ReadonlyArray<JsonRecord> =>
  outputItemsOf(metadata).filter(isRecord)

/**
 * A whole reply's output items: its reasoning, the items of other types a Responses deployment gave (a hosted tool's
 * call), its message (unless it is only tool calls), its function calls, and the carrier of its provider's state
 * when it has any.
 */
export const outputItems = (response: ChatResponse, ids: Ids, names: Names): Array<JsonRecord> => {
  const output = [...reasoningItems(response, ids), ...passedItems(response.providerMetadata)]
  const content: Array<JsonRecord> = []
  if (response.text !== "" || (response.toolCalls.length === 0 && response.refusal === undefined)) {
    content.push(outputText(response.text))
  }
  if (response.refusal !== undefined) content.push({ type: "refusal", refusal: response.refusal })
  if (content.length > 0) output.push(messageItem(ids, output.length, "completed", content))
  for (const call of response.toolCalls) output.push(functionCallItem(ids, names, output.length, "completed", call))
  const carried = envelope(
    response.providerMetadata,
    response.toolCalls.map((call) => [call.id, call.providerMetadata])
  )
  if (carried !== undefined) output.push(carrierItem(ids, output.length, carried))
  return output
}

/** The `reasoning` item at `index` that carries a provider's state for the next turn (`carried.ts`). */
export const carrierItem = (ids: Ids, index: number, carried: string): JsonRecord => ({
  ...reasoningItem(ids, index, []),
  encrypted_content: carried
})

/**
 * A whole reply as the `response` object of `ids`, its calls named as the request's tools (`names`), echoing the
 * request's `echo`; completed at `now` seconds.
 */
export const response = (reply: ChatResponse, ids: Ids, names: Names, echo: JsonRecord, now: number): Finished => {
  const { incomplete, status } = statusOf(reply.finishReason)
  return finished(responseObject(ids, echo, {
    status,
    model: reply.model,
    output: outputItems(reply, ids, names),
    usage: reply.usage,
    incomplete,
    completedAt: now
  }))
}

/** A completed (or incomplete) response: its object's JSON, and its output items. */
export interface Finished {
  readonly body: string
  readonly output: ReadonlyArray<JsonRecord>
}

/** A finished `response` object as its JSON and its output items. */
export const finished = (response: JsonRecord): Finished => ({
  body: JSON.stringify(response),
  output: response["output"] as ReadonlyArray<JsonRecord>
})
