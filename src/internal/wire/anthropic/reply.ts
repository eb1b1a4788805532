/**
 * The Messages reply (Anthropic's Messages API reference; its streaming events share these shapes): stop reasons and
 * usage both ways, the signed thinking blocks a reply leaves for the next turn, and the `message` object, read by the
 * client (`reply`) and written by the gateway and the simulator (`messageJson`). The reader is plain functions over
 * `JSON.parse` output, checked with `typeof`, as `wire/openAiChat/codec.ts` reads its replies.
 */
import * as Schema from "effect/Schema"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject, replyId, replyModel, requireArray, requireObject } from "../../json.js"
import type { Reply } from "../../providers/adapter.js"
import { outputFinishReason } from "../outputTool.js"
import { reportedUsage, tokenCount, withReported } from "../usage.js"

/** The key of this API in `providerMetadata`. */
export const metadataKey = "anthropic"

/** The signed thinking blocks a reply left in its `providerMetadata`, to send back unchanged. */
export function thinkingBlocksOf(metadata: ProviderMetadata | undefined): ReadonlyArray<JsonObject> {
  const ours = metadata?.[metadataKey]
  const blocks = isJsonObject(ours) ? ours["thinking"] : undefined
  if (!Array.isArray(blocks)) return []
  return blocks.filter((block): block is JsonObject =>
    isJsonObject(block) && (block["type"] === "thinking" || block["type"] === "redacted_thinking")
  )
}

/** `{anthropic: {thinking: blocks}}`, or undefined when there are none. */
export function metadataOf(thinking: ReadonlyArray<JsonObject>): ProviderMetadata | undefined {
  return thinking.length === 0 ? undefined : { [metadataKey]: { thinking } }
}

// ---------------------------------------------------------------------------
// Stop reasons

/**
 * `stop_reason` to the domain's finish reason. `model_context_window_exceeded` is `length`: the reply is valid up to
 * where the context window filled, as with `max_tokens`, and failing would throw away output a stream has already
 * delivered. `pause_turn` (a server-tool loop paused) is `other`.
 */
export function finishReason(reason: unknown): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop"
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "tool_use":
      return "tool_calls"
    case "refusal":
      return "content_filter"
    default:
      return "other"
  }
}

/**
 * The domain's finish reason as `stop_reason`: `stop` is `end_turn`, as the domain does not say whether a stop sequence
 * ended the reply.
 */
export function stopReason(reason: FinishReason): string {
  switch (reason) {
    case "length":
      return "max_tokens"
    case "tool_calls":
      return "tool_use"
    case "content_filter":
      return "refusal"
    default:
      return "end_turn"
  }
}

/**
 * A reply's `stop_reason`: `refusal` for a reply that refused, as the Messages API has no refusal field (the writer
 * sends its text as a text block); else its finish reason's.
 */
export function replyStopReason(reply: { readonly finishReason: FinishReason; readonly refusal?: string | undefined }) {
  return reply.refusal === undefined ? stopReason(reply.finishReason) : "refusal"
}

// ---------------------------------------------------------------------------
// Usage

/** The token counts of a usage object, as sent (each absent one undefined). */
export interface WireUsage {
  input?: number
  cacheCreation?: number
  /** Of `cacheCreation`, the tokens written for an hour (`cache_creation.ephemeral_1h_input_tokens`). */
  cacheCreation1h?: number
  cacheRead?: number
  output?: number
  thinking?: number
  /** `service_tier`: `standard`, `priority` or `batch`. */
  serviceTier?: string
}

// Each count of `WireUsage`, and the field of a usage object holding it (or the field of that field).
const counts: ReadonlyArray<readonly [Exclude<keyof WireUsage, "serviceTier">, string, string?]> = [
  ["input", "input_tokens"],
  ["cacheCreation", "cache_creation_input_tokens"],
  ["cacheCreation1h", "cache_creation", "ephemeral_1h_input_tokens"],
  ["cacheRead", "cache_read_input_tokens"],
  ["output", "output_tokens"],
  ["thinking", "output_tokens_details", "thinking_tokens"]
]

/**
 * Overwrites `into` with every count `value` carries (usage in a stream is cumulative, never added); whether `value`
 * is a usage object.
 */
export function readUsage(value: unknown, into: WireUsage): boolean {
  if (!isJsonObject(value)) return false
  for (const [key, field, inner] of counts) {
    const outer = value[field]
    const count = inner === undefined ? outer : isJsonObject(outer) ? outer[inner] : undefined
    if (typeof count === "number") into[key] = tokenCount(count)
  }
  const tier = value["service_tier"]
  if (typeof tier === "string") into.serviceTier = tier
  return true
}

/** The domain's usage: `input_tokens` leaves out cached tokens, so the prompt is input + cache writes + cache reads. */
export function usageOf(wire: WireUsage): Usage {
  const promptTokens = (wire.input ?? 0) + (wire.cacheCreation ?? 0) + (wire.cacheRead ?? 0)
  const usage = withReported(
    reportedUsage(promptTokens, wire.output ?? 0, undefined, wire.cacheRead ?? 0, wire.thinking ?? 0),
    { serviceTier: wire.serviceTier }
  )
  if (wire.cacheCreation === undefined) return usage
  return wire.cacheCreation1h === undefined
    ? { ...usage, cacheWriteTokens: wire.cacheCreation }
    : { ...usage, cacheWriteTokens: wire.cacheCreation, cacheWrite1hTokens: wire.cacheCreation1h }
}

