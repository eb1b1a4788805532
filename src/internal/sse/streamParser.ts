/**
 * The SSE side every SSE stream parser shares: the decoder, an event larger
 * than `maxEventSize` (or `maxResponseBytes`) as `OutputDecodeError`, and nothing read once the
 * terminal event was seen. A subclass keeps only its events and how a body
 * that ended without the terminal event finishes. `JsonSseParser` adds what a
 * format whose every event is one JSON object shares: data that is not JSON
 * skipped and counted (`SkippedEvents`), data that is not an object, or that is
 * the wrong shape, as `OutputDecodeError`.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ChatChunk } from "../../ChatChunk.js"
import { type LlmError, OutputDecodeError } from "../../LlmError.js"
import * as Sse from "../../Sse.js"
import { isRecord, type JsonRecord, ShapeError } from "../providers/wire.js"
import { concat } from "../transport/bytes.js"
import { eventLimit, eventTooLarge, type StreamParser } from "../transport/providerHttp.js"
import { Parser } from "./eventParser.js"
import { SkippedEvents } from "./skippedEvents.js"

/** The fields every error of a stream carries. */
export interface ErrorFields {
  readonly provider: string
  readonly model: string
  readonly requestId?: string
}

export abstract class SseParser implements StreamParser {
  private readonly sse: Parser
  /** The terminal event was seen and the closing chunks were emitted; the rest of the body is drained unread. */
  done = false
  /** Events whose data was not JSON, skipped; made at the first one (see `skip`). */
  skipped: SkippedEvents | undefined = undefined

  /**
   * `maxEventSize`: the format's own limit (default `Sse.defaultMaxEventSize`), capped by `maxResponseBytes`;
   * both were checked when the client was made.
   */
  constructor(
    private readonly limits: { readonly maxEventSize?: number | undefined; readonly maxResponseBytes: number }
  ) {
    this.sse = new Parser(eventLimit(limits.maxEventSize ?? Sse.defaultMaxEventSize, limits.maxResponseBytes))
  }

  /**
   * The chunks of one read. When no event can pass the limit within them, they
   * are decoded and split as one text, which gives the same events as chunk
   * by chunk (a provider that flushes every token sends each event as a chunk
   * of its own, and a read often holds many). Otherwise chunk by chunk: the
   * events of the chunks before the one an oversized event fails in still go out.
   */
  push(parts: NonEmptyReadonlyArray<Uint8Array>, out: Array<ChatChunk>): LlmError | undefined {
    if (this.done) return undefined
    if (parts.length > 1) {
      let bytes = 0
      for (const part of parts) bytes += part.length
      // A character takes at least a byte; the decoder may hold up to 3 bytes of one from the read before.
      if (bytes + 3 <= this.sse.room()) return this.feed(concat(parts), out)
    }
    for (const part of parts) {
      const failure = this.feed(part, out)
      if (failure !== undefined || this.done) return failure
    }
    return undefined
  }

  /** The body ended. */
  end(out: Array<ChatChunk>): LlmError | undefined {
    if (this.done) return undefined
    const events: Array<Sse.Event> = []
    const failure = this.sse.end(events) ? this.events(events, out) : this.tooLarge()
    if (failure !== undefined || this.done) return failure
    return this.ended(out)
  }

  /**
   * The chunks of the events these bytes complete; the failure instead (those events dropped) when one is too large.
   */
  private feed(bytes: Uint8Array, out: Array<ChatChunk>): LlmError | undefined {
    const events: Array<Sse.Event> = []
    return this.sse.feedBytes(bytes, events) ? this.events(events, out) : this.tooLarge()
  }

  /** Appends the chunks of whole events to `out`; returns the failure that ends the stream, if any. */
  protected abstract events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined

  /** The body ended without the terminal event: the closing chunks of a whole reply, or the failure. */
  protected abstract ended(out: Array<ChatChunk>): LlmError | undefined

  protected abstract errorFields(): ErrorFields

  /** Counts an event whose data is not JSON; the stream goes on. */
  protected skip(data: string): undefined {
    return (this.skipped ??= new SkippedEvents(() => this.errorFields())).skip(data)
  }

  private tooLarge(): LlmError {
    const { maxEventSize = Sse.defaultMaxEventSize, maxResponseBytes } = this.limits
    return new OutputDecodeError({
      ...this.errorFields(),
      detail: eventTooLarge("an SSE event", "maxEventSize", maxEventSize, maxResponseBytes),
      raw: ""
    })
  }
}

/** An SSE stream parser whose events each carry one JSON object. */
export abstract class JsonSseParser extends SseParser {
  /**
   * Reads one event's data: `readEvent` gets it as a JSON object; data that is
   * not JSON is skipped and counted; data that is not an object, or that
   * `readEvent` finds the wrong shape (it throws `ShapeError`), fails the stream
   * with `decodeError`.
   */
  protected jsonEvent(data: string, out: Array<ChatChunk>): LlmError | undefined {
    let value: unknown
    try {
      value = JSON.parse(data)
    } catch {
      return this.skip(data)
    }
    if (!isRecord(value)) return this.decodeError("a stream event is not a JSON object", data)
    try {
      return this.readEvent(value, out)
    } catch (error) {
      if (error instanceof ShapeError) {
        return this.decodeError(`a stream event has the wrong shape: ${error.reason}`, data)
      }
      throw error
    }
  }

  /** Appends one event's chunks to `out`; returns the failure that ends the stream, if any. Throws `ShapeError`. */
  protected abstract readEvent(value: JsonRecord, out: Array<ChatChunk>): LlmError | undefined

  /** The `OutputDecodeError` for data that did not decode, `raw` shortened. */
  protected abstract decodeError(detail: string, raw: string): LlmError
}
