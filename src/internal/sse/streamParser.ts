/**
 * An event stream read, from its bytes to a stream parser's events. `Utf8Decoder` turns network chunks into text (SSE
 * and NDJSON alike), `Parser` turns text into SSE events. `SseParser` is what every SSE stream parser shares: an event
 * past `maxEventSize` (or `maxResponseBytes`) as `OutputDecodeError`, nothing read after the terminal event; a subclass
 * keeps its events and how a body ended without the terminal event finishes. `JsonSseParser` adds, for formats of one
 * JSON object per event: data not JSON skipped and counted (`SkippedEvents`), data not an object or of the wrong shape
 * as `OutputDecodeError`.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../ChatChunk.js"
import { type LlmError, OutputDecodeError } from "../../LlmError.js"
import * as Sse from "../../Sse.js"
import type { Event } from "../../Sse.js"
import { ShapeError } from "../codecError.js"
import { isJsonObject, type JsonObject } from "../json.js"
import { concat } from "../transport/bytes.js"
import { eventLimit, eventTooLarge, type StreamParser } from "../transport/providerHttp.js"
import { SkippedEvents } from "../transport/skippedEvents.js"

/**
 * UTF-8 network chunks decoded as one text, as a streaming `TextDecoder` would (a character split across chunks comes
 * out whole, a leading BOM dropped), at about the cost of a plain decode: Node's `TextDecoder` costs more in streaming
 * mode, and on an instance once used that way (docs/performance.md). A chunk ending in an ASCII byte, after one that
 * did, leaves no character half-read, so a never-streaming instance decodes it in one call.
 */

const BOM = 0xfeff

/**
 * The decoder of whole chunks, never used in streaming mode; it keeps no state between calls, so every instance shares
 * it.
 */
const whole = new TextDecoder("utf-8", { ignoreBOM: true })

export class Utf8Decoder {
  /** Made at the first chunk that ends in a non-ASCII byte: most streams have none. */
  private streaming: InstanceType<typeof TextDecoder> | undefined = undefined
  /** The last chunk ended in a non-ASCII byte: `streaming` may hold part of a character. */
  private carrying = false
  /** No text decoded yet: a BOM that starts the first text is not part of it. */
  private atStart = true

  decode(bytes: Uint8Array): string {
    if (bytes.length === 0) return ""
    const asciiEnd = bytes[bytes.length - 1]! < 0x80
    const text = asciiEnd && !this.carrying
      ? whole.decode(bytes)
      : (this.streaming ??= new TextDecoder("utf-8", { ignoreBOM: true })).decode(bytes, { stream: true })
    this.carrying = !asciiEnd
    return this.withoutBom(text)
  }

  /** The end of the text (a character left half-read is U+FFFD); the decoder then starts a new text. */
  end(): string {
    const text = this.carrying ? this.withoutBom(this.streaming!.decode()) : ""
    this.carrying = false
    this.atStart = true
    return text
  }

  private withoutBom(text: string): string {
    if (!this.atStart || text === "") return text
    this.atStart = false
    return text.charCodeAt(0) === BOM ? text.slice(1) : text
  }
}

const LF = 10
const SPACE = 32
const COLON = 58

const ASCII_DIGITS = /^[0-9]+$/

/**
 * The incremental SSE line parser behind `Sse.makeDecoder` and `Sse.decode`. Cost is per chunk, not per character:
 * line ends found with `indexOf`, `data:` lines on a char-code fast path, and an unterminated tail grown only by
 * concatenation (V8 ropes), so a line spread over many tiny chunks stays linear.
 *
 * The feed methods return `false` once the size limit is passed (events completed before are already in `out`); the
 * parser then drops its buffers and stays failed, and the caller builds the typed error.
 *
 * @internal
 */
export class Parser {
  /** Strips the one BOM at the start of the stream. */
  private readonly utf8 = new Utf8Decoder()
  /** Unterminated tail of the current line (may span many chunks). */
  private pending = ""
  /** The previous text ended in CR: an LF at the start of the next one belongs to it. */
  private skipLf = false
  private data = ""
  private hasData = false
  private eventType = ""
  private lastEventId: string | undefined = undefined
  private retry: number | undefined = undefined
  failed = false

