/**
 * The one writer of OpenAI Chat Completions' answers, for the gateway and the simulator: `ChatChunk` batches as
 * `chat.completion.chunk` SSE events ending in `data: [DONE]`, in the codec's templates (`codec.ts`); a whole
 * `ChatResponse` as a `chat.completion`; and a failure as OpenAI's error body, whole or as the stream's last event.
 *
 * As every writer does (`wire/streamFold.ts`), a stream's writer keeps what it has forwarded: a `Restart` is invisible
 * to an OpenAI client while nothing of the answer has been forwarded; once something has, the two answers cannot be
 * told apart on the wire, so the stream ends with an error event (the gateway buffers nothing to replay). A `Continue`
 * is the stream going on. Each chunk names the model that produces it.
 */
import type { ChatChunk, Restart } from "../../../ChatChunk.js"
import { bytesOf } from "../bodyText.js"
import { answeringModel, batchesOf, type ErrorAnswer, type ErrorWriter, type StreamEncoder } from "../dialect.js"
import { type EventSink, eventText, FramedText, sse } from "../eventSink.js"
import { foldStream } from "../streamFold.js"
import {
  type ChunkMeta,
  chunkTemplates,
  doneData,
  finishData,
  openAiErrorJson,
  promptResultsData,
  toolCallFragmentJson,
  usageData
} from "./codec.js"

/** OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, at the answer's own status. */
export const errors: ErrorWriter = {
  status: (answer) => answer.status,
  body: (answer) => openAiErrorJson(answer.message, answer.type, answer.param, answer.code)
}

/** One SSE event of the stream, carrying `json`. */
export function event(json: string): string {
  return eventText(sse, undefined, json)
}

/** An event of the stream whose data does not decode (the simulator's malformed fault). */
export const malformed: string = event("{not json")

/** The stream's error event, `data: {"error": ...}`, which the official clients raise. */
export function errorEvent(answer: ErrorAnswer): string {
  return event(errors.body(answer))
}

/** Writes one stream's batches into its sink, event by event; one per stream (it keeps what was forwarded). */
export interface StreamWriter {
  /**
   * Writes the events of `chunks`; the first batch opens the stream with the assistant's role (an empty first batch
   * writes that alone). A `Restart` after part of the answer went out stops there and is returned: the stream must
   * end with an error event.
   */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined
}

/** A writer for the stream `meta` names, with OpenAI's final usage chunk when `meta.includeUsage`, into `out`. */
export function streamWriter(meta: ChunkMeta, out: EventSink): StreamWriter {
  // The events' fixed parts for the model that produces them.
  let templates = chunkTemplates(meta)
  function producedBy(next: string): void {
    if (next !== templates.meta.model) templates = chunkTemplates({ ...meta, model: next })
  }
  // An event of `data`, whole.
  function whole(data: string): void {
    out.open()
    out.template(data)
    out.close()
  }

  // An event of a delta whose text (a JSON string of `text`) follows `template`.
  function delta(template: string, text: string): void {
    out.open()
    out.template(template)
    out.json(text)
    out.template(templates.closeText)
    out.close()
  }

  const { write } = foldStream({
    open(first) {
      producedBy(answeringModel(first, templates.meta.model))
      if (meta.contentFilters === true) whole(promptResultsData)
      whole(templates.role)
    },
    text: (text) => delta(templates.content, text),
    reasoning: (text) => delta(templates.reasoning, text),
    toolCall(chunk) {
      out.open()
      out.template(templates.tools)
      out.text(toolCallFragmentJson(chunk))
      out.template(templates.closeTools)
      out.close()
      return true
    },
    finish(chunk, usage) {
      producedBy(chunk.model)
      // The library holds a refusal whole, on the `Finish` chunk: it goes out as one `delta.refusal`.
      if (chunk.refusal !== undefined) delta(templates.refusal, chunk.refusal)
      whole(finishData(templates, chunk.finishReason))
      if (meta.includeUsage && usage !== undefined) whole(usageData(templates, usage))
      whole(doneData)
      out.end()
    },
    producedBy
  })
  return { write }
}

/**
 * The gateway's encoder for the stream `id` of `model`, each batch one write, with the final usage chunk when
 * `includeUsage`.
 */
export function streamEncoder(id: string, model: string, created: number, includeUsage: boolean): StreamEncoder {
  const out = new FramedText(sse)
  const writer = streamWriter({ id, created, model, includeUsage }, out)
  const batch = batchesOf(writer.write, out)
  return { contentType: "text/event-stream", batch, error: (answer) => bytesOf(errorEvent(answer)) }
}
