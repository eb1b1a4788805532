/**
 * The Anthropic Messages stream as a plain mutable state machine: bytes in,
 * `ChatChunk`s out, one whole network chunk at a time. It
 * follows the `push` / `end` / `done` contract of `providerHttp.StreamParser`.
 *
 * Content blocks are tracked by their wire `index`, which counts text and
 * thinking blocks too; tool calls get their own dense index in opening order,
 * as `ToolCallDelta` promises. The forced tool of a `json_schema` response
 * format (`StreamContext.outputTool`) is no tool call: its input JSON streams
 * as `TextDelta`s, and its `tool_use` stop reason is `stop`.
 */
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../../ChatChunk.js"
import { type LlmError, StreamTruncatedError } from "../../../LlmError.js"
import type * as Sse from "../../../Sse.js"
import { type ErrorFields, SseParser } from "../../sse/streamParser.js"
import type * as Adapter from "../adapter.js"
import {
  finishReason,
  isRecord,
  type JsonRecord,
  metadataOf,
  outputFinishReason,
  readUsage,
  usageOf,
  type WireUsage
} from "./wire.js"

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  /** The forced tool whose input is the reply's text (`wire.outputTool`), if any. */
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

/**
 * One stream's state. `push` and `end` append chunks to `out` and return the
 * failure that ends the stream, if any (chunks appended before it still count).
 */
export class AnthropicStreamParser extends SseParser {
  private id = ""
  private model: string
  private reason: string | undefined
  private readonly usage: WireUsage = {}
  private sawUsage = false
  private readonly blocks: Array<Block | undefined> = []
  /** Signed thinking blocks in order, to send back with the next turn. */
  private readonly thinking: Array<JsonRecord> = []
  private calls = 0

  constructor(private readonly context: StreamContext) {
    super(context)
    this.model = context.model
  }

  protected ended(): LlmError {
    const requestId = this.context.requestId()
    return new StreamTruncatedError({
      provider: this.context.provider,
      model: this.model,
      ...(requestId !== undefined ? { requestId } : {}),
      detail: "the stream ended without message_stop"
    })
  }

  protected errorFields(): ErrorFields {
    const requestId = this.context.requestId()
    return { provider: this.context.provider, model: this.model, ...(requestId !== undefined ? { requestId } : {}) }
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
      if (!isRecord(value)) {
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

  private event(type: string, value: JsonRecord, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    switch (type) {
      case "content_block_delta":
        return this.delta(value, out, raw)
      case "content_block_start":
        return this.start(value, out, raw)
      case "content_block_stop":
        return this.stop(value, out)
      case "message_start": {
        const message = value["message"]
        if (!isRecord(message)) return this.context.decodeError("message_start has no message object", raw)
        const id = message["id"]
        if (typeof id === "string") this.id = id
        const model = message["model"]
        if (typeof model === "string" && model !== "") this.model = model
        if (isRecord(message["usage"])) {
          readUsage(message["usage"], this.usage)
          this.sawUsage = true
        }
        return undefined
      }
      case "message_delta": {
        const delta = value["delta"]
        if (isRecord(delta) && typeof delta["stop_reason"] === "string") this.reason = delta["stop_reason"]
        if (isRecord(value["usage"])) {
          readUsage(value["usage"], this.usage)
          this.sawUsage = true
        }
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

  private indexOf(value: JsonRecord, raw: string): number | LlmError {
    const index = value["index"]
    return typeof index === "number" && Number.isInteger(index) && index >= 0 && index < 65536
      ? index
      : this.context.decodeError("a content block event has no valid index", raw)
  }

  private start(value: JsonRecord, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    const index = this.indexOf(value, raw)
    if (typeof index !== "number") return index
    const block = value["content_block"]
    if (!isRecord(block)) return this.context.decodeError("content_block_start has no content_block", raw)
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
        const whole = isRecord(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : ""
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

  private delta(value: JsonRecord, out: Array<ChatChunk>, raw: string): LlmError | undefined {
    const index = this.indexOf(value, raw)
    if (typeof index !== "number") return index
    const delta = value["delta"]
    if (!isRecord(delta)) return this.context.decodeError("content_block_delta has no delta object", raw)
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

  private stop(value: JsonRecord, out: Array<ChatChunk>): LlmError | undefined {
    const index = value["index"]
    const block = typeof index === "number" ? this.blocks[index] : undefined
    // A call with no input streams no JSON; the whole reply says `{}` for it.
    if (block !== undefined && block.kind === "tool" && !block.json) {
      block.json = true
      out.push({ _tag: "ToolCallDelta", index: block.index, arguments: "{}" })
    } else if (block !== undefined && block.kind === "output" && !block.json) {
      block.json = true
      out.push({ _tag: "TextDelta", text: "{}" })
    }
    return undefined
  }

  private finish(out: Array<ChatChunk>): void {
    this.done = true
    if (this.sawUsage) out.push({ _tag: "Usage", usage: usageOf(this.usage) })
    const providerMetadata = metadataOf(this.thinking)
    out.push({
      _tag: "Finish",
      finishReason: (this.context.outputTool === undefined ? finishReason : outputFinishReason)(this.reason),
      id: this.id,
      model: this.model,
      provider: this.context.provider,
      latency: Duration.millis(Math.max(0, this.context.now() - this.context.startMillis)),
      keyId: this.context.keyId,
      ...(providerMetadata !== undefined ? { providerMetadata } : {})
    })
  }
}
