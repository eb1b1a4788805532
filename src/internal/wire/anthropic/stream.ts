/**
 * The Messages stream (Anthropic's Messages API reference, "Streaming Messages"): SSE events named by their `type`,
 * `ping` anywhere and `error` in place of the end. The one writer (`writer.ts`) writes them from the templates below;
 * the client reads them with `AnthropicStreamParser`, whose readers are plain `typeof` checks over `JSON.parse` output.
 *
 * Content blocks are tracked by their wire `index`, which counts text and thinking blocks too; tool calls get their own
 * dense index in opening order, as `ToolCallDelta` promises. The forced tool of a `json_schema` response format
 * (`StreamContext.outputTool`) is no tool call: its input JSON streams as `TextDelta`s, its `tool_use` stop is `stop`.
 */
import * as Schema from "effect/Schema"
import type { ChatChunk } from "../../../ChatChunk.js"
import { type LlmError, StreamTruncatedError } from "../../../LlmError.js"
import type * as Sse from "../../../Sse.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import { type ErrorFields, errorFieldsOf, SseParser } from "../../sse/streamParser.js"
import { outputFinishReason } from "../outputTool.js"
import { finishReason, metadataOf, readUsage, usageObject, usageOf, type WireUsage } from "./reply.js"

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  /** The forced tool whose input is the reply's text (`outputToolName`), if any. */
  readonly outputTool?: string | undefined
  readonly maxEventSize: number | undefined
}

type Block =
  | { readonly kind: "text" }
  | { readonly kind: "tool"; readonly index: number; json: boolean }
  | { readonly kind: "output"; json: boolean }
  | { readonly kind: "thinking"; readonly block: { type: "thinking"; thinking: string; signature: string } }
  | { readonly kind: "other" }

const other: Block = { kind: "other" }

/** One stream's state (`StreamParser`). */
export class AnthropicStreamParser extends SseParser {
  private id = ""
  private model: string
  private reason: string | undefined
  private readonly usage: WireUsage = {}
  private sawUsage = false
  private readonly blocks: Array<Block | undefined> = []
  /** Signed thinking blocks in order, to send back with the next turn. */
  private readonly thinking: Array<JsonObject> = []
  private calls = 0

  constructor(private readonly context: StreamContext) {
    super(context)
    this.model = context.model
  }

  protected ended(): LlmError {
    return new StreamTruncatedError({ ...this.errorFields(), detail: "the stream ended without message_stop" })
  }

  protected errorFields(): ErrorFields {
    return errorFieldsOf(this.context, this.model)
  }

