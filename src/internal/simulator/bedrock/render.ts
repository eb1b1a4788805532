/**
 * The Bedrock replies, written by the dialect's codec and one writer (`wire/bedrock/`): `Converse` bodies,
 * `ConverseStream` frames, `InvokeModelWithResponseStream` `chunk` frames each carrying one event of Anthropic's
 * Messages stream, and errors in Bedrock's words (a `{"message"}` body, the type in the `x-amzn-errortype` header).
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import type { Extra } from "../../../simulator/Anthropic.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import * as Codec from "../../wire/bedrock/codec.js"
import {
  chunkFrames,
  errorBody,
  errorType,
  type ErrorWritten,
  eventFrames,
  streamWriter
} from "../../wire/bedrock/writer.js"
import { renderStream as renderMessages, signatureOf } from "../anthropic/render.js"
import { replyChunks, responseOf, writeChunks } from "../chunks.js"

// The time the simulator reports a reply took, in `metrics.latencyMs`.
const latencyMs = 1

/**
 * The `InvokeModelWithResponseStream` stream of a reply (Amazon Bedrock API reference, `ResponseStream`): its Messages
 * stream as Anthropic's writer writes it, each event a `chunk` frame whose `bytes` are its data.
 */
export function renderInvokeStream(
  codec: EventStreamCodec,
  reply: Reply.Reply,
  meta: ReplyMeta,
  extra: Extra
): RenderedStream {
  return renderMessages(reply, meta, extra, chunkFrames(codec))
}

/** The signature of a reply's reasoning, as Claude signs it on Bedrock (`reasoningText.signature`), if it has some. */
const signatureOfReply = (reply: Reply.Reply): string | undefined =>
  reply.reasoning.length === 0 ? undefined : signatureOf(reply.reasoning.join(""))

/** The `Converse` body of a reply, written by the codec from the reply as a `ChatResponse`, its reasoning signed. */
export const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string =>
  JSON.stringify(
    Codec.response(
      { ...responseOf(reply, meta), providerMetadata: Codec.replyMetadata(signatureOfReply(reply)) },
      latencyMs
    )
  )

/** The `ConverseStream` frames of a reply, one frame per event, each tool call whole. */
export function renderStream(codec: EventStreamCodec, reply: Reply.Reply, meta: ReplyMeta): RenderedStream {
  const out = eventFrames(codec)
  const { events, tail } = replyChunks(reply, meta, "whole")
  // The first write, of nothing, opens the stream (`messageStart`).
  const writer = streamWriter(out, { latencyMs, signature: signatureOfReply(reply) })
  return writeChunks(writer, out, { events: [[], ...events], tail })
}

/** An error in Bedrock's words (Amazon Bedrock API reference, Converse, "Errors"). */
export const renderError = (error: ApiError): ErrorWritten => {
  switch (error._tag) {
    case "InvalidKey":
      return errorBody(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    case "RateLimited":
      return errorBody(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    case "ModelNotFound":
      return errorBody(400, "ValidationException", "The provided model identifier is invalid.")
    case "ContextLength":
      return errorBody(400, "ValidationException", "Input is too long for requested model.")
    case "NotFound":
      return errorBody(404, "UnknownOperationException", `No operation at ${error.method} ${error.path}`)
    case "InvalidRequest": {
      const status = error.status ?? 400
      return errorBody(status, error.code ?? errorType(status, "ValidationException"), error.message)
    }
    case "Injected": {
      const { code, message, status } = error.fault
      const type = code ?? errorType(status, "InternalServerException")
      return errorBody(status, type, message ?? `The simulator answered ${status} (${type}) as asked.`)
    }
  }
}