  constructor(readonly maxEventSize: number) {}

  /** The characters the event being read may still grow by before it passes `maxEventSize`. */
  room(): number {
    return this.maxEventSize - this.data.length - this.pending.length
  }

  feedBytes(bytes: Uint8Array, out: Array<Event>): boolean {
    if (this.failed) return false
    return this.feedText(this.utf8.decode(bytes), out)
  }

  feedText(text: string, out: Array<Event>): boolean {
    if (this.failed) return false
    const len = text.length
    if (len === 0) return true
    let pos = 0
    if (this.skipLf) {
      this.skipLf = false
      if (text.charCodeAt(0) === LF) pos = 1
    }
    // Both next-terminator positions are cached and searched again only once passed, so a chunk without CR costs one
    // failed `indexOf("\r")`.
    let lf = text.indexOf("\n", pos)
    let cr = text.indexOf("\r", pos)
    while (lf !== -1 || cr !== -1) {
      let end: number
      let next: number
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        end = lf
        next = lf + 1
      } else {
        end = cr
        if (cr + 1 === len) {
          // A CR ending this text ends the line now; a following LF, in whatever chunk, is the rest of the CRLF.
          this.skipLf = true
          next = len
        } else {
          next = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1
        }
      }
      let ok: boolean
      if (this.pending === "") {
        ok = this.line(text, pos, end, out)
      } else {
        const line = this.pending + text.slice(pos, end)
        this.pending = ""
        ok = this.line(line, 0, line.length, out)
      }
      if (!ok) return this.fail()
      pos = next
      if (lf !== -1 && lf < pos) lf = text.indexOf("\n", pos)
      if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos)
    }
    if (pos < len) {
      const tail = pos === 0 ? text : text.slice(pos)
      this.pending = this.pending === "" ? tail : this.pending + tail
      // Bounds an unterminated line as soon as it grows, not when it ends.
      if (this.data.length + this.pending.length > this.maxEventSize) return this.fail()
    }
    return true
  }

  /**
   * Ends the stream, dispatching an unterminated last line and pending data even without the blank line the spec
   * requires (some servers close the body without it). Resets the parser for a new stream.
   */
  end(out: Array<Event>): boolean {
    if (this.failed) return false
    if (!this.feedText(this.utf8.end(), out)) return false
    if (this.pending !== "") {
      const line = this.pending
      this.pending = ""
      if (!this.line(line, 0, line.length, out)) return this.fail()
    }
    this.dispatch(out)
    this.reset()
    return true
  }

  private reset(): void {
    // Drops a character left half-read by a failed stream.
    this.utf8.end()
    this.pending = ""
    this.skipLf = false
    this.data = ""
    this.hasData = false
    this.eventType = ""
    this.lastEventId = undefined
    this.retry = undefined
  }

  private fail(): false {
    this.reset()
    this.failed = true
    return false
  }

  private dispatch(out: Array<Event>): void {
    if (this.hasData) {
      out.push({
        event: this.eventType === "" ? "message" : this.eventType,
        data: this.data,
        id: this.lastEventId,
        retry: this.retry
      })
      this.data = ""
      this.hasData = false
    }
    this.eventType = ""
  }

  private appendData(value: string): void {
    if (this.hasData) {
      this.data = this.data + "\n" + value
    } else {
      this.data = value
      this.hasData = true
    }
  }

  /** Processes the line `s[start, end)`; `false` when the event would be too large. */
  private line(s: string, start: number, end: number, out: Array<Event>): boolean {
    if (start === end) {
      this.dispatch(out)
      return true
    }
    // Pending data plus this line, checked before anything is appended, so the verdict does not depend on where the
    // chunks were split.
    if (this.data.length + (end - start) > this.maxEventSize) return false
    const first = s.charCodeAt(start)
    if (first === COLON) return true
    if (
      first === 100 &&
      s.charCodeAt(start + 1) === 97 &&
      s.charCodeAt(start + 2) === 116 &&
      s.charCodeAt(start + 3) === 97 &&
      s.charCodeAt(start + 4) === COLON
    ) {
      // `s[end]` is the terminator (or past the end), never a space.
      this.appendData(s.slice(s.charCodeAt(start + 5) === SPACE ? start + 6 : start + 5, end))
      return true
    }
    const line = start === 0 && end === s.length ? s : s.slice(start, end)
    const colon = line.indexOf(":")
    let field: string
    let value: string
    if (colon === -1) {
      field = line
      value = ""
    } else {
      field = line.slice(0, colon)
      value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1)
    }
    switch (field) {
      case "data":
        this.appendData(value)
        break
      case "event":
        this.eventType = value
        break
      case "id":
        if (!value.includes("\u0000")) this.lastEventId = value
        break
      case "retry":
        if (ASCII_DIGITS.test(value)) this.retry = Number.parseInt(value, 10)
        break
    }
    return true
  }
}

