/**
 * The Bedrock replies: the `Converse` body and the `ConverseStream` event-stream frames, both written by the
 * codec (`codec/bedrock.ts`), the frames by `@smithy/eventstream-codec`; the `InvokeModelWithResponseStream` frames,
 * `chunk` events each carrying one event of a Messages stream; and errors in Bedrock's shape, a `{"message"}` body
 * with its AWS type as `__type` (which AWS's SDKs read as the header `x-amzn-errortype`).
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, RenderedStream } from "../../../simulator/WireFormat.js"
import * as Sse from "../../../Sse.js"
import * as Codec from "../../codec/bedrock.js"
import { usageOf } from "../usage.js"

const encoder = new TextEncoder()

/** A frame as the simulator's stream writes it: its bytes as the characters of a `latin1` string. */
const binary = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1")

/** An `event` frame of `event.type`, its payload the JSON of `event.payload`. */
function eventFrame(codec: EventStreamCodec, event: Codec.StreamEvent): string {
  return binary(codec.encode({
    headers: {
      ":event-type": { type: "string", value: event.type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "event" }
    },
    body: encoder.encode(JSON.stringify(event.payload))
  }))
}

/** An `exception` frame of `type` (`throttlingException`). */
export function exceptionFrame(codec: EventStreamCodec, type: string, message: string): string {
  return binary(codec.encode({
    headers: {
      ":exception-type": { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: "exception" }
    },
    body: encoder.encode(Codec.errorJson(message))
  }))
}

/** A frame whose CRC does not match its bytes. */
export function corruptFrame(codec: EventStreamCodec): string {
  const bytes = codec.encode({
    headers: { ":event-type": { type: "string", value: "contentBlockDelta" } },
    body: encoder.encode("{not json")
  })
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
  return binary(bytes)
}

function contentOf(reply: Reply.Reply): Codec.ReplyContent {
  return {
    text: reply.content.join(""),
    ...(reply.reasoning.length > 0 ? { reasoning: reply.reasoning.join("") } : {}),
    toolCalls: reply.toolCalls,
    finishReason: reply.finishReason,
    usage: usageOf(reply.usage)
  }
}

// The time the simulator reports a reply took, in `metrics.latencyMs`.
const latencyMs = 1

/**
 * A Messages stream (`Anthropic`'s rendering) as `InvokeModelWithResponseStream` frames (Amazon Bedrock API
 * reference, `ResponseStream`): each SSE event a `chunk` event whose `bytes` are its data, base64-encoded; each
 * rendered event (one chunk of the fault grammar) stays one piece, its tail the tail.
 */
export function chunkFrames(codec: EventStreamCodec, stream: RenderedStream): RenderedStream {
  const decoder = Sse.makeDecoder()
  function framed(text: string): string {
    let frames = ""
    for (const event of decoder.push(encoder.encode(text))) {
      frames += eventFrame(codec, { type: "chunk", payload: { bytes: Buffer.from(event.data).toString("base64") } })
    }
    return frames
  }
  return { events: stream.events.map(framed), tail: framed(stream.tail) }
}

/** The `Converse` body of a reply. */
export const renderReply = (reply: Reply.Reply): string => JSON.stringify(Codec.response(contentOf(reply), latencyMs))

/** The `ConverseStream` frames of a reply, one per token; its `messageStop` and `metadata` frames its tail. */
export const renderStream = (codec: EventStreamCodec, reply: Reply.Reply): RenderedStream => {
  const events = Codec.streamEvents(
    contentOf(reply),
    { text: reply.content, reasoning: reply.reasoning, calls: reply.toolCalls.map((call) => call.fragments) },
    latencyMs
  ).map((event) => eventFrame(codec, event))
  return { events: events.slice(0, -2), tail: events.slice(-2).join("") }
}

const awsError = (status: number, type: string, message: string) => ({
  status,
  body: JSON.stringify({ __type: type, message })
})

const typeOfStatus: Readonly<Record<number, string>> = {
  400: "ValidationException",
  403: "AccessDeniedException",
  404: "ResourceNotFoundException",
  408: "ModelTimeoutException",
  424: "ModelErrorException",
  429: "ThrottlingException",
  503: "ServiceUnavailableException"
}

/** An error in Bedrock's words (Amazon Bedrock API reference, Converse, "Errors"). */
export const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidKey":
      return awsError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    case "RateLimited":
      return awsError(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    case "ModelNotFound":
      return awsError(400, "ValidationException", "The provided model identifier is invalid.")
    case "ContextLength":
      return awsError(400, "ValidationException", "Input is too long for requested model.")
    case "NotFound":
      return awsError(404, "UnknownOperationException", `No operation at ${error.method} ${error.path}`)
    case "InvalidRequest": {
      const status = error.status ?? 400
      return awsError(status, error.code ?? typeOfStatus[status] ?? "ValidationException", error.message)
    }
    case "Injected": {
      const { code, message, status } = error.fault
      const type = code ?? typeOfStatus[status] ?? "InternalServerException"
      return awsError(status, type, message ?? `The simulator answered ${status} (${type}) as asked.`)
    }
  }
}
