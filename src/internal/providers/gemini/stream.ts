/**
 * The Gemini `?alt=sse` stream as a plain mutable state machine: bytes in,
 * `ChatChunk`s out, one whole network chunk at a time.
 *
 * Every event is a whole `GenerateContentResponse` holding only new parts;
 * `usageMetadata` is a running total (the last one wins); function calls come
 * whole. There is no end marker: the stream is complete when the body ends
 * after an event with a `finishReason`, and truncated otherwise.
 */
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../../ChatChunk.js"
import {
  ContentFilterError,
  fromHttpFailure,
  type LlmError,
  OutputDecodeError,
  StreamTruncatedError
} from "../../../LlmError.js"
import type * as Sse from "../../../Sse.js"
import {
  blockedDetail,
  candidateOf,
  finishReason,
  isErrorPayload,
  isRecord,
  type JsonRecord,
  partOf,
  partsOf,
  replyMetadata,
  usage as usageOf
} from "../../codec/gemini.js"
import { type ErrorFields, JsonSseParser } from "../../sse/streamParser.js"
import { excerpt } from "../../wire/openAiChat/codec.js"
import type * as Adapter from "../adapter.js"
import { replyId, replyModel } from "../wire.js"

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  readonly maxEventSize: number | undefined
}

/**
 * One stream's state. `push` and `end` append chunks to `out` and return the
 * failure that ends the stream, if any (chunks appended before it still count).
 */
export class GeminiStreamParser extends JsonSseParser {
  private id = ""
  private model: string
  private reason: string | undefined
  /** The last `usageMetadata` seen, decoded once at the end: every event carries the running total. */
  private usage: unknown
  private calls = 0
  private signature: string | undefined

  constructor(private readonly context: StreamContext) {
    super(context)
    this.model = context.model
  }

  /** The reply is whole only if its last candidate said why it stopped. */
  protected ended(out: Array<ChatChunk>): LlmError | undefined {
    if (this.reason === undefined) {
      return new StreamTruncatedError({
        provider: this.context.provider,
        model: this.model,
        detail: "the stream ended without a finishReason"
      })
    }
    this.done = true
    const usage = usageOf(this.usage)
    if (usage !== undefined) out.push({ _tag: "Usage", usage })
    const metadata = replyMetadata(this.signature)
    out.push({
      _tag: "Finish",
      finishReason: finishReason(this.reason, this.calls > 0),
      id: this.id,
      model: this.model,
      provider: this.context.provider,
      latency: Duration.millis(Math.max(0, this.context.now() - this.context.startMillis)),
      keyId: this.context.keyId,
      ...(metadata !== undefined ? { providerMetadata: metadata } : {})
    })
    return undefined
  }

  protected errorFields(): ErrorFields {
    return { provider: this.context.provider, model: this.model }
  }

  protected decodeError(detail: string, raw: string): LlmError {
    return new OutputDecodeError({ provider: this.context.provider, model: this.model, detail, raw: excerpt(raw) })
  }

  protected events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined {
    for (let i = 0; i < events.length; i++) {
      const failure = this.jsonEvent(events[i]!.data, out)
      if (failure !== undefined) return failure
    }
    return undefined
  }

  protected readEvent(value: JsonRecord, out: Array<ChatChunk>): LlmError | undefined {
    if (isErrorPayload(value)) {
      return fromHttpFailure({
        provider: this.context.provider,
        model: this.model,
        body: value,
        nowMillis: this.context.now(),
        secrets: [this.context.secret]
      })
    }
    if (this.id === "") this.id = replyId(value["responseId"])
    this.model = replyModel(value["modelVersion"]) ?? this.model
    const usage = value["usageMetadata"]
    if (isRecord(usage)) this.usage = usage
    const candidate = candidateOf(value)
    if (candidate === undefined) {
      const blocked = blockedDetail(value)
      return blocked === undefined
        ? undefined
        : new ContentFilterError({ provider: this.context.provider, model: this.model, detail: blocked })
    }
    const parts = partsOf(candidate)
    for (let i = 0; i < parts.length; i++) {
      const raw = parts[i]
      // The hot path: a plain text delta, read without building a Part.
      if (isRecord(raw) && typeof raw["text"] === "string" && raw["thoughtSignature"] === undefined) {
        const text = raw["text"]
        if (text !== "") out.push({ _tag: raw["thought"] === true ? "ReasoningDelta" : "TextDelta", text })
        continue
      }
      const part = partOf(raw)
      switch (part._tag) {
        case "Text":
          if (part.text !== "") out.push({ _tag: part.thought ? "ReasoningDelta" : "TextDelta", text: part.text })
          if (part.signature !== undefined) this.signature = part.signature
          break
        case "Call": {
          const index = this.calls++
          const call = part.call(index)
          out.push(
            call.providerMetadata === undefined
              ? { _tag: "ToolCallDelta", index, id: call.id, name: call.name, arguments: call.arguments }
              : {
                _tag: "ToolCallDelta",
                index,
                id: call.id,
                name: call.name,
                arguments: call.arguments,
                providerMetadata: call.providerMetadata
              }
          )
          break
        }
        case "Other":
          if (part.signature !== undefined) this.signature = part.signature
      }
    }
    const reason = candidate["finishReason"]
    if (typeof reason === "string") this.reason = reason
    return undefined
  }
}