  protected events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      if (event.event === "ping") continue
      let value: unknown
      try {
        value = JSON.parse(event.data)
      } catch {
        // An error event whose data is not JSON still ends the stream as an error.
        if (event.event === "error") return this.context.errorOf(event.data)
        this.skip(event.data)
        continue
      }
      if (!isJsonObject(value)) {
        return this.context.decodeError(`a stream event (${event.event}) is not a JSON object`, event.data)
      }
      // The event name and the payload's `type` agree; a server that sends no `event:` line still has the type.
      const type = event.event === "message" && typeof value["type"] === "string" ? value["type"] : event.event
      const failure = this.event(type, value, out, event.data)
      if (failure !== undefined) return failure
      if (this.done) return undefined
    }
    return undefined
  }

  private event(type: string, value: JsonObject, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    switch (type) {
      case "content_block_delta":
        return this.delta(value, out, raw)
      case "content_block_start":
        return this.start(value, out, raw)
      case "content_block_stop":
        // Nothing ends with a block: a call's input is whole at the message's end (`noInputs`).
        return undefined
      case "message_start": {
        const message = value["message"]
        if (!isJsonObject(message)) return this.context.decodeError("message_start has no message object", raw)
        const id = message["id"]
        if (typeof id === "string") this.id = id
        const model = message["model"]
        if (typeof model === "string" && model !== "") this.model = model
        if (readUsage(message["usage"], this.usage)) this.sawUsage = true
        return undefined
      }
      case "message_delta": {
        const delta = value["delta"]
        if (isJsonObject(delta) && typeof delta["stop_reason"] === "string") this.reason = delta["stop_reason"]
        if (readUsage(value["usage"], this.usage)) this.sawUsage = true
        return undefined
      }
      case "message_stop":
        this.finish(out)
        return undefined
      case "error":
        return this.context.errorOf(value)
      default:
        // New event types are added over time; ignore them, as Anthropic's streaming docs ask.
        return undefined
    }
  }

  private indexOf(value: JsonObject, raw: string): number | LlmError {
    const index = value["index"]
    return typeof index === "number" && Number.isInteger(index) && index >= 0 && index < 65536
      ? index
      : this.context.decodeError("a content block event has no valid index", raw)
  }

  private start(value: JsonObject, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    const index = this.indexOf(value, raw)
    if (typeof index !== "number") return index
    const block = value["content_block"]
    if (!isJsonObject(block)) return this.context.decodeError("content_block_start has no content_block", raw)
    switch (block["type"]) {
      case "text": {
        this.blocks[index] = { kind: "text" }
        const text = block["text"]
        if (typeof text === "string" && text !== "") out.push({ _tag: "TextDelta", text })
        return undefined
      }
      case "tool_use": {
        const { id, name, input } = block
        if (typeof id !== "string" || typeof name !== "string") {
          return this.context.decodeError("a tool_use block has no string id and name", raw)
        }
        // `input` is `{}` here; a server that sends it whole has no deltas to come.
        const whole = isJsonObject(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : ""
        if (name === this.context.outputTool) {
          this.blocks[index] = { kind: "output", json: whole !== "" }
          if (whole !== "") out.push({ _tag: "TextDelta", text: whole })
          return undefined
        }
        const state: Block = { kind: "tool", index: this.calls++, json: whole !== "" }
        this.blocks[index] = state
        out.push({ _tag: "ToolCallDelta", index: state.index, id, name, arguments: whole })
        return undefined
      }
      case "thinking": {
        const thinking = typeof block["thinking"] === "string" ? block["thinking"] : ""
        const signature = typeof block["signature"] === "string" ? block["signature"] : ""
        const state = { type: "thinking" as const, thinking, signature }
        this.blocks[index] = { kind: "thinking", block: state }
        this.thinking.push(state)
        if (thinking !== "") out.push({ _tag: "ReasoningDelta", text: thinking })
        return undefined
      }
      case "redacted_thinking":
        // Complete at its start; kept as sent.
        this.blocks[index] = other
        this.thinking.push(block)
        return undefined
      default:
        this.blocks[index] = other
        return undefined
    }
  }

  private delta(value: JsonObject, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    const index = this.indexOf(value, raw)
    if (typeof index !== "number") return index
    const delta = value["delta"]
    if (!isJsonObject(delta)) return this.context.decodeError("content_block_delta has no delta object", raw)
    const block = this.blocks[index]
    switch (delta["type"]) {
      case "text_delta": {
        const text = delta["text"]
        if (typeof text !== "string") return this.context.decodeError("a text_delta has no text", raw)
        if (text !== "") out.push({ _tag: "TextDelta", text })
        return undefined
      }
      case "input_json_delta": {
        const piece = delta["partial_json"]
        if (typeof piece !== "string") return this.context.decodeError("an input_json_delta has no partial_json", raw)
        if (block === undefined) {
          return this.context.decodeError(`an input_json_delta for block ${index}, which never started`, raw)
        }
        if (piece === "") return undefined
        if (block.kind === "output") {
          block.json = true
          out.push({ _tag: "TextDelta", text: piece })
          return undefined
        }
        // Server tools (`server_tool_use`) stream their input too; only the caller's tools are tool calls.
        if (block.kind !== "tool") return undefined
        block.json = true
        out.push({ _tag: "ToolCallDelta", index: block.index, arguments: piece })
        return undefined
      }
      case "thinking_delta": {
        const text = delta["thinking"]
        if (typeof text !== "string") return this.context.decodeError("a thinking_delta has no thinking", raw)
        if (block !== undefined && block.kind === "thinking") block.block.thinking += text
        if (text !== "") out.push({ _tag: "ReasoningDelta", text })
        return undefined
      }
      case "signature_delta": {
        const signature = delta["signature"]
        if (typeof signature === "string" && block !== undefined && block.kind === "thinking") {
          block.block.signature += signature
        }
        return undefined
      }
      default:
        // citations_delta and future delta types carry nothing the response holds.
        return undefined
    }
  }

  // A call with no input streams no JSON; the whole reply says `{}` for it. Said at the end, not at the block's stop:
  // a gateway passing on a provider whose calls interleave may send a call's pieces after the next call opened.
  private noInputs(out: Array<ChatChunk>): void {
    for (const block of this.blocks) {
      if (block === undefined || block.kind !== "tool" && block.kind !== "output" || block.json) continue
      block.json = true
      out.push(
        block.kind === "tool" ? { _tag: "ToolCallDelta", index: block.index, arguments: "{}" } : {
          _tag: "TextDelta",
          text: "{}"
        }
      )
    }
  }

  private finish(out: Array<ChatChunk>): void {
    this.done = true
    this.noInputs(out)
    Adapter.finishInto(out, this.context, this.sawUsage ? usageOf(this.usage) : undefined, {
      finishReason: outputFinishReason(finishReason(this.reason), this.context.outputTool),
      id: this.id,
      model: this.model,
      providerMetadata: metadataOf(this.thinking)
    })
  }
}

