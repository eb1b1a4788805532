/**
 * The Responses reply: the response object, the stream of named events, and
 * the failures (a failed response, the `error` event, OpenAI's error bodies).
 */
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { openAiErrorJson as errorBody } from "../../codec/openAiChat.js"
import { renderError as chatError } from "../openAiChat/errors.js"
import { quoteToken } from "../quoteToken.js"

const usageJson = (usage: Reply.Usage): string =>
  `{"input_tokens":${usage.promptTokens},"input_tokens_details":{"cached_tokens":${usage.cachedTokens}},` +
  `"output_tokens":${usage.completionTokens},"output_tokens_details":{"reasoning_tokens":${usage.reasoningTokens}},` +
  `"total_tokens":${usage.totalTokens}}`

/** Output item ids, derived from the response id (`resp_sim7` -> `msg_sim7`). */
const itemIds = (meta: ReplyMeta) => {
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return { message: `msg_${suffix}`, reasoning: `rs_${suffix}` }
}

const functionCallId = (call: Reply.ToolCall): string =>
  `fc_${call.id.startsWith("call_") ? call.id.slice(5) : call.id}`

/** Opaque, deterministic stand-in for OpenAI's encrypted reasoning. */
const encrypted = (id: string, tokens: number): string =>
  `gAAAAB${Buffer.from(`simulated reasoning ${id} ${tokens}`).toString("base64")}`

const reasoningItem = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra, done: boolean): string => {
  const id = itemIds(meta).reasoning
  const summary = done && extra.summary
    ? `[{"type":"summary_text","text":${JSON.stringify(reply.reasoning.join(""))}}]`
    : "[]"
  const content = done && extra.encryptedReasoning
    ? `,"encrypted_content":${JSON.stringify(encrypted(id, reply.reasoning.length))}`
    : extra.encryptedReasoning
    ? `,"encrypted_content":null`
    : ""
  return `{"id":"${id}","type":"reasoning","summary":${summary}${content}}`
}

const hasMessage = (reply: Reply.Reply): boolean => reply.content.length > 0 || reply.toolCalls.length === 0

const messageStatus = (reply: Reply.Reply): string => reply.finishReason === "length" ? "incomplete" : "completed"

const messageItem = (reply: Reply.Reply, meta: ReplyMeta, text: string | undefined): string =>
  `{"id":"${itemIds(meta).message}","type":"message","status":"${
    text === undefined ? "in_progress" : messageStatus(reply)
  }",` +
  `"role":"assistant","content":${
    text === undefined ? "[]" : `[{"type":"output_text","text":${JSON.stringify(text)},"annotations":[],"logprobs":[]}]`
  }}`

const functionCallItem = (call: Reply.ToolCall, done: boolean): string =>
  `{"id":"${functionCallId(call)}","type":"function_call","status":"${done ? "completed" : "in_progress"}",` +
  `"arguments":${done ? JSON.stringify(call.arguments) : `""`},"call_id":"${call.id}","name":${
    JSON.stringify(call.name)
  }}`

const outputItems = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): Array<string> => {
  const items: Array<string> = []
  if (reply.reasoning.length > 0) items.push(reasoningItem(reply, meta, extra, true))
  if (hasMessage(reply)) items.push(messageItem(reply, meta, reply.content.join("")))
  for (const call of reply.toolCalls) items.push(functionCallItem(call, true))
  return items
}

type Status = "in_progress" | "completed" | "incomplete" | "failed"

const responseJson = (
  meta: ReplyMeta,
  extra: Extra,
  status: Status,
  output: string,
  usage: string,
  error = "null"
): string =>
  `{"id":"${meta.id}","object":"response","created_at":${meta.created},"status":"${status}","background":false,` +
  `"completed_at":${status === "completed" ? meta.created : "null"},"error":${error},` +
  `"incomplete_details":${status === "incomplete" ? `{"reason":"max_output_tokens"}` : "null"},` +
  `"instructions":null,"max_output_tokens":null,"model":${JSON.stringify(meta.model)},"output":${output},` +
  `"parallel_tool_calls":true,"previous_response_id":${JSON.stringify(extra.previous ?? null)},` +
  `"reasoning":{"effort":${extra.effort === undefined ? "null" : JSON.stringify(extra.effort)},"summary":${
    extra.summary ? `"auto"` : "null"
  }},` +
  `"store":${extra.store},"temperature":1.0,"text":{"format":{"type":"text"},"verbosity":"medium"},` +
  `"tool_choice":"auto",` +
  `"tools":[],"top_p":1.0,"truncation":"disabled","usage":${usage},"user":null,"metadata":{}}`

