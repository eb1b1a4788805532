/**
 * The one writer of the Gemini API's answers, for the gateway and the simulator: `ChatChunk` batches as `?alt=sse`
 * events (the Gemini API reference, `streamGenerateContent`), each a `GenerateContentResponse` of only the new parts,
 * and a failure as Google's error body (`google.rpc.Status`), whole or as the stream's `data: {"error": ...}` event,
 * which `@google/genai` raises. There is no end marker: the body just ends. Events end with CRLF CRLF, as Google's
 * servers send them; without `?alt=sse` the events are one JSON array, streamed (`Framing`).
 *
 * Gemini sends function calls whole: a stream's calls are folded until its `Finish` chunk, since another dialect's
 * deployment may send fragments, unless the writer is told they come whole (`wholeCalls`). Gemini's own events each
 * carry the usage so far (`runningUsage`). As every writer does (`wire/streamFold.ts`), a stream's writer keeps what it
 * has forwarded: a `Restart` before any part went out is invisible, after one it ends the stream with an error event.
 * Each chunk's `modelVersion` names the model that produced it.
 */
import { type ChatChunk, type Finish, makeAccumulator, type Restart, type ToolCallDelta } from "../../../ChatChunk.js"
import { emptyUsage, type Usage } from "../../../ChatResponse.js"
import { definedFields } from "../../json.js"
import { batchesOf, type ErrorAnswer, type ErrorWriter, type StreamEncoder } from "../dialect.js"
import { emit, type EventSink, eventText, FramedText, type Framing as TextFraming, sseFraming } from "../eventSink.js"
import { foldStream } from "../streamFold.js"
import {
  callPart,
  callParts,
  chunk as chunkJson,
  type End,
  errorJson,
  metadataOf,
  refusalPart,
  type WrittenPart
} from "./codec.js"

/**
 * Google's error body of `answer`, its status name its status's; `details` (`google.rpc.ErrorInfo`, `QuotaFailure`...)
 * only where the simulator words a failure with them.
 */
export function errorBody(answer: Pick<ErrorAnswer, "status" | "message">, details?: ReadonlyArray<unknown>): string {
  return errorJson(answer.status, answer.message, details)
}

/** Google's error body, at the answer's own status. */
export const errors: ErrorWriter = {
  status: (answer) => answer.status,
  body: (answer) => errorBody(answer)
}

// `?alt=sse` events, ended with CRLF CRLF as Google's servers end them.
const sse = sseFraming("\r\n")

/** One `?alt=sse` event of `json`, as Google's servers end it. */
export function event(json: string): string {
  return eventText(sse, undefined, json)
}

/** The stream's error event, which `@google/genai` raises. */
export function errorEvent(answer: ErrorAnswer): string {
  return event(errors.body(answer))
}

/**
 * How a stream's events are framed: `sse`, as `?alt=sse` asks (every Google client does); `array`, as
 * `streamGenerateContent` answers without it: one JSON array, streamed, its objects written as they come.
 */
export type Framing = "sse" | "array"

/**
 * The JSON array's framing as Google's servers write it: `[` then the objects, separated by a line with the comma and
 * CRLF, then `]` on a line of its own.
 */
export function arrayFraming(opened = false): TextFraming {
  function head(): string {
    if (opened) return "\n,\r\n"
    opened = true
    return "["
  }
  return { head, tail: "", end: () => (opened ? "" : "[") + "\n]" }
}

/** The text framing of `framing` for a stream after `written` objects; one per stream, as the array's keeps state. */
export function textFraming(framing: Framing, written = 0): TextFraming {
  return framing === "sse" ? sse : arrayFraming(written > 0)
}

/** A whole stream of one object's JSON (a blocked prompt's reply), framed as `framing`. */
export function single(json: string, framing: Framing): string {
  const out = new FramedText(textFraming(framing))
  emit(out, undefined, json)
  out.end()
  return out.string()
}

/**
 * An object that does not decode (the simulator's malformed fault) after `written` objects of a stream framed as
 * `framing`: its SSE event, or an element of the array.
 */
export function malformed(framing: Framing, written: number): string {
  return eventText(textFraming(framing, written), undefined, "{not json")
}

