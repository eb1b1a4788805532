/**
 * The Responses reply, whole and streamed, written by the dialect's one writer (`wire/openAiResponses/writer.ts`) as a
 * Responses deployment gives it: the reasoning summary only when the request asked for one, a made-up
 * `encrypted_content` only when it included it, the hosted tools' calls; failures as a failed response, the stream's
 * `error` event or OpenAI's error bodies.
 */
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import type { JsonObject } from "../../json.js"
import type { ErrorAnswer } from "../../wire/dialect.js"
import { FramedEvents, FramedText, sse } from "../../wire/eventSink.js"
import { echoOf, hostedCallItem, metadataOf, summaryText } from "../../wire/openAiResponses/codec.js"
import { none } from "../../wire/openAiResponses/namespace.js"
import {
  errorEvent,
  failedResponse as failedObject,
  type Ids,
  type Response,
  response,
  streamWriter
} from "../../wire/openAiResponses/writer.js"
import { replyChunks, responseOf, writeChunks } from "../chunks.js"
import { renderError as chatError, written } from "../openAiChat/errors.js"
import { sealedSummary } from "./compactionContent.js"
import type { Organization } from "./organization.js"

// The response id without its prefix, which names its items (`resp_sim7` -> `msg_sim7`).
function suffixOf(meta: ReplyMeta): string {
  return meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
}

// One message and one reasoning item a reply, named by the response; a function call by its call id.
function idsOf(meta: ReplyMeta): Ids {
  const suffix = suffixOf(meta)
  return {
    response: meta.id,
    createdAt: meta.created,
    item: (kind, _index, callId = "") =>
      kind === "fc" ? `fc_${callId.startsWith("call_") ? callId.slice(5) : callId}` : `${kind}_${suffix}`
  }
}

/** The stand-in for OpenAI's encrypted reasoning, sealed by the simulator's organisation (`organization.ts`). */
function encrypted(seal: Organization["seal"], id: string, tokens: number): string {
  return seal(`simulated reasoning ${id} ${tokens}`)
}

// The request's settings as the simulator read them, echoed as the codec echoes a body's.
function echoed(extra: Extra) {
  return echoOf({
    previous_response_id: extra.previous,
    reasoning: { effort: extra.effort, summary: extra.summary ? "auto" : undefined },
    store: extra.store
  })
}

// The items of the hosted tools' calls the reply makes, as a Responses deployment gives them; none for a reply that
// calls none (a scenario's turn).
function hostedItems(meta: ReplyMeta, extra: Extra): Array<JsonObject> {
  if (meta.hostedTools === "none") return []
  const suffix = suffixOf(meta)
  return (extra.hostedCalls ?? []).map((tool, i) => hostedCallItem(`hc_${suffix}_${i}`, tool, "completed"))
}

/** The reply's response object, its encrypted reasoning sealed by `seal`. */
export function renderReply(seal: Organization["seal"], reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string {
  const ids = idsOf(meta)
  const reasoning: Array<JsonObject> = reply.reasoning.length === 0 ? [] : [{
    type: "reasoning",
    summary: extra.summary ? [summaryText(reply.reasoning.join(""))] : [],
    ...(extra.encryptedReasoning
      ? { encrypted_content: encrypted(seal, ids.item("rs", 0), reply.reasoning.length) }
      : {})
  }]
  const whole = {
    ...responseOf(reply, meta),
    ...(meta.usage === "none" ? { usage: undefined } : {}),
    providerMetadata: metadataOf(reasoning, hostedItems(meta, extra))
  }
  return response(
    whole,
    ids,
    extra.calledAs ?? none,
    echoed(extra),
    meta.created,
    extra.compaction === true ? (summary) => sealedSummary(seal, summary) : undefined
  ).body
}

// The reply's last chunks as its wire has them: no usage under `usage=none`, its hosted calls' items on the finish.
function ending(tail: ReadonlyArray<ChatChunk>, meta: ReplyMeta, extra: Extra): ReadonlyArray<ChatChunk> {
  const hosted = hostedItems(meta, extra)
  const providerMetadata = metadataOf([], hosted)
  return tail.flatMap((chunk): ReadonlyArray<ChatChunk> =>
    chunk._tag === "Usage" && meta.usage === "none"
      ? []
      : chunk._tag === "Finish" && providerMetadata !== undefined
      ? [{ ...chunk, providerMetadata }]
      : [chunk]
  )
}

/** The reply's stream, its encrypted reasoning sealed by `seal`. */
export function renderStream(
  seal: Organization["seal"],
  reply: Reply.Reply,
  meta: ReplyMeta,
  extra: Extra
): RenderedStream {
  const out = new FramedEvents(sse)
  const writer = streamWriter({
    ids: idsOf(meta),
    echo: echoed(extra),
    names: extra.calledAs ?? none,
    model: meta.model,
    now: () => meta.created,
    summary: extra.summary,
    seal: extra.encryptedReasoning ? (id) => encrypted(seal, id, reply.reasoning.length) : "none",
    compaction: extra.compaction === true ? (summary) => sealedSummary(seal, summary) : undefined
  }, out)
  const chunks = replyChunks(reply, meta)
  // No opening write: the first chunk's opens the stream (`response.created`, `response.in_progress`); the tail is what
  // the usage and the finish write: the open items' ends, then `response.completed` (or `.incomplete`).
  return writeChunks(writer, out, { events: chunks.events, tail: ending(chunks.tail, meta, extra) })
}

const failure: ErrorAnswer = {
  status: 500,
  message: "The server had an error while processing your request. Sorry about that!",
  type: "server_error",
  param: null,
  code: "server_error",
  retryAfter: undefined
}

// What a failed response echoes: the simulator read nothing of the request it failed.
const failed: Response["echo"] = echoed({ store: false, encryptedReasoning: false, summary: false, effort: undefined })

export function failedResponse(meta: ReplyMeta): string {
  return JSON.stringify(failedObject({ ids: idsOf(meta), echo: failed }, meta.model, failure))
}

export function renderStreamError(shape: StreamErrorShape, meta: ReplyMeta): string {
  if (shape === "openai") return errorEvent(failure, 0)
  const out = new FramedText(sse)
  streamWriter({ ids: idsOf(meta), echo: failed, names: none, model: meta.model, now: () => meta.created }, out)
    .error(failure)
  return out.string()
}

export function renderError(error: ApiError): { readonly status: number; readonly body: string } {
  return error._tag === "ContextLength"
    ? written({
      status: 400,
      message: `Your input exceeds the context window of this model (${error.limit} tokens). Please adjust your ` +
        `input and try again.`,
      type: "invalid_request_error",
      param: "input",
      code: "context_length_exceeded",
      retryAfter: undefined
    })
    // The other errors are the same as Chat Completions'.
    : chatError(error)
}
