/**
 * The Responses reply: the response object, the stream of named events, and
 * the failures (a failed response, the `error` event, OpenAI's error bodies),
 * written with the Responses codec's writers.
 */
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import {
  echoOf,
  event,
  type EventFields,
  type EventType,
  functionCallItem,
  hostedCallItem,
  messageItem,
  type OutputItem,
  outputText,
  reasoningItem,
  responseObject,
  statusOf,
  summaryText
} from "../../codec/openAiResponses.js"
import { openAiErrorJson as errorBody } from "../../wire/openAiChat/codec.js"
import { renderError as chatError } from "../openAiChat/errors.js"
import { usageOf } from "../usage.js"

/** Output item ids, derived from the response id (`resp_sim7` -> `msg_sim7`). */
function itemIds(meta: ReplyMeta) {
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return { message: `msg_${suffix}`, reasoning: `rs_${suffix}` }
}

function functionCallId(call: Reply.ToolCall): string {
  return `fc_${call.id.startsWith("call_") ? call.id.slice(5) : call.id}`
}

/** Opaque, deterministic stand-in for OpenAI's encrypted reasoning. */
function encrypted(id: string, tokens: number): string {
  return `gAAAAB${Buffer.from(`simulated reasoning ${id} ${tokens}`).toString("base64")}`
}

function reasoningOutput(reply: Reply.Reply, meta: ReplyMeta, extra: Extra, done: boolean): OutputItem {
  const id = itemIds(meta).reasoning
  const summary = done && extra.summary ? [summaryText(reply.reasoning.join(""))] : []
  // Sent only when `include` asks for it, and known once the item is done.
  const content = !extra.encryptedReasoning ? undefined : done ? encrypted(id, reply.reasoning.length) : null
  return reasoningItem(id, summary, content)
}

function hasMessage(reply: Reply.Reply): boolean {
  return reply.content.length > 0 || reply.toolCalls.length === 0
}

function messageOutput(reply: Reply.Reply, meta: ReplyMeta, text: string | undefined): OutputItem {
  const id = itemIds(meta).message
  if (text === undefined) return messageItem(id, "in_progress", [])
  return messageItem(id, reply.finishReason === "length" ? "incomplete" : "completed", [outputText(text)])
}

function functionCallOutput(call: Reply.ToolCall, done: boolean): OutputItem {
  return functionCallItem(
    functionCallId(call),
    done ? "completed" : "in_progress",
    { id: call.id, name: call.name, arguments: done ? call.arguments : "" },
    { name: call.name }
  )
}

/** The item of the `i`-th hosted tool call, `tool`'s. */
function hostedOutput(meta: ReplyMeta, tool: string, i: number, done: boolean): OutputItem {
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return hostedCallItem(`hc_${suffix}_${i}`, tool, done ? "completed" : "in_progress")
}

function outputItems(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): Array<OutputItem> {
  const items: Array<OutputItem> = []
  if (reply.reasoning.length > 0) items.push(reasoningOutput(reply, meta, extra, true))
  ;(extra.hostedCalls ?? []).forEach((tool, i) => items.push(hostedOutput(meta, tool, i, true)))
  if (hasMessage(reply)) items.push(messageOutput(reply, meta, reply.content.join("")))
  for (const call of reply.toolCalls) items.push(functionCallOutput(call, true))
  return items
}

// The request's settings as the simulator read them, echoed as the codec echoes a body's.
function echoed(extra: Extra) {
  return echoOf({
    previous_response_id: extra.previous,
    reasoning: { effort: extra.effort, summary: extra.summary ? "auto" : undefined },
    store: extra.store
  })
}

function responseOf(meta: ReplyMeta, extra: Extra, reply: Reply.Reply | undefined, error?: FailedWith) {
  const { incomplete, status } = reply === undefined
    ? { incomplete: null, status: error === undefined ? "in_progress" as const : "failed" as const }
    : statusOf(reply.finishReason)
  return responseObject({
    id: meta.id,
    createdAt: meta.created,
    echo: echoed(extra),
    status,
    completedAt: status === "completed" ? meta.created : null,
    error,
    incomplete,
    model: meta.model,
    output: reply === undefined ? [] : outputItems(reply, meta, extra),
    usage: reply === undefined || meta.usage === "none" ? undefined : usageOf(reply.usage)
  })
}

