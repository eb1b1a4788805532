/**
 * The gateway's Gemini stream: `ChatChunk` batches as `?alt=sse` events (the Gemini API reference,
 * `streamGenerateContent`), each a `GenerateContentResponse` written by the codec (`codec/gemini.ts`) whose parts are
 * only the new text, the last one carrying the function calls (Gemini sends calls whole, never piecemeal, so they are
 * folded until the `Finish` chunk), the finish reason and the usage. A failure is a `data: {"error": ...}` event,
 * which `@google/genai` raises. There is no end marker: the body just ends.
 *
 * As the other encoders do, a stream's encoder keeps what it has forwarded: a `Restart` before any part went out is
 * invisible, after one it ends the stream with an error event; a `Continue` is the stream going on. Each chunk's
 * `modelVersion` names the model that produced it: a router's `Start` chunk's from the first (an `Llm` that is no
 * router: the one asked for), then a `Restart`'s or `Continue`'s deployment's, the `Finish` chunk's on the last.
 */
import { type ChatChunk, makeAccumulator } from "../../../ChatChunk.js"
import { callPart, chunk as chunkJson, type End, metadataOf, type WrittenPart } from "../../codec/gemini.js"
import { bytesOf } from "../../wire/bodyText.js"
import type { Encoded, StreamEncoder } from "../../wire/dialect.js"
import { errors } from "./errors.js"

/** An encoder for the stream `id` of `model`; one per stream (it keeps the calls being built and what was sent). */
export function streamEncoder(id: string, model: string): StreamEncoder {
  let forwarded = false
  // The calls and the usage of the reply, folded until its `Finish` chunk; a `Restart` starts them over.
  const ending = makeAccumulator()
  // The model that produces what follows: the one asked for, until a `Start`, `Restart`, `Continue` or `Finish` names
  // another.
  let producing = model

  function event(parts: ReadonlyArray<WrittenPart>, end?: End): string {
    return `data: ${chunkJson(parts, id, producing, end)}\r\n\r\n`
  }

  function batch(chunks: ReadonlyArray<ChatChunk>): Encoded {
    let out = ""
    let parts: Array<WrittenPart> = []
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
        case "ReasoningDelta":
          if (chunk.text === "") break
          forwarded = true
          parts.push(chunk._tag === "TextDelta" ? { text: chunk.text } : { text: chunk.text, thought: true })
          break
        case "ToolCallDelta":
        case "Usage":
          ending.add(chunk)
          break
        case "Finish": {
          ending.add(chunk)
          const reply = ending.response()!
          // A Gemini deployment's signature of the reply goes back to the client on a part of its own.
          const signature = metadataOf(chunk.providerMetadata)?.thoughtSignature
          if (signature !== undefined) parts.push({ text: "", thoughtSignature: signature })
          for (const call of reply.toolCalls) parts.push(callPart(call))
          producing = chunk.model
          out += event(parts, { reason: reply.finishReason, usage: reply.usage })
          parts = []
          forwarded = true
          break
        }
        case "Restart":
          if (forwarded) return { bytes: bytesOf(out + (parts.length > 0 ? event(parts) : "")), restarted: chunk }
          // Nothing of the broken attempt went out: the new one's parts follow as if they were the first.
          ending.add(chunk)
          producing = chunk.model
          break
        case "Start":
        case "Continue":
          if (parts.length > 0) out += event(parts)
          parts = []
          producing = chunk.model
          break
      }
    }
    if (parts.length > 0) out += event(parts)
    return { bytes: bytesOf(out), restarted: undefined }
  }

  return { contentType: "text/event-stream", batch, error: (answer) => bytesOf(`data: ${errors.body(answer)}\r\n\r\n`) }
}
