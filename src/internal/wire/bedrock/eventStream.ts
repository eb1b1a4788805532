/**
 * The `ConverseStream` body (`application/vnd.amazon.eventstream`): binary frames checked by their CRCs
 * (`@smithy/eventstream-codec`), cut from the bytes as they come, as a network chunk may end anywhere in one; an
 * `exception` frame ends the stream with its typed error. A body that ends before the `metadata` event is truncated.
 */
import type { EventStreamCodec, Message, MessageHeaders } from "@smithy/eventstream-codec"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ChatChunk } from "../../../ChatChunk.js"
import { type LlmError, StreamTruncatedError } from "../../../LlmError.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import { concat } from "../../transport/bytes.js"
import { causeText, overLimit, type StreamParser } from "../../transport/providerHttp.js"
import { outputFinishReason } from "../outputTool.js"
import * as Codec from "./codec.js"

const utf8 = new TextDecoder()

/** A header's value when it is a string. */
export function headerText(headers: MessageHeaders, name: string): string | undefined {
  const header = headers[name]
  return header?.type === "string" ? header.value : undefined
}

/** A frame's payload as JSON text; undefined when it is not a JSON object. */
function payloadOf(message: Message): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(message.body))
    return isJsonObject(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** The parser of one `ConverseStream` body. */
export class EventStreamParser implements StreamParser {
  done = false
  private buffer: Uint8Array = new Uint8Array(0)
  private readonly reader: Codec.StreamReader

  constructor(private readonly codec: EventStreamCodec, private readonly context: Adapter.StreamContext) {
    this.reader = new Codec.StreamReader(Codec.forcedOutputTool(context.request, context.model))
  }

  push(parts: NonEmptyReadonlyArray<Uint8Array>, out: Array<ChatChunk>): LlmError | undefined {
    this.buffer = this.buffer.length === 0 && parts.length === 1 ? parts[0] : concat([this.buffer, ...parts])
    let offset = 0
    while (this.buffer.length - offset >= 4) {
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + offset, 4)
      const length = view.getUint32(0)
      if (length > this.context.maxResponseBytes) {
        return this.context.decodeError(
          overLimit("an event-stream frame", "maxResponseBytes", `${this.context.maxResponseBytes} bytes`),
          ""
        )
      }
      if (this.buffer.length - offset < length) break
      const frame = this.buffer.subarray(offset, offset + length)
      offset += length
      const failure = this.frame(frame, out)
      if (failure !== undefined) return failure
    }
    this.buffer = this.buffer.subarray(offset)
    return undefined
  }

  end(out: Array<ChatChunk>): LlmError | undefined {
    const { context, reader } = this
    if (reader.stopReason === undefined || !this.done) {
      return new StreamTruncatedError({
        provider: context.provider,
        model: context.model,
        detail: reader.stopReason === undefined
          ? "the stream ended without a messageStop event"
          : "the stream ended without its metadata event"
      })
    }
    Adapter.finishInto(out, context, reader.usage, {
      finishReason: outputFinishReason(Codec.finishReason(reader.stopReason), reader.outputTool),
      id: context.requestId() ?? "",
      model: context.model,
      providerMetadata: Codec.replyMetadata(reader.signature)
    })
    return undefined
  }

  private frame(frame: Uint8Array, out: Array<ChatChunk>): LlmError | undefined {
    let message: Message
    try {
      message = this.codec.decode(frame)
    } catch (error) {
      return this.context.decodeError(`an event-stream frame does not decode: ${causeText(error)}`, "")
    }
    const kind = headerText(message.headers, ":message-type")
    const payload = payloadOf(message)
    if (kind === "exception") {
      const type = headerText(message.headers, ":exception-type") ?? "internalServerException"
      return this.context.errorOf(Codec.exceptionBody(type, payload ?? {}))
    }
    if (kind === "error") {
      const code = headerText(message.headers, ":error-code") ?? "InternalServerException"
      return this.context.errorOf({ __type: code, message: headerText(message.headers, ":error-message") ?? code })
    }
    const type = headerText(message.headers, ":event-type")
    if (type === undefined) return undefined
    if (payload === undefined) {
      return this.context.decodeError(`the ${type} event's payload is not a JSON object`, utf8.decode(message.body))
    }
    try {
      this.reader.read(type, payload, out)
    } catch (error) {
      if (!(error instanceof ShapeError)) throw error
      return this.context.decodeError(`the ${type} event has the wrong shape: ${error.reason}`, JSON.stringify(payload))
    }
    if (type === "metadata") this.done = true
    return undefined
  }
}
