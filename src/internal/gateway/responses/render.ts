/**
 * The engine's replies as OpenAI's Responses API answers them (its reference's `response` object): the reply's
 * output items (a `reasoning` item with its summary, a `message` with its `output_text`, a `function_call` per tool
 * call), its `usage`, its `status` (`incomplete` when the reply's limit or a content filter cut it), and the
 * request's settings echoed as OpenAI echoes them. The stream (`responses/stream.ts`) ends with the same object.
 *
 * Ids are Responses' shapes, made of a random UUID of the gateway's (never the client's `x-request-id`, which it may
 * choose, so no client can name another's response before it is made): `resp_…` for the response, `msg_…`, `fc_…`
 * and `rs_…` for its items (each with its output index). A function call's `call_id` is the provider's call id,
 * which the client sends back in its `function_call_output`. A Responses deployment's reasoning items, kept in the
 * reply's provider metadata with their `encrypted_content`, go out with it, so a client sending them back gives them
 * to it again; so do its items of other types (a hosted tool's call and result, `web_search_call`, `mcp_call`...), as
 * it gave them.
 */
import type { ChatResponse } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { envelopeOf } from "../../codec/carried.js"
import {
  functionCallItem,
  isRecord,
  type JsonRecord,
  messageItem,
  metadataKey,
  type OutputItem,
  outputItemsOf,
  outputText,
  reasoningItem,
  reasoningItemsOf,
  refusalPart,
  type ResponseObject,
  responseObject,
  statusOf,
  summaryText
} from "../../codec/openAiResponses.js"
import { callFields, type Names } from "../../codec/responsesNamespace.js"

/** What names a response: its `resp_…` id, the seconds of its creation, and the ids of its items. */
export interface Ids {
  readonly response: string
  readonly createdAt: number
  /** The id of the output item at `index` of `kind`. */
  readonly item: (kind: "msg" | "fc" | "rs", index: number) => string
}

/** The ids of the response of id `uuid` (a random UUID), created at `createdAt` seconds. */
export function idsOf(uuid: string, createdAt: number): Ids {
  const hex = uuid.replaceAll("-", "")
  return { response: `resp_${hex}`, createdAt, item: (kind, index) => `${kind}_${hex}${index}` }
}

/** The `function_call` item at `index` of `call`, named as the request's tools (`names`) named its function. */
export function callItem(
  ids: Ids,
  names: Names,
  index: number,
  status: "in_progress" | "completed",
  call: ToolCall
): OutputItem {
  return functionCallItem(ids.item("fc", index), status, call, callFields(names, call.name))
}

/** A reply's metadata that is not a Responses deployment's (whose reasoning items carry themselves). */
export function foreignMetadata(metadata: ProviderMetadata | undefined): ProviderMetadata | undefined {
  if (metadata === undefined) return undefined
  const { [metadataKey]: _responses, ...rest } = metadata
  return Object.keys(rest).length === 0 ? undefined : rest
}

/**
 * The carried state of a reply's metadata (a Responses deployment's left out: its reasoning items carry themselves)
 * and its calls' (by id), as `encrypted_content`; none when there is none.
 */
export function envelope(
  message: ProviderMetadata | undefined,
  calls: Iterable<readonly [string, ProviderMetadata | undefined]>
): string | undefined {
  return envelopeOf(foreignMetadata(message), calls)
}

/** The `encrypted_content` of each reasoning item a Responses deployment left in the reply's metadata, in order. */
export function encryptedReasoning(metadata: ChatResponse["providerMetadata"]): ReadonlyArray<string | undefined> {
  return reasoningItemsOf(metadata).map((item) =>
    isRecord(item) && typeof item["encrypted_content"] === "string" ? item["encrypted_content"] : undefined
  )
}

// The reasoning items of a whole reply: a Responses deployment's, as it gave them, or one of the reply's reasoning.
function reasoningItems(response: ChatResponse, ids: Ids): Array<OutputItem> {
  const given = reasoningItemsOf(response.providerMetadata).filter(isRecord)
  if (given.length > 0) {
    return given.map((item, index) =>
      reasoningItem(
        ids.item("rs", index),
        // As the deployment gave them: its summary parts are the wire's.
        (Array.isArray(item["summary"]) ? item["summary"] : []) as Parameters<typeof reasoningItem>[1],
        typeof item["encrypted_content"] === "string" ? item["encrypted_content"] : undefined
      )
    )
  }
  return response.reasoning === undefined ? [] : [reasoningItem(ids.item("rs", 0), [summaryText(response.reasoning)])]
}

/**
 * A whole reply's output items: its reasoning, the items of other types a Responses deployment gave (a hosted tool's
 * call), its message (unless it is only tool calls), its function calls, and the carrier of its provider's state
 * when it has any.
 */
export function outputItems(response: ChatResponse, ids: Ids, names: Names): Array<OutputItem> {
  const output = [...reasoningItems(response, ids), ...outputItemsOf(response.providerMetadata)]
  const content: Parameters<typeof messageItem>[2][number][] = []
  if (response.text !== "" || (response.toolCalls.length === 0 && response.refusal === undefined)) {
    content.push(outputText(response.text))
  }
  if (response.refusal !== undefined) content.push(refusalPart(response.refusal))
  if (content.length > 0) output.push(messageItem(ids.item("msg", output.length), "completed", content))
  for (const call of response.toolCalls) output.push(callItem(ids, names, output.length, "completed", call))
  const carried = envelope(
    response.providerMetadata,
    response.toolCalls.map((call) => [call.id, call.providerMetadata])
  )
  if (carried !== undefined) output.push(carrierItem(ids, output.length, carried))
  return output
}

/** The `reasoning` item at `index` that carries a provider's state for the next turn (`codec/carried.ts`). */
export function carrierItem(ids: Ids, index: number, carried: string): OutputItem {
  return reasoningItem(ids.item("rs", index), [], carried)
}

/**
 * A whole reply as the `response` object of `ids`, its calls named as the request's tools (`names`), echoing the
 * request's `echo`; completed at `now` seconds.
 */
export function response(reply: ChatResponse, ids: Ids, names: Names, echo: JsonRecord, now: number): Finished {
  const { incomplete, status } = statusOf(reply.finishReason)
  return finished(responseObject({
    id: ids.response,
    createdAt: ids.createdAt,
    echo,
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
  readonly output: ReadonlyArray<OutputItem>
}

/** A finished `response` object as its JSON and its output items. */
export function finished(response: ResponseObject): Finished {
  return { body: JSON.stringify(response), output: response.output }
}