interface FailedWith {
  readonly code: string
  readonly message: string
}

export function renderReply(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string {
  return JSON.stringify(responseOf(meta, extra, reply))
}

export function renderStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream {
  const events: Array<string> = []
  let seq = 0
  const push = <T extends EventType>(type: T, fields: EventFields<T>) => {
    events.push(event(type, seq++, fields))
  }
  const snapshot = responseOf(meta, extra, undefined)
  push("response.created", { response: snapshot })
  push("response.in_progress", { response: snapshot })
  const ids = itemIds(meta)
  let index = 0

  if (reply.reasoning.length > 0) {
    push("response.output_item.added", { output_index: index, item: reasoningOutput(reply, meta, extra, false) })
    if (extra.summary) {
      const at = { item_id: ids.reasoning, output_index: index, summary_index: 0 }
      push("response.reasoning_summary_part.added", { ...at, part: summaryText("") })
      for (const token of reply.reasoning) push("response.reasoning_summary_text.delta", { ...at, delta: token })
      const text = reply.reasoning.join("")
      push("response.reasoning_summary_text.done", { ...at, text })
      push("response.reasoning_summary_part.done", { ...at, part: summaryText(text) })
    }
    push("response.output_item.done", { output_index: index, item: reasoningOutput(reply, meta, extra, true) })
    index++
  }

  for (const [i, tool] of (extra.hostedCalls ?? []).entries()) {
    push("response.output_item.added", { output_index: index, item: hostedOutput(meta, tool, i, false) })
    push("response.output_item.done", { output_index: index, item: hostedOutput(meta, tool, i, true) })
    index++
  }

  if (hasMessage(reply)) {
    const at = { item_id: ids.message, output_index: index, content_index: 0 }
    push("response.output_item.added", { output_index: index, item: messageOutput(reply, meta, undefined) })
    push("response.content_part.added", { ...at, part: outputText("") })
    for (const token of reply.content) push("response.output_text.delta", { ...at, delta: token, logprobs: [] })
    const text = reply.content.join("")
    push("response.output_text.done", { ...at, text, logprobs: [] })
    push("response.content_part.done", { ...at, part: outputText(text) })
    push("response.output_item.done", { output_index: index, item: messageOutput(reply, meta, text) })
    index++
  }

  // Parallel calls interleave: every call's item first, then argument pieces
  // round-robin, so a client must assemble by item id (or output index).
  const calls = reply.toolCalls
  const first = index
  for (let i = 0; i < calls.length; i++) {
    push("response.output_item.added", { output_index: first + i, item: functionCallOutput(calls[i]!, false) })
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      push("response.function_call_arguments.delta", {
        item_id: functionCallId(calls[i]!),
        output_index: first + i,
        delta: piece
      })
    }
  }
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    push("response.function_call_arguments.done", {
      item_id: functionCallId(call),
      output_index: first + i,
      name: call.name,
      arguments: call.arguments
    })
    push("response.output_item.done", { output_index: first + i, item: functionCallOutput(call, true) })
  }

  const response = responseOf(meta, extra, reply)
  const tail = event(response.status === "completed" ? "response.completed" : "response.incomplete", seq, { response })
  return { events, tail }
}

const failure: FailedWith = {
  code: "server_error",
  message: "The server had an error while processing your request. Sorry about that!"
}

const failedExtra: Extra = { store: false, encryptedReasoning: false, summary: false, effort: undefined }

function failed(meta: ReplyMeta) {
  return responseOf(meta, failedExtra, undefined, failure)
}

export function failedResponse(meta: ReplyMeta): string {
  return JSON.stringify(failed(meta))
}

export function renderStreamError(shape: StreamErrorShape, meta: ReplyMeta): string {
  return shape === "openai"
    ? event("error", 0, { ...failure, param: null })
    : event("response.failed", 0, { response: failed(meta) })
}

export function renderError(error: ApiError): { readonly status: number; readonly body: string } {
  return error._tag === "ContextLength"
    ? {
      status: 400,
      body: errorBody(
        `Your input exceeds the context window of this model (${error.limit} tokens). Please adjust your input and ` +
          `try again.`,
        "invalid_request_error",
        "input",
        "context_length_exceeded"
      )
    }
    // The other errors are the same as Chat Completions'.
    : chatError(error)
}