/** How a stream is written where Gemini's own servers and the gateway differ. */
export interface Options {
  /** Each `ToolCallDelta` is a whole call, written in its batch's event. Default: folded until the `Finish` chunk. */
  readonly wholeCalls?: boolean | undefined
  /** Every event carries the latest `Usage` chunk's counts, Gemini's running totals. Default: the last event only. */
  readonly runningUsage?: boolean | undefined
}

/** Writes one stream's batches into its sink, event by event; one per stream (it keeps what was forwarded). */
export interface StreamWriter {
  /**
   * Writes the events of `chunks`; the `Finish` chunk's ends the stream (the array's `]`). A `Restart` after part of
   * the answer went out stops there and is returned: the stream must end with an error event.
   */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined
  /** Writes the event of an error body (its JSON) that ends the stream, which `@google/genai` raises. */
  readonly error: (body: string) => void
}

/** A writer for the stream `id` of `model`, written as `options` say, into `out` (framed as the request asked). */
export function streamWriter(id: string, model: string, out: EventSink, options: Options = {}): StreamWriter {
  const wholeCalls = options.wholeCalls === true
  const runningUsage = options.runningUsage === true
  // The calls (unless they come whole) of the reply, folded until its `Finish` chunk; a `Restart` starts them over.
  let ending = makeAccumulator()
  // The reply's reasoning so far, carried on its calls (`callParts`); a `Restart` starts it over.
  let reasoning: string | undefined
  // The model that produces what follows: the one asked for, until a `Start`, `Restart`, `Continue` or `Finish` names
  // another.
  let producing = model
  // The parts of the batch, written as one event at its end or when another model takes over.
  let parts: Array<WrittenPart> = []

  function eventOf(end?: End): void {
    const latest = fold.usage()
    const usage = end ?? (runningUsage && latest !== undefined ? { usage: latest } : undefined)
    emit(out, undefined, chunkJson(parts, id, producing, usage))
    parts = []
  }
  function flush(): void {
    if (parts.length > 0) eventOf()
  }

  function toolCall(chunk: ToolCallDelta): boolean {
    if (!wholeCalls) {
      ending.add(chunk)
      return false
    }
    parts.push(callPart({
      name: chunk.name ?? "",
      arguments: chunk.arguments,
      ...definedFields({ id: chunk.id, providerMetadata: chunk.providerMetadata })
    }))
    return true
  }

  function finish(chunk: Finish, usage: Usage | undefined): void {
    ending.add(chunk)
    const reply = ending.response()!
    // A Gemini deployment's signature of the reply goes back to the client on a part of its own.
    const signature = metadataOf(chunk.providerMetadata)?.thoughtSignature
    if (signature !== undefined) parts.push({ text: "", thoughtSignature: signature })
    if (reply.refusal !== undefined) parts.push(refusalPart(reply.refusal))
    parts.push(...callParts(reply.toolCalls, chunk.providerMetadata, reasoning))
    // The last event holds a part, as Gemini's own does: an empty text when nothing else is left to say.
    if (parts.length === 0) parts.push({ text: "" })
    producing = chunk.model
    eventOf({ reason: reply.finishReason, usage: usage ?? emptyUsage })
    out.end()
  }

  const fold = foldStream({
    text: (text) => parts.push({ text }),
    reasoning(text) {
      reasoning = (reasoning ?? "") + text
      parts.push({ text, thought: true })
    },
    toolCall,
    finish,
    restart() {
      ending = makeAccumulator()
      reasoning = undefined
    },
    producedBy(next) {
      flush()
      producing = next
    },
    flush
  })

  function error(body: string): void {
    emit(out, undefined, body)
    out.end()
  }

  return { write: fold.write, error }
}

/** The gateway's encoder for the stream `id` of `model`, each batch one write, framed as the request asked. */
export function streamEncoder(id: string, model: string, framing: Framing = "sse"): StreamEncoder {
  const out = new FramedText(textFraming(framing))
  const writer = streamWriter(id, model, out)
  const batch = batchesOf(writer.write, out)
  function error(answer: ErrorAnswer): Uint8Array {
    writer.error(errors.body(answer))
    return out.flush()
  }
  return { contentType: framing === "sse" ? "text/event-stream" : "application/json", batch, error }
}