/** The fields every error of a stream carries. */
export interface ErrorFields {
  readonly provider: string
  readonly model: string
  readonly requestId?: string
}

/** The fields of the errors of a stream of `context`'s call, as `model` answers it. */
export function errorFieldsOf(
  context: { readonly provider: string; readonly requestId: () => string | undefined },
  model: string
): ErrorFields {
  const requestId = context.requestId()
  return { provider: context.provider, model, ...(requestId !== undefined ? { requestId } : {}) }
}

/** The latency of a stream of `context`'s call, now. */
export const latencyOf = (context: { readonly now: () => number; readonly startMillis: number }): Duration.Duration =>
  Duration.millis(Math.max(0, context.now() - context.startMillis))

export abstract class SseParser implements StreamParser {
  private readonly sse: Parser
  /** The terminal event was seen and the closing chunks were emitted; the rest of the body is drained unread. */
  done = false
  /** Events whose data was not JSON, skipped; made at the first one (see `skip`). */
  skipped: SkippedEvents | undefined = undefined

  /** The format's own limit (default `Sse.defaultMaxEventSize`), capped by `maxResponseBytes`; both checked at make. */
  constructor(
    private readonly limits: { readonly maxEventSize?: number | undefined; readonly maxResponseBytes: number }
  ) {
    this.sse = new Parser(eventLimit(limits.maxEventSize ?? Sse.defaultMaxEventSize, limits.maxResponseBytes))
  }

  /**
   * The chunks of one read. When no event can pass the limit within them, they are decoded and split as one text (the
   * same events; a provider flushing every token sends an event per chunk, and a read often holds many). Otherwise
   * chunk by chunk, so the events before the chunk an oversized event fails in still go out.
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

  end(out: Array<ChatChunk>): LlmError | undefined {
    if (this.done) return undefined
    const events: Array<Sse.Event> = []
    const failure = this.sse.end(events) ? this.events(events, out) : this.tooLarge()
    if (failure !== undefined || this.done) return failure
    return this.ended(out)
  }

  /** The chunks of the events these bytes complete; the failure instead (those events dropped) if one is too large. */
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
  protected skip(data: string): LlmError | undefined {
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
   * Reads one event's data: `readEvent` gets it as a JSON object; data not JSON is skipped and counted; data not an
   * object, or that `readEvent` finds the wrong shape (throwing `ShapeError`), fails the stream with `decodeError`.
   */
  protected jsonEvent(data: string, out: Array<ChatChunk>): LlmError | undefined {
    let value: unknown
    try {
      value = JSON.parse(data)
    } catch {
      return this.skip(data)
    }
    if (!isJsonObject(value)) return this.decodeError("a stream event is not a JSON object", data)
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
  protected abstract readEvent(value: JsonObject, out: Array<ChatChunk>): LlmError | undefined

  /** The `OutputDecodeError` for data that did not decode, `raw` shortened. */
  protected abstract decodeError(detail: string, raw: string): LlmError
}