// ---------------------------------------------------------------------------
// The events' data, as templates for the one writer (`writer.ts`). Ids, models and names are JSON text, quoted by the
// writer in ASCII (`asciiJson`).

/** `message_start`: the message without content or stop reason, and the prompt's usage. */
export function messageStart(id: string, model: string, usage: WireUsage): string {
  return `{"type":"message_start","message":{"id":${id},"type":"message","role":"assistant","model":${model},` +
    `"content":[],"stop_reason":null,"stop_sequence":null,"usage":${JSON.stringify(usageObject(usage))}}}`
}

/** `content_block_start` of block `index`, its empty block (`reply.ts`'s `textBlock`...) as JSON text. */
export function blockStart(index: number, block: string): string {
  return `{"type":"content_block_start","index":${index},"content_block":${block}}`
}

/** The delta types the writers send, and the field of each that holds its piece. */
const deltaFields = {
  text_delta: "text",
  thinking_delta: "thinking",
  input_json_delta: "partial_json",
  signature_delta: "signature"
} as const

/** A `content_block_delta` of block `index` up to its piece, a JSON string that `deltaTail` follows. */
export function deltaHead(index: number, type: keyof typeof deltaFields): string {
  return `{"type":"content_block_delta","index":${index},"delta":{"type":"${type}","${deltaFields[type]}":`
}

/** What closes a `deltaHead` and its piece. */
export const deltaTail = "}}"

export function blockStop(index: number): string {
  return `{"type":"content_block_stop","index":${index}}`
}

/** `message_delta`: the message's stop reason and its whole usage. */
export function messageDelta(stopReason: string, usage: WireUsage): string {
  return `{"type":"message_delta","delta":{"stop_reason":"${stopReason}","stop_sequence":null},"usage":${
    JSON.stringify(usageObject(usage))
  }}`
}

/** `message_stop`, the stream's end. */
export const messageStop = `{"type":"message_stop"}`

export const ping = `{"type":"ping"}`

// ---------------------------------------------------------------------------
// The schema the reader is checked against: what `AnthropicStreamParser` accepts (unknown event, block and delta
// types, and unknown fields, are ignored), and so what the writers must give it.

const Index = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(65536))

const otherType = (known: ReadonlyArray<string>) =>
  Schema.Struct({ type: Schema.optional(Schema.Unknown) }).check(
    Schema.makeFilter((value: { readonly type?: unknown }) => !known.includes(value.type as string))
  )

const StartBlock = Schema.Union([
  Schema.Struct({ type: Schema.Literal("tool_use"), id: Schema.String, name: Schema.String }),
  otherType(["tool_use"])
])

const Delta = Schema.Union([
  Schema.Struct({ type: Schema.Literal("text_delta"), text: Schema.String }),
  Schema.Struct({ type: Schema.Literal("input_json_delta"), partial_json: Schema.String }),
  Schema.Struct({ type: Schema.Literal("thinking_delta"), thinking: Schema.String }),
  otherType(["text_delta", "input_json_delta", "thinking_delta"])
])

/**
 * A stream event's data as the reader takes it, by its type (the `event:` name, or the data's `type` under the
 * default name). `input_json_delta` also needs its block started, which is the stream's order, not an event's shape.
 */
export const StreamEvent = Schema.Union([
  Schema.Struct({ type: Schema.Literal("message_start"), message: Schema.Record(Schema.String, Schema.Unknown) }),
  Schema.Struct({ type: Schema.Literal("content_block_start"), index: Index, content_block: StartBlock }),
  Schema.Struct({ type: Schema.Literal("content_block_delta"), index: Index, delta: Delta }),
  Schema.Struct({
    type: Schema.Literals(["content_block_stop", "message_delta", "message_stop", "ping", "error"])
  }),
  otherType([
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error"
  ])
])
