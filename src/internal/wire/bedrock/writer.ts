/**
 * The one writer of Bedrock's streams (Amazon Bedrock API reference: `ConverseStream`,
 * `InvokeModelWithResponseStream`), which the simulator writes with (the gateway serves no Bedrock route):
 * `ChatChunk`s as `ConverseStream` events (`messageStart`; per block its deltas, a tool's block opened by
 * `contentBlockStart`, then `contentBlockStop`; `messageStop` with the stop reason and `metadata` with the usage), and
 * every event in AWS's event-stream framing (`application/vnd.amazon.eventstream`, written with
 * `@smithy/eventstream-codec`): an `event` frame, an `exception` frame, and the `chunk` frame of
 * `InvokeModelWithResponseStream`, whose `bytes` carry one event of Anthropic's Messages stream (written by
 * `wire/anthropic/writer.ts`), base64-encoded; and an error answer, its type in a header (`errorBody`).
 *
 * Converse's blocks never interleave: a tool call's pieces follow its opening until the next block opens.
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../../ChatChunk.js"
import { emptyUsage, type Usage } from "../../../ChatResponse.js"
import type { JsonRecord } from "../../providers/wire.js"
import { errorJson, type ReplyContent, signatureOf, stopReason, type StreamEvent, wireUsage } from "./codec.js"

const encoder = new TextEncoder()

/** A frame as the simulator's stream writes it: its bytes as the characters of a `latin1` string. */
export function frameText(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")
}

/** An `event` frame of `event.type`, its payload the JSON of `event.payload`. */
export function eventFrame(codec: EventStreamCodec, event: StreamEvent): string {
  return frameText(codec.encode({
    headers: {
      ":event-type": { type: "string", value: event.type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "event" }
    },
    body: encoder.encode(JSON.stringify(event.payload))
  }))
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
 * An error as Bedrock answers it (AWS's REST JSON protocol, as the Amazon Bedrock Runtime API reference shows it):
 * `{"message": ...}`, the type in the `x-amzn-errortype` header after the service's namespace
 * (`ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`), which AWS's SDKs and the library's
 * error mapping read.
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
  return frameText(codec.encode({
    headers: {
      ":exception-type": { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "exception" }
    },
    body: encoder.encode(errorJson(message))
  }))
}

/** An `InvokeModelWithResponseStream` `chunk` frame carrying `data`, one event's data of a Messages stream. */
export function chunkFrame(codec: EventStreamCodec, data: string): string {
  return eventFrame(codec, { type: "chunk", payload: { bytes: Buffer.from(data).toString("base64") } })
}

/** What a `ConverseStream` writes beside the chunks. */
export interface StreamOptions {
  /** The reasoning block's signature (Bedrock's `reasoningContent.signature`), written before its stop. */
  readonly signature?: string | undefined
  /** The milliseconds `metadata.metrics.latencyMs` reports. */
  readonly latencyMs: number
}

/** Writes one stream's batches as `ConverseStream` events; one per stream (it keeps the open block). */
export interface StreamWriter {
  /** The events of `chunks`; the first batch opens the stream with `messageStart`. */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Array<StreamEvent>
}

/** A `ConverseStream` writer. */
export function streamWriter(options: StreamOptions): StreamWriter {
  let started = false
  let usage: Usage | undefined
  // The block open now (-1: none), what it is, and the number of blocks opened.
  let open = -1
  let kind: "text" | "reasoning" | "tool" = "text"
  let blocks = 0
  // The block of each tool call, by the call's index.
  const tools: Array<number> = []

  function delta(out: Array<StreamEvent>, index: number, delta: JsonRecord): void {
    out.push({ type: "contentBlockDelta", payload: { delta, contentBlockIndex: index } })
  }
  function stop(out: Array<StreamEvent>): void {
    if (open === -1) return
    if (kind === "reasoning" && options.signature !== undefined) {
      delta(out, open, { reasoningContent: { signature: options.signature } })
    }
    out.push({ type: "contentBlockStop", payload: { contentBlockIndex: open } })
    open = -1
  }
  function start(out: Array<StreamEvent>, next: typeof kind): void {
    stop(out)
    open = blocks++
    kind = next
  }

  function toolDelta(chunk: Extract<ChatChunk, { _tag: "ToolCallDelta" }>, out: Array<StreamEvent>): void {
    let index = tools[chunk.index]
    if (index === undefined) {
      start(out, "tool")
      index = open
      tools[chunk.index] = index
      const toolUse = { toolUseId: chunk.id ?? "", name: chunk.name ?? "" }
      out.push({ type: "contentBlockStart", payload: { start: { toolUse }, contentBlockIndex: index } })
      if (chunk.arguments === "") return
    }
    delta(out, index, { toolUse: { input: chunk.arguments } })
  }

  function write(chunks: ReadonlyArray<ChatChunk>): Array<StreamEvent> {
    const out: Array<StreamEvent> = []
    if (!started) {
      started = true
      out.push({ type: "messageStart", payload: { role: "assistant" } })
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (open === -1 || kind !== "text") start(out, "text")
          delta(out, open, { text: chunk.text })
          break
        case "ReasoningDelta":
          if (open === -1 || kind !== "reasoning") start(out, "reasoning")
          delta(out, open, { reasoningContent: { text: chunk.text } })
          break
        case "ToolCallDelta":
          toolDelta(chunk, out)
          break
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          stop(out)
          out.push({ type: "messageStop", payload: { stopReason: stopReason(chunk.finishReason) } })
          out.push({
            type: "metadata",
            payload: { usage: wireUsage(usage ?? emptyUsage), metrics: { latencyMs: options.latencyMs } }
          })
          break
      }
    }
    return out
  }

  return { write }
}

/** A reply as it is streamed: its text, reasoning and each tool call's input JSON in the pieces that are deltas. */
export interface StreamPieces {
  /** Joined, `content.text`. */
  readonly text: ReadonlyArray<string>
  readonly reasoning: ReadonlyArray<string>
  /** Per tool call of `content`, its `arguments` cut into partial JSON; a call without is one delta. */
  readonly calls?: ReadonlyArray<ReadonlyArray<string>> | undefined
}

/**
 * The events of a streamed reply, each piece of `pieces` a delta of its own: the reasoning, the text, then each tool
 * call whole, as `ChatChunk`s through the writer.
 */
export function streamEvents(content: ReplyContent, pieces: StreamPieces, latencyMs: number): Array<StreamEvent> {
  const chunks: Array<ChatChunk> = []
  for (const text of pieces.reasoning) chunks.push({ _tag: "ReasoningDelta", text })
  for (const text of pieces.text) chunks.push({ _tag: "TextDelta", text })
  content.toolCalls.forEach((call, index) => {
    chunks.push({ _tag: "ToolCallDelta", index, id: call.id, name: call.name, arguments: "" })
    for (const input of pieces.calls?.[index] ?? [call.arguments]) {
      chunks.push({ _tag: "ToolCallDelta", index, arguments: input })
    }
  })
  chunks.push({ _tag: "Usage", usage: content.usage })
  // The writer reads the finish reason alone of the `Finish`.
  const finish = { finishReason: content.finishReason, id: "", model: "", provider: "bedrock" }
  chunks.push({ _tag: "Finish", ...finish, latency: Duration.millis(latencyMs) })
  return streamWriter({ signature: signatureOf(content.providerMetadata), latencyMs }).write(chunks)
}
