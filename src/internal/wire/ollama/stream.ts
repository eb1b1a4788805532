/**
 * The Ollama `/api/chat` NDJSON stream's parser: `done: false` lines carry deltas and whole tool calls, the
 * `done: true` line `done_reason` and the counts, an `{"error": …}` line fails the stream. A body that ends without
 * the `done` line is truncated.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ChatChunk } from "../../../ChatChunk.js"
import { type LlmError, StreamTruncatedError } from "../../../LlmError.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import { eventLimit, eventTooLarge } from "../../transport/providerHttp.js"
import { SkippedEvents } from "../../transport/skippedEvents.js"
import { finishReason, fragment, usage } from "./codec.js"
import * as Ndjson from "./ndjson.js"

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  /** The longest line accepted, in characters. Default: 16 MiB. */
  readonly maxLineSize?: number | undefined
}

/** One stream's state (`StreamParser`). */
export class OllamaStreamParser {
  private readonly lines: Ndjson.Decoder
  private readonly batch: Array<string> = []
  private model: string
  private calls = 0
  /** The `done: true` line was seen and the closing chunks emitted; the rest of the body is ignored. */
  done = false
  /** Lines that were not JSON, skipped; made at the first one. */
  skipped: SkippedEvents | undefined = undefined

  constructor(private readonly context: StreamContext) {
    this.lines = new Ndjson.Decoder(
      eventLimit(context.maxLineSize ?? Ndjson.defaultMaxLineSize, context.maxResponseBytes)
    )
    this.model = context.model
  }

  push(parts: NonEmptyReadonlyArray<Uint8Array>, out: Array<ChatChunk>): LlmError | undefined {
    for (const bytes of parts) {
      if (this.done) return undefined
      const failure = this.drain(this.lines.push(bytes, this.batch), out)
      if (failure !== undefined) return failure
    }
    return undefined
  }

  end(out: Array<ChatChunk>): LlmError | undefined {
    if (this.done) return undefined
    const failure = this.drain(this.lines.end(this.batch), out)
    if (failure !== undefined || this.done) return failure
    return new StreamTruncatedError({
      provider: this.context.provider,
      model: this.model,
      detail: "the stream ended without its done:true line"
    })
  }

  private drain(ok: boolean, out: Array<ChatChunk>): LlmError | undefined {
    const batch = this.batch
    let failure: LlmError | undefined
    for (let i = 0; i < batch.length && failure === undefined && !this.done; i++) failure = this.line(batch[i]!, out)
    batch.length = 0
    if (failure !== undefined || ok || this.done) return failure
    const { maxLineSize = Ndjson.defaultMaxLineSize, maxResponseBytes } = this.context
    return this.context.decodeError(eventTooLarge("a stream line", "maxLineSize", maxLineSize, maxResponseBytes), "")
  }

  private line(text: string, out: Array<ChatChunk>): LlmError | undefined {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      this.skipped ??= new SkippedEvents(() => ({ provider: this.context.provider, model: this.model }))
      return this.skipped.skip(text)
    }
    if (!isJsonObject(value)) return this.context.decodeError("a stream line is not a JSON object", text)
    if (value["error"] != null) return this.context.errorOf(value)
    try {
      this.fragment(value, out)
    } catch (cause) {
      if (cause instanceof ShapeError) {
        return this.context.decodeError(`a stream line has the wrong shape: ${cause.reason}`, text)
      }
      throw cause
    }
    return undefined
  }

  private fragment(value: JsonObject, out: Array<ChatChunk>): void {
    const line = fragment(value, this.calls)
    if (line.model !== undefined) this.model = line.model
    if (line.reasoning !== "") out.push({ _tag: "ReasoningDelta", text: line.reasoning })
    if (line.text !== "") out.push({ _tag: "TextDelta", text: line.text })
    // Ollama sends each call whole, so one delta per call carries everything.
    for (const call of line.toolCalls) {
      out.push({ _tag: "ToolCallDelta", index: this.calls++, id: call.id, name: call.name, arguments: call.arguments })
    }
    if (value["done"] === true) this.finish(value, out)
  }

  private finish(value: JsonObject, out: Array<ChatChunk>): void {
    this.done = true
    Adapter.finishInto(out, this.context, usage(value), {
      finishReason: finishReason(value["done_reason"], this.calls > 0),
      // Ollama gives replies no id.
      id: "",
      model: this.model
    })
  }
}
