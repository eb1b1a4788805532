/**
 * Compaction on the Responses wire (OpenAI's Responses API reference: "Compact a response", "The compacted response
 * object"): `POST /responses/compact` answers a `response.compaction` object, whose `output` is the conversation's user
 * messages followed by one `compaction` item standing for the whole conversation; a client (Codex) puts that output in
 * place of its history. The client's side sends a request marked `compactOption` there (`compactBody`); the server's
 * side writes the object (`compacted`).
 *
 * A `/responses` call compacts too when its input ends with a `compaction_trigger` item (`isTriggered`; Codex's
 * `responses_compaction_v2`): its answer is a response whose one output item is the `compaction` item.
 */
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { ProviderMetadata } from "../../../Message.js"
import { isJsonObject, type JsonObject, pickDefined, replyId, requireArray } from "../../json.js"
import type { Reply } from "../../providers/adapter.js"
import { type CompactBody, type CountBody, metadataKey, usage, type UsageCounts, usageObject } from "./codec.js"

/** The `providerOptions` entry that makes a Responses request a compaction (never sent: the path says it). */
export const compactOption = "responses_compact"

/** Whether `request` asks for a compaction (`compactOption`). */
export function isCompaction(request: ChatRequest): boolean {
  return request.providerOptions?.[compactOption] === true
}

/** The type of the input item that asks a `/responses` call for a compaction, as the input's last item. */
export const triggerType = "compaction_trigger"

/** Whether a body's input ends with a `compaction_trigger` item: the call answers with a compaction. */
export function isTriggered(body: Pick<CountBody, "input">): boolean {
  const input = body.input
  return Array.isArray(input) && input.length > 0 && input[input.length - 1]!.type === triggerType
}

/** A triggered body (`isTriggered`) without its trigger: the conversation it asks to be compacted. */
export function withoutTrigger<B extends Pick<CountBody, "input">>(body: B): B {
  return Array.isArray(body.input) ? { ...body, input: body.input.slice(0, -1) } : body
}

/** The path of a Responses request: `/responses/compact` for a compaction, else `/responses`. */
export function compactPath(request: ChatRequest): string {
  return isCompaction(request) ? "/responses/compact" : "/responses"
}

// The fields `/responses/compact` takes (OpenAI's reference, and what Codex sends it): a response's own settings
// (`stream`, `store`, `include`, `max_output_tokens`, sampling) are not among them.
const compactFields = [
  "model",
  "input",
  "instructions",
  "previous_response_id",
  "tools",
  "parallel_tool_calls",
  "reasoning",
  "text",
  "prompt_cache_key",
  "prompt_cache_retention",
  "service_tier"
] as const

/** A `/responses` body (`requestBody`'s) as the `/responses/compact` body of the same conversation. */
export const compactBody = (body: JsonObject): JsonObject => pickDefined(body, compactFields)

/**
 * A `response.compaction` object as a reply: no text, its usage, and its output items kept as they came in the reply's
 * provider metadata (`compactedItems`); throws `ShapeError` when it has no `output` list.
 */
export function compactedReply(response: JsonObject): Reply {
  const output = requireArray(response["output"], "output")
  return {
    id: replyId(response["id"]),
    model: undefined,
    text: "",
    toolCalls: [],
    finishReason: "stop",
    usage: usage(response["usage"]),
    providerMetadata: { [metadataKey]: { compacted: output } }
  }
}

/** The output items of a compaction a Responses deployment made (`compactedReply`); undefined for any other reply. */
export function compactedItems(metadata: ProviderMetadata | undefined): ReadonlyArray<unknown> | undefined {
  const entry = metadata?.[metadataKey]
  const items = isJsonObject(entry) ? entry["compacted"] : undefined
  return Array.isArray(items) ? items : undefined
}

/** A `compaction` item, as a response's output and a later input have it. */
export interface CompactionItem {
  readonly id: string
  readonly type: string
  readonly encrypted_content: string
  readonly [field: string]: unknown
}

/** A `compaction` item: `encrypted_content` stands for the conversation it compacted. */
export function compactionItem(id: string, encrypted: string): CompactionItem {
  return { id, type: "compaction", encrypted_content: encrypted }
}

/**
 * The user messages of a compact body's `input`, as `message` items in order (a string input is one): the part of the
 * conversation a compacted response keeps as it was, beside its compaction item.
 */
export function userItems(input: CompactBody["input"]): Array<JsonObject> {
  if (input == null) return []
  if (typeof input === "string") return [userItem([{ type: "input_text", text: input }])]
  return input.flatMap((item) => {
    if ((item.type !== undefined && item.type !== "message") || !("role" in item) || item.role !== "user") return []
    const content = item.content as unknown
    return [userItem(typeof content === "string" ? [{ type: "input_text", text: content }] : content)]
  })
}

function userItem(content: unknown): JsonObject {
  return { type: "message", role: "user", content }
}

/** What a compacted response is made of. */
export interface Compacted {
  /** Its `resp_…` id. */
  readonly id: string
  /** Unix seconds. */
  readonly createdAt: number
  readonly output: ReadonlyArray<unknown>
  readonly usage: UsageCounts
}

/** The `response.compaction` object of `compacted`, as JSON. */
export function compacted({ createdAt, id, output, usage }: Compacted): string {
  return JSON.stringify({
    id,
    object: "response.compaction",
    created_at: createdAt,
    output,
    usage: usageObject(usage)
  })
}
