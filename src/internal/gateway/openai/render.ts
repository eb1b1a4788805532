/**
 * The engine's replies in OpenAI's wire shapes (a `ChatResponse` as a
 * `chat.completion` is the codec's, `internal/codec/openAiChat.ts`):
 * `ChatChunk` batches as `chat.completion.chunk` SSE events
 * ending in `data: [DONE]`, in the codec's templates.
 *
 * A stream's encoder keeps what it has forwarded. The engine's `Restart` (a
 * router that moved a broken stream to another deployment) is invisible to an
 * OpenAI client while nothing of the answer has been forwarded (the stream
 * goes on from the new deployment); once something has, the two answers
 * cannot be told apart on the wire, so the stream ends with an error event
 * instead (the gateway buffers nothing to replay). A `Continue` (the router
 * asked another deployment for the rest of the same answer) is forwarded as
 * the stream going on. Each chunk names the model that produces it: a
 * router's `Start` chunk names the answering deployment's from the first one
 * (an `Llm` that is no router: the one asked for), until a `Restart` or
 * `Continue` names another deployment's, and the `Finish` chunk's on the last
 * ones.
 */
import type * as Effect from "effect/Effect"
import type { ChatChunk, Restart } from "../../../ChatChunk.js"
import type { Usage } from "../../../ChatResponse.js"
import { chunkTemplates, endEvents, toolCallFragmentJson } from "../../codec/openAiChat.js"
import { BodyText, bytesOf } from "../bodyText.js"

/**
 * The model a stream's first batch is produced by: a router's reply starts with a `Start` chunk naming the deployment
 * that answers (a router behind a router's deployment adds its own after it, naming the model nearer the reply, so
 * the last of the leading ones wins); else (an `Llm` that is no router) `asked`.
 */
export function answeringModel(first: ReadonlyArray<ChatChunk>, asked: string): string {
  let model = asked
  for (const chunk of first) {
    if (chunk._tag !== "Start") break
    model = chunk.model
  }
  return model
}

/** What one batch of a stream becomes: the bytes to write, and whether the stream must end there with an error. */
export interface Encoded {
  readonly bytes: Uint8Array
  /** A `Restart` after part of the answer went out: the stream ends after `bytes`, with an error event. */
  readonly restarted: Restart | undefined
  /**
   * What is done before `bytes` are written, if anything: the Responses stream keeps its response before its
   * `response.completed` tells the client of it.
   */
  readonly before?: Effect.Effect<void> | undefined
}

/**
 * Turns a stream's batches into the route's stream (SSE events, or the seed's plain text), each batch into the
 * bytes of one write; one per stream (it keeps what was forwarded).
 */
export interface StreamEncoder {
  /** The response's content type: `text/event-stream` for SSE. */
  readonly contentType: string
  readonly batch: (chunks: ReadonlyArray<ChatChunk>) => Encoded
  /** An error event (`data: {"error": ...}`) of the error JSON `body`, which the official clients raise. */
  readonly error: (body: string) => Uint8Array
}

/** An encoder for the stream `id` of `model`, with OpenAI's final usage chunk when `includeUsage`. */
export function streamEncoder(id: string, model: string, created: number, includeUsage: boolean): StreamEncoder {
  // The events' fixed parts for the model that produces them.
  let templates = chunkTemplates({ id, created, model, includeUsage })
  function producedBy(next: string): void {
    if (next !== templates.meta.model) templates = chunkTemplates({ id, created, model: next, includeUsage })
  }
  let started = false
  let forwarded = false
  let usage: Usage | undefined

  function batch(chunks: ReadonlyArray<ChatChunk>): Encoded {
    const out = new BodyText()
    if (!started) {
      started = true
      producedBy(answeringModel(chunks, templates.meta.model))
      out.template(templates.role)
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
        case "ReasoningDelta":
          if (chunk.text === "") break
          forwarded = true
          out.template(chunk._tag === "TextDelta" ? templates.content : templates.reasoning)
          out.json(chunk.text)
          out.template(templates.closeText)
          break
        case "ToolCallDelta":
          forwarded = true
          out.template(templates.tools)
          out.text(toolCallFragmentJson(chunk))
          out.template(templates.closeTools)
          break
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          producedBy(chunk.model)
          out.template(endEvents(templates, chunk.finishReason, usage))
          break
        case "Restart":
          if (forwarded) return { bytes: out.bytes(), restarted: chunk }
          // Nothing of the broken attempt went out: the new one's reply follows as if it were the first.
          usage = undefined
          producedBy(chunk.model)
          break
        case "Start":
        case "Continue":
          producedBy(chunk.model)
          break
      }
    }
    return { bytes: out.bytes(), restarted: undefined }
  }

  return { contentType: "text/event-stream", batch, error: (body) => bytesOf(`data: ${body}\n\n`) }
}
