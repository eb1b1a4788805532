/**
 * The one writer of Bedrock's streams (Amazon Bedrock API reference: `ConverseStream`,
 * `InvokeModelWithResponseStream`), for the simulator (the gateway serves no Bedrock route), every event in AWS's
 * event-stream framing (`application/vnd.amazon.eventstream`). An `InvokeModelWithResponseStream` `chunk` frame carries
 * one event of Anthropic's Messages stream (`wire/anthropic/writer.ts`), base64-encoded.
 *
 * Converse's blocks never interleave: a tool call's pieces follow its opening until the next block opens.
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import type { ChatChunk } from "../../../ChatChunk.js"
import { emptyUsage, type Usage } from "../../../ChatResponse.js"
import type { JsonObject } from "../../json.js"
import { emit, type EventList, type EventSink } from "../eventSink.js"
import { errorJson, stopReason, wireUsage } from "./codec.js"

const encoder = new TextEncoder()

/** A frame as the simulator's stream writes it: its bytes as the characters of a `latin1` string. */
function frameText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")
}

/** A frame of message type `kind` (`event`, `exception`) and of type `type`, its payload `data` (JSON text). */
function jsonFrame(codec: EventStreamCodec, kind: "event" | "exception", type: string, data: string): string {
  return frameText(codec.encode({
    headers: {
      [`:${kind}-type`]: { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: kind }
    },
    body: encoder.encode(data)
  }))
}

/** An `event` frame of type `type`, its payload `data` (JSON text). */
export function eventFrame(codec: EventStreamCodec, type: string, data: string): string {
  return jsonFrame(codec, "event", type, data)
}

/**
 * A frame whose checksum does not match its bytes: a `contentBlockDelta` that is not JSON (the simulator's malformed
 * fault).
 */
export function malformed(codec: EventStreamCodec): string {
  const bytes = codec.encode({
    headers: { ":event-type": { type: "string", value: "contentBlockDelta" } },
    body: encoder.encode("{not json")
  })
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
  return frameText(bytes)
}