const finalStatus = (reply: Reply.Reply): Status => reply.finishReason === "length" ? "incomplete" : "completed"

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string =>
  responseJson(
    meta,
    extra,
    finalStatus(reply),
    `[${outputItems(reply, meta, extra).join(",")}]`,
    usageJson(reply.usage)
  )

const event = (type: string, seq: number, fields: string): string =>
  `event: ${type}\ndata: {"type":"${type}","sequence_number":${seq}${fields === "" ? "" : `,${fields}`}}\n\n`

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const events: Array<string> = []
  let seq = 0
  const push = (type: string, fields: string) => {
    events.push(event(type, seq++, fields))
  }
  const snapshot = responseJson(meta, extra, "in_progress", "[]", "null")
  push("response.created", `"response":${snapshot}`)
  push("response.in_progress", `"response":${snapshot}`)
  const ids = itemIds(meta)
  let index = 0

  if (reply.reasoning.length > 0) {
    const at = `"item_id":"${ids.reasoning}","output_index":${index}`
    push("response.output_item.added", `"output_index":${index},"item":${reasoningItem(reply, meta, extra, false)}`)
    if (extra.summary) {
      const part = `${at},"summary_index":0`
      push("response.reasoning_summary_part.added", `${part},"part":{"type":"summary_text","text":""}`)
      for (const token of reply.reasoning) {
        push("response.reasoning_summary_text.delta", `${part},"delta":${quoteToken(token)}`)
      }
      const text = JSON.stringify(reply.reasoning.join(""))
      push("response.reasoning_summary_text.done", `${part},"text":${text}`)
      push("response.reasoning_summary_part.done", `${part},"part":{"type":"summary_text","text":${text}}`)
    }
    push("response.output_item.done", `"output_index":${index},"item":${reasoningItem(reply, meta, extra, true)}`)
    index++
  }

  if (hasMessage(reply)) {
    const at = `"item_id":"${ids.message}","output_index":${index},"content_index":0`
    push("response.output_item.added", `"output_index":${index},"item":${messageItem(reply, meta, undefined)}`)
    push("response.content_part.added", `${at},"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}`)
    for (const token of reply.content) {
      push("response.output_text.delta", `${at},"delta":${quoteToken(token)},"logprobs":[]`)
    }
    const text = JSON.stringify(reply.content.join(""))
    push("response.output_text.done", `${at},"text":${text},"logprobs":[]`)
    push(
      "response.content_part.done",
      `${at},"part":{"type":"output_text","text":${text},"annotations":[],"logprobs":[]}`
    )
    push(
      "response.output_item.done",
      `"output_index":${index},"item":${messageItem(reply, meta, reply.content.join(""))}`
    )
    index++
  }

  // Parallel calls interleave: every call's item first, then argument pieces
  // round-robin, so a client must assemble by item id (or output index).
  const calls = reply.toolCalls
  const first = index
  for (let i = 0; i < calls.length; i++) {
    push("response.output_item.added", `"output_index":${first + i},"item":${functionCallItem(calls[i]!, false)}`)
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      push(
        "response.function_call_arguments.delta",
        `"item_id":"${functionCallId(calls[i]!)}","output_index":${first + i},"delta":${JSON.stringify(piece)}`
      )
    }
  }
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    push(
      "response.function_call_arguments.done",
      `"item_id":"${functionCallId(call)}","output_index":${first + i},"name":${
        JSON.stringify(call.name)
      },"arguments":${JSON.stringify(call.arguments)}`
    )
    push("response.output_item.done", `"output_index":${first + i},"item":${functionCallItem(call, true)}`)
  }

  const status = finalStatus(reply)
  const tail = event(
    status === "completed" ? "response.completed" : "response.incomplete",
    seq,
    `"response":${renderReply(reply, meta, extra)}`
  )
  return { events, tail }
}

const failureMessage = "The server had an error while processing your request. Sorry about that!"

const failedExtra: Extra = { store: false, encryptedReasoning: false, summary: false, effort: undefined }

export const failedResponse = (meta: ReplyMeta): string =>
  responseJson(
    meta,
    failedExtra,
    "failed",
    "[]",
    "null",
    `{"code":"server_error","message":${JSON.stringify(failureMessage)}}`
  )

export const renderStreamError = (shape: StreamErrorShape, meta: ReplyMeta): string =>
  shape === "openai"
    ? `event: error\ndata: {"type":"error","sequence_number":0,"code":"server_error","message":${
      JSON.stringify(failureMessage)
    },"param":null}\n\n`
    : event("response.failed", 0, `"response":${failedResponse(meta)}`)

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } =>
  error._tag === "ContextLength"
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