/** The domain's usage as the wire's counts (`usageOf`'s inverse). */
export function wireUsage(usage: Usage): WireUsage {
  const written = usage.cacheWriteTokens ?? 0
  return {
    input: usage.promptTokens - usage.cachedPromptTokens - written,
    cacheCreation: written,
    cacheCreation1h: usage.cacheWrite1hTokens ?? 0,
    cacheRead: usage.cachedPromptTokens,
    output: usage.completionTokens,
    thinking: usage.reasoningTokens,
    ...(usage.serviceTier === undefined ? {} : { serviceTier: usage.serviceTier })
  }
}

/**
 * `usage` as a reply and a stream's `message_delta` write it: `input_tokens` leaves out the cache reads and writes, and
 * `cache_creation` splits the writes by lifetime.
 */
export function usageObject(wire: WireUsage): JsonObject {
  const written = wire.cacheCreation ?? 0
  const writtenForAnHour = wire.cacheCreation1h ?? 0
  const out: JsonObject = {
    input_tokens: wire.input ?? 0,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: wire.cacheRead ?? 0,
    cache_creation: {
      ephemeral_5m_input_tokens: written - writtenForAnHour,
      ephemeral_1h_input_tokens: writtenForAnHour
    },
    output_tokens: wire.output ?? 0
  }
  if ((wire.thinking ?? 0) > 0) out["output_tokens_details"] = { thinking_tokens: wire.thinking }
  if (wire.serviceTier !== undefined) out["service_tier"] = wire.serviceTier
  return out
}

// ---------------------------------------------------------------------------
// The message object

const readBlockTypes: ReadonlySet<string> = new Set(["text", "tool_use", "thinking", "redacted_thinking"])

// The reader's tolerance: unknown block types and fields are ignored, `input` may be missing.
const ReplyBlock = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text"), text: Schema.String }),
  Schema.Struct({
    type: Schema.Literal("tool_use"),
    id: Schema.String,
    name: Schema.String,
    input: Schema.optional(Schema.NullOr(Schema.Unknown))
  }),
  Schema.Struct({ type: Schema.Literal("thinking"), thinking: Schema.String }),
  Schema.Struct({ type: Schema.Literal("redacted_thinking") }),
  // Server-tool blocks, future types, and a block without a string type: skipped.
  Schema.Struct({ type: Schema.optional(Schema.Unknown) }).check(
    Schema.makeFilter((block: { readonly type?: unknown }) => !readBlockTypes.has(block.type as string))
  )
])

/** A `message` as far as `reply` reads it; what it accepts, `reply` reads. */
export const Message = Schema.Struct({ content: Schema.Array(ReplyBlock) })

/**
 * Reads a whole `message`; throws `ShapeError` when it is not one. The input of a `tool_use` of `outputTool` (the
 * forced tool of a `json_schema` response format) is the reply's text, as JSON, not a tool call.
 */
export function reply(body: JsonObject, outputTool?: string): Reply {
  const content = requireArray(body["content"], "content")
  let text = ""
  let reasoning: string | undefined
  const toolCalls: Array<ToolCall> = []
  const thinking: Array<JsonObject> = []
  for (let i = 0; i < content.length; i++) {
    const block = requireObject(content[i], `content[${i}]`)
    switch (block["type"]) {
      case "text": {
        const value = block["text"]
        if (typeof value !== "string") throw new ShapeError(`content[${i}].text is not a string`)
        text += value
        break
      }
      case "tool_use": {
        const { id, name, input } = block
        if (typeof id !== "string" || typeof name !== "string") {
          throw new ShapeError(`content[${i}] (tool_use) has no string id and name`)
        }
        const json = input == null ? "{}" : JSON.stringify(input)
        if (name === outputTool) text += json
        else toolCalls.push({ id, name, arguments: json })
        break
      }
      case "thinking": {
        const value = block["thinking"]
        if (typeof value !== "string") throw new ShapeError(`content[${i}].thinking is not a string`)
        reasoning = (reasoning ?? "") + value
        thinking.push(block)
        break
      }
      case "redacted_thinking":
        thinking.push(block)
        break
        // Server-tool blocks and future types carry nothing the response holds.
    }
  }
  const wire: WireUsage = {}
  readUsage(body["usage"], wire)
  return {
    id: replyId(body["id"]),
    model: replyModel(body["model"]),
    text,
    reasoning,
    toolCalls,
    finishReason: outputFinishReason(finishReason(body["stop_reason"]), outputTool),
    usage: usageOf(wire),
    providerMetadata: metadataOf(thinking)
  }
}

/** What a `message` object holds, its blocks already JSON text (`textBlock`, `toolUseBlock`...). */
export interface MessageFields {
  /** `msg_…`, as JSON text. */
  readonly id: string
  /** The model, as JSON text. */
  readonly model: string
  readonly blocks: ReadonlyArray<string>
  readonly stopReason: string
  readonly usage: WireUsage
}

/** A whole `message` body. */
export function messageJson(fields: MessageFields): string {
  return `{"id":${fields.id},"type":"message","role":"assistant","model":${fields.model},` +
    `"content":[${fields.blocks.join(",")}],"stop_reason":"${fields.stopReason}","stop_sequence":null,` +
    `"usage":${JSON.stringify(usageObject(fields.usage))}}`
}

/** A `text` block of `text` (JSON text). */
export function textBlock(text: string): string {
  return `{"type":"text","text":${text}}`
}

/** A `thinking` block; `thinking` and `signature` are JSON text. */
export function thinkingBlock(thinking: string, signature: string): string {
  return `{"type":"thinking","thinking":${thinking},"signature":${signature}}`
}

/** A `tool_use` block; `id` and `name` are JSON text, `input` an object's JSON text. */
export function toolUseBlock(id: string, name: string, input: string): string {
  return `{"type":"tool_use","id":${id},"name":${name},"input":${input}}`
}