/** A Bedrock error answer: its status, the `x-amzn-errortype` header naming its type, and its `{"message"}` body. */
export interface ErrorWritten {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

// The error type of a status when the answer names none (Amazon Bedrock API reference, Converse, "Errors").
const typeOfStatus: Readonly<Record<number, string>> = {
  400: "ValidationException",
  403: "AccessDeniedException",
  404: "ResourceNotFoundException",
  408: "ModelTimeoutException",
  424: "ModelErrorException",
  429: "ThrottlingException",
  503: "ServiceUnavailableException"
}

/** The type Bedrock gives an error of `status` (`ThrottlingException` for 429); `fallback` for another status. */
export function errorType(status: number, fallback: string): string {
  return typeOfStatus[status] ?? fallback
}

/**
 * An error as Bedrock answers it (AWS's REST JSON protocol, per the Amazon Bedrock Runtime API reference):
 * `{"message": ...}`, the type in the `x-amzn-errortype` header after the service's namespace, which AWS's SDKs and
 * the library's error mapping read.
 */
export function errorBody(status: number, type: string, message: string): ErrorWritten {
  return {
    status,
    headers: { "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/` },
    body: errorJson(message)
  }
}

/**
 * An error in a 200 body, where no header can name its type: `{"__type", "message"}`, which the client takes for a
 * failure (a body with a message and no output).
 */
export function failureBody(type: string, message: string): string {
  return JSON.stringify({ __type: type, message })
}

/** An `exception` frame of `type` (`throttlingException`). */
export function exceptionFrame(codec: EventStreamCodec, type: string, message: string): string {
  return jsonFrame(codec, "exception", type, errorJson(message))
}

/** An `InvokeModelWithResponseStream` `chunk` frame carrying `data`, one event's data of a Messages stream. */
export function chunkFrame(codec: EventStreamCodec, data: string): string {
  return eventFrame(codec, "chunk", JSON.stringify({ bytes: Buffer.from(data).toString("base64") }))
}

/** Events kept as AWS event-stream frames, each its own write (its bytes as `latin1` characters). */
class Frames implements EventList {
  private name = ""
  private data = ""
  private closed: Array<string> = []

  constructor(private readonly frame: (name: string, data: string) => string) {}

  open(name = ""): void {
    this.name = name
    this.data = ""
  }

  template(piece: string): void {
    this.data += piece
  }

  text(piece: string): void {
    this.data += piece
  }

  json(value: string): void {
    this.data += JSON.stringify(value)
  }

  close(): void {
    this.closed.push(this.frame(this.name, this.data))
  }

  end(): void {}

  events(): Array<string> {
    const closed = this.closed
    this.closed = []
    return closed
  }
}

/** A sink of `ConverseStream` events, each an `event` frame of its name. */
export function eventFrames(codec: EventStreamCodec): EventList {
  return new Frames((name, data) => eventFrame(codec, name, data))
}

/** A sink of a Messages stream's events, each a `chunk` frame of its data (`InvokeModelWithResponseStream`). */
export function chunkFrames(codec: EventStreamCodec): EventList {
  return new Frames((_name, data) => chunkFrame(codec, data))
}

/** What a `ConverseStream` writes beside the chunks. */
export interface StreamOptions {
  /** The reasoning block's signature (Bedrock's `reasoningContent.signature`), written before its stop. */
  readonly signature?: string | undefined
  /** The milliseconds `metadata.metrics.latencyMs` reports. */
  readonly latencyMs: number
}

/** Writes one stream's batches as `ConverseStream` events into its sink; one per stream (it keeps the open block). */
export interface StreamWriter {
  /** Writes the events of `chunks`; the first batch opens the stream with `messageStart`. */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => void
}

/** A `ConverseStream` writer into `out`. */
export function streamWriter(out: EventSink, options: StreamOptions): StreamWriter {
  let started = false
  let usage: Usage | undefined
  // The block open now (-1: none), what it is, and the number of blocks opened.
  let open = -1
  let kind: "text" | "reasoning" | "tool" = "text"
  let blocks = 0
  // The block of each tool call, by the call's index.
  const tools: Array<number> = []

  // An event of `type`, its payload `payload`'s JSON.
  const put = (type: string, payload: JsonObject) => emit(out, type, JSON.stringify(payload))
  function delta(index: number, delta: JsonObject): void {
    put("contentBlockDelta", { delta, contentBlockIndex: index })
  }
  function stop(): void {
    if (open === -1) return
    if (kind === "reasoning" && options.signature !== undefined) {
      delta(open, { reasoningContent: { signature: options.signature } })
    }
    put("contentBlockStop", { contentBlockIndex: open })
    open = -1
  }
  function start(next: typeof kind): void {
    stop()
    open = blocks++
    kind = next
  }

  function toolDelta(chunk: Extract<ChatChunk, { _tag: "ToolCallDelta" }>): void {
    let index = tools[chunk.index]
    if (index === undefined) {
      start("tool")
      index = open
      tools[chunk.index] = index
      const toolUse = { toolUseId: chunk.id ?? "", name: chunk.name ?? "" }
      put("contentBlockStart", { start: { toolUse }, contentBlockIndex: index })
      if (chunk.arguments === "") return
    }
    delta(index, { toolUse: { input: chunk.arguments } })
  }

  function write(chunks: ReadonlyArray<ChatChunk>): void {
    if (!started) {
      started = true
      put("messageStart", { role: "assistant" })
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (open === -1 || kind !== "text") start("text")
          delta(open, { text: chunk.text })
          break
        case "ReasoningDelta":
          if (open === -1 || kind !== "reasoning") start("reasoning")
          delta(open, { reasoningContent: { text: chunk.text } })
          break
        case "ToolCallDelta":
          toolDelta(chunk)
          break
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          // A refusal (`ReplyContent.refusal`): a text block of its own, last, as in the whole reply.
          if (chunk.refusal !== undefined) {
            start("text")
            delta(open, { text: chunk.refusal })
          }
          stop()
          put("messageStop", { stopReason: stopReason(chunk.finishReason) })
          put("metadata", { usage: wireUsage(usage ?? emptyUsage), metrics: { latencyMs: options.latencyMs } })
          out.end()
          break
      }
    }
  }

  return { write }
}
